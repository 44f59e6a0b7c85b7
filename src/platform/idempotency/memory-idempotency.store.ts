import { LRUCache } from 'lru-cache';
import {
  decodeCompleted,
  encodeCompleted,
  FINGERPRINT_LENGTH,
  type ClaimResult,
  type IdempotencyStore,
  type StoredResponse,
} from './idempotency.store';

export interface MemoryIdempotencyStoreOptions {
  /** Most keys kept, in progress and completed each. Default 10,000. */
  maxKeys?: number;
  /** Most bytes of completed responses. Default 64 MiB. */
  maxBytes?: number;
}

/** More requests in progress at once than the in-process store keeps. */
export class IdempotencyStoreFullError extends Error {}

interface Claim {
  owner: string;
  fingerprint: string;
  until: number;
}

/**
 * The in-process store (Redis not configured): the same rules as the Redis store. Claims in
 * progress are kept apart and never evicted (evicting one would let a duplicate run): when
 * `maxKeys` of them are live, a new claim fails (503). Completed responses sit in an LRU bounded
 * by keys and bytes; the least recently used go first, and a retry after that runs again.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  private readonly claims = new Map<string, Claim>();
  private readonly completed: LRUCache<string, string>;
  private readonly maxKeys: number;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
    this.maxKeys = options.maxKeys ?? 10_000;
    this.completed = new LRUCache<string, string>({
      max: this.maxKeys,
      maxSize: maxBytes,
      // Clamped: lru-cache would silently drop a larger record.
      sizeCalculation: (record, key) => Math.min(record.length * 2 + key.length + 64, maxBytes),
    });
  }

  get size(): number {
    return this.claims.size + this.completed.size;
  }

  async claim(key: string, owner: string, fingerprint: string, leaseMs: number): Promise<ClaimResult> {
    const now = Date.now();
    const claim = this.live(key, now);
    if (claim) {
      return claim.fingerprint === fingerprint
        ? { state: 'in-progress', retryAfterMs: claim.until - now }
        : { state: 'mismatch' };
    }
    const record = this.completed.get(key);
    if (record !== undefined) {
      const completed = decodeCompleted(record);
      if (!completed || record.slice(1, 1 + FINGERPRINT_LENGTH) !== fingerprint) return { state: 'mismatch' };
      return { state: 'completed', response: completed.response };
    }
    if (this.claims.size >= this.maxKeys) {
      for (const [k, c] of this.claims) if (c.until <= now) this.claims.delete(k);
      if (this.claims.size >= this.maxKeys)
        throw new IdempotencyStoreFullError(`More than ${this.maxKeys} requests in progress`);
    }
    this.claims.set(key, { owner, fingerprint, until: now + leaseMs });
    return { state: 'claimed' };
  }

  async extend(key: string, owner: string, leaseMs: number): Promise<boolean> {
    const claim = this.owned(key, owner);
    if (!claim) return false;
    claim.until = Date.now() + leaseMs;
    return true;
  }

  async complete(
    key: string,
    owner: string,
    fingerprint: string,
    response: StoredResponse,
    retentionMs: number,
  ): Promise<boolean> {
    if (!this.owned(key, owner)) return false;
    this.claims.delete(key);
    this.completed.set(key, encodeCompleted(fingerprint, response), { ttl: retentionMs });
    return true;
  }

  async release(key: string, owner: string): Promise<void> {
    if (this.owned(key, owner)) this.claims.delete(key);
  }

  private live(key: string, now: number): Claim | undefined {
    const claim = this.claims.get(key);
    if (claim && claim.until <= now) {
      this.claims.delete(key);
      return undefined;
    }
    return claim;
  }

  private owned(key: string, owner: string): Claim | undefined {
    const claim = this.live(key, Date.now());
    return claim?.owner === owner ? claim : undefined;
  }
}
