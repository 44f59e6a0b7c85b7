import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { MemoryCacheStore } from '../src/platform/cache/memory-cache.store';
import { RedisCacheStore, decodeEntry, encodeEntry } from '../src/platform/cache/redis-cache.store';
import type { CacheEntry, CacheSignal, CacheStore } from '../src/platform/cache/cache.store';
import { RedisService } from '../src/platform/redis';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { settle } from './support/settle';
import { redisHarness, stopQuietly } from './support/redis-harness';

// One contract, two stores: every case in the `describe.each` below holds for the shared Redis store
// and for the in-process memory store alike; store-specific behaviour is tested after it.

/** Slack allowed between this process's clock and the clock a store versions tags with (µs). */
const CLOCK_SLACK_US = 1_000_000;

const { shared, services, sharedPrefixes, openService, privateRedis } = redisHarness('cache');

/** An opaque key, tag or id as the CacheService passes them: a hash, base64url. */
const id = () => randomBytes(16).toString('base64url');

function entry(overrides: Partial<CacheEntry> = {}): CacheEntry {
  const now = Date.now();
  return {
    payload: JSON.stringify({ title: 'Opening night', seats: 120 }),
    freshUntil: now + 60_000,
    staleUntil: now + 120_000,
    tags: [id(), id()],
    versions: [String(now * 1000), String(now * 1000 + 1)],
    ...overrides,
  };
}

/** Polls until `condition` holds, or fails after `timeoutMs`. */
async function until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

/**
 * The first signal from `store` matching `match`, from now on; rejects after `timeoutMs`.
 * Call it before the action that should signal: the memory store signals synchronously, Redis via pub/sub.
 */
function nextSignal<K extends CacheSignal['kind']>(
  store: CacheStore,
  kind: K,
  match: (signal: Extract<CacheSignal, { kind: K }>) => boolean = () => true,
  timeoutMs = 2000,
): Promise<Extract<CacheSignal, { kind: K }>> {
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      done = true;
      reject(new Error(`no '${kind}' signal within ${timeoutMs} ms`));
    }, timeoutMs);
    store.onSignal((signal) => {
      if (done || signal.kind !== kind || !match(signal as Extract<CacheSignal, { kind: K }>)) return;
      done = true;
      clearTimeout(timer);
      resolve(signal as Extract<CacheSignal, { kind: K }>);
    });
  });
}

async function openRedisStore(
  options: { url?: string; commandTimeoutMs?: number } = {},
): Promise<{ store: RedisCacheStore; redis: RedisService; prefix: string }> {
  const { redis, prefix } = await openService({ url: options.url });
  const store = new RedisCacheStore(redis, { commandTimeoutMs: options.commandTimeoutMs ?? 1000 });
  await store.connect();
  // Ready once its subscriber has subscribed (and its command connection is up).
  await until(() => store.ready, 'the redis cache store to be ready');
  return { store, redis, prefix };
}

beforeAll(() => Logger.overrideLogger(false));

interface Opened {
  store: CacheStore;
  /** Makes the store lose the tag's counter, as an eviction would. */
  loseTag(tag: string): Promise<void>;
}

