import { Module, type DynamicModule } from '@nestjs/common';
import { RedisService } from '../redis';
import { LockInterceptor } from './lock.interceptor';
import {
  LOCK_DEFAULTS,
  LOCK_MODULE_OPTIONS,
  LOCK_SETTINGS,
  LockConfigurableModule,
  type LockModuleOptions,
  type LockSettings,
} from './lock.module-definition';
import { LockService } from './lock.service';
import { LOCK_STORE, type LockStore } from './lock.store';
import { MemoryLockStore } from './memory-lock.store';
import { RedisLockStore } from './redis-lock.store';

async function createStore(settings: LockSettings, redis: RedisService): Promise<LockStore> {
  if (!redis.configured) return new MemoryLockStore({ maxKeys: settings.memoryMaxKeys });
  return new RedisLockStore(redis, await redis.openFailFastConnection(settings.commandTimeoutMs, 'lock'));
}

/**
 * Distributed locks: LockService (acquire, withLock) and `@WithLock('order:{id}')`, with fencing
 * tokens. Redis when configured (fails closed: 503), else in-process locks (one instance only).
 */
@Module({})
export class LockModule extends LockConfigurableModule {
  static override forRoot(options: LockModuleOptions = {}): DynamicModule {
    const base = super.forRoot(options);
    return {
      ...base,
      global: true,
      providers: [
        ...(base.providers ?? []),
        {
          provide: LOCK_SETTINGS,
          inject: [LOCK_MODULE_OPTIONS],
          useFactory: (opts: LockModuleOptions): LockSettings => ({ ...LOCK_DEFAULTS, ...opts }),
        },
        { provide: LOCK_STORE, inject: [LOCK_SETTINGS, RedisService], useFactory: createStore },
        LockService,
        LockInterceptor,
      ],
      exports: [LOCK_STORE, LockService, LockInterceptor],
    };
  }
}
