import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../http';

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

export const invalidIdempotencyKey = (detail: string) =>
  new ProblemException(HttpStatus.BAD_REQUEST, {
    type: 'idempotency-key-invalid',
    title: 'Invalid idempotency key',
    detail,
  });

export const idempotencyKeyInUse = (retryAfterMs: number) =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'idempotency-key-in-use',
    title: 'Request in progress',
    detail: 'A request with this idempotency key is still being processed; retry after it completes.',
    headers: { 'Retry-After': seconds(retryAfterMs) },
  });

export const idempotencyKeyReused = () =>
  new ProblemException(HttpStatus.UNPROCESSABLE_ENTITY, {
    type: 'idempotency-key-reused',
    title: 'Idempotency key reused',
    detail: 'This idempotency key was already used with another request payload.',
  });

/** Fail closed: without the store, a retry could run twice. */
export const idempotencyStoreUnavailable = (retryAfterMs: number) =>
  new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, {
    type: 'idempotency-store-unavailable',
    title: 'Idempotency store unavailable',
    detail: 'The request was not processed: its idempotency key cannot be checked right now. Retry with the same key.',
    headers: { 'Retry-After': seconds(retryAfterMs) },
  });
