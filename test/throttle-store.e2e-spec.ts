import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import {
  FailoverThrottleStore,
  ThrottleStoreUnavailableError,
  type ThrottleRule,
  type ThrottleStore,
  type ThrottleVerdict,
} from '../src/platform/throttler';
import { RedisService } from '../src/platform/redis';
import { LeasingThrottleStore, type LeasingOptions } from '../src/platform/throttler/leasing-throttle.store';
import { MemoryThrottleStore } from '../src/platform/throttler/memory-throttle.store';
import { RedisThrottleStore } from '../src/platform/throttler/redis-throttle.store';
import { redisHarness } from './support/redis-harness';

// One contract, two storages: the exact sliding window holds for the Redis store and the in-process one alike.

const { shared, openService } = redisHarness('throttle');
const key = () => randomBytes(8).toString('hex');

beforeAll(() => Logger.overrideLogger(false));

/** Both faces of a store: the port the guard uses, and @nestjs/throttler's storage. */
type Store = ThrottleStore & ThrottlerStorage;

/** A verdict whether the store answers synchronously, asynchronously, or throws. */
const ask = (store: ThrottleStore, id: string, rule: ThrottleRule): Promise<ThrottleVerdict> =>
  Promise.resolve().then(() => store.consume(id, rule, 'api'));

describe.each<[string, () => Promise<Store>]>([
  // A generous command timeout: these cases are about the window, not latency, and CI machines are busy.
  ['redis throttle store', async () => new RedisThrottleStore((await openService({ commandTimeoutMs: 5000 })).redis)],
  ['memory throttle store', async () => new MemoryThrottleStore()],
])('%s', (_name, open) => {
  let store: Store;

  beforeEach(async () => {
    store = await open();
  });

  it('lets `limit` hits through, counting them, then refuses with the time until a slot frees', async () => {
    const k = key();
    for (let hit = 1; hit <= 5; hit++) {
      expect(await store.increment(k, 60_000, 5, 0, 'api')).toMatchObject({ totalHits: hit, isBlocked: false });
    }
    const refused = await store.increment(k, 60_000, 5, 0, 'api');
    expect(refused).toMatchObject({ totalHits: 6, isBlocked: true });
    expect(refused.timeToBlockExpire).toBeGreaterThanOrEqual(59);
    expect(refused.timeToBlockExpire).toBeLessThanOrEqual(60);
    expect(refused.timeToExpire).toBe(refused.timeToBlockExpire);
  });

  it('keeps keys and throttlers apart', async () => {
    const k = key();
    for (let i = 0; i < 2; i++) await store.increment(k, 60_000, 2, 0, 'api');
    expect((await store.increment(k, 60_000, 2, 0, 'api')).isBlocked).toBe(true);
    expect((await store.increment(k, 60_000, 2, 0, 'auth')).isBlocked).toBe(false);
    expect((await store.increment(key(), 60_000, 2, 0, 'api')).isBlocked).toBe(false);
  });

  it('slides: the edge of a window cannot be used to pass twice the limit', async () => {
    const k = key();
    const ttl = 600;
    for (let i = 0; i < 5; i++) expect((await store.increment(k, ttl, 5, 0, 'api')).isBlocked).toBe(false);
    await sleep(ttl / 2); // a fixed window could have rolled over here
    for (let i = 0; i < 5; i++) expect((await store.increment(k, ttl, 5, 0, 'api')).isBlocked).toBe(true);
    await sleep(ttl / 2 + 100); // the first hits have left the window
    expect((await store.increment(k, ttl, 5, 0, 'api')).isBlocked).toBe(false);
  });

  it('holds a block for its whole duration, past the window', async () => {
    const k = key();
    await store.increment(k, 300, 1, 900, 'auth');
    const blocked = await store.increment(k, 300, 1, 900, 'auth');
    expect(blocked).toMatchObject({ isBlocked: true, timeToBlockExpire: 1 });
    await sleep(450); // the window is over, the block is not
    expect((await store.increment(k, 300, 1, 900, 'auth')).isBlocked).toBe(true);
    await sleep(550);
    expect((await store.increment(k, 300, 1, 900, 'auth')).isBlocked).toBe(false);
  });

  it('lets exactly `limit` of 300 concurrent hits on one key through', async () => {
    const k = key();
    const records = await Promise.all(Array.from({ length: 300 }, () => store.increment(k, 60_000, 5, 0, 'api')));
    expect(records.filter((r) => !r.isBlocked)).toHaveLength(5);
  });

  describe('through the port', () => {
    const rule = (limit: number, windowMs = 60_000, blockMs = 0): ThrottleRule => ({ limit, windowMs, blockMs });

    it('counts allowed hits, names each, and resets a window after the first hit', async () => {
      const id = `api\n${key()}`;
      const verdicts: ThrottleVerdict[] = [];
      for (let i = 0; i < 3; i++) verdicts.push(await ask(store, id, rule(3)));
      expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true]);
      expect(verdicts.map((v) => v.hits)).toEqual([1, 2, 3]);
      for (const v of verdicts) {
        expect(v.retryAfterMs).toBe(0);
        expect(typeof v.hit).toBe('string');
        // Until the first hit leaves the window: about the window, the first time.
        expect(v.resetMs).toBeGreaterThan(60_000 - 5000);
        expect(v.resetMs).toBeLessThanOrEqual(60_000);
      }
      expect(verdicts[0]!.resetMs).toBeGreaterThanOrEqual(verdicts[2]!.resetMs);
    });

    it('refuses over the limit with no hit to give back and a positive wait, and does not count the refusal', async () => {
      const id = `api\n${key()}`;
      for (let i = 0; i < 2; i++) expect((await ask(store, id, rule(2))).allowed).toBe(true);
      for (let i = 0; i < 3; i++) {
        const refused = await ask(store, id, rule(2));
        expect(refused).toMatchObject({ allowed: false, hits: 3 });
        expect(refused.hit).toBeUndefined();
        expect(refused.retryAfterMs).toBeGreaterThan(0);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
        // No block: the wait is until the oldest hit leaves the window.
        expect(refused.retryAfterMs).toBe(refused.resetMs);
      }
    });

    it('frees one slot when an allowed hit is given back', async () => {
      const id = `api\n${key()}`;
      const first = await ask(store, id, rule(2));
      await ask(store, id, rule(2));
      expect((await ask(store, id, rule(2))).allowed).toBe(false);
      await store.release(id, first.hit!);
      const again = await ask(store, id, rule(2));
      expect(again).toMatchObject({ allowed: true, hits: 2 });
      // One slot, not more.
      expect((await ask(store, id, rule(2))).allowed).toBe(false);
    });

    it('ignores hits it does not know', async () => {
      const id = `api\n${key()}`;
      const other = `api\n${key()}`;
      const first = await ask(store, id, rule(2));
      await ask(store, id, rule(2));
      await store.release(id, 'no-such-hit');
      await store.release(id, '0');
      await store.release(other, first.hit!); // a real hit, of another id
      await store.release(`api\n${key()}`, 'no-such-hit'); // an id never seen
      expect(await ask(store, id, rule(2))).toMatchObject({ allowed: false, hits: 3 });
      expect((await ask(store, other, rule(2))).hits).toBe(1);
    });

    it('lets exactly `limit` of 300 concurrent hits on one id through', async () => {
      const id = `api\n${key()}`;
      const verdicts = await Promise.all(Array.from({ length: 300 }, () => ask(store, id, rule(5))));
      const allowed = verdicts.filter((v) => v.allowed);
      expect(allowed.map((v) => v.hits).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5]);
      for (const v of allowed) expect(v.hit).toBeDefined();
      for (const v of verdicts.filter((v) => !v.allowed)) {
        expect(v.hit).toBeUndefined();
        expect(v.hits).toBe(6);
      }
    });

    it('holds a block for its whole duration, past the window', async () => {
      const id = `auth\n${key()}`;
      const blocking = rule(1, 300, 1200);
      expect((await ask(store, id, blocking)).allowed).toBe(true);
      const refused = await ask(store, id, blocking);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(1200 - 500);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(1200);
      await sleep(500); // the window is over, the block is not
      const held = await ask(store, id, blocking);
      expect(held.allowed).toBe(false);
      expect(held.retryAfterMs).toBeGreaterThan(0);
      expect(held.retryAfterMs).toBeLessThanOrEqual(1200 - 500);
      await sleep(held.retryAfterMs + 300);
      expect(await ask(store, id, blocking)).toMatchObject({ allowed: true, hits: 1 });
    });
  });
});