describe.each<[string, (options?: { maxTags?: number }) => Promise<Opened>]>([
  [
    'redis',
    async () => {
      const { store, prefix } = await openRedisStore();
      return {
        store,
        loseTag: async (tag) => {
          expect(await shared.del(`${prefix}cache:t:${tag}`)).toBe(1);
        },
      };
    },
  ],
  [
    'memory',
    async ({ maxTags } = {}) => {
      const store = new MemoryCacheStore({ maxEntries: 1000, maxBytes: 1_000_000, maxTags });
      return {
        store,
        loseTag: async () => {
          // Only evicts when the store was opened with maxTags 2.
          await store.tagVersions([id(), id(), id()]);
        },
      };
    },
  ],
])('%s cache store', (_name, open) => {
  let store: CacheStore;

  beforeEach(async () => {
    ({ store } = await open());
  });

  describe('entries', () => {
    it('answers undefined for an unknown key', async () => {
      expect(await store.get(id())).toBeUndefined();
    });

    it('returns an entry equal to the one filled: payload, freshness, tags and versions', async () => {
      const key = id();
      const filled = entry();
      await store.fill(key, filled, 'instance-a:1');

      const got = await store.get(key);
      expect(got).toEqual(filled);
      expect(typeof got?.freshUntil).toBe('number');
      expect(typeof got?.staleUntil).toBe('number');
      expect(await store.get(id())).toBeUndefined();
    });

    it('round-trips payloads with newlines, unicode and the empty string, and entries without tags', async () => {
      const payloads = [
        'line one\nline two\r\nline three\n',
        '\n',
        '{"a":1}\n{"b":2}',
        'ünïcødé ✓ — 日本語 🎟️',
        '',
        'nul \u0000 inside',
      ];
      const keys = payloads.map(() => id());
      const filled = payloads.map((payload) => entry({ payload }));
      for (let i = 0; i < keys.length; i++) await store.fill(keys[i]!, filled[i]!);
      for (let i = 0; i < keys.length; i++) expect(await store.get(keys[i]!)).toEqual(filled[i]);

      const untagged = entry({ tags: [], versions: [] });
      const key = id();
      await store.fill(key, untagged);
      expect(await store.get(key)).toEqual(untagged);
    });

    it('replaces an entry filled again under the same key', async () => {
      const key = id();
      await store.fill(key, entry({ payload: 'first' }));
      const second = entry({ payload: 'second' });
      await store.fill(key, second);
      expect(await store.get(key)).toEqual(second);
    });

    it('drops an entry once its staleUntil has passed', async () => {
      const key = id();
      const now = Date.now();
      await store.fill(key, entry({ freshUntil: now + 50, staleUntil: now + 100 }));
      expect(await store.get(key)).toBeDefined();

      await sleep(160);
      expect(await store.get(key)).toBeUndefined();
    });
  });

  describe('signals', () => {
    it('fill signals `fill` with the key and the owner passed', async () => {
      const key = id();
      const heard = nextSignal(store, 'fill', (signal) => signal.key === key);
      await store.fill(key, entry(), 'instance-a:7');
      expect(await heard).toEqual({ kind: 'fill', key, owner: 'instance-a:7' });
    });

    it('delete removes the entry and signals `key`', async () => {
      const key = id();
      const other = id();
      await store.fill(key, entry());
      await store.fill(other, entry());

      const heard = nextSignal(store, 'key', (signal) => signal.key === key);
      await store.delete(key);
      expect(await heard).toEqual({ kind: 'key', key });
      expect(await store.get(key)).toBeUndefined();
      expect(await store.get(other)).toBeDefined();
    });

    it('delete of an unknown key still signals `key`', async () => {
      const key = id();
      const heard = nextSignal(store, 'key', (signal) => signal.key === key);
      await store.delete(key);
      expect(await heard).toEqual({ kind: 'key', key });
    });
  });

  describe('tag versions', () => {
    it('gives a never-seen tag a numeric version from the µs clock, and the same one on the next call', async () => {
      const tag = id();
      const before = Date.now() * 1000;
      const [version] = await store.tagVersions([tag]);
      const after = Date.now() * 1000;

      expect(version).toMatch(/^\d+$/);
      expect(Number(version)).toBeGreaterThanOrEqual(before - CLOCK_SLACK_US);
      expect(Number(version)).toBeLessThanOrEqual(after + CLOCK_SLACK_US);
      expect(await store.tagVersions([tag])).toEqual([version]);
    });

    it('answers several tags in one call, in the order asked', async () => {
      const [a, b, c] = [id(), id(), id()];
      const [vb] = await store.tagVersions([b]);
      await store.invalidateTag(c);
      const [vc] = await store.tagVersions([c]);

      const versions = await store.tagVersions([a, b, c]);
      expect(versions).toHaveLength(3);
      for (const version of versions) expect(version).toMatch(/^\d+$/);
      expect(versions[1]).toBe(vb);
      expect(versions[2]).toBe(vc);
      expect(await store.tagVersions([c, a, b])).toEqual([versions[2], versions[0], versions[1]]);
      expect(await store.tagVersions([])).toEqual([]);
    });

    it('invalidateTag moves the tag to a strictly higher version, signals `tag` with it, and tagVersions answers it', async () => {
      const tag = id();
      const [before] = await store.tagVersions([tag]);

      const heard = nextSignal(store, 'tag', (signal) => signal.tag === tag);
      const version = await store.invalidateTag(tag);
      expect(version).toMatch(/^\d+$/);
      expect(Number(version)).toBeGreaterThan(Number(before));
      expect(await heard).toEqual({ kind: 'tag', tag, version });
      expect(await store.tagVersions([tag])).toEqual([version]);
    });

    it('gives increasing versions to quick successive invalidations, also of a never-seen tag', async () => {
      const tag = id();
      const first = await store.invalidateTag(tag);
      const second = await store.invalidateTag(tag);
      const third = await store.invalidateTag(tag);
      expect(Number(second)).toBeGreaterThan(Number(first));
      expect(Number(third)).toBeGreaterThan(Number(second));
      expect(await store.tagVersions([tag])).toEqual([third]);

      const concurrent = await Promise.all([store.invalidateTag(tag), store.invalidateTag(tag)]);
      expect(new Set(concurrent).size).toBe(2);
      for (const version of concurrent) expect(Number(version)).toBeGreaterThan(Number(third));
    });

    it('never answers an old version for a tag that lost its counter', async () => {
      const opened = await open({ maxTags: 2 });
      const tag = id();
      await opened.store.tagVersions([tag]);
      const last = await opened.store.invalidateTag(tag);
      await opened.loseTag(tag);
      const [version] = await opened.store.tagVersions([tag]);
      expect(Number(version)).toBeGreaterThan(Number(last));
    });
  });

  describe('fill leases', () => {
    it('goes to the first owner only, while it is held', async () => {
      const key = id();
      expect(await store.acquireFill(key, 'instance-a:1', 10_000)).toBe(true);
      expect(await store.acquireFill(key, 'instance-b:1', 10_000)).toBe(false);
      expect(await store.acquireFill(key, 'instance-a:1', 10_000)).toBe(false); // not re-entrant either
      expect(await store.acquireFill(id(), 'instance-b:1', 10_000)).toBe(true); // one lease per key
    });

    it('is released by its owner only', async () => {
      const key = id();
      expect(await store.acquireFill(key, 'instance-a:1', 10_000)).toBe(true);

      await store.releaseFill(key, 'instance-b:1');
      expect(await store.acquireFill(key, 'instance-b:1', 10_000)).toBe(false);

      await store.releaseFill(key, 'instance-a:1');
      expect(await store.acquireFill(key, 'instance-b:1', 10_000)).toBe(true);
      await store.releaseFill(id(), 'instance-b:1'); // nothing held: a no-op
    });

    it('expires after its ttl', async () => {
      const key = id();
      expect(await store.acquireFill(key, 'instance-a:1', 100)).toBe(true);
      expect(await store.acquireFill(key, 'instance-b:1', 100)).toBe(false);

      await sleep(160);
      expect(await store.acquireFill(key, 'instance-b:1', 100)).toBe(true);
    });

    it("is released by its owner's fill, and only by its owner's", async () => {
      const key = id();
      expect(await store.acquireFill(key, 'instance-a:1', 10_000)).toBe(true);
      await store.fill(key, entry(), 'instance-b:1');
      expect(await store.acquireFill(key, 'instance-c:1', 10_000)).toBe(false);
      await store.fill(key, entry());
      expect(await store.acquireFill(key, 'instance-c:1', 10_000)).toBe(false);

      await store.fill(key, entry(), 'instance-a:1');
      expect(await store.acquireFill(key, 'instance-c:1', 10_000)).toBe(true);
    });
  });

  describe('clear', () => {
    it('removes every entry, tag and lease of the cache and signals `reset`', async () => {
      const keys = [id(), id(), id()];
      for (const key of keys) await store.fill(key, entry());
      const leased = id();
      expect(await store.acquireFill(leased, 'instance-a:1', 10_000)).toBe(true);
      const tag = id();
      await store.tagVersions([tag]);
      const last = await store.invalidateTag(tag);

      const heard = nextSignal(store, 'reset');
      await store.clear();
      expect(await heard).toEqual({ kind: 'reset' });

      for (const key of keys) expect(await store.get(key)).toBeUndefined();
      expect(await store.acquireFill(leased, 'instance-b:1', 10_000)).toBe(true);
      const [version] = await store.tagVersions([tag]);
      expect(Number(version)).toBeGreaterThan(Number(last));
      expect(Number(version)).toBeGreaterThanOrEqual(Date.now() * 1000 - CLOCK_SLACK_US);

      // Still usable afterwards.
      const key = id();
      const filled = entry();
      await store.fill(key, filled);
      expect(await store.get(key)).toEqual(filled);
    });
  });
});

