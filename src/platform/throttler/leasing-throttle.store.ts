import { LRUCache } from 'lru-cache';
import type { RedisThrottleStore } from './redis-throttle.store';
import type { ThrottleRule, ThrottleStore, ThrottleVerdict } from './throttle.store';

export interface LeasingOptions {
  /** Rules with a limit at or above this take hits in leases; below it every hit asks Redis. 0: never. */
  minLimit: number;
  /** Share of the limit one lease takes (at least 1 hit, at most `maxLeaseHits`). Default 0.02. */
  share?: number;
  /** Most hits one lease takes (each is a member of the Redis log). Default 100. */
  maxLeaseHits?: number;
  /** Longest an instance keeps unused leased hits, in ms (also at most a tenth of the window). Default 1000. */
  maxLeaseMs?: number;
  /** Keys with a lease in process. */
  maxKeys: number;
}

interface Lease {
  hit: string;
  /** A lease of one hit: Redis names that hit `hit` itself, not `hit.1`. */
  single: boolean;
  limit: number;
  granted: number;
  used: number;
  until: number;
  leasedAt: number;
  /** Hits in the window (all instances) right after the lease was taken. */
  hits: number;
  resetMs: number;
}

/**
 * In front of the Redis store: for high limits, takes hits from the shared window in leases (2 %
 * of the limit by default) and spends them in process, so most requests cost no Redis call.
 *
 * What it trades: every hit of a lease is logged at the moment the lease is taken, and a lease
 * lives at most `maxLeaseMs`, so the window is exact to within that time: at most `limit` hits
 * in any window of (window - maxLeaseMs) (59 s of a 60 s window). Unused leased hits are given
 * back when the lease is renewed or dropped; until then (an idle key: until the window ends)
 * other instances see them as used, so a client near its limit may be refused slightly early,
 * never let through late. Rules below `minLimit` (auth, payment, exports) stay exact, one
 * script call per hit.
 */
export class LeasingThrottleStore implements ThrottleStore {
  private readonly leases: LRUCache<string, Lease>;
  private readonly pending = new Map<string, Promise<ThrottleVerdict>>();
  private readonly share: number;
  private readonly maxLeaseMs: number;
  private draining = false;

  constructor(
    private readonly shared: RedisThrottleStore,
    private readonly options: LeasingOptions,
  ) {
    this.share = options.share ?? 0.02;
    this.maxLeaseMs = options.maxLeaseMs ?? 1000;
    this.leases = new LRUCache<string, Lease>({
      max: options.maxKeys,
      dispose: (lease, id, reason) => {
        if (reason !== 'set' && !this.draining) void this.giveBackUnused(id, lease);
      },
    });
  }

  consume(id: string, rule: ThrottleRule): ThrottleVerdict | Promise<ThrottleVerdict> {
    if (rule.lease === false || this.options.minLimit === 0 || rule.limit < this.options.minLimit) {
      return this.shared.consume(id, rule);
    }
    return this.take(id, rule, Date.now()) ?? this.renew(id, rule);
  }

  release(id: string, hit: string): Promise<void> {
    return this.shared.release(id, hit);
  }

  /** Gives every unused leased hit back (shutdown). */
  async releaseAll(): Promise<void> {
    const all = [...this.leases.entries()];
    this.draining = true; // given back below, awaited, not once more by dispose
    try {
      this.leases.clear();
    } finally {
      this.draining = false;
    }
    await Promise.all(all.map(([id, lease]) => this.giveBackUnused(id, lease)));
  }

  private take(id: string, rule: ThrottleRule, now: number): ThrottleVerdict | undefined {
    const lease = this.leases.peek(id);
    if (!lease || lease.used >= lease.granted || lease.until <= now || lease.limit !== rule.limit) return undefined;
    lease.used++;
    return {
      allowed: true,
      hits: lease.hits - lease.granted + lease.used,
      resetMs: Math.max(0, lease.resetMs - (now - lease.leasedAt)),
      retryAfterMs: 0,
      hit: lease.single ? lease.hit : `${lease.hit}.${lease.used}`,
    };
  }

  private async renew(id: string, rule: ThrottleRule): Promise<ThrottleVerdict> {
    for (;;) {
      const inFlight = this.pending.get(id);
      if (!inFlight) break;
      const answer = await inFlight;
      if (!answer.allowed) return answer;
      const taken = this.take(id, rule, Date.now());
      if (taken) return taken;
    }
    const request = this.lease(id, rule);
    this.pending.set(id, request);
    try {
      return await request;
    } finally {
      this.pending.delete(id);
    }
  }

  private async lease(id: string, rule: ThrottleRule): Promise<ThrottleVerdict> {
    const old = this.leases.peek(id);
    if (old) this.leases.delete(id); // gives its unused hits back (dispose)
    const want = Math.max(1, Math.min(this.options.maxLeaseHits ?? 100, Math.floor(rule.limit * this.share)));
    const leasedAt = Date.now();
    const answer = await this.shared.lease(id, rule, want);
    if (!answer.allowed || answer.hit === undefined) return answer;
    this.leases.set(id, {
      hit: answer.hit,
      single: want === 1,
      limit: rule.limit,
      granted: answer.granted,
      used: 0,
      until: leasedAt + Math.min(this.maxLeaseMs, rule.windowMs / 10),
      leasedAt,
      hits: answer.hits,
      resetMs: answer.resetMs,
    });
    return this.take(id, rule, leasedAt) ?? answer;
  }

  private giveBackUnused(id: string, lease: Lease): Promise<void> {
    if (lease.used >= lease.granted) return Promise.resolve();
    return this.shared.releaseLeased(id, lease.hit, lease.used + 1, lease.granted).catch(() => undefined);
  }
}