describe('redis throttle store on Redis itself', () => {
  it('keeps one sorted set per key and throttler under the app prefix, expiring with the window', async () => {
    const { redis, prefix } = await openService();
    const store = new RedisThrottleStore(redis);
    await store.increment('203.0.113.9', 5000, 3, 0, 'public');
    const keys = await shared.keys(`${prefix}*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}thr:\\{[\\w-]{22}\\}:l$`));
    expect(keys[0]).not.toContain('203.0.113.9'); // user-controlled parts are hashed
    const ttl = await shared.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(5000);
  });
});

describe('memory throttle store', () => {
  it('holds its bounds under a flood of distinct keys', async () => {
    const store = new MemoryThrottleStore({ maxKeys: 1000, maxBytes: 100_000 });
    for (let i = 0; i < 20_000; i++) await store.increment(`flood-${i}`, 60_000, 100, 0, 'public');
    expect(store.size).toBeLessThanOrEqual(1000);
    expect(store.calculatedSize).toBeLessThanOrEqual(100_000);
  });

  it('tracks at most `maxKeys` keys under 100,000 distinct ones, and still limits the recent ones', () => {
    const store = new MemoryThrottleStore({ maxKeys: 1000 });
    const rule = { limit: 2, windowMs: 60_000, blockMs: 0 };
    let most = 0;
    for (let i = 0; i < 100_000; i++) {
      store.consume(`flood-${i}`, rule);
      most = Math.max(most, store.size);
    }
    expect(most).toBeLessThanOrEqual(1000);
    expect(store.size).toBe(1000);
    expect(store.consume('flood-99999', rule)).toMatchObject({ allowed: true, hits: 2 });
    expect(store.consume('flood-99999', rule).allowed).toBe(false);
    // The oldest keys were evicted: they start over.
    expect(store.consume('flood-0', rule)).toMatchObject({ allowed: true, hits: 1 });
  });

  it('keeps hit logs within `maxBytes` with a large limit, and a busy key still gets its whole window', () => {
    const maxBytes = 64 * 1024;
    const store = new MemoryThrottleStore({ maxBytes });
    const rule = { limit: 1000, windowMs: 60_000, blockMs: 0 }; // 8 KB of ring per key
    let most = 0;
    for (let i = 0; i < 2000; i++) {
      store.consume(`big-${i}`, rule);
      most = Math.max(most, store.calculatedSize);
    }
    expect(most).toBeLessThanOrEqual(maxBytes);
    expect(store.size).toBeGreaterThan(0);
    // A ring grows with the hits in its window, not with the limit: keys with one hit stay small.
    expect(store.size).toBeGreaterThan(Math.floor(maxBytes / 8000));
    // Under that bound, a key in use still gets its whole exact window.
    const verdicts = Array.from({ length: 1001 }, () => store.consume('big-busy', rule));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(1000);
    expect(verdicts[1000]).toMatchObject({ allowed: false, hits: 1001 });
    expect(store.calculatedSize).toBeLessThanOrEqual(maxBytes);
  });
  it("still limits exactly when one key's ring is larger than `maxBytes` (it is kept alone, never dropped)", () => {
    const store = new MemoryThrottleStore({ maxBytes: 64 * 1024 });
    const rule = { limit: 10_000, windowMs: 60_000, blockMs: 0 }; // 80 KB of ring
    const verdicts = Array.from({ length: 10_005 }, () => store.consume('huge', rule));
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(10_000);
    expect(store.size).toBe(1);
  });
});

