import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { RedisService } from '../redis';
import { MemorySessionStore } from './memory-session.store';
import { RedisSessionStore } from './redis-session.store';
import { SessionGuard } from './session.guard';
import {
  SESSION_MODULE_OPTIONS,
  SessionConfigurableModule,
  type SessionModuleOptions,
} from './session.module-definition';
import { SessionService } from './session.service';
import { SESSION_STORE } from './session.store';

/**
 * Server-side sessions: opaque tokens (cookie or Bearer), Redis store with a per-user index (and
 * an in-process tier of verified sessions kept current by revocations over pub/sub), or a
 * bounded in-process store when Redis is not configured, and a global guard.
 */
@Module({})
export class SessionModule extends SessionConfigurableModule {
  static override forRoot(options: SessionModuleOptions): DynamicModule {
    const base = super.forRoot(options);
    return {
      ...base,
      global: true,
      providers: [
        ...(base.providers ?? []),
        {
          provide: SESSION_STORE,
          inject: [RedisService, SESSION_MODULE_OPTIONS],
          useFactory: (redis: RedisService, opts: SessionModuleOptions) =>
            redis.configured
              ? new RedisSessionStore(redis, {
                  // Twice the write-behind interval: a touch on its way always finds its key.
                  ttlSlackMs: 2 * SessionService.touchIntervalOf(opts, opts.idleTimeoutMs ?? 30 * 60_000),
                  // Several heartbeats per staleness bound, so a live channel keeps held sessions trusted.
                  heartbeatMs: Math.max(10, Math.min(250, Math.floor((opts.l1MaxStalenessMs ?? 1000) / 4))),
                })
              : new MemorySessionStore({ maxSessions: opts.memoryMaxSessions ?? 10_000 }),
        },
        SessionService,
        { provide: APP_GUARD, useClass: SessionGuard },
      ],
      exports: [SessionService, SESSION_STORE],
    };
  }
}
