import { ConfigurableModuleBuilder, type InjectionToken } from '@nestjs/common';

/** The request as trackers see it: the client address, headers, the parsed body, and the session guard's `auth`. */
export interface ThrottledRequest {
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  auth?: { user: { id: string; roles: string[] } };
}

/**
 * Who a hit counts against. `ip` is the client address (X-Forwarded-For is believed only from
 * trusted proxies, see TRUSTED_PROXIES; IPv6 counts per /64), `user` the authenticated user (the
 * IP for anonymous callers), `tenant` the module's `tenantOf` (then the user, then the IP). A
 * function returns a partition such as `email:a@b.c`, or undefined to leave this tracker out.
 */
export type ThrottleTracker = 'ip' | 'user' | 'tenant' | ((request: ThrottledRequest) => string | undefined);

/** A named throttler (tier). Names are lowercase words (`[a-z][a-z0-9-]*`), as they appear in the RateLimit fields. */
export interface ThrottlerTier {
  name: string;
  /** Hits allowed in any window of `ttl`. */
  limit: number;
  /** Window length in ms (the sliding window of @nestjs/throttler's `ttl`). */
  ttl: number;
  /** Once refused, refuse for this long (ms). Default 0: only until a slot of the window frees. */
  blockDuration?: number;
  /** Each tracker is its own partition; a hit must pass all of them. Default `['ip']`. */
  trackers?: ThrottleTracker[];
  /**
   * Where the tier applies without a route naming it in `@Throttle`: to anonymous requests, to
   * authenticated ones, or to both. Default: nowhere (the route opts in).
   */
  appliesTo?: 'anonymous' | 'authenticated' | 'all';
  /** While the shared store is down, answer 503 instead of limiting per process. Default false. */
  failClosed?: boolean;
  /** A provider (a @nestjs/throttler storage, or our store port) to use for this tier instead of the module's store. */
  storage?: InjectionToken;
  /** false: every hit asks Redis, even when the limit is at or above the module's `leaseMinLimit`. */
  lease?: boolean;
}

export interface ThrottlerModuleOptions {
  tiers: ThrottlerTier[];
  /** The tenant partition for `tenant` trackers (e.g. the organizer behind a route). */
  tenantOf?: (request: ThrottledRequest) => string | undefined;
  /** Bound of the in-process stores in keys (the store without Redis, the insurance limiter, the refused-key cache). Default 100,000. */
  memoryMaxKeys?: number;
  /** Timeout of each rate-limit command on Redis. Default 100 ms. */
  commandTimeoutMs?: number;
  /** After a Redis failure, how long to limit per process before trying Redis again. Default 1 s. */
  retryAfterFailureMs?: number;
  /** During an outage each instance allows `limit / fallbackDivisor` (at least 1): set it to the replica count. Default 1. */
  fallbackDivisor?: number;
  /** IPv6 clients count per subnet of this prefix length. Default 64. */
  ipv6SubnetPrefix?: number;
  /**
   * Limits at or above this take their hits from Redis in leases (2 % of the limit, at most 100
   * hits, kept at most 1 s), so most requests make no Redis call; exact to within the lease time.
   * 0: every hit asks Redis. Default 100.
   */
  leaseMinLimit?: number;
}

export const { ConfigurableModuleClass: ThrottlerConfigurableModule, MODULE_OPTIONS_TOKEN: THROTTLER_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<ThrottlerModuleOptions>({ moduleName: 'Throttler' })
    .setClassMethodName('forRoot')
    .build();

/** The options with their defaults applied and checked (`throttlerSettings`). */
export const THROTTLER_SETTINGS = Symbol('THROTTLER_SETTINGS');
export const THROTTLE_STORE = Symbol('THROTTLE_STORE');

export const THROTTLER_DEFAULTS = {
  memoryMaxKeys: 100_000,
  commandTimeoutMs: 100,
  retryAfterFailureMs: 1_000,
  fallbackDivisor: 1,
  ipv6SubnetPrefix: 64,
  leaseMinLimit: 100,
} satisfies Partial<ThrottlerModuleOptions>;

export type ThrottlerSettings = ThrottlerModuleOptions & typeof THROTTLER_DEFAULTS;

const NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** Settings with defaults, or a clear error for a tier that cannot work. */
export function throttlerSettings(options: ThrottlerModuleOptions): ThrottlerSettings {
  const names = new Set<string>();
  for (const tier of options.tiers) {
    if (!NAME.test(tier.name)) throw new Error(`Throttler tier name "${tier.name}" must match ${NAME}`);
    if (names.has(tier.name)) throw new Error(`Throttler tier "${tier.name}" is defined twice`);
    names.add(tier.name);
    if (!(Number.isInteger(tier.limit) && tier.limit >= 1))
      throw new Error(`Throttler tier "${tier.name}": limit must be an integer >= 1`);
    if (!(tier.ttl >= 1)) throw new Error(`Throttler tier "${tier.name}": ttl must be at least 1 ms`);
  }
  const settings = { ...THROTTLER_DEFAULTS, ...options };
  if (!(settings.fallbackDivisor >= 1)) throw new Error('Throttler fallbackDivisor must be at least 1');
  return settings;
}

/** A tracker on a field of the JSON body (trimmed, lowercased), e.g. the email of a login. */
export const bodyField =
  (field: string) =>
  (request: ThrottledRequest): string | undefined => {
    const body = request.body;
    const value = body && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined;
    return typeof value === 'string' && value.trim() ? `${field}:${value.trim().toLowerCase()}` : undefined;
  };