/**
 * A shared store under the test's control: it allows, refuses, throws, or hangs until told how to
 * settle, and counts what it is asked.
 */
class FakeSharedStore implements ThrottleStore {
  mode: 'allow' | 'refuse' | 'throw' | 'hang' = 'allow';
  /** What a refusal says to wait. */
  retryAfterMs = 400;
  consumes = 0;
  readonly releases: [string, string][] = [];
  private readonly hanging: { resolve: (v: ThrottleVerdict) => void; reject: (e: Error) => void }[] = [];

  async consume(_id: string, rule: ThrottleRule): Promise<ThrottleVerdict> {
    const n = ++this.consumes;
    switch (this.mode) {
      case 'allow':
        return { allowed: true, hits: 1, resetMs: rule.windowMs, retryAfterMs: 0, hit: `shared.${n}` };
      case 'refuse':
        return { allowed: false, hits: rule.limit + 1, resetMs: this.retryAfterMs, retryAfterMs: this.retryAfterMs };
      case 'throw':
        throw new Error('Command timed out');
      case 'hang':
        return new Promise((resolve, reject) => this.hanging.push({ resolve, reject }));
    }
  }

  release(id: string, hit: string): void {
    this.releases.push([id, hit]);
  }

  get pending(): number {
    return this.hanging.length;
  }

  /** Settles every hanging call: with an error, or as allowed. */
  settle(how: 'reject' | 'allow'): void {
    for (const call of this.hanging.splice(0)) {
      if (how === 'reject') call.reject(new Error('Command timed out'));
      else call.resolve({ allowed: true, hits: 1, resetMs: 60_000, retryAfterMs: 0, hit: 'shared.late' });
    }
  }
}

