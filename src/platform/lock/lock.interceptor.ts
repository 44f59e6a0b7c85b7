import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { defer, lastValueFrom, type Observable } from 'rxjs';
import { WITH_LOCK, type WithLockMetadata } from './lock.decorators';
import { LockBusyError, lockBusy, LockUnavailableError, lockUnavailable } from './lock.errors';
import { LockService, type LockHandle } from './lock.service';
import { LockStoreFullError } from './memory-lock.store';

const TEMPLATE = /\{(\w+)\}/g;

/** The interceptor behind `@WithLock`: takes the lock, runs the handler, releases it. */
@Injectable()
export class LockInterceptor implements NestInterceptor {
  constructor(
    private readonly locks: LockService,
    private readonly reflector: Reflector,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const meta = this.reflector.getAllAndOverride<WithLockMetadata | false | undefined>(WITH_LOCK, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!meta || context.getType() !== 'http') return next.handle();
    const request = context.switchToHttp().getRequest<{ params?: Record<string, string>; lock?: LockHandle }>();
    const key = meta.key.replace(TEMPLATE, (whole, name: string) => request.params?.[name] ?? whole);
    return defer(async () => {
      const lock = await this.acquire(key, meta);
      request.lock = lock;
      try {
        return await lastValueFrom(next.handle(), { defaultValue: undefined });
      } finally {
        await lock.release();
      }
    });
  }

  /** Maps lock failures to problem+json: busy 409 with Retry-After, unavailable 503. */
  protected async acquire(key: string, meta: WithLockMetadata): Promise<LockHandle> {
    try {
      return await this.locks.acquire(key, meta);
    } catch (error) {
      if (error instanceof LockBusyError) throw lockBusy(error.retryAfterMs);
      if (error instanceof LockUnavailableError || error instanceof LockStoreFullError) throw lockUnavailable();
      throw error;
    }
  }
}
