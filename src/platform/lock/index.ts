export { LockModule } from './lock.module';
export { LockService, type LockHandle, type LockOptions } from './lock.service';
export { Lock, WithLock, WithoutLock } from './lock.decorators';
export { LockInterceptor } from './lock.interceptor';
export { LockBusyError, LockLostError, LockUnavailableError } from './lock.errors';
export { type LockModuleOptions } from './lock.module-definition';
export { LOCK_STORE, InjectLockStore, type LockStore } from './lock.store';
export { RedisLockStore } from './redis-lock.store';
export { MemoryLockStore, LockStoreFullError } from './memory-lock.store';
