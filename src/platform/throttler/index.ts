export { ThrottlerModule } from './throttler.module';
export { ThrottlerGuard } from './throttler.guard';
export { SkipThrottle, Throttle, ThrottleFailuresOnly } from './throttler.decorators';
export { throttleStoreUnavailable, tooManyRequests } from './throttler.errors';
export {
  bodyField,
  THROTTLE_STORE,
  type ThrottledRequest,
  type ThrottlerModuleOptions,
  type ThrottlerTier,
  type ThrottleTracker,
} from './throttler.module-definition';
export { RedisThrottleStore } from './redis-throttle.store';
export { MemoryThrottleStore, type MemoryThrottleStoreOptions } from './memory-throttle.store';
export { FailoverThrottleStore, ThrottleStoreUnavailableError } from './failover-throttle.store';
export {
  fromThrottlerStorage,
  type ThrottleRecord,
  type ThrottleRule,
  type ThrottleStore,
  type ThrottleVerdict,
} from './throttle.store';
