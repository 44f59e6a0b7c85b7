import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import { LockBusyError, LockLostError, LockUnavailableError } from '../src/platform/lock/lock.errors';
import { LockService, type LockHandle } from '../src/platform/lock/lock.service';
import type { LockStore } from '../src/platform/lock/lock.store';
import { LockStoreFullError, MemoryLockStore } from '../src/platform/lock/memory-lock.store';
import { RedisLockStore } from '../src/platform/lock/redis-lock.store';
import type { RedisService } from '../src/platform/redis';
import { settle } from './support/settle';
import { redisHarness, stopQuietly } from './support/redis-harness';

// One contract, two stores: every case in the `describe.each` blocks below holds for the shared Redis
// store and for the in-process memory store alike; store-specific behaviour is tested after them.

const { shared, openService, privateRedis } = redisHarness('lock');

const key = () => `order:${randomBytes(8).toString('hex')}`;
const owner = () => randomBytes(16).toString('base64url');
const SETTINGS = { ttlMs: 10_000, commandTimeoutMs: 1000, memoryMaxKeys: 1000 };

/** Resolves with the signal's abort reason, or rejects after `timeoutMs`. */
function aborted(signal: AbortSignal, timeoutMs: number): Promise<{ reason: unknown; at: number }> {
  if (signal.aborted) return Promise.resolve({ reason: signal.reason as unknown, at: Date.now() });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the signal did not abort within ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve({ reason: signal.reason as unknown, at: Date.now() });
      },
      { once: true },
    );
  });
}

/** A store that remembers who holds what, counts releases, and can be told its renewals fail. */
class SpyStore implements LockStore {
  readonly owners = new Map<string, string>();
  releases = 0;
  /** While set, extend() rejects as an unreachable store would. */
  unreachable = false;

  constructor(readonly inner: LockStore) {}

  async acquire(key: string, owner: string, ttlMs: number): Promise<number | null> {
    const token = await this.inner.acquire(key, owner, ttlMs);
    if (token !== null) this.owners.set(key, owner);
    return token;
  }

  async extend(key: string, owner: string, ttlMs: number): Promise<boolean> {
    if (this.unreachable) throw new Error('connect ECONNREFUSED');
    return this.inner.extend(key, owner, ttlMs);
  }

  async release(key: string, owner: string): Promise<boolean> {
    this.releases++;
    return this.inner.release(key, owner);
  }

  remaining(key: string): Promise<number> {
    return this.inner.remaining(key);
  }
}

interface Rig {
  store: SpyStore;
  service: LockService;
  /** Takes the current hold of `key` away behind its holder's back. */
  takeAway(key: string): Promise<void>;
}

async function redisRig(): Promise<Rig> {
  // A generous command timeout: these cases are about locking, not latency, and CI machines are busy.
  const { redis, prefix } = await openService({ commandTimeoutMs: 5000 });
  const store = new SpyStore(new RedisLockStore(redis));
  return {
    store,
    service: new LockService(store, SETTINGS),
    takeAway: async (k) => {
      expect(await shared.del(`${prefix}lock:{${k}}`)).toBe(1);
    },
  };
}

async function memoryRig(): Promise<Rig> {
  const store = new SpyStore(new MemoryLockStore({ maxKeys: 1000 }));
  return {
    store,
    service: new LockService(store, SETTINGS),
    takeAway: async (k) => {
      expect(await store.inner.release(k, store.owners.get(k)!)).toBe(true);
    },
  };
}

beforeAll(() => Logger.overrideLogger(false));

