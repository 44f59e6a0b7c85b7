import { randomBytes } from 'node:crypto';
import { Module, type DynamicModule } from '@nestjs/common';
import { migrations } from '../migrations';
import { BenchModule } from './bench/bench.module';
import { ConfigModule, type AppConfig } from './config';
import { EventsModule } from './modules/events';
import { IdentityModule } from './modules/identity';
import { CacheModule } from './platform/cache';
import { DatabaseModule } from './platform/database';
import { HealthModule } from './platform/health';
import { HttpPlatformModule } from './platform/http';
import { RedisModule } from './platform/redis';
import { SessionModule } from './platform/session';

/** The whole app for one validated configuration. */
@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        HttpPlatformModule.forRoot(),
        DatabaseModule.forRoot({
          url: config.DATABASE_URL,
          pgliteDataDir: config.PGLITE_DATA_DIR,
          runMigrations: config.DATABASE_RUN_MIGRATIONS,
          poolSize: config.DATABASE_POOL_SIZE,
          migrations,
        }),
        RedisModule.forRoot({
          url: config.REDIS_URL,
          sentinels: config.REDIS_SENTINELS,
          sentinelName: config.REDIS_SENTINEL_NAME,
          clusterNodes: config.REDIS_CLUSTER_NODES,
          keyPrefix: config.REDIS_KEY_PREFIX,
          commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
          connectTimeoutMs: config.REDIS_CONNECT_TIMEOUT_MS,
          tlsRejectUnauthorized: config.REDIS_TLS_REJECT_UNAUTHORIZED,
        }),
        HealthModule.forRoot({
          readinessRequiresRedis: config.READINESS_REQUIRES_REDIS,
          drainMs: config.SHUTDOWN_DRAIN_MS,
        }),
        SessionModule.forRoot({
          secret: config.SESSION_SECRET ?? randomBytes(48).toString('base64url'),
          idleTimeoutMs: config.SESSION_IDLE_TIMEOUT_MS,
          absoluteTimeoutMs: config.SESSION_ABSOLUTE_TIMEOUT_MS,
          secureCookie: config.NODE_ENV === 'production',
          memoryMaxSessions: config.SESSION_MEMORY_MAX,
        }),
        CacheModule.forRoot({
          defaultTtlMs: config.CACHE_DEFAULT_TTL_MS,
          l1MaxEntries: config.CACHE_L1_MAX_ENTRIES,
          l1MaxBytes: config.CACHE_L1_MAX_BYTES,
          commandTimeoutMs: config.CACHE_COMMAND_TIMEOUT_MS,
          fillLeaseMs: config.CACHE_FILL_LEASE_MS,
          retryAfterFailureMs: config.CACHE_RETRY_AFTER_FAILURE_MS,
        }),
        IdentityModule,
        EventsModule,
        ...(config.BENCH_ROUTES ? [BenchModule] : []),
      ],
    };
  }
}
