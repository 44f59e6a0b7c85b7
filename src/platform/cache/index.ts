export { CacheModule } from './cache.module';
export { type CacheModuleOptions, CACHE_MODULE_OPTIONS } from './cache.module-definition';
export {
  CacheService,
  type CacheCodec,
  type CacheOptions,
  type CacheOutcome,
  type CacheResult,
  type CacheLoader,
} from './cache.service';
export { Cached, NoCache, InvalidatesCache } from './cache.decorators';
export {
  type CachedOptions,
  type CacheScope,
  type InvalidatesCacheOptions,
  CACHED,
  INVALIDATES_CACHE,
} from './cache.metadata';
export { CacheInterceptor, type CacheableRequest } from './cache.interceptor';
export { type CacheStore, type CacheEntry, type CacheSignal, CACHE_STORE, InjectCacheStore } from './cache.store';
export { RedisCacheStore } from './redis-cache.store';
export { MemoryCacheStore, type MemoryCacheStoreOptions } from './memory-cache.store';
export { IoredisKeyvStore } from './ioredis-keyv.store';
export { type HttpEntry, HTTP_ENTRY_CODEC } from './http-entry.codec';
// The official module's token and interceptor, for code written against @nestjs/cache-manager.
export { CACHE_MANAGER, CacheInterceptor as NestCacheInterceptor } from '@nestjs/cache-manager';
