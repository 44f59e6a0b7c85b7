import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../http';

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/** Another holder kept the lock past `waitMs`. */
export class LockBusyError extends Error {
  constructor(
    readonly key: string,
    readonly retryAfterMs: number,
  ) {
    super(`Lock "${key}" is held by another request`);
  }
}

/** The lock store could not be reached: no mutual exclusion can be promised (fail closed). */
export class LockUnavailableError extends Error {}

/** The hold expired (or was taken) before the work finished: a fenced write will be refused. */
export class LockLostError extends Error {
  constructor(readonly key: string) {
    super(`Lock "${key}" was lost before the work finished`);
  }
}

export const lockBusy = (retryAfterMs: number) =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'resource-locked',
    title: 'Resource busy',
    detail: 'Another request is working on this resource; retry shortly.',
    headers: { 'Retry-After': seconds(retryAfterMs) },
  });

export const lockUnavailable = () =>
  new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, {
    type: 'lock-store-unavailable',
    title: 'Lock store unavailable',
    detail: 'The request was not processed: its lock cannot be taken right now.',
    headers: { 'Retry-After': '1' },
  });
