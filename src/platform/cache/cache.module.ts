import { CacheModule as NestCacheModule } from '@nestjs/cache-manager';
import { Module, type DynamicModule } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { RedisService } from '../redis';
import { CacheInterceptor } from './cache.interceptor';
import {
  CACHE_DEFAULTS,
  CACHE_MODULE_OPTIONS,
  CacheConfigurableModule,
  type CacheModuleOptions,
} from './cache.module-definition';
import { CacheService } from './cache.service';
import { CACHE_STORE } from './cache.store';
import { ConditionalGetHook } from './conditional-get.hook';
import { IoredisKeyvStore } from './ioredis-keyv.store';
import { MemoryCacheStore } from './memory-cache.store';
import { RedisCacheStore } from './redis-cache.store';

/**
 * Caching: `@Cached` / `@InvalidatesCache` and CacheService (two tiers, tags, stampede
 * protection, stale-while-revalidate) on Redis or, without Redis, on a bounded in-process store.
 * CACHE_MANAGER (@nestjs/cache-manager) stays injectable, on the same Redis under `cache:kv:`.
 */
@Module({})
export class CacheModule extends CacheConfigurableModule {
  static override forRoot(options: CacheModuleOptions = {}): DynamicModule {
    const base = super.forRoot(options);
    const settings = { ...CACHE_DEFAULTS, ...options };
    return {
      ...base,
      global: true,
      imports: [
        NestCacheModule.registerAsync({
          isGlobal: true,
          inject: [RedisService],
          useFactory: (redis: RedisService) => ({
            ttl: settings.defaultTtlMs,
            // A store, not a Keyv instance: the package wraps it in its own Keyv (ESM and CJS builds of keyv differ).
            stores: [
              (redis.configured
                ? new IoredisKeyvStore(redis)
                : new LRUCache<string, object>({ max: Math.max(1, settings.l1MaxEntries) })) as never,
            ],
          }),
        }),
      ],
      providers: [
        ...(base.providers ?? []),
        {
          provide: CACHE_STORE,
          inject: [RedisService, CACHE_MODULE_OPTIONS],
          useFactory: (redis: RedisService, opts: CacheModuleOptions) => {
            const s = { ...CACHE_DEFAULTS, ...opts };
            return redis.configured
              ? new RedisCacheStore(redis, { commandTimeoutMs: s.commandTimeoutMs })
              : new MemoryCacheStore({ maxEntries: Math.max(1, s.l1MaxEntries), maxBytes: s.l1MaxBytes });
          },
        },
        CacheService,
        CacheInterceptor,
        ConditionalGetHook,
      ],
      exports: [CacheService, CACHE_STORE, CacheInterceptor],
    };
  }
}