describe('failover throttle store', () => {
  const rule = (limit: number, more: Partial<ThrottleRule> = {}): ThrottleRule => ({
    limit,
    windowMs: 60_000,
    blockMs: 0,
    ...more,
  });
  let shared: FakeSharedStore;
  let warn: jest.SpyInstance;
  let log: jest.SpyInstance;
  const open = (retryAfterFailureMs = 60_000, fallbackDivisor = 2) =>
    new FailoverThrottleStore(shared, { maxKeys: 1000, retryAfterFailureMs, fallbackDivisor });
  const warnings = () => warn.mock.calls.filter((args) => String(args[0]).includes('Redis unavailable'));
  const recoveries = () => log.mock.calls.filter((args) => String(args[0]).includes('Redis is back'));

  beforeEach(() => {
    shared = new FakeSharedStore();
    warn = jest.spyOn(Logger.prototype, 'warn');
    log = jest.spyOn(Logger.prototype, 'log');
  });

  afterEach(() => {
    shared.settle('reject');
    warn.mockRestore();
    log.mockRestore();
  });

  it('passes the shared verdict through while the shared store answers', async () => {
    const store = open();
    const verdict = await ask(store, 'api\nip:a', rule(5));
    expect(verdict).toMatchObject({ allowed: true, hit: 'shared.1' });
    expect(shared.consumes).toBe(1);
    await store.release('api\nip:a', verdict.hit!);
    expect(shared.releases).toEqual([['api\nip:a', 'shared.1']]);
    expect(store.degraded).toBe(false);
    expect(warnings()).toHaveLength(0);
  });

  it('refuses a key the shared store refused, without asking it, until the wait is over', async () => {
    const store = open();
    shared.mode = 'refuse';
    shared.retryAfterMs = 400;
    const first = await ask(store, 'api\nip:a', rule(5));
    expect(first).toMatchObject({ allowed: false, hits: 6 });
    expect(shared.consumes).toBe(1);
    for (let i = 0; i < 50; i++) {
      const local = await ask(store, 'api\nip:a', rule(5));
      expect(local).toMatchObject({ allowed: false, hits: 6 });
      expect(local.hit).toBeUndefined();
      expect(local.retryAfterMs).toBeGreaterThan(0);
      expect(local.retryAfterMs).toBeLessThanOrEqual(400);
    }
    expect(shared.consumes).toBe(1);
    // Other keys still go to the shared store.
    shared.mode = 'allow';
    expect((await ask(store, 'api\nip:b', rule(5))).allowed).toBe(true);
    expect(shared.consumes).toBe(2);
    await sleep(400 + 300);
    expect(await ask(store, 'api\nip:a', rule(5))).toMatchObject({ allowed: true, hit: 'shared.3' });
    expect(shared.consumes).toBe(3);
  });

  it('opens the breaker on an error and limits per process with limit / divisor meanwhile', async () => {
    const store = open(60_000, 2);
    shared.mode = 'throw';
    const verdicts: ThrottleVerdict[] = [];
    for (let i = 0; i < 5; i++) verdicts.push(await ask(store, 'api\nip:a', rule(6)));
    expect(shared.consumes).toBe(1); // the failing call only
    expect(store.degraded).toBe(true);
    // floor(6 / 2) = 3 allowed, said against the tier's limit of 6.
    expect(verdicts.map((v) => v.allowed)).toEqual([true, true, true, false, false]);
    expect(verdicts.map((v) => v.hits)).toEqual([4, 5, 6, 7, 7]);
    for (const v of verdicts.slice(0, 3)) expect(v.hit).toMatch(/^local:/);
    for (const v of verdicts.slice(3)) {
      expect(v.hit).toBeUndefined();
      expect(v.retryAfterMs).toBeGreaterThan(0);
    }
    // Even once the shared store would answer, the breaker keeps it out until its time.
    shared.mode = 'allow';
    expect((await ask(store, 'api\nip:a', rule(6))).allowed).toBe(false);
    expect((await ask(store, 'api\nip:b', rule(6))).hit).toMatch(/^local:/);
    expect(shared.consumes).toBe(1);
  });

  it('allows at least one hit per window per process when limit / divisor rounds to 0', async () => {
    const store = open(60_000, 4);
    shared.mode = 'throw';
    const verdicts = [];
    for (let i = 0; i < 3; i++) verdicts.push(await ask(store, 'api\nip:a', rule(3)));
    expect(verdicts.map((v) => v.allowed)).toEqual([true, false, false]);
  });

  it('throws ThrottleStoreUnavailableError for a fail-closed rule, on the failing call and while the breaker is open', async () => {
    const store = open(60_000);
    shared.mode = 'throw';
    const closed = rule(6, { failClosed: true });
    const failing = ask(store, 'auth\nip:a', closed);
    await expect(failing).rejects.toBeInstanceOf(ThrottleStoreUnavailableError);
    const error = await failing.catch((e: unknown) => e as ThrottleStoreUnavailableError);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(shared.consumes).toBe(1);
    for (let i = 0; i < 3; i++) {
      await expect(ask(store, 'auth\nip:b', closed)).rejects.toBeInstanceOf(ThrottleStoreUnavailableError);
    }
    expect(shared.consumes).toBe(1);
    // A fail-open rule on the same store falls back meanwhile.
    expect((await ask(store, 'api\nip:a', rule(6))).hit).toMatch(/^local:/);
  });

  it('tries the shared store again after the breaker window, and uses it', async () => {
    const store = open(800);
    shared.mode = 'throw';
    expect((await ask(store, 'api\nip:a', rule(6))).hit).toMatch(/^local:/);
    expect(shared.consumes).toBe(1);
    shared.mode = 'allow';
    expect((await ask(store, 'api\nip:a', rule(6))).hit).toMatch(/^local:/);
    expect(shared.consumes).toBe(1);
    await sleep(800 + 400);
    expect(await ask(store, 'api\nip:a', rule(6))).toMatchObject({ allowed: true, hit: 'shared.2' });
    expect(await ask(store, 'auth\nip:a', rule(6, { failClosed: true }))).toMatchObject({ hit: 'shared.3' });
    expect(shared.consumes).toBe(3);
    expect(store.degraded).toBe(false);
  });

  it('warns once per outage and says once when the shared store is back', async () => {
    const store = open(500);
    shared.mode = 'throw';
    await ask(store, 'api\nip:a', rule(6));
    for (let i = 0; i < 5; i++) await ask(store, 'api\nip:a', rule(6)); // breaker open: nothing new to say
    await sleep(500 + 400);
    await ask(store, 'api\nip:a', rule(6)); // fails again, same outage
    expect(shared.consumes).toBe(2);
    expect(warnings()).toHaveLength(1);
    expect(recoveries()).toHaveLength(0);

    await sleep(500 + 400);
    shared.mode = 'allow';
    for (let i = 0; i < 5; i++) await ask(store, 'api\nip:a', rule(6));
    expect(recoveries()).toHaveLength(1);
    expect(warnings()).toHaveLength(1);

    shared.mode = 'throw'; // a new outage is news again
    await ask(store, 'api\nip:a', rule(6));
    expect(warnings()).toHaveLength(2);
  });

  it('warns once when calls in flight fail together (a hang that times out)', async () => {
    const store = open(60_000);
    shared.mode = 'hang';
    const inFlight = Array.from({ length: 10 }, (_, i) => ask(store, `api\nip:${i}`, rule(6)));
    await sleep(50);
    expect(shared.pending).toBe(10);
    expect(store.degraded).toBe(false);
    shared.settle('reject');
    const verdicts = await Promise.all(inFlight);
    // Each failed call is decided by the insurance limiter.
    for (const v of verdicts) expect(v).toMatchObject({ allowed: true, hit: expect.stringMatching(/^local:/) });
    expect(store.degraded).toBe(true);
    expect(warnings()).toHaveLength(1);
    expect(shared.consumes).toBe(10);
    shared.mode = 'allow'; // were the breaker shut, this would show
    expect((await ask(store, 'api\nip:0', rule(6))).hit).toMatch(/^local:/);
    expect(shared.consumes).toBe(10);
  });

  it('does not end an outage on a late answer to a command sent before it: the breaker window still holds', async () => {
    const store = open(60_000);
    shared.mode = 'hang';
    const early = ask(store, 'api\nip:early', rule(6));
    await sleep(20);
    shared.mode = 'throw';
    await ask(store, 'api\nip:b', rule(6)); // the outage starts
    shared.settle('allow'); // the early command answers late
    expect((await early).hit).toBe('shared.late');
    expect(recoveries()).toHaveLength(0);
    expect(store.degraded).toBe(true);
    shared.mode = 'allow';
    expect((await ask(store, 'api\nip:c', rule(6))).hit).toMatch(/^local:/);
  });

  it('gives an insurance hit back to the insurance limiter, not to the shared store', async () => {
    const store = open(60_000, 2);
    shared.mode = 'throw';
    const hits: ThrottleVerdict[] = [];
    for (let i = 0; i < 3; i++) hits.push(await ask(store, 'api\nip:a', rule(6)));
    expect((await ask(store, 'api\nip:a', rule(6))).allowed).toBe(false);
    expect(hits[0]!.hit).toMatch(/^local:/);
    await store.release('api\nip:a', hits[0]!.hit!);
    expect(shared.releases).toEqual([]);
    expect(await ask(store, 'api\nip:a', rule(6))).toMatchObject({ allowed: true, hits: 6 });
    expect((await ask(store, 'api\nip:a', rule(6))).allowed).toBe(false);
    expect(shared.releases).toEqual([]);
    expect(shared.consumes).toBe(1);
  });

  it('in front of the Redis store, answers a refused key locally: no further Redis command', async () => {
    const redis = new RedisThrottleStore((await openService({ commandTimeoutMs: 5000 })).redis);
    const calls = { consume: 0, release: 0 };
    const counting: ThrottleStore = {
      consume: (id, r) => (calls.consume++, redis.consume(id, r)),
      release: (id, hit) => (calls.release++, redis.release(id, hit)),
    };
    const store = new FailoverThrottleStore(counting, {
      maxKeys: 1000,
      retryAfterFailureMs: 60_000,
      fallbackDivisor: 2,
    });
    const id = `api\n${key()}`;
    const allowed = [await ask(store, id, rule(2)), await ask(store, id, rule(2))];
    expect(allowed.map((v) => v.allowed)).toEqual([true, true]);
    const refused = await ask(store, id, rule(2));
    expect(refused).toMatchObject({ allowed: false, hits: 3 });
    expect(refused.retryAfterMs).toBeGreaterThan(55_000);
    expect(calls.consume).toBe(3);
    for (let i = 0; i < 100; i++) expect((await ask(store, id, rule(2))).allowed).toBe(false);
    expect(calls.consume).toBe(3);
    // Giving a hit back frees a slot in Redis and forgets the local refusal.
    await store.release(id, allowed[0]!.hit!);
    expect(calls.release).toBe(1);
    expect(await ask(store, id, rule(2))).toMatchObject({ allowed: true, hits: 2 });
    expect(calls.consume).toBe(4);
    expect(store.degraded).toBe(false);
  });
});

