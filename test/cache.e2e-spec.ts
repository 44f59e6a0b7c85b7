import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { CacheService } from '../src/platform/cache';
import { startApp, type RunningApp } from './support/app';
import { signUp, type SignedIn } from './support/auth';
import { createTestDatabase, type TestDatabase } from './support/database';
import { eventBody } from './support/fixtures';
import { silentServer } from './support/ports';
import { RedisProcess, TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { eventually } from './support/eventually';

const json = { 'content-type': 'application/json' };

interface Got {
  status: number;
  xCache: string | null;
  etag: string | null;
  cacheControl: string | null;
  vary: string | null;
  body: string;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<Got> {
  const res = await fetch(url, { headers });
  return {
    status: res.status,
    xCache: res.headers.get('x-cache'),
    etag: res.headers.get('etag'),
    cacheControl: res.headers.get('cache-control'),
    vary: res.headers.get('vary'),
    body: await res.text(),
  };
}

describe('caching (@Cached, @InvalidatesCache)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  /**
   * An app on the given Redis (or none) with a fresh prefix, an organizer and one event of theirs.
   * Functional tests get a command timeout far above the 50 ms default, so a busy machine cannot
   * make them fail open; the failing-open tests use the default.
   */
  async function setUp(env: Record<string, string | undefined>) {
    const running = await startApp({
      ...db.env,
      REDIS_KEY_PREFIX: uniquePrefix('cache'),
      CACHE_COMMAND_TIMEOUT_MS: '1000',
      ...env,
    });
    const organizer = await signUp(running.url, 'organizer');
    const created = await fetch(`${running.url}/events`, {
      method: 'POST',
      headers: { ...json, ...organizer.auth },
      body: JSON.stringify(eventBody({ title: 'Opening night' })),
    });
    expect(created.status).toBe(201);
    const event = (await created.json()) as { id: string };
    const rename = async (title: string) => {
      const res = await fetch(`${running.url}/events/${event.id}`, {
        method: 'PATCH',
        headers: { ...json, ...organizer.auth },
        body: JSON.stringify({ title }),
      });
      expect(res.status).toBe(200);
    };
    return { running, url: running.url, organizer, event, rename };
  }

  describe.each([
    ['the shared Redis', () => ({ REDIS_URL: TEST_REDIS_URL })],
    ['Redis not configured (in-process store only)', () => ({ REDIS_URL: undefined })],
  ])('on %s', (_label, envOf) => {
    let ctx: Awaited<ReturnType<typeof setUp>>;
    let detail: string;

    beforeAll(async () => {
      ctx = await setUp(envOf());
      detail = `${ctx.url}/events/${ctx.event.id}`;
    });
    afterAll(() => ctx?.running.close());

    it('answers MISS, then HIT with the same body and a strong ETag', async () => {
      const first = await get(detail);
      const second = await get(detail);
      expect(first).toMatchObject({ status: 200, xCache: 'MISS', cacheControl: 'public, no-cache' });
      expect(second).toMatchObject({ status: 200, xCache: 'HIT', etag: first.etag, body: first.body });
      expect(first.etag).toMatch(/^"[\w-]{22}"$/);
      expect(JSON.parse(second.body)).toMatchObject({ id: ctx.event.id, title: 'Opening night' });
    });

    it('answers 304 without a body to a matching If-None-Match (strong, weak or in a list), 200 otherwise', async () => {
      const { etag } = await get(detail);
      for (const header of [etag!, `W/${etag}`, `"other", ${etag}`, '*']) {
        const res = await fetch(detail, { headers: { 'if-none-match': header } });
        expect(res.status).toBe(304);
        expect(res.headers.get('etag')).toBe(etag);
        expect(res.headers.get('cache-control')).toBe('public, no-cache');
        expect(await res.text()).toBe('');
      }
      const stale = await get(detail, { 'if-none-match': '"not-the-current-one"' });
      expect(stale.status).toBe(200);
      expect(stale.body).not.toBe('');
    });

    it('keys the list on its normalised query: the same parameters in another order share an entry', async () => {
      const a = await get(`${ctx.url}/events?limit=5&offset=0`);
      const b = await get(`${ctx.url}/events?offset=0&limit=5`);
      const c = await get(`${ctx.url}/events?limit=6&offset=0`);
      expect(a.xCache).toBe('MISS');
      expect(b).toMatchObject({ xCache: 'HIT', body: a.body });
      expect(c.xCache).toBe('MISS');
    });

    it('shows an update on the next read: PATCH invalidates the event and every list page', async () => {
      const list = `${ctx.url}/events?limit=50`;
      await get(detail);
      await get(list);
      expect((await get(detail)).xCache).toBe('HIT');
      expect((await get(list)).xCache).toBe('HIT');

      await ctx.rename('Renamed night');
      const afterDetail = await get(detail);
      const afterList = await get(list);
      expect(afterDetail.xCache).toBe('MISS');
      expect(JSON.parse(afterDetail.body).title).toBe('Renamed night');
      expect(afterList.xCache).toBe('MISS');
      expect(afterList.body).toContain('Renamed night');
    });

    it('shows a new event in the list at once: POST invalidates the list tag', async () => {
      const list = `${ctx.url}/events?limit=100`;
      await get(list);
      expect((await get(list)).xCache).toBe('HIT');
      const res = await fetch(`${ctx.url}/events`, {
        method: 'POST',
        headers: { ...json, ...ctx.organizer.auth },
        body: JSON.stringify(eventBody({ title: 'Second night' })),
      });
      expect(res.status).toBe(201);
      const after = await get(list);
      expect(after.xCache).toBe('MISS');
      expect(after.body).toContain('Second night');
    });

    it('never caches an error: an unknown event is a 404 problem every time', async () => {
      const missing = `${ctx.url}/events/00000000-0000-4000-8000-000000000000`;
      for (let i = 0; i < 2; i++) {
        const res = await get(missing);
        expect(res.status).toBe(404);
        expect(res.xCache).toBeNull();
      }
    });

    describe('per-user scope', () => {
      let alice: SignedIn;
      let bob: SignedIn;

      beforeAll(async () => {
        [alice, bob] = await Promise.all([signUp(ctx.url), signUp(ctx.url)]);
      });

      it('gives every caller an entry of their own (private, Vary), never another caller’s', async () => {
        const whoami = `${ctx.url}/__bench/cache/whoami`;
        const a1 = await get(whoami, alice.auth);
        const b1 = await get(whoami, bob.auth);
        const a2 = await get(whoami, alice.auth);
        const b2 = await get(whoami, bob.auth);
        expect(a1).toMatchObject({ xCache: 'MISS', cacheControl: 'private, no-cache', vary: 'Authorization, Cookie' });
        expect(b1.xCache).toBe('MISS');
        expect(JSON.parse(a1.body).userId).toBe(alice.userId);
        expect(JSON.parse(b1.body).userId).toBe(bob.userId);
        expect(a2).toMatchObject({ xCache: 'HIT', body: a1.body });
        expect(b2).toMatchObject({ xCache: 'HIT', body: b1.body });
      });

      it('keys a response to an authenticated request on its caller even when the route is declared public', async () => {
        const greeting = `${ctx.url}/__bench/cache/greeting`;
        const a = await get(greeting, alice.auth);
        const b = await get(greeting, bob.auth);
        expect(JSON.parse(a.body).hello).toBe(alice.userId);
        expect(JSON.parse(b.body).hello).toBe(bob.userId);
        expect(b).toMatchObject({ xCache: 'MISS', cacheControl: 'private, no-cache' });
        expect((await get(greeting, alice.auth)).body).toBe(a.body);
      });
    });
  });

  describe('stale-while-revalidate', () => {
    let ctx: Awaited<ReturnType<typeof setUp>>;

    beforeAll(async () => {
      ctx = await setUp({ REDIS_URL: TEST_REDIS_URL, CACHE_DEFAULT_TTL_MS: '300' });
    });
    afterAll(() => ctx?.running.close());

    it('serves the stale copy at once within the grace time, refreshes it in the background, then serves the new one', async () => {
      const detail = `${ctx.url}/events/${ctx.event.id}`;
      const first = await get(detail);
      expect(first.xCache).toBe('MISS');
      // A change the cache is not told about (no @InvalidatesCache): only expiry can reveal it.
      await ctx.running.app
        .get(DataSource)
        .query('UPDATE events SET title = $1 WHERE id = $2', ['Changed behind the cache', ctx.event.id]);
      expect((await get(detail)).xCache).toBe('HIT');
      await sleep(350); // past the 300 ms fresh time, well within the 30 s grace

      const stale = await get(detail);
      expect(stale).toMatchObject({ status: 200, xCache: 'STALE', body: first.body });
      const refreshed = await eventually(
        () => get(detail),
        (res) => res.xCache === 'HIT' && res.body.includes('Changed behind the cache'),
      );
      expect(refreshed.xCache).toBe('HIT');
      expect(JSON.parse(refreshed.body).title).toBe('Changed behind the cache');
      expect(refreshed.etag).not.toBe(first.etag);
    });

    it('never serves a stale copy of an invalidated entry', async () => {
      const detail = `${ctx.url}/events/${ctx.event.id}`;
      await get(detail);
      await sleep(350);
      await ctx.rename('Invalidated, not stale');
      const after = await get(detail);
      expect(after.xCache).toBe('MISS');
      expect(JSON.parse(after.body).title).toBe('Invalidated, not stale');
    });
  });

  describe('failing open', () => {
    // "Never a hang" is checked with a bound far above the 50 ms command timeout: this is a
    // correctness check (no request waits on a dead Redis), not a speed target.
    const NO_HANG_MS = 2000;

    async function timed(url: string): Promise<Got & { ms: number }> {
      const started = performance.now();
      const res = await get(url);
      return { ...res, ms: performance.now() - started };
    }

    it('Redis killed mid-test: every cached route answers 200 from the source, updates included, and caching resumes', async () => {
      const redis = await RedisProcess.start();
      const ctx = await setUp({ REDIS_URL: redis.url, CACHE_COMMAND_TIMEOUT_MS: '50' });
      try {
        const detail = `${ctx.url}/events/${ctx.event.id}`;
        const list = `${ctx.url}/events`;
        await get(detail);
        await get(list);
        expect((await get(detail)).xCache).toBe('HIT');

        await redis.kill();
        for (const route of [detail, list, detail, list]) {
          const res = await timed(route);
          expect(res.status).toBe(200);
          expect(res.xCache).toBe('MISS');
          expect(res.ms).toBeLessThan(NO_HANG_MS);
        }
        // The session store is down too (fail closed), so write through the database; the
        // cache must not answer from the L1 it can no longer keep current.
        await ctx.running.app
          .get(DataSource)
          .query('UPDATE events SET title = $1 WHERE id = $2', ['Written while Redis was down', ctx.event.id]);
        expect(JSON.parse((await get(detail)).body).title).toBe('Written while Redis was down');

        await redis.start();
        const back = await eventually(
          () => get(detail),
          (res) => res.xCache === 'HIT',
          10_000,
        );
        expect(JSON.parse(back.body).title).toBe('Written while Redis was down');
      } finally {
        await ctx.running.close();
        await redis.stop();
      }
    });

    it('Redis paused mid-test (never answers): cached routes answer 200 from the source without waiting on it', async () => {
      const redis = await RedisProcess.start();
      const ctx = await setUp({ REDIS_URL: redis.url, CACHE_COMMAND_TIMEOUT_MS: '50' });
      try {
        const detail = `${ctx.url}/events/${ctx.event.id}`;
        await get(detail);
        expect((await get(detail)).xCache).toBe('HIT');
        redis.pause();
        // Nothing has failed yet, so the L1 still answers; the list is not in the L1, its GET
        // times out, the breaker opens and the L1 is dropped: from then on the source answers.
        const expected: [string, string][] = [
          [detail, 'HIT'],
          [`${ctx.url}/events`, 'MISS'],
          [detail, 'MISS'],
        ];
        for (const [route, xCache] of expected) {
          const res = await timed(route);
          expect(res).toMatchObject({ status: 200, xCache });
          expect(res.ms).toBeLessThan(NO_HANG_MS);
        }
        redis.resume();
        await eventually(
          () => get(detail),
          (res) => res.xCache === 'HIT',
          10_000,
        );
      } finally {
        redis.resume();
        await ctx.running.close();
        await redis.stop();
      }
    });

    it('a Redis that accepts connections and never answers: the app starts and cached routes answer 200', async () => {
      const silent = await silentServer();
      let running: RunningApp | undefined;
      try {
        running = await startApp({
          ...db.env,
          REDIS_URL: `redis://127.0.0.1:${silent.port}`,
          REDIS_CONNECT_TIMEOUT_MS: '300',
        });
        for (const route of [`${running.url}/events`, `${running.url}/events?limit=3`, `${running.url}/events`]) {
          const res = await timed(route);
          expect(res).toMatchObject({ status: 200, xCache: 'MISS' });
          expect(res.ms).toBeLessThan(NO_HANG_MS);
        }
      } finally {
        await running?.close();
        await silent.close();
      }
    });
  });

  describe('CacheService on the shared Redis', () => {
    let running: RunningApp;
    let cache: CacheService;

    beforeAll(async () => {
      running = await startApp({
        ...db.env,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: uniquePrefix('cache-svc'),
        CACHE_L1_MAX_ENTRIES: '100',
        CACHE_COMMAND_TIMEOUT_MS: '1000',
      });
      cache = running.app.get(CacheService);
    });
    afterAll(() => running?.close());

    it('runs the loader once for 500 concurrent misses of one key', async () => {
      let runs = 0;
      const loader = async () => {
        runs++;
        await sleep(20);
        return { value: 42 };
      };
      const results = await Promise.all(Array.from({ length: 500 }, () => cache.getOrSet('stampede', loader)));
      expect(runs).toBe(1);
      expect(results.every((r) => r.value === 42)).toBe(true);
    });

    it('keeps the L1 within its bound under a flood of distinct keys', async () => {
      for (let i = 0; i < 5000; i += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, j) => cache.getOrSet(`flood:${i + j}`, () => i + j)));
        expect(cache.l1Size).toBeLessThanOrEqual(100);
      }
      expect(cache.l1Size).toBe(100);
    });

    it('invalidates every entry under a tag with one version bump, and leaves other tags alone', async () => {
      await Promise.all(
        Array.from({ length: 200 }, (_, i) => cache.getOrSet(`tagged:${i}`, () => 'v1', { tags: ['t:a'] })),
      );
      await cache.getOrSet('other', () => 'v1', { tags: ['t:b'] });
      await cache.invalidateTags(['t:a']);
      const reloaded = await Promise.all(
        Array.from({ length: 200 }, (_, i) => cache.getOrSet(`tagged:${i}`, () => 'v2', { tags: ['t:a'] })),
      );
      expect(new Set(reloaded)).toEqual(new Set(['v2']));
      expect(await cache.getOrSet('other', () => 'v2', { tags: ['t:b'] })).toBe('v1');
    });

    it('does not cache a loader error: the next call runs the loader again', async () => {
      await expect(cache.getOrSet('failing', () => Promise.reject(new Error('source down')))).rejects.toThrow(
        'source down',
      );
      expect(await cache.getOrSet('failing', () => 'recovered')).toBe('recovered');
    });
  });
});
