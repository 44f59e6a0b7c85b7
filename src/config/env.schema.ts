import { z } from 'zod';

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], {
      error: 'expected one of true, false, 1, 0, yes, no',
    })
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

// Plain decimal digits only: Number() would also take ' ', '0x50' or '1e3'.
const int = (fallback: number, min: number, max: number) => {
  const error = `expected an integer between ${min} and ${max}`;
  return z
    .string()
    .regex(/^\d{1,9}$/, { error })
    .transform(Number)
    .pipe(z.number().min(min, { error }).max(max, { error }))
    .default(fallback);
};

/** An integer that may be left unset (its default depends on other variables). */
const optionalInt = (min: number, max: number) => {
  const error = `expected an integer between ${min} and ${max}`;
  return z
    .string()
    .regex(/^\d{1,9}$/, { error })
    .transform(Number)
    .pipe(z.number().min(min, { error }).max(max, { error }))
    .optional();
};

const hostPortList = z
  .string()
  .regex(/^[^,:\s]+:\d{1,5}(,[^,:\s]+:\d{1,5})*$/, {
    error: 'expected a comma-separated list of host:port',
  })
  .transform((v) =>
    v.split(',').map((hp) => {
      const at = hp.lastIndexOf(':');
      return { host: hp.slice(0, at), port: Number(hp.slice(at + 1)) };
    }),
  );

// An IPv4 or IPv6 address, optionally with a /prefix (validated again by Fastify's proxy-addr at start).
const ipOrCidr = /^(?:\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?:\/\d{1,3})?)$/;
const addressList = z
  .string()
  .refine((v) => v.split(',').every((part) => ipOrCidr.test(part.trim())), {
    error: 'expected a comma-separated list of IP addresses or CIDR ranges, e.g. 10.0.0.0/8,127.0.0.1',
  })
  .transform((v) => v.split(',').map((part) => part.trim()));

