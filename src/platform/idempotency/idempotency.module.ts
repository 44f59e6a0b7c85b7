import { Module, type DynamicModule } from '@nestjs/common';
import { RedisService } from '../redis';
import { IdempotencyInterceptor } from './idempotency.interceptor';
import {
  IDEMPOTENCY_DEFAULTS,
  IDEMPOTENCY_MODULE_OPTIONS,
  IdempotencyConfigurableModule,
  type IdempotencyModuleOptions,
  type IdempotencySettings,
} from './idempotency.module-definition';
import { IDEMPOTENCY_STORE, type IdempotencyStore } from './idempotency.store';
import { IDEMPOTENCY_SETTINGS } from './idempotency.tokens';
import { MemoryIdempotencyStore } from './memory-idempotency.store';
import { RedisIdempotencyStore } from './redis-idempotency.store';

async function createStore(settings: IdempotencySettings, redis: RedisService): Promise<IdempotencyStore> {
  if (!redis.configured) {
    return new MemoryIdempotencyStore({ maxKeys: settings.memoryMaxKeys, maxBytes: settings.memoryMaxBytes });
  }
  // Fail fast: an unusable Redis answers 503 at once instead of queueing requests whose handlers
  // must not run unprotected.
  return new RedisIdempotencyStore(redis, await redis.openFailFastConnection(settings.commandTimeoutMs, 'idempotency'));
}

/**
 * Idempotency keys: `@Idempotent()` on unsafe handlers, one execution per key and caller, the
 * response replayed for the retention period. Redis when configured (fails closed: 503), else a
 * bounded in-process store.
 */
@Module({})
export class IdempotencyModule extends IdempotencyConfigurableModule {
  static override forRoot(options: IdempotencyModuleOptions = {}): DynamicModule {
    const base = super.forRoot(options);
    return {
      ...base,
      global: true,
      providers: [
        ...(base.providers ?? []),
        {
          provide: IDEMPOTENCY_SETTINGS,
          inject: [IDEMPOTENCY_MODULE_OPTIONS],
          useFactory: (opts: IdempotencyModuleOptions): IdempotencySettings => ({ ...IDEMPOTENCY_DEFAULTS, ...opts }),
        },
        {
          provide: IDEMPOTENCY_STORE,
          inject: [IDEMPOTENCY_SETTINGS, RedisService],
          useFactory: createStore,
        },
        IdempotencyInterceptor,
      ],
      exports: [IDEMPOTENCY_STORE, IDEMPOTENCY_SETTINGS, IdempotencyInterceptor],
    };
  }
}
