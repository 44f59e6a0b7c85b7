export { IdempotencyModule } from './idempotency.module';
export { Idempotent, NotIdempotent, type IdempotentOptions } from './idempotency.decorators';
export { IdempotencyInterceptor } from './idempotency.interceptor';
export { type IdempotencyModuleOptions, type IdempotentRequest } from './idempotency.module-definition';
export {
  IDEMPOTENCY_STORE,
  InjectIdempotencyStore,
  type ClaimResult,
  type IdempotencyStore,
  type StoredResponse,
} from './idempotency.store';
export { RedisIdempotencyStore } from './redis-idempotency.store';
export {
  IdempotencyStoreFullError,
  MemoryIdempotencyStore,
  type MemoryIdempotencyStoreOptions,
} from './memory-idempotency.store';