describe('redis cache store on Redis itself', () => {
  it('is shared and becomes ready once connected and subscribed', async () => {
    const { store } = await openRedisStore();
    expect(store.shared).toBe(true);
    expect(store.ready).toBe(true);
  });

  it('keeps entries, leases and tags under `<prefix>cache:` with the key hash-tagged', async () => {
    const { store, prefix } = await openRedisStore();
    const key = id();
    const tag = id();
    await store.fill(key, entry());
    await store.acquireFill(key, 'instance-a:1', 10_000);
    await store.tagVersions([tag]);

    expect((await shared.keys(`${prefix}*`)).sort()).toEqual(
      [`${prefix}cache:{${key}}:e`, `${prefix}cache:{${key}}:l`, `${prefix}cache:t:${tag}`].sort(),
    );
    const ttl = await shared.pttl(`${prefix}cache:{${key}}:e`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('clear leaves other keys under the app prefix, and every key of another prefix, alone', async () => {
    const { store, prefix } = await openRedisStore();
    const other = uniquePrefix('cache');
    sharedPrefixes.push(other);
    const key = id();
    const tag = id();
    await store.fill(key, entry());
    await store.acquireFill(key, 'instance-a:1', 10_000);
    await store.tagVersions([tag]);
    const neighbours = [
      `${prefix}sess:keep`,
      `${prefix}cachex`,
      `${prefix}cache`,
      `${other}cache:{${key}}:e`,
      `${other}cache:t:${tag}`,
      `${other}sess:keep`,
    ];
    for (const neighbour of neighbours) await shared.set(neighbour, 'keep');

    await store.clear();
    expect(await shared.keys(`${prefix}cache:*`)).toEqual([]);
    for (const neighbour of neighbours) expect(await shared.get(neighbour)).toBe('keep');
  });

  it('signals `reset` to every instance on the prefix when one of them clears, and to none on another prefix', async () => {
    const a = await openRedisStore();
    const redisB = new RedisService({ url: TEST_REDIS_URL, keyPrefix: a.prefix });
    services.push(redisB);
    await redisB.onModuleInit();
    const b = new RedisCacheStore(redisB, { commandTimeoutMs: 1000 });
    await b.connect();
    await until(() => b.ready, 'the second instance to be ready');
    const elsewhere = await openRedisStore();
    const elsewhereSignals: CacheSignal[] = [];
    elsewhere.store.onSignal((signal) => elsewhereSignals.push(signal));

    const key = id();
    const filled = nextSignal(b, 'fill', (signal) => signal.key === key);
    await a.store.fill(key, entry(), 'instance-a:1');
    expect(await filled).toEqual({ kind: 'fill', key, owner: 'instance-a:1' });
    expect(await b.get(key)).toBeDefined();

    const reset = nextSignal(b, 'reset');
    await a.store.clear();
    expect(await reset).toEqual({ kind: 'reset' });
    await sleep(50);
    expect(elsewhereSignals).toEqual([]);
  });

  it('reads a corrupt or foreign string at the entry key as a miss, never an error', async () => {
    const { store, prefix } = await openRedisStore();
    const foreign = [
      'plain text without a newline',
      '',
      'not json\npayload',
      '{"value":"keyv","expires":null}',
      '{"freshUntil":1}\npayload',
      '[1, 2\npayload',
      'null\npayload',
      '42\npayload',
      '\npayload',
    ];
    for (const value of foreign) {
      const key = id();
      await shared.set(`${prefix}cache:{${key}}:e`, value);
      await expect(store.get(key)).resolves.toBeUndefined();
    }
  });

  // A header that parses as JSON but is not the [freshUntil, staleUntil, tags, versions] tuple is a miss.
  it('reads a JSON header of the wrong shape as a miss', async () => {
    const { store, prefix } = await openRedisStore();
    for (const value of ['[]\npayload', '"text"\npayload', '[1, 2, "x", "y"]\npayload', '[1, 2, [], [], 5]\npayload']) {
      const key = id();
      await shared.set(`${prefix}cache:{${key}}:e`, value);
      await expect(store.get(key)).resolves.toBeUndefined();
    }
  });

  // Another type at the entry key answers WRONGTYPE: a miss, not a store failure that would trip the breaker.
  it('reads a value of another Redis type at the entry key as a miss', async () => {
    const { store, prefix } = await openRedisStore();
    const key = id();
    await shared.hset(`${prefix}cache:{${key}}:e`, 'field', 'value');
    await expect(store.get(key)).resolves.toBeUndefined();
  });

  it('encodeEntry and decodeEntry round-trip, payload kept verbatim after one header line', () => {
    for (const payload of ['', 'plain', 'a\nb\r\nc\n', '[1,2]\n[3]', 'ünïcødé ✓ 🎟️']) {
      const original = entry({ payload });
      const encoded = encodeEntry(original);
      expect(encoded.endsWith(`\n${payload}`)).toBe(true);
      expect(encoded.indexOf('\n')).toBe(encoded.length - payload.length - 1);
      expect(decodeEntry(encoded)).toEqual(original);
    }
    expect(decodeEntry('no newline at all')).toBeUndefined();
    expect(decodeEntry('{broken\npayload')).toBeUndefined();
  });

  // Each test closes its connections while its Redis answers: ioredis arms a 2 s timer (not unref'd) when it
  // disconnects a connection whose socket a dead server already dropped, and Jest would wait on it at exit.
  it('rejects commands once Redis is killed, stops being ready, and heals with a `reset` once Redis is back', async () => {
    const proc = await privateRedis();
    let redis: RedisService | undefined;
    try {
      const opened = await openRedisStore({ url: proc.url, commandTimeoutMs: 50 });
      const { store } = opened;
      redis = opened.redis;
      const key = id();
      await store.fill(key, entry());
      expect(await store.get(key)).toBeDefined();

      await proc.kill();
      const results = await Promise.all([
        settle(store.get(key)),
        settle(store.fill(id(), entry())),
        settle(store.tagVersions([id()])),
        settle(store.acquireFill(id(), 'instance-a:1', 1000)),
      ]);
      for (const result of results) {
        expect(result.error).toBeInstanceOf(Error);
        expect(result.ms).toBeLessThan(2000);
      }
      await until(() => !store.ready, 'the store to stop being ready', 2000);

      const reset = nextSignal(store, 'reset', () => true, 10_000);
      await proc.start(); // same port, empty
      expect(await reset).toEqual({ kind: 'reset' });
      await until(() => store.ready && redis!.isReady, 'the store to be ready again', 10_000);
      expect(await store.get(key)).toBeUndefined();
    } finally {
      await redis?.onApplicationShutdown();
      await stopQuietly(proc);
    }
  });

  it('rejects a read within about its command timeout when Redis is paused (sockets open, no answers)', async () => {
    const proc = await privateRedis();
    let redis: RedisService | undefined;
    try {
      const opened = await openRedisStore({ url: proc.url, commandTimeoutMs: 50 });
      const { store } = opened;
      redis = opened.redis;
      const key = id();
      await store.fill(key, entry());

      proc.pause();
      const result = await settle(store.get(key));
      expect(result.error).toBeInstanceOf(Error);
      expect(result.ms).toBeLessThan(2000);
    } finally {
      proc.resume();
      await redis?.onApplicationShutdown();
      await stopQuietly(proc);
    }
  });
});

describe('memory cache store', () => {
  it('is in-process and ready at once', async () => {
    const store = new MemoryCacheStore({ maxEntries: 10, maxBytes: 10_000 });
    await store.connect();
    expect(store.shared).toBe(false);
    expect(store.ready).toBe(true);
  });

  it('holds at most maxEntries under a flood of distinct keys', async () => {
    const store = new MemoryCacheStore({ maxEntries: 100, maxBytes: 10_000_000 });
    const keys = Array.from({ length: 10_000 }, () => id());
    for (const key of keys) await store.fill(key, entry({ payload: key }));

    expect(store.size).toBeLessThanOrEqual(100);
    expect(store.size).toBeGreaterThan(0);
    const last = keys.at(-1)!;
    expect((await store.get(last))?.payload).toBe(last);
  });

  it('holds at most maxBytes of payload under a flood of large entries', async () => {
    const store = new MemoryCacheStore({ maxEntries: 100_000, maxBytes: 10_000 });
    const keys = Array.from({ length: 1000 }, () => id());
    for (const key of keys) await store.fill(key, entry({ payload: 'x'.repeat(1000) + key }));

    expect(store.calculatedSize).toBeLessThanOrEqual(10_000);
    expect(store.size).toBeGreaterThan(0);
    expect(store.size).toBeLessThan(10);
    const last = keys.at(-1)!;
    expect((await store.get(last))?.payload).toBe('x'.repeat(1000) + last);
  });

  // Within one millisecond too: the process never hands out a clock version twice.
  it('never reuses a version for a tag evicted within the same millisecond', async () => {
    const store = new MemoryCacheStore({ maxEntries: 10, maxBytes: 10_000, maxTags: 2 });
    const now = jest.spyOn(Date, 'now').mockReturnValue(Date.now());
    try {
      const tag = id();
      const [stamped] = await store.tagVersions([tag]);
      const last = await store.invalidateTag(tag);
      expect(Number(last)).toBeGreaterThan(Number(stamped));

      await store.tagVersions([id(), id(), id()]); // evicts `tag`
      const [version] = await store.tagVersions([tag]);
      expect(Number(version)).toBeGreaterThan(Number(last));
    } finally {
      now.mockRestore();
    }
  });
});