const optionalUrl = (schemes: string[]) =>
  z
    .string()
    .refine(
      (v) => {
        try {
          return schemes.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { error: `expected a URL starting with ${schemes.map((s) => `${s}//`).join(' or ')}` },
    )
    .optional();

/**
 * Every environment variable the process reads. `.env.example` documents the same list;
 * `src/config/env-example.spec.ts` keeps the two in step.
 */
export const envSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'], {
      error: 'expected one of development, production, test',
    })
    .default('development'),
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: int(3000, 0, 65535),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'expected one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  // `auto`: readable lines (pino-pretty) when stdout is a terminal outside production, JSON otherwise.
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty'], { error: 'expected one of auto, json, pretty' }).default('auto'),
  BODY_LIMIT_BYTES: int(1_048_576, 1024, 100 * 1_048_576),
  DOCS_ENABLED: bool(true),
  BENCH_ROUTES: bool(false),
  TRUSTED_PROXIES: addressList.optional(),

  DATABASE_URL: optionalUrl(['postgres:', 'postgresql:']),
  PGLITE_DATA_DIR: z.string().min(1).default('.data/pglite'),
  DATABASE_RUN_MIGRATIONS: bool(true),
  DATABASE_POOL_SIZE: int(10, 1, 200),
  DATABASE_CONNECT_TIMEOUT_MS: int(2000, 100, 60_000),
  DATABASE_STATEMENT_TIMEOUT_MS: int(5000, 100, 600_000),

  REDIS_URL: optionalUrl(['redis:', 'rediss:']),
  REDIS_OPTIONAL: bool(false),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_{}.-]{1,64}$/, { error: 'expected 1-64 characters of A-Z a-z 0-9 : _ - . { }' })
    .default('bo:'),
  REDIS_COMMAND_TIMEOUT_MS: int(250, 5, 60_000),
  REDIS_CONNECT_TIMEOUT_MS: int(2000, 100, 60_000),
  REDIS_SENTINELS: hostPortList.optional(),
  REDIS_SENTINEL_NAME: z.string().min(1).default('mymaster'),
  REDIS_CLUSTER_NODES: hostPortList.optional(),
  REDIS_TLS_REJECT_UNAUTHORIZED: bool(true),

  SESSION_SECRET: z
    .string()
    .min(32, { error: 'expected at least 32 characters (e.g. openssl rand -base64 48)' })
    .optional(),
  SESSION_IDLE_TIMEOUT_MS: int(1_800_000, 1000, 7 * 86_400_000),
  SESSION_ABSOLUTE_TIMEOUT_MS: int(28_800_000, 1000, 30 * 86_400_000),
  SESSION_MEMORY_MAX: int(10_000, 10, 10_000_000),
  SESSION_L1_MAX_ENTRIES: int(10_000, 0, 10_000_000),
  SESSION_L1_MAX_STALENESS_MS: int(1000, 10, 60_000),
  SESSION_TOUCH_INTERVAL_MS: int(1000, 1, 600_000),
  CSRF_TRUSTED_ORIGINS: z
    .string()
    .regex(/^https?:\/\/[^,/\s]+(,https?:\/\/[^,/\s]+)*$/, {
      error: 'expected a comma-separated list of origins such as https://app.example.com',
    })
    .transform((v) => v.split(','))
    .optional(),

  CACHE_DEFAULT_TTL_MS: int(60_000, 1, 7 * 86_400_000),
  CACHE_L1_MAX_ENTRIES: int(10_000, 0, 10_000_000),
  CACHE_L1_MAX_BYTES: int(64 * 1024 * 1024, 1024, 512 * 1024 * 1024),
  CACHE_COMMAND_TIMEOUT_MS: int(50, 1, 60_000),
  CACHE_FILL_LEASE_MS: int(5000, 10, 600_000),
  CACHE_RETRY_AFTER_FAILURE_MS: int(1000, 0, 600_000),

  THROTTLE_PUBLIC_LIMIT: int(1000, 1, 999_999_999),
  THROTTLE_PUBLIC_WINDOW_MS: int(60_000, 1, 7 * 86_400_000),
  THROTTLE_API_LIMIT: int(300, 1, 999_999_999),
  THROTTLE_API_WINDOW_MS: int(60_000, 1, 7 * 86_400_000),
  THROTTLE_AUTH_LIMIT: int(5, 1, 999_999_999),
  THROTTLE_AUTH_WINDOW_MS: int(900_000, 1, 7 * 86_400_000),
  THROTTLE_PAYMENT_LIMIT: int(10, 1, 999_999_999),
  THROTTLE_PAYMENT_WINDOW_MS: int(60_000, 1, 7 * 86_400_000),
  THROTTLE_EXPORTS_LIMIT: int(10, 1, 999_999_999),
  THROTTLE_EXPORTS_WINDOW_MS: int(3_600_000, 1, 7 * 86_400_000),
  THROTTLE_FALLBACK_DIVISOR: int(1, 1, 1000),
  THROTTLE_COMMAND_TIMEOUT_MS: int(100, 1, 60_000),
  THROTTLE_RETRY_AFTER_FAILURE_MS: int(1000, 0, 600_000),
  THROTTLE_MEMORY_MAX_KEYS: int(100_000, 100, 10_000_000),
  THROTTLE_LEASE_MIN_LIMIT: int(100, 0, 999_999_999),

  IDEMPOTENCY_RETENTION_MS: int(86_400_000, 1000, 30 * 86_400_000),
  IDEMPOTENCY_LEASE_MS: int(10_000, 100, 3_600_000),
  IDEMPOTENCY_COMMAND_TIMEOUT_MS: int(1000, 1, 60_000),
  IDEMPOTENCY_MEMORY_MAX_KEYS: int(10_000, 10, 10_000_000),
  LOCK_TTL_MS: int(10_000, 100, 3_600_000),
  LOCK_COMMAND_TIMEOUT_MS: int(1000, 1, 60_000),

  ORDER_HOLD_MS: int(600_000, 1000, 86_400_000),
  ORDER_SWEEP_INTERVAL_MS: int(30_000, 0, 3_600_000),
  PAYMENT_FAKE_LATENCY_MS: int(0, 0, 600_000),
  PAYMENT_FAKE_FAILURE_PERCENT: int(0, 0, 100),

  API_ENABLED: bool(true),
  WORKERS_ENABLED: bool(true),
  QUEUE_LOCK_DURATION_MS: int(30_000, 1000, 3_600_000),
  QUEUE_STALLED_INTERVAL_MS: int(30_000, 500, 3_600_000),
  QUEUE_SHUTDOWN_TIMEOUT_MS: optionalInt(0, 600_000),
  QUEUE_COMMAND_TIMEOUT_MS: int(1000, 1, 60_000),
  QUEUE_MEMORY_MAX_JOBS: int(10_000, 10, 10_000_000),
  QUEUE_DASHBOARD_ENABLED: bool(true),
  EXPORTS_RETENTION_MS: int(86_400_000, 60_000, 30 * 86_400_000),
  EXPORTS_PAGE_SIZE: int(500, 1, 10_000),
  EXPORTS_PAGE_PAUSE_MS: int(0, 0, 60_000),
  WEBHOOK_ATTEMPTS: int(8, 1, 50),
  WEBHOOK_BACKOFF_MS: int(2000, 1, 3_600_000),
  WEBHOOK_TIMEOUT_MS: int(5000, 100, 60_000),
  WEBHOOK_ALLOW_HTTP: bool(false),
  WEBHOOK_ALLOWED_PRIVATE_ADDRESSES: addressList.optional(),
  WEBHOOK_SWEEP_INTERVAL_MS: int(30_000, 0, 3_600_000),

  READINESS_REQUIRES_REDIS: bool(false),
  SHUTDOWN_DRAIN_MS: int(5000, 0, 300_000),
  SHUTDOWN_TIMEOUT_MS: int(25_000, 1000, 600_000),
});

