import { setTimeout as sleep } from 'node:timers/promises';
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
  const connection = redis.createConnection({
    keyPrefix: redis.prefix,
    enableOfflineQueue: false,
    commandTimeout: settings.commandTimeoutMs,
    maxRetriesPerRequest: 0,
  });
  void connection.connect().catch(() => undefined);
  const deadline = Date.now() + redis.connectTimeoutMs;
  while (connection.status !== 'ready' && Date.now() < deadline) await sleep(10);
  return new RedisLockStore(redis, connection);
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
