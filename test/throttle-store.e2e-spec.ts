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

  it('keeps hit logs within `maxBytes` when each ring is large', () => {
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
    expect(store.size).toBeLessThanOrEqual(Math.floor(maxBytes / 8000));
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
