import { Logger } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { MemoryThrottleStore } from './memory-throttle.store';
import type { ThrottlerStorage } from '@nestjs/throttler';
import {
  incrementThrough,
  type ThrottleRecord,
  type ThrottleRule,
  type ThrottleStore,
  type ThrottleVerdict,
} from './throttle.store';
import type { ThrottlerMetrics } from './throttler.metrics';

export interface FailoverThrottleStoreOptions {
  /** Keys remembered as refused, and keys the insurance limiter tracks. */
  maxKeys: number;
  /** After a Redis error or timeout, skip Redis this long (ms) and use the insurance limiter. */
  retryAfterFailureMs: number;
  /** During an outage each process allows `limit / fallbackDivisor` (at least 1) per window. */
  fallbackDivisor: number;
}

/** A fail-closed tier was asked while the shared store is unusable. */
export class ThrottleStoreUnavailableError extends Error {
  constructor(
    readonly retryAfterMs: number,
    options?: ErrorOptions,
  ) {
    super('The shared rate-limit store is unavailable', options);
  }
}

/**
 * The shared (Redis) store with the failure policy around it:
 * - a key over its limit is refused here until its reset time, with no Redis call: the window
 *   cannot free a slot before then, so this is exact, and a flood costs Redis nothing;
 * - a Redis error or timeout opens a breaker for `retryAfterFailureMs`; meanwhile each tier falls
 *   back to a per-process limiter with `limit / fallbackDivisor`, except fail-closed tiers, which
 *   throw `ThrottleStoreUnavailableError` (the guard answers 503). One warning per outage.
 */
export class FailoverThrottleStore implements ThrottleStore, ThrottlerStorage {
  private readonly logger = new Logger('Throttler');
  private readonly refused: LRUCache<string, number>;
  private readonly insurance: MemoryThrottleStore;
  private retryAt = 0;
  private outage = false;

  constructor(
    private readonly shared: ThrottleStore,
    private readonly options: FailoverThrottleStoreOptions,
    private readonly metrics?: ThrottlerMetrics,
  ) {
    this.refused = new LRUCache<string, number>({ max: options.maxKeys });
    this.insurance = new MemoryThrottleStore({ maxKeys: options.maxKeys });
  }

  /** On shutdown, hits leased but unused go back to the shared window (at most half a second spent). */
  async beforeApplicationShutdown(): Promise<void> {
    const shared = this.shared as ThrottleStore & { releaseAll?: () => Promise<void> };
    if (!shared.releaseAll) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, 500)));
    await Promise.race([shared.releaseAll().catch(() => undefined), deadline]);
    clearTimeout(timer);
  }

  /** Whether requests go to the per-process limiter right now. */
  get degraded(): boolean {
    return this.outage;
  }

  consume(id: string, rule: ThrottleRule, tier = ''): ThrottleVerdict | Promise<ThrottleVerdict> {
    const now = Date.now();
    const until = this.refused.get(id);
    if (until !== undefined) {
      if (until > now) return { allowed: false, hits: rule.limit + 1, resetMs: until - now, retryAfterMs: until - now };
      this.refused.delete(id);
    }
    if (now < this.retryAt) return this.fallback(id, rule, tier, now);
    return this.consumeShared(id, rule, tier);
  }

  /** The same, as a @nestjs/throttler storage. */
  increment(key: string, ttl: number, limit: number, blockDuration: number, name: string): Promise<ThrottleRecord> {
    return incrementThrough(this, key, ttl, limit, blockDuration, name);
  }

  release(id: string, hit: string): void | Promise<void> {
    this.refused.delete(id);
    if (hit.startsWith('local:')) return this.insurance.release(id, hit.slice(6));
    // A release that fails only leaves a hit counted: conservative, and not worth an error.
    return Promise.resolve(this.shared.release(id, hit)).catch(() => undefined);
  }

  /** Synchronous when the shared store answers synchronously (a leased hit). */
  private consumeShared(id: string, rule: ThrottleRule, tier: string): ThrottleVerdict | Promise<ThrottleVerdict> {
    let answer: ThrottleVerdict | Promise<ThrottleVerdict>;
    try {
      answer = this.shared.consume(id, rule, tier);
    } catch (error) {
      return this.failed(error, id, rule, tier);
    }
    if (!(answer instanceof Promise)) return this.answered(id, answer);
    return answer.then(
      (verdict) => this.answered(id, verdict),
      (error: unknown) => this.failed(error, id, rule, tier),
    );
  }

  private answered(id: string, verdict: ThrottleVerdict): ThrottleVerdict {
    // A command sent before the outage may still succeed during it: only the first success
    // after the breaker closed ends the outage.
    if (this.outage && Date.now() >= this.retryAt) {
      this.outage = false;
      this.logger.log('Redis is back: rate limits are shared across instances again');
    }
    if (!verdict.allowed && verdict.retryAfterMs > 0) this.refused.set(id, Date.now() + verdict.retryAfterMs);
    return verdict;
  }

  private failed(error: unknown, id: string, rule: ThrottleRule, tier: string): ThrottleVerdict {
    this.trip(error);
    return this.fallback(id, rule, tier, Date.now());
  }

  private fallback(id: string, rule: ThrottleRule, tier: string, now: number): ThrottleVerdict {
    if (rule.failClosed) throw new ThrottleStoreUnavailableError(Math.max(1000, this.retryAt - now));
    this.metrics?.fallback(tier);
    const limit = Math.max(1, Math.floor(rule.limit / this.options.fallbackDivisor));
    const verdict = this.insurance.hit(id, { ...rule, limit }, now);
    if (verdict.hit === undefined) return { ...verdict, hits: rule.limit + 1 };
    // Said against the tier's limit, so `limit - hits` is what this instance still allows.
    return { ...verdict, hits: rule.limit - (limit - verdict.hits), hit: `local:${verdict.hit}` };
  }

  private trip(error: unknown): void {
    this.metrics?.storeError();
    this.retryAt = Date.now() + this.options.retryAfterFailureMs;
    if (this.outage) return;
    this.outage = true;
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(
      `Redis unavailable for rate limits (${reason}): each instance now limits on its own ` +
        `(limit / ${this.options.fallbackDivisor}); fail-closed tiers answer 503`,
    );
  }
}
