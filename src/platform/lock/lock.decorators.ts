import {
  applyDecorators,
  createParamDecorator,
  SetMetadata,
  UseInterceptors,
  type ExecutionContext,
} from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { LockInterceptor } from './lock.interceptor';
import type { LockHandle, LockOptions } from './lock.service';

export const WITH_LOCK = 'box-office:with-lock';

export interface WithLockMetadata extends LockOptions {
  /** Key template: `{name}` is the route parameter, e.g. `order:{id}`. */
  key: string;
}

/**
 * Runs the handler holding a distributed lock on the key (`{param}` from the route). Busy after
 * `waitMs`: 409 with Retry-After; lock store down: 503. The handler gets the hold with `@Lock()`:
 * its fencing token and the AbortSignal that fires if the hold is lost.
 */
export const WithLock = (key: string, options: LockOptions = {}) =>
  applyDecorators(
    SetMetadata(WITH_LOCK, { key, ...options } satisfies WithLockMetadata),
    UseInterceptors(LockInterceptor),
    ApiResponse({ status: 409, description: 'Another request holds the lock (problem+json, Retry-After)' }),
  );

/** Opts a handler out of a class-level `@WithLock`. */
export const WithoutLock = () => SetMetadata(WITH_LOCK, false);

/** The lock the interceptor holds for this request. */
export const Lock = createParamDecorator(
  (_: unknown, context: ExecutionContext) => context.switchToHttp().getRequest<{ lock?: LockHandle }>().lock,
);