describe.each<[string, () => Promise<LockStore>]>([
  ['redis lock store', async () => new RedisLockStore((await openService({ commandTimeoutMs: 5000 })).redis)],
  ['memory lock store', async () => new MemoryLockStore()],
])('%s', (_name, open) => {
  let store: LockStore;

  beforeEach(async () => {
    store = await open();
  });

  it('gives a free lock with a fencing token, and nothing while it is held (not even to its owner)', async () => {
    const k = key();
    const o = owner();
    const token = await store.acquire(k, o, 10_000);
    expect(Number.isSafeInteger(token)).toBe(true);
    expect(token).toBeGreaterThan(0);
    expect(await store.acquire(k, owner(), 10_000)).toBeNull();
    expect(await store.acquire(k, o, 10_000)).toBeNull();
    // Other keys are free.
    expect(await store.acquire(key(), owner(), 10_000)).not.toBeNull();
  });

  it('gives strictly increasing tokens to successive holds of one key, across releases and expiries', async () => {
    const k = key();
    const tokens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const o = owner();
      tokens.push((await store.acquire(k, o, 10_000))!);
      expect(await store.release(k, o)).toBe(true);
    }
    for (let i = 0; i < 2; i++) {
      tokens.push((await store.acquire(k, owner(), 300))!);
      await sleep(300 + 400); // expired, never released
    }
    tokens.push((await store.acquire(k, owner(), 10_000))!);
    expect(tokens.every((t) => Number.isSafeInteger(t))).toBe(true);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]!).toBeGreaterThan(tokens[i - 1]!);
  });

  it('extends and releases for the owner only (compare and delete)', async () => {
    const k = key();
    const o = owner();
    const other = owner();
    await store.acquire(k, o, 2000);
    expect(await store.extend(k, other, 60_000)).toBe(false);
    expect(await store.release(k, other)).toBe(false);
    expect(await store.acquire(k, owner(), 10_000)).toBeNull();
    expect(await store.remaining(k)).toBeLessThanOrEqual(2000);

    expect(await store.extend(k, o, 30_000)).toBe(true);
    expect(await store.remaining(k)).toBeGreaterThan(2000);
    expect(await store.release(k, o)).toBe(true);
    expect(await store.release(k, o)).toBe(false);
    expect(await store.extend(k, o, 30_000)).toBe(false);
    expect(await store.remaining(k)).toBe(0);

    // Another owner takes it: the first one can neither extend nor release that hold.
    const next = owner();
    expect(await store.acquire(k, next, 10_000)).not.toBeNull();
    expect(await store.extend(k, o, 30_000)).toBe(false);
    expect(await store.release(k, o)).toBe(false);
    expect(await store.acquire(k, owner(), 10_000)).toBeNull();
    expect(await store.release(k, next)).toBe(true);
  });

  it('cannot extend or release a hold that expired, and the key is free again', async () => {
    const k = key();
    const o = owner();
    await store.acquire(k, o, 300);
    await sleep(300 + 400);
    expect(await store.extend(k, o, 10_000)).toBe(false);
    expect(await store.release(k, o)).toBe(false);
    expect(await store.remaining(k)).toBe(0);
    expect(await store.acquire(k, owner(), 10_000)).not.toBeNull();
  });

  it('tells about the ttl left while held, and 0 when free', async () => {
    const k = key();
    expect(await store.remaining(k)).toBe(0);
    const o = owner();
    await store.acquire(k, o, 10_000);
    const left = await store.remaining(k);
    expect(left).toBeGreaterThan(10_000 - 5000);
    expect(left).toBeLessThanOrEqual(10_000);
    await store.release(k, o);
    expect(await store.remaining(k)).toBe(0);
  });

  it('gives one of 200 concurrent acquires of one key a token', async () => {
    const k = key();
    const tokens = await Promise.all(Array.from({ length: 200 }, () => store.acquire(k, owner(), 10_000)));
    expect(tokens.filter((t) => t !== null)).toHaveLength(1);
  });
});

