import { randomBytes } from 'node:crypto';
import { Module, type DynamicModule } from '@nestjs/common';
import { migrations } from '../migrations';
import { benchTiers, BenchModule } from './bench/bench.module';
import { ConfigModule, queueShutdownTimeoutMs, type AppConfig } from './config';
import { EventsModule } from './modules/events';
import { OrdersModule } from './modules/orders';
import { ReportsModule } from './modules/reports';
import { WebhooksModule } from './modules/webhooks';
import { IdentityModule } from './modules/identity';
import { CacheModule } from './platform/cache';
import { DatabaseModule } from './platform/database';
import { HealthModule } from './platform/health';
import { IdempotencyModule } from './platform/idempotency';
import { LockModule } from './platform/lock';
import { HttpPlatformModule } from './platform/http';
import { RedisModule } from './platform/redis';
import { QueueModule } from './platform/queue';
import { SessionModule } from './platform/session';
import { bodyField, ThrottlerModule, type ThrottlerTier } from './platform/throttler';

/**
 * The rate-limit tiers (docs/modules.md, Rate limits): anonymous traffic per IP, authenticated traffic per user, and
 * tiers that routes opt into with `@Throttle({ name: {} })`.
 */
export function rateLimitTiers(config: AppConfig): ThrottlerTier[] {
  return [
    {
      name: 'public',
      limit: config.THROTTLE_PUBLIC_LIMIT,
      ttl: config.THROTTLE_PUBLIC_WINDOW_MS,
      appliesTo: 'anonymous',
    },
    {
      name: 'api',
      limit: config.THROTTLE_API_LIMIT,
      ttl: config.THROTTLE_API_WINDOW_MS,
      trackers: ['user'],
      appliesTo: 'authenticated',
    },
    {
      name: 'auth',
      limit: config.THROTTLE_AUTH_LIMIT,
      ttl: config.THROTTLE_AUTH_WINDOW_MS,
      trackers: ['ip', bodyField('email')],
      failClosed: true,
    },
    {
      name: 'payment',
      limit: config.THROTTLE_PAYMENT_LIMIT,
      ttl: config.THROTTLE_PAYMENT_WINDOW_MS,
      trackers: ['user'],
    },
    {
      name: 'exports',
      limit: config.THROTTLE_EXPORTS_LIMIT,
      ttl: config.THROTTLE_EXPORTS_WINDOW_MS,
      trackers: ['tenant'],
    },
  ];
}

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
          connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
          statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
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
          l1MaxEntries: config.SESSION_L1_MAX_ENTRIES,
          l1MaxStalenessMs: config.SESSION_L1_MAX_STALENESS_MS,
          touchIntervalMs: config.SESSION_TOUCH_INTERVAL_MS,
        }),
        // After SessionModule: the throttler's guard keys authenticated requests on the session's user.
        ThrottlerModule.forRoot({
          tiers: [...rateLimitTiers(config), ...(config.BENCH_ROUTES ? benchTiers() : [])],
          memoryMaxKeys: config.THROTTLE_MEMORY_MAX_KEYS,
          commandTimeoutMs: config.THROTTLE_COMMAND_TIMEOUT_MS,
          retryAfterFailureMs: config.THROTTLE_RETRY_AFTER_FAILURE_MS,
          fallbackDivisor: config.THROTTLE_FALLBACK_DIVISOR,
          leaseMinLimit: config.THROTTLE_LEASE_MIN_LIMIT,
        }),
        CacheModule.forRoot({
          defaultTtlMs: config.CACHE_DEFAULT_TTL_MS,
          l1MaxEntries: config.CACHE_L1_MAX_ENTRIES,
          l1MaxBytes: config.CACHE_L1_MAX_BYTES,
          commandTimeoutMs: config.CACHE_COMMAND_TIMEOUT_MS,
          fillLeaseMs: config.CACHE_FILL_LEASE_MS,
          retryAfterFailureMs: config.CACHE_RETRY_AFTER_FAILURE_MS,
        }),
        IdempotencyModule.forRoot({
          retentionMs: config.IDEMPOTENCY_RETENTION_MS,
          leaseMs: config.IDEMPOTENCY_LEASE_MS,
          commandTimeoutMs: config.IDEMPOTENCY_COMMAND_TIMEOUT_MS,
          memoryMaxKeys: config.IDEMPOTENCY_MEMORY_MAX_KEYS,
        }),
        LockModule.forRoot({ ttlMs: config.LOCK_TTL_MS, commandTimeoutMs: config.LOCK_COMMAND_TIMEOUT_MS }),
        QueueModule.forRoot({
          workersEnabled: config.WORKERS_ENABLED,
          lockDurationMs: config.QUEUE_LOCK_DURATION_MS,
          stalledIntervalMs: config.QUEUE_STALLED_INTERVAL_MS,
          shutdownTimeoutMs: queueShutdownTimeoutMs(config),
          commandTimeoutMs: config.QUEUE_COMMAND_TIMEOUT_MS,
          memoryMaxJobs: config.QUEUE_MEMORY_MAX_JOBS,
          dashboardPath: config.QUEUE_DASHBOARD_ENABLED ? '/admin/queues' : false,
        }),
        IdentityModule,
        EventsModule,
        ReportsModule.forRoot({
          retentionMs: config.EXPORTS_RETENTION_MS,
          pageSize: config.EXPORTS_PAGE_SIZE,
          pagePauseMs: config.EXPORTS_PAGE_PAUSE_MS,
        }),
        OrdersModule.forRoot({
          holdMs: config.ORDER_HOLD_MS,
          sweepIntervalMs: config.ORDER_SWEEP_INTERVAL_MS,
          payments: {
            latencyMs: config.PAYMENT_FAKE_LATENCY_MS,
            failureRate: config.PAYMENT_FAKE_FAILURE_PERCENT / 100,
          },
        }),
        WebhooksModule.forRoot({
          attempts: config.WEBHOOK_ATTEMPTS,
          backoffMs: config.WEBHOOK_BACKOFF_MS,
          timeoutMs: config.WEBHOOK_TIMEOUT_MS,
          allowHttp: config.WEBHOOK_ALLOW_HTTP,
          allowedPrivateAddresses: config.WEBHOOK_ALLOWED_PRIVATE_ADDRESSES ?? [],
          sweepIntervalMs: config.WEBHOOK_SWEEP_INTERVAL_MS,
        }),
        ...(config.BENCH_ROUTES ? [BenchModule] : []),
      ],
    };
  }
}
