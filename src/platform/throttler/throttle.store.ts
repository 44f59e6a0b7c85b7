import type { ThrottlerStorage } from '@nestjs/throttler';

/** What a storage answers per hit (@nestjs/throttler's record; times in seconds, as its guard expects). */
export type ThrottleRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** One tier's rule for one request: at most `limit` hits in any window of `windowMs`. */
export interface ThrottleRule {
  limit: number;
  windowMs: number;
  /** Once refused, refuse this long (0: only until a slot of the window frees). */
  blockMs: number;
  /** While the shared store is unusable, refuse to decide (503) instead of limiting per process. */
  failClosed?: boolean;
  /** false: never take this tier's hits in leases, whatever its limit (see LeasingThrottleStore). */
  lease?: boolean;
}

/** The answer to one hit, in milliseconds. */
export interface ThrottleVerdict {
  allowed: boolean;
  /** Hits in the window, this one included when allowed; `limit + 1` when refused. */
  hits: number;
  /** Until the oldest hit in the window leaves it, so one more slot frees. */
  resetMs: number;
  /** Until a refused caller may try again; 0 when allowed. */
  retryAfterMs: number;
  /** Names this hit for `release()`; only on allowed hits. */
  hit?: string;
}

/**
 * The port the guard talks to. `id` is the tier and the partition (`auth\nip:203.0.113.9`);
 * stores hash or bound it themselves. Exact sliding window: refused hits are not recorded.
 */
export interface ThrottleStore {
  /** `tier` names the throttler, for metrics. */
  consume(id: string, rule: ThrottleRule, tier?: string): ThrottleVerdict | Promise<ThrottleVerdict>;
  /** Gives a hit back (a login that succeeded, a request another tier refused). */
  release(id: string, hit: string): void | Promise<void>;
}

const seconds = (ms: number) => Math.ceil(ms / 1000);

/** The @nestjs/throttler record for a verdict (its guard and storages count in seconds). */
export function toThrottlerRecord(verdict: ThrottleVerdict): ThrottleRecord {
  return {
    totalHits: verdict.hits,
    timeToExpire: seconds(verdict.resetMs),
    isBlocked: !verdict.allowed,
    timeToBlockExpire: seconds(verdict.retryAfterMs),
  };
}

/** @nestjs/throttler's `increment` on our port: one adapter for every store of ours. */
export async function incrementThrough(
  store: ThrottleStore,
  key: string,
  ttl: number,
  limit: number,
  blockDuration: number,
  throttlerName: string,
): Promise<ThrottleRecord> {
  const rule = { limit, windowMs: ttl, blockMs: blockDuration };
  return toThrottlerRecord(await store.consume(`${throttlerName}\n${key}`, rule, throttlerName));
}

/**
 * Any @nestjs/throttler storage (the default in-memory one, a third-party Redis storage) behind
 * our port: it cannot give hits back, and it reports whole seconds.
 */
export function fromThrottlerStorage(storage: ThrottlerStorage, tier: string): ThrottleStore {
  return {
    async consume(id, rule) {
      const r = await storage.increment(id, rule.windowMs, rule.limit, rule.blockMs, tier);
      return {
        allowed: !r.isBlocked,
        hits: r.totalHits,
        resetMs: r.timeToExpire * 1000,
        retryAfterMs: r.isBlocked ? r.timeToBlockExpire * 1000 : 0,
      };
    },
    release: () => undefined,
  };
}
