import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { CacheModuleOptions } from './cache.module-definition';
import { CacheService } from './cache.service';
import type { CacheStore } from './cache.store';
import { MemoryCacheStore } from './memory-cache.store';

/** The in-process store posing as a shared one, so several services (instances) can share it and its signals. */
class SharedMemoryStore extends MemoryCacheStore {
  override readonly shared = true as unknown as false;
}

/** A store whose every command can be made to fail (Redis down) or hang past a timeout (Redis slow). */
class FlakyStore extends MemoryCacheStore {
  failing = false;
  calls = 0;
  readonly invalidated: string[] = [];

  constructor() {
    super({ maxEntries: 1000, maxBytes: 1_000_000 });
    for (const name of ['get', 'fill', 'delete', 'tagVersions', 'acquireFill', 'releaseFill'] as const) {
      const original = (this[name] as (...args: unknown[]) => Promise<unknown>).bind(this);
      (this as Record<string, unknown>)[name] = (...args: unknown[]) => this.gate(() => original(...args));
    }
  }

  override async invalidateTag(tag: string): Promise<string> {
    return this.gate(() => {
      this.invalidated.push(tag);
      return super.invalidateTag(tag);
    });
  }

  private async gate<T>(call: () => Promise<T>): Promise<T> {
    this.calls++;
    if (this.failing) throw new Error('Command timed out');
    return call();
  }
}

const service = (store: CacheStore, options: CacheModuleOptions = {}) => new CacheService(store, options);
const memory = () => new MemoryCacheStore({ maxEntries: 1000, maxBytes: 1_000_000 });

