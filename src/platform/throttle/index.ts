// Groundwork for ThrottleModule (issue 5): the storages exist, the module, guard and tiers do not yet.
export { RedisThrottleStore } from './redis-throttle.store';
export { MemoryThrottleStore, type MemoryThrottleStoreOptions } from './memory-throttle.store';
export { type ThrottleRecord } from './throttle.store';