describe.each<[string, () => Promise<Rig>]>([
  ['LockService on the redis lock store', redisRig],
  ['LockService on the memory lock store', memoryRig],
])('%s', (_name, open) => {
  let rig: Rig;
  const handles: LockHandle[] = [];

  beforeEach(async () => {
    rig = await open();
  });

  afterEach(async () => {
    // No watchdog outlives its test.
    await Promise.all(handles.splice(0).map((h) => h.release()));
  });

  const acquire = async (k: string, options?: { ttl?: number; waitMs?: number }) => {
    const handle = await rig.service.acquire(k, options);
    handles.push(handle);
    return handle;
  };

  it('runs withLock with a handle whose token is the hold, and releases it afterwards', async () => {
    const k = key();
    const before = await rig.store.acquire(k, owner(), 10_000);
    await rig.store.inner.release(k, rig.store.owners.get(k)!);
    let seen: LockHandle | undefined;
    const result = await rig.service.withLock(k, async (lock) => {
      seen = lock;
      expect(lock.key).toBe(k);
      expect(lock.signal.aborted).toBe(false);
      expect(await rig.store.remaining(k)).toBeGreaterThan(0);
      // Another acquire meanwhile: busy.
      await expect(rig.service.acquire(k)).rejects.toBeInstanceOf(LockBusyError);
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen!.token).toBeGreaterThan(before!);
    expect(await rig.store.remaining(k)).toBe(0);
    // The next hold's token is greater.
    const next = await acquire(k);
    expect(next.token).toBeGreaterThan(seen!.token);
  });

  it('releases the lock when the work throws, and passes the error on', async () => {
    const k = key();
    const failure = new Error('payment declined');
    await expect(
      rig.service.withLock(k, async () => {
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(await rig.store.remaining(k)).toBe(0);
    expect((await acquire(k)).token).toBeGreaterThan(0);
  });

  it('never lets 20 concurrent withLock calls on one key overlap, and runs them all', async () => {
    const k = key();
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        rig.service.withLock(
          k,
          async (lock) => {
            inside++;
            most = Math.max(most, inside);
            order.push(lock.token);
            await sleep(10);
            expect(lock.signal.aborted).toBe(false);
            inside--;
            return i;
          },
          { waitMs: 5000 },
        ),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(most).toBe(1);
    expect(order).toHaveLength(20);
    for (let i = 1; i < order.length; i++) expect(order[i]!).toBeGreaterThan(order[i - 1]!);
    expect(await rig.store.remaining(k)).toBe(0);
  });

  it('throws LockBusyError with the time left once waitMs is over while the lock is held', async () => {
    const k = key();
    await acquire(k, { ttl: 10_000 });
    const started = Date.now();
    const busy = await settle(rig.service.acquire(k, { waitMs: 400 }));
    const waited = Date.now() - started;
    expect(busy.error).toBeInstanceOf(LockBusyError);
    const error = busy.error as LockBusyError;
    expect(error.key).toBe(k);
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(error.retryAfterMs).toBeLessThanOrEqual(10_000);
    expect(waited).toBeGreaterThanOrEqual(350);
    expect(waited).toBeLessThan(5000);
    // Without waitMs: busy at once.
    const now = await settle(rig.service.acquire(k));
    expect(now.error).toBeInstanceOf(LockBusyError);
    expect(now.ms).toBeLessThan(2000);
  });

  it('gets a lock that frees up while it waits', async () => {
    const k = key();
    const first = await acquire(k, { ttl: 10_000 });
    setTimeout(() => void first.release(), 300);
    const second = await acquire(k, { waitMs: 5000 });
    expect(second.token).toBeGreaterThan(first.token);
  });

  it('keeps a hold alive past its ttl with the watchdog', async () => {
    const k = key();
    const ttl = 400;
    const lock = await acquire(k, { ttl });
    await sleep(3 * ttl);
    await expect(rig.service.acquire(k)).rejects.toBeInstanceOf(LockBusyError);
    expect(await rig.store.acquire(k, owner(), 10_000)).toBeNull();
    expect(lock.signal.aborted).toBe(false);
    expect(await rig.store.remaining(k)).toBeGreaterThan(0);
    await lock.release();
    expect(await rig.store.remaining(k)).toBe(0);
  });

  it('aborts the signal with LockLostError when the hold is taken away, and the late release frees nothing', async () => {
    const k = key();
    const lock = await acquire(k, { ttl: 600 });
    const lost = aborted(lock.signal, 5000);
    await rig.takeAway(k);
    const { reason } = await lost;
    expect(reason).toBeInstanceOf(LockLostError);
    expect((reason as LockLostError).key).toBe(k);

    const next = await acquire(k, { ttl: 10_000 });
    expect(next.token).toBeGreaterThan(lock.token);
    await lock.release();
    // Compare and delete: the old handle did not release the new hold.
    await expect(rig.service.acquire(k)).rejects.toBeInstanceOf(LockBusyError);
    expect(next.signal.aborted).toBe(false);
  });

  it('aborts the signal only once the hold has expired when renewals cannot reach the store', async () => {
    const k = key();
    const ttl = 1500;
    const before = Date.now();
    const lock = await acquire(k, { ttl });
    rig.store.unreachable = true;
    await sleep(ttl / 3 + 200); // at least one failed renewal
    expect(lock.signal.aborted).toBe(false);
    const { reason, at } = await aborted(lock.signal, ttl + 5000);
    expect(reason).toBeInstanceOf(LockLostError);
    expect(at - before).toBeGreaterThanOrEqual(ttl);
  });

  it('releases once however often release() is called', async () => {
    const k = key();
    const lock = await acquire(k);
    await Promise.all([lock.release(), lock.release()]);
    await lock.release();
    expect(rig.store.releases).toBe(1);
    expect(await rig.store.remaining(k)).toBe(0);
    // Another holder's lock is not touched by a release of the old handle.
    const next = await acquire(k);
    await lock.release();
    expect(rig.store.releases).toBe(1);
    await expect(rig.service.acquire(k)).rejects.toBeInstanceOf(LockBusyError);
    expect(next.token).toBeGreaterThan(lock.token);

    // withLock whose work released the lock itself.
    const k2 = key();
    await rig.service.withLock(k2, async (held) => {
      await held.release();
    });
    expect(await rig.store.remaining(k2)).toBe(0);
  });
});

describe('redis lock store on Redis itself', () => {
  it('keeps the hold and its fence counter under the app prefix with one hash tag, both expiring', async () => {
    const { redis, prefix } = await openService({ commandTimeoutMs: 5000 });
    const store = new RedisLockStore(redis);
    const k = key();
    const o = owner();
    const token = await store.acquire(k, o, 10_000);
    expect((await shared.keys(`${prefix}*`)).sort()).toEqual([`${prefix}lock:{${k}}`, `${prefix}lock:{${k}}:fence`]);
    expect(await shared.get(`${prefix}lock:{${k}}`)).toBe(o);
    expect(await shared.get(`${prefix}lock:{${k}}:fence`)).toBe(String(token));
    const holdTtl = await shared.pttl(`${prefix}lock:{${k}}`);
    expect(holdTtl).toBeGreaterThan(0);
    expect(holdTtl).toBeLessThanOrEqual(10_000);
    expect(await shared.pttl(`${prefix}lock:{${k}}:fence`)).toBeGreaterThan(86_400_000);
    await store.release(k, o);
    expect(await shared.keys(`${prefix}*`)).toEqual([`${prefix}lock:{${k}}:fence`]);
  });

  it('keeps tokens growing after the fence counter is lost (the Redis clock has moved on)', async () => {
    const { redis, prefix } = await openService({ commandTimeoutMs: 5000 });
    const store = new RedisLockStore(redis);
    const k = key();
    const o = owner();
    const first = (await store.acquire(k, o, 10_000))!;
    await store.release(k, o);
    await shared.del(`${prefix}lock:{${k}}:fence`);
    await sleep(5);
    expect(await store.acquire(k, owner(), 10_000)).toBeGreaterThan(first);
  });

  // Each test closes its connections while it can: see the cache store suite on ioredis timers.
  it('rejects acquires with LockUnavailableError once Redis is killed, and loses holds when they expire', async () => {
    const proc = await privateRedis();
    let redis: RedisService | undefined;
    try {
      ({ redis } = await openService({ url: proc.url, commandTimeoutMs: 300 }));
      const service = new LockService(new RedisLockStore(redis), SETTINGS);
      const k = key();
      const ok = await service.acquire(k);
      await ok.release();
      const held = await service.acquire(k, { ttl: 900 });
      const before = Date.now();

      await proc.kill();
      for (const waitMs of [0, 1000]) {
        const result = await settle(service.acquire(key(), { waitMs }));
        expect(result.error).toBeInstanceOf(LockUnavailableError);
        expect((result.error as LockUnavailableError).cause).toBeInstanceOf(Error);
        expect(result.ms).toBeLessThan(3000);
      }
      await expect(service.withLock(key(), async () => 'never')).rejects.toBeInstanceOf(LockUnavailableError);

      const { reason, at } = await aborted(held.signal, 900 + 5000);
      expect(reason).toBeInstanceOf(LockLostError);
      expect(at - before).toBeGreaterThanOrEqual(900 - 400);
      const release = await settle(held.release());
      expect(release.error).toBeUndefined();
      expect(release.ms).toBeLessThan(3000);
    } finally {
      await redis?.onApplicationShutdown();
      await stopQuietly(proc);
    }
  });

  it('rejects an acquire with LockUnavailableError within about its command timeout when Redis is paused', async () => {
    const proc = await privateRedis();
    let redis: RedisService | undefined;
    try {
      ({ redis } = await openService({ url: proc.url, commandTimeoutMs: 300 }));
      const service = new LockService(new RedisLockStore(redis), SETTINGS);
      await (await service.acquire(key())).release();

      proc.pause();
      const result = await settle(service.acquire(key(), { waitMs: 1000 }));
      expect(result.error).toBeInstanceOf(LockUnavailableError);
      expect(result.ms).toBeLessThan(3000);
    } finally {
      proc.resume();
      await redis?.onApplicationShutdown();
      await stopQuietly(proc);
    }
  });
});

describe('memory lock store', () => {
  it('never evicts a held lock to make room: a full store refuses, and makes room from expired holds', async () => {
    const store = new MemoryLockStore({ maxKeys: 100 });
    for (let i = 0; i < 99; i++) expect(await store.acquire(`held-${i}`, owner(), 60_000)).not.toBeNull();
    expect(await store.acquire('short', owner(), 300)).not.toBeNull();
    expect(store.size).toBe(100);
    await expect(store.acquire('one-more', owner(), 60_000)).rejects.toBeInstanceOf(LockStoreFullError);
    // Through the service: fail closed.
    const service = new LockService(store, SETTINGS);
    await expect(service.acquire('one-more')).rejects.toBeInstanceOf(LockUnavailableError);
    for (let i = 0; i < 99; i++) expect(await store.acquire(`held-${i}`, owner(), 60_000)).toBeNull();

    await sleep(300 + 400); // 'short' expired: its place can be taken
    expect(await store.acquire('one-more', owner(), 60_000)).not.toBeNull();
    expect(store.size).toBe(100);
  });
});