describe('CacheService', () => {
  beforeAll(() => Logger.overrideLogger(false));

  it('runs the loader once for concurrent misses and gives every caller its value', async () => {
    const cache = service(memory());
    let runs = 0;
    const loader = async () => {
      runs++;
      await sleep(10);
      return { n: 1 };
    };
    const values = await Promise.all(Array.from({ length: 100 }, () => cache.getOrSet('k', loader)));
    expect(runs).toBe(1);
    expect(values.every((v) => v.n === 1)).toBe(true);
    expect((await cache.fetch('k', loader)).outcome).toBe('HIT');
  });

  it('serves a stale value at once within the grace time and refreshes it once in the background', async () => {
    const cache = service(memory());
    let version = 0;
    const loader = async () => ++version;
    const options = { ttl: 20, staleWhileRevalidate: 10_000 };
    expect(await cache.fetch('swr', loader, options)).toEqual({ value: 1, outcome: 'MISS' });
    await sleep(30);
    const stale = await Promise.all([cache.fetch('swr', loader, options), cache.fetch('swr', loader, options)]);
    expect(stale.map((r) => [r.value, r.outcome])).toEqual([
      [1, 'STALE'],
      [1, 'STALE'],
    ]);
    while (version < 2) await sleep(1); // the refresh runs after the stale answers
    expect((await cache.fetch('swr', loader, options)).value).toBe(2);
    expect(version).toBe(2); // two stale reads, one refresh
  });

  it('keeps a stale value when its background refresh fails', async () => {
    const cache = service(memory());
    const options = { ttl: 10, staleWhileRevalidate: 10_000 };
    await cache.getOrSet('keep', () => 'old', options);
    await sleep(20);
    expect(await cache.fetch('keep', () => Promise.reject(new Error('source down')), options)).toEqual({
      value: 'old',
      outcome: 'STALE',
    });
    await sleep(10);
    expect((await cache.fetch('keep', () => 'new', options)).value).toMatch(/old|new/);
  });

  it('drops every entry under an invalidated tag, and only those', async () => {
    const cache = service(memory());
    await cache.getOrSet('a', () => 'a1', { tags: ['t1'] });
    await cache.getOrSet('b', () => 'b1', { tags: ['t1', 't2'] });
    await cache.getOrSet('c', () => 'c1', { tags: ['t2'] });
    await cache.invalidateTags(['t1']);
    expect(await cache.getOrSet('a', () => 'a2', { tags: ['t1'] })).toBe('a2');
    expect(await cache.getOrSet('b', () => 'b2', { tags: ['t1', 't2'] })).toBe('b2');
    expect(await cache.getOrSet('c', () => 'c2', { tags: ['t2'] })).toBe('c1');
  });

  it('stores an entry whose tag was invalidated while it loaded as already stale', async () => {
    const cache = service(memory());
    const loaded = cache.getOrSet(
      'racy',
      async () => {
        await cache.invalidateTags(['t']); // a write lands while the source is being read
        return 'read before the write';
      },
      { tags: ['t'] },
    );
    expect(await loaded).toBe('read before the write');
    expect(await cache.getOrSet('racy', () => 'read after the write', { tags: ['t'] })).toBe('read after the write');
  });

  it('keeps instances consistent through the store: an L1 entry dies when another instance invalidates its tag', async () => {
    const store = new SharedMemoryStore({ maxEntries: 1000, maxBytes: 1_000_000 });
    const a = service(store);
    const b = service(store);
    expect(await a.getOrSet('shared', () => 'v1', { tags: ['t'] })).toBe('v1');
    expect((await a.fetch('shared', () => 'never', { tags: ['t'] })).outcome).toBe('HIT');
    expect(a.l1Size).toBe(1);
    await b.invalidateTags(['t']);
    expect(await a.getOrSet('shared', () => 'v2', { tags: ['t'] })).toBe('v2');
    expect(await b.getOrSet('shared', () => 'never', { tags: ['t'] })).toBe('v2');
  });

  it('keeps the L1 within its bound under a flood of distinct keys', async () => {
    const cache = service(new SharedMemoryStore({ maxEntries: 100_000, maxBytes: 100_000_000 }), { l1MaxEntries: 50 });
    for (let i = 0; i < 2000; i++) await cache.getOrSet(`flood:${i}`, () => i);
    expect(cache.l1Size).toBe(50);
  });

  describe('failing open', () => {
    it('store down: every call answers from the loader, never throws, and the loader errors stay the caller’s', async () => {
      const store = new FlakyStore();
      store.failing = true;
      const cache = service(store);
      expect(await cache.fetch('k', () => 1)).toEqual({ value: 1, outcome: 'MISS' });
      expect(await cache.fetch('k', () => 2)).toEqual({ value: 2, outcome: 'MISS' });
      await expect(cache.invalidateTags(['t'])).resolves.toBeUndefined();
      await expect(cache.getOrSet('k', () => Promise.reject(new Error('source')))).rejects.toThrow('source');
    });

    it('a failure opens the breaker: the store is left alone until the retry time, then used again', async () => {
      const store = new FlakyStore();
      const cache = service(store, { retryAfterFailureMs: 50 });
      store.failing = true;
      await cache.getOrSet('k', () => 1);
      const callsWhenTripped = store.calls;
      store.failing = false;
      for (let i = 0; i < 10; i++) await cache.getOrSet(`k${i}`, () => i);
      expect(store.calls).toBe(callsWhenTripped);
      await sleep(60);
      await cache.getOrSet('k', () => 1);
      expect(store.calls).toBeGreaterThan(callsWhenTripped);
    });

    it('replays an invalidation that could not reach the store before trusting the store again', async () => {
      const store = new FlakyStore();
      const cache = service(store, { retryAfterFailureMs: 20 });
      await cache.getOrSet('k', () => 'before', { tags: ['t'] });
      store.failing = true;
      await cache.invalidateTags(['t']);
      store.failing = false;
      await sleep(30);
      expect(await cache.getOrSet('k', () => 'after', { tags: ['t'] })).toBe('after');
      expect(store.invalidated.length).toBe(1);
    });

    it('store not ready (not connected or not hearing signals): answers from the loader without touching it', async () => {
      const store = new FlakyStore();
      Object.defineProperty(store, 'ready', { value: false });
      const cache = service(store);
      expect(await cache.getOrSet('k', () => 'source')).toBe('source');
      expect(store.calls).toBe(0);
    });
  });
});
