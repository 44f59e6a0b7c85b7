import { Inject } from '@nestjs/common';

/** A response as it is replayed: status, the headers chosen for replay, and the body bytes. */
export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** What claiming a key finds. */
export type ClaimResult =
  /** The key was free: the caller owns it (an in-progress lease) and runs the handler. */
  | { state: 'claimed' }
  /** Another request with the same payload holds it; its lease ends in `retryAfterMs`. */
  | { state: 'in-progress'; retryAfterMs: number }
  /** The key was used with another payload. */
  | { state: 'mismatch' }
  | { state: 'completed'; response: StoredResponse };

/**
 * The idempotency store port. Keys arrive hashed and scoped; `owner` names one execution,
 * `fingerprint` the request's payload (both fixed-width, see `idempotency.fingerprint.ts`).
 */
export interface IdempotencyStore {
  /** Claims the key with an in-progress lease of `leaseMs`, or says what holds it. One round trip. */
  claim(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<ClaimResult>;
  /** Extends the owner's lease; false if it was lost (expired, taken over). */
  extend(key: string, owner: string, leaseMs: number): Promise<boolean>;
  /** Stores the response for `retentionMs`, only if `owner` still holds the key. One round trip. */
  complete(
    key: string,
    owner: string,
    fingerprint: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean>;
  /** Frees the key if `owner` holds it (a 5xx, a crash path): a retry runs again. */
  release(key: string, owner: string): Promise<void>;
}

export const IDEMPOTENCY_STORE = Symbol('IDEMPOTENCY_STORE');
export const InjectIdempotencyStore = (): ParameterDecorator & PropertyDecorator => Inject(IDEMPOTENCY_STORE);

/**
 * One record per key, as one string: `P<owner><fingerprint>` while in progress (expiring with
 * the lease), `C<fingerprint><header JSON>\n<body>` once completed (expiring with retention).
 */
export const OWNER_LENGTH = 22;
export const FINGERPRINT_LENGTH = 43;

export function encodeCompleted(fingerprint: string, response: StoredResponse): string {
  return `C${fingerprint}${JSON.stringify({ s: response.status, h: response.headers })}\n${response.body}`;
}

export function decodeCompleted(record: string): { fingerprint: string; response: StoredResponse } | undefined {
  if (record[0] !== 'C') return undefined;
  const fingerprint = record.slice(1, 1 + FINGERPRINT_LENGTH);
  const newline = record.indexOf('\n', 1 + FINGERPRINT_LENGTH);
  if (newline < 0) return undefined;
  try {
    const head = JSON.parse(record.slice(1 + FINGERPRINT_LENGTH, newline)) as { s: number; h: Record<string, string> };
    return { fingerprint, response: { status: head.s, headers: head.h, body: record.slice(newline + 1) } };
  } catch {
    return undefined;
  }
}