export type Env = z.output<typeof envSchema>;

/**
 * How long running jobs may finish after SIGTERM: QUEUE_SHUTDOWN_TIMEOUT_MS, or by default 15 s
 * within what the shutdown leaves after the drain (2 s kept for closing the rest).
 */
export function queueShutdownTimeoutMs(
  env: Pick<Env, 'QUEUE_SHUTDOWN_TIMEOUT_MS' | 'SHUTDOWN_TIMEOUT_MS' | 'SHUTDOWN_DRAIN_MS'>,
): number {
  return (
    env.QUEUE_SHUTDOWN_TIMEOUT_MS ??
    Math.max(0, Math.min(15_000, env.SHUTDOWN_TIMEOUT_MS - env.SHUTDOWN_DRAIN_MS - 2000))
  );
}

export interface EnvIssue {
  variable: keyof Env;
  expected: string;
}

/**
 * Rules that span variables. They take whatever fields parsed, so they are reported together
 * with bad single variables instead of only once those are fixed.
 */
export function crossVariableIssues(env: Partial<Env>): EnvIssue[] {
  const issues: EnvIssue[] = [];
  const redisConfigured = env.REDIS_URL || env.REDIS_CLUSTER_NODES || env.REDIS_SENTINELS;
  if (env.NODE_ENV === 'production' && !redisConfigured && env.REDIS_OPTIONAL === false) {
    issues.push({
      variable: 'REDIS_URL',
      expected: 'required when NODE_ENV=production (set REDIS_OPTIONAL=true to run on in-process stores instead)',
    });
  }
  if (env.NODE_ENV === 'production' && !env.SESSION_SECRET) {
    issues.push({
      variable: 'SESSION_SECRET',
      expected: 'required when NODE_ENV=production: at least 32 random characters, the same on every instance',
    });
  }
  if (
    env.SESSION_IDLE_TIMEOUT_MS !== undefined &&
    env.SESSION_ABSOLUTE_TIMEOUT_MS !== undefined &&
    env.SESSION_IDLE_TIMEOUT_MS > env.SESSION_ABSOLUTE_TIMEOUT_MS
  ) {
    issues.push({ variable: 'SESSION_IDLE_TIMEOUT_MS', expected: 'expected at most SESSION_ABSOLUTE_TIMEOUT_MS' });
  }
  if (env.API_ENABLED === false && env.WORKERS_ENABLED === false) {
    issues.push({ variable: 'WORKERS_ENABLED', expected: 'API_ENABLED and WORKERS_ENABLED cannot both be false' });
  }
  if ((env.API_ENABLED === false || env.WORKERS_ENABLED === false) && !redisConfigured) {
    issues.push({
      variable: env.API_ENABLED === false ? 'API_ENABLED' : 'WORKERS_ENABLED',
      expected:
        'false needs Redis (REDIS_URL): without it, queues live in this process, which must both enqueue and work',
    });
  }
  if (env.NODE_ENV === 'production' && env.WEBHOOK_ALLOW_HTTP === true) {
    issues.push({
      variable: 'WEBHOOK_ALLOW_HTTP',
      expected: 'must be false when NODE_ENV=production (webhooks go over HTTPS)',
    });
  }
  if (
    env.SHUTDOWN_DRAIN_MS !== undefined &&
    env.QUEUE_SHUTDOWN_TIMEOUT_MS !== undefined &&
    env.SHUTDOWN_TIMEOUT_MS !== undefined &&
    env.SHUTDOWN_DRAIN_MS < env.SHUTDOWN_TIMEOUT_MS &&
    env.SHUTDOWN_DRAIN_MS + env.QUEUE_SHUTDOWN_TIMEOUT_MS >= env.SHUTDOWN_TIMEOUT_MS
  ) {
    issues.push({
      variable: 'QUEUE_SHUTDOWN_TIMEOUT_MS',
      expected: `expected SHUTDOWN_DRAIN_MS + QUEUE_SHUTDOWN_TIMEOUT_MS below SHUTDOWN_TIMEOUT_MS (${env.SHUTDOWN_TIMEOUT_MS})`,
    });
  }
  if (env.REDIS_SENTINELS && env.REDIS_CLUSTER_NODES) {
    issues.push({
      variable: 'REDIS_CLUSTER_NODES',
      expected: 'cannot be combined with REDIS_SENTINELS: choose Sentinel or Cluster',
    });
  }
  if (
    env.SHUTDOWN_DRAIN_MS !== undefined &&
    env.SHUTDOWN_TIMEOUT_MS !== undefined &&
    env.SHUTDOWN_DRAIN_MS >= env.SHUTDOWN_TIMEOUT_MS
  ) {
    issues.push({
      variable: 'SHUTDOWN_DRAIN_MS',
      expected: `expected less than SHUTDOWN_TIMEOUT_MS (${env.SHUTDOWN_TIMEOUT_MS})`,
    });
  }
  return issues;
}
