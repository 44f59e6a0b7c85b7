import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule as NestThrottlerModule } from '@nestjs/throttler';
import { MetricsService } from '../http';
import { RedisService } from '../redis';
import { EdgeRefusals } from './edge-refusals';
import { FailoverThrottleStore } from './failover-throttle.store';
import { LeasingThrottleStore } from './leasing-throttle.store';
import { MemoryThrottleStore } from './memory-throttle.store';
import { RedisThrottleStore } from './redis-throttle.store';
import { ThrottlerGuard } from './throttler.guard';
import { ThrottlerMetrics } from './throttler.metrics';
import {
  THROTTLE_STORE,
  ThrottlerConfigurableModule,
  THROTTLER_SETTINGS,
  throttlerSettings,
  type ThrottlerModuleOptions,
  type ThrottlerSettings,
} from './throttler.module-definition';
import type { ThrottleStore } from './throttle.store';

@Module({})
class ThrottleStoreModule {}

async function createStore(
  settings: ThrottlerSettings,
  redis: RedisService,
  metrics: ThrottlerMetrics,
): Promise<ThrottleStore> {
  if (!redis.configured) return new MemoryThrottleStore({ maxKeys: settings.memoryMaxKeys });
  const connection = await redis.openFailFastConnection(settings.commandTimeoutMs, 'throttler');
  const shared = new RedisThrottleStore(redis, connection);
  return new FailoverThrottleStore(
    settings.leaseMinLimit > 0
      ? new LeasingThrottleStore(shared, { minLimit: settings.leaseMinLimit, maxKeys: settings.memoryMaxKeys })
      : shared,
    {
      maxKeys: settings.memoryMaxKeys,
      retryAfterFailureMs: settings.retryAfterFailureMs,
      fallbackDivisor: settings.fallbackDivisor,
    },
    metrics,
  );
}

/**
 * Rate limits: @nestjs/throttler's module and decorators with our guard (tiers, trackers, IETF
 * RateLimit fields, problem+json 429) on an exact sliding-window store in Redis, or in process
 * when Redis is not configured. Register it after SessionModule: its guard reads the session.
 */
@Module({})
export class ThrottlerModule extends ThrottlerConfigurableModule {
  static override forRoot(options: ThrottlerModuleOptions): DynamicModule {
    const base = super.forRoot(options);
    const settings = throttlerSettings(options);
    const stores: DynamicModule = {
      module: ThrottleStoreModule,
      providers: [
        { provide: THROTTLER_SETTINGS, useValue: settings },
        {
          provide: ThrottlerMetrics,
          inject: [{ token: MetricsService, optional: true }],
          useFactory: (metrics?: MetricsService) => new ThrottlerMetrics(metrics?.registry),
        },
        {
          provide: THROTTLE_STORE,
          inject: [RedisService, ThrottlerMetrics],
          useFactory: (redis: RedisService, metrics: ThrottlerMetrics) => createStore(settings, redis, metrics),
        },
      ],
      exports: [THROTTLER_SETTINGS, THROTTLE_STORE, ThrottlerMetrics],
    };
    return {
      ...base,
      global: true,
      imports: [
        stores,
        NestThrottlerModule.forRootAsync({
          imports: [stores],
          inject: [THROTTLE_STORE],
          useFactory: (store: ThrottleStore) => ({
            throttlers: settings.tiers.map(({ name, limit, ttl, blockDuration }) => ({
              name,
              limit,
              ttl,
              blockDuration,
            })),
            storage: store instanceof FailoverThrottleStore || store instanceof MemoryThrottleStore ? store : undefined,
          }),
        }),
      ],
      providers: [
        ...(base.providers ?? []),
        EdgeRefusals,
        ThrottlerGuard,
        { provide: APP_GUARD, useExisting: ThrottlerGuard },
      ],
      exports: [stores, NestThrottlerModule, ThrottlerGuard],
    };
  }
}