/** What the leasing store asked of the Redis store (calls the Redis store makes on itself are not counted). */
interface RedisCalls {
  lease: number;
  consume: number;
  release: number;
  releaseLeased: [id: string, hit: string, from: number, to: number][];
}

/** A real Redis store behind a proxy that counts the calls made to it from outside. */
function countingRedisStore(store: RedisThrottleStore): { store: RedisThrottleStore; calls: RedisCalls } {
  const calls: RedisCalls = { lease: 0, consume: 0, release: 0, releaseLeased: [] };
  const proxy = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        if (property === 'lease') calls.lease++;
        else if (property === 'consume') calls.consume++;
        else if (property === 'release') calls.release++;
        else if (property === 'releaseLeased') calls.releaseLeased.push(args as RedisCalls['releaseLeased'][number]);
        // On the target itself: its own inner calls (consume -> lease) stay uncounted.
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe('leasing throttle store (on Redis)', () => {
  const rule = (limit: number, more: Partial<ThrottleRule> = {}): ThrottleRule => ({
    limit,
    windowMs: 60_000,
    blockMs: 0,
    ...more,
  });
  let redis: RedisService;
  let prefix: string;

  beforeEach(async () => {
    // A generous command timeout: CI machines are busy.
    ({ redis, prefix } = await openService({ commandTimeoutMs: 5000 }));
  });

  /** One app instance: its own Redis store object (its own hit names) on the shared Redis. */
  const open = (options: Partial<LeasingOptions> = {}) => {
    const { store: redisStore, calls } = countingRedisStore(new RedisThrottleStore(redis));
    return { store: new LeasingThrottleStore(redisStore, { minLimit: 100, maxKeys: 1000, ...options }), calls };
  };

  /** Hits of an id in its Redis log now: every leased hit counts, used or not. */
  const logged = (id: string) => shared.zcard(`${prefix}thr:{${RedisService.hashKeyPart(id)}}:l`);

  /** Consumes one at a time until refused (at most `max`); the allowed verdicts and the refusal. */
  async function drain(store: ThrottleStore, id: string, r: ThrottleRule, max = 10_000) {
    const allowed: ThrottleVerdict[] = [];
    for (let i = 0; i < max; i++) {
      const v = await store.consume(id, r);
      if (!v.allowed) return { allowed, refused: v };
      allowed.push(v);
    }
    return { allowed, refused: undefined };
  }

  /** The name of the lease a leased hit belongs to (`<lease>.<n>`). */
  const leaseOf = (hit: string) => hit.replace(/\.\d+$/, '');

  it('takes 1000 hits in leases of 20: about 50 Redis calls, synchronous answers from a lease, the 1001st refused', async () => {
    // A lease lives at most a tenth of the window (6 s) here, far longer than the test needs.
    const { store, calls } = open({ share: 0.02, maxLeaseMs: 60_000 });
    const id = `api\n${key()}`;
    let sync = 0;
    const verdicts: ThrottleVerdict[] = [];
    for (let i = 0; i < 1000; i++) {
      const answer = store.consume(id, rule(1000));
      if (!(answer instanceof Promise)) sync++;
      verdicts.push(await answer);
    }
    expect(verdicts.filter((v) => v.allowed)).toHaveLength(1000);
    const leasesTaken = calls.lease;
    // Each lease is taken by the one consume that found none; the other 19 of it answer synchronously.
    expect(sync).toBe(1000 - leasesTaken);
    expect(sync).toBeGreaterThanOrEqual(1000 - 51);
    expect(await logged(id)).toBe(1000);

    const refused = store.consume(id, rule(1000));
    expect(refused).toBeInstanceOf(Promise); // no lease left: it asks Redis
    const verdict = await refused;
    expect(verdict).toMatchObject({ allowed: false, hits: 1001 });
    expect(verdict.hit).toBeUndefined();
    expect(calls.lease).toBeGreaterThanOrEqual(50);
    expect(calls.lease).toBeLessThanOrEqual(51);
    expect(calls.consume).toBe(0);
    expect(calls.releaseLeased).toEqual([]); // every leased hit was used
    expect(await logged(id)).toBe(1000);
  });

  it('never lets two instances on one Redis pass more than the limit together', async () => {
    const a = open({ share: 0.02 }); // leases of 4
    const b = open({ share: 0.02 });
    const lease = 4;
    const r = rule(200);

    // Strictly alternating.
    const alternating = `api\n${key()}`;
    let fromA = 0;
    let fromB = 0;
    for (let i = 0; i < 150; i++) {
      if ((await a.store.consume(alternating, r)).allowed) fromA++;
      if ((await b.store.consume(alternating, r)).allowed) fromB++;
    }
    expect(fromA + fromB).toBeLessThanOrEqual(200);
    expect(fromA + fromB).toBeGreaterThanOrEqual(200 - 2 * lease);
    expect(fromA).toBeGreaterThan(0);
    expect(fromB).toBeGreaterThan(0);
    expect(await logged(alternating)).toBeLessThanOrEqual(200);

    // Concurrently: two loops interleaving, plus bursts of concurrent hits on each.
    const concurrent = `api\n${key()}`;
    const loop = async (store: ThrottleStore) => {
      let allowed = 0;
      for (let i = 0; i < 100; i++) if ((await store.consume(concurrent, r)).allowed) allowed++;
      return allowed;
    };
    const burst = async (store: ThrottleStore) => {
      const verdicts = await Promise.all(Array.from({ length: 60 }, () => store.consume(concurrent, r)));
      return verdicts.filter((v) => v.allowed).length;
    };
    const counts = await Promise.all([loop(a.store), burst(b.store), loop(b.store), burst(a.store)]);
    const total = counts.reduce((sum, n) => sum + n, 0);
    expect(total).toBeLessThanOrEqual(200);
    expect(total).toBeGreaterThanOrEqual(200 - 2 * lease);
    expect(await logged(concurrent)).toBeLessThanOrEqual(200);
    // Whatever each still holds, neither passes one more once the window is full.
    await Promise.all([drain(a.store, concurrent, r), drain(b.store, concurrent, r)]);
    expect((await a.store.consume(concurrent, r)).allowed).toBe(false);
    expect((await b.store.consume(concurrent, r)).allowed).toBe(false);
    expect(await logged(concurrent)).toBeLessThanOrEqual(200);
  });

  it('takes one lease for concurrent hits on an id (single flight), and they all take from it', async () => {
    const { store, calls } = open({ share: 0.02, maxLeaseHits: 100 });
    const id = `api\n${key()}`;
    const verdicts = await Promise.all(Array.from({ length: 500 }, () => store.consume(id, rule(100_000))));
    expect(verdicts.every((v) => v.allowed)).toBe(true);
    expect(calls.lease).toBeLessThanOrEqual(Math.ceil(500 / 100) + 1);
    expect(calls.consume).toBe(0);
    expect(new Set(verdicts.map((v) => v.hit)).size).toBe(500);
    expect(verdicts.map((v) => v.hits).sort((x, y) => x - y)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(await logged(id)).toBe(calls.lease * 100);
  });

  it('gives unused leased hits back when a lease is renewed or evicted', async () => {
    const a = open({ share: 0.1, maxLeaseMs: 200, maxKeys: 1 }); // leases of 10, kept 200 ms, one key
    const b = open({ share: 0.1 });
    const id = `api\n${key()}`;
    const r = rule(100);

    const first = await a.store.consume(id, r);
    expect(first).toMatchObject({ allowed: true, hits: 1 });
    expect(first.hit).toMatch(/\.1$/);
    expect(a.calls.lease).toBe(1);
    expect(await logged(id)).toBe(10); // 1 used, 9 held by A

    // A's 9 unused hits count against B.
    const fromB = await drain(b.store, id, r);
    expect(fromB.allowed).toHaveLength(90);
    expect(fromB.refused).toMatchObject({ allowed: false, hits: 101 });
    expect(await logged(id)).toBe(100);

    await sleep(200 + 300); // A's lease is over
    const renewed = await a.store.consume(id, r);
    expect(renewed.allowed).toBe(true);
    // The renewal gave hits 2 … 10 of the old lease back before taking the new one.
    expect(a.calls.releaseLeased).toEqual([[id, leaseOf(first.hit!), 2, 10]]);
    expect(a.calls.lease).toBe(2);
    // 9 were free and a lease wants 10: A's new lease took those 9 (1 used, 8 held), so B still finds none.
    expect(leaseOf(renewed.hit!)).not.toBe(leaseOf(first.hit!));
    expect(renewed.hits).toBe(92);
    expect(await logged(id)).toBe(100);
    expect((await b.store.consume(id, r)).allowed).toBe(false);

    // A keeps one key: a hit on another id evicts this lease, which gives its 8 unused hits back.
    expect((await a.store.consume(`api\n${key()}`, r)).allowed).toBe(true);
    expect(a.calls.releaseLeased).toContainEqual([id, leaseOf(renewed.hit!), 2, 9]);
    const again = await drain(b.store, id, r);
    expect(again.allowed).toHaveLength(8);
    expect(again.refused?.allowed).toBe(false);
    expect(await logged(id)).toBe(100);
  });

  it('asks Redis on every hit for `lease: false` rules, rules below `minLimit`, and when leasing is off', async () => {
    const { store, calls } = open({ minLimit: 100 });
    const unleased = `api\n${key()}`;
    for (let i = 1; i <= 5; i++) {
      const answer = store.consume(unleased, rule(1000, { lease: false }));
      expect(answer).toBeInstanceOf(Promise);
      expect(await answer).toMatchObject({ allowed: true, hits: i });
    }
    expect(calls).toMatchObject({ consume: 5, lease: 0 });
    expect(await logged(unleased)).toBe(5); // not a lease's worth

    const small = `auth\n${key()}`;
    const verdicts: ThrottleVerdict[] = [];
    for (let i = 0; i < 12; i++) verdicts.push(await store.consume(small, rule(10)));
    expect(verdicts.map((v) => v.allowed)).toEqual([...Array<boolean>(10).fill(true), false, false]);
    expect(calls).toMatchObject({ consume: 17, lease: 0 });
    expect(await logged(small)).toBe(10);

    const off = open({ minLimit: 0 });
    for (let i = 0; i < 3; i++) expect((await off.store.consume(`api\n${key()}`, rule(100_000))).allowed).toBe(true);
    expect(off.calls).toMatchObject({ consume: 3, lease: 0 });
    expect(calls.releaseLeased).toEqual([]);
  });

  it('counts leased hits one by one with a sensible reset, and a released leased hit frees a slot in Redis', async () => {
    const a = open({ share: 0.1 }); // leases of 10
    const b = open({ share: 0.1 });
    const id = `api\n${key()}`;
    const r = rule(100);
    const verdicts: ThrottleVerdict[] = [];
    for (let i = 0; i < 100; i++) verdicts.push(await a.store.consume(id, r));
    expect(verdicts.map((v) => v.hits)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    for (const v of verdicts) {
      expect(v).toMatchObject({ allowed: true, retryAfterMs: 0 });
      // Until the first hit leaves the window.
      expect(v.resetMs).toBeGreaterThan(60_000 - 10_000);
      expect(v.resetMs).toBeLessThanOrEqual(60_000);
    }
    expect(new Set(verdicts.map((v) => v.hit)).size).toBe(100);
    expect(verdicts[99]!.resetMs).toBeLessThanOrEqual(verdicts[0]!.resetMs + 50);
    const refused = await a.store.consume(id, r);
    expect(refused).toMatchObject({ allowed: false, hits: 101 });
    expect(refused.retryAfterMs).toBeGreaterThan(0);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect((await b.store.consume(id, r)).allowed).toBe(false);

    // A hit from the middle of a lease, given back.
    await a.store.release(id, verdicts[42]!.hit!);
    expect(a.calls.release).toBe(1);
    expect(await logged(id)).toBe(99);
    // Another instance can take that one slot, and no more.
    expect(await b.store.consume(id, r)).toMatchObject({ allowed: true, hits: 100 });
    expect((await b.store.consume(id, r)).allowed).toBe(false);
    expect(await logged(id)).toBe(100);
  });

  it('frees a slot when a hit of a one-hit lease is given back (limit * share < 1)', async () => {
    const a = open({ minLimit: 10, share: 0.02 }); // 20 * 0.02 < 1: leases of 1
    const b = open({ minLimit: 10, share: 0.02 });
    const id = `api\n${key()}`;
    const r = rule(20);
    const { allowed, refused } = await drain(a.store, id, r);
    expect(allowed).toHaveLength(20);
    expect(refused).toMatchObject({ allowed: false, hits: 21 });
    expect(a.calls.lease).toBe(21);
    await a.store.release(id, allowed[5]!.hit!);
    expect(await logged(id)).toBe(19);
    expect(await b.store.consume(id, r)).toMatchObject({ allowed: true, hits: 20 });
    expect((await b.store.consume(id, r)).allowed).toBe(false);
  });

  it('gives every unused leased hit back on releaseAll(), for other instances to use', async () => {
    const a = open({ share: 0.1 }); // leases of 10
    const b = open({ share: 0.1 });
    const r = rule(100);
    const one = `api\n${key()}`;
    const two = `api\n${key()}`;
    const fromOne: ThrottleVerdict[] = [];
    for (let i = 0; i < 3; i++) fromOne.push(await a.store.consume(one, r)); // 7 unused
    const fromTwo = await a.store.consume(two, r); // 9 unused
    expect([...fromOne, fromTwo].every((v) => v.allowed)).toBe(true);
    expect(a.calls.lease).toBe(2);
    expect((await drain(b.store, one, r)).allowed).toHaveLength(90);
    expect((await drain(b.store, two, r)).allowed).toHaveLength(90);

    await a.store.releaseAll();
    expect(a.calls.releaseLeased).toContainEqual([one, leaseOf(fromOne[0]!.hit!), 4, 10]);
    expect(a.calls.releaseLeased).toContainEqual([two, leaseOf(fromTwo.hit!), 2, 10]);
    expect(await logged(one)).toBe(93);
    expect(await logged(two)).toBe(91);
    expect((await drain(b.store, one, r)).allowed).toHaveLength(7);
    expect((await drain(b.store, two, r)).allowed).toHaveLength(9);

    // A holds nothing any more: its next hit asks Redis, which is full.
    const after = a.store.consume(one, r);
    expect(after).toBeInstanceOf(Promise);
    expect((await after).allowed).toBe(false);
    expect(a.calls.lease).toBe(3);
  });
});
