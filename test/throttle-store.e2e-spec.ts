import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { MemoryThrottleStore } from '../src/platform/throttler/memory-throttle.store';
import { RedisThrottleStore } from '../src/platform/throttler/redis-throttle.store';
import { redisHarness } from './support/redis-harness';

// One contract, two storages: the exact sliding window holds for the Redis store and the in-process one alike.

const { shared, openService } = redisHarness('throttle');
const key = () => randomBytes(8).toString('hex');

beforeAll(() => Logger.overrideLogger(false));

describe.each<[string, () => Promise<ThrottlerStorage>]>([
  // A generous command timeout: these cases are about the window, not latency, and CI machines are busy.
  ['redis throttle store', async () => new RedisThrottleStore((await openService({ commandTimeoutMs: 5000 })).redis)],
  ['memory throttle store', async () => new MemoryThrottleStore()],
])('%s', (_name, open) => {
  let store: ThrottlerStorage;

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
});
