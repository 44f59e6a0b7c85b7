import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { THROTTLE_STORE, type MemoryThrottleStore } from '../src/platform/throttler';
import { startApp, type RunningApp } from './support/app';
import { signUp } from './support/auth';
import { createTestDatabase, type TestDatabase } from './support/database';
import { RedisProcess, TEST_REDIS_URL, uniquePrefix } from './support/redis';

const json = { 'content-type': 'application/json' };

interface Answer {
  status: number;
  policy: string | null;
  rateLimit: string | null;
  retryAfter: string | null;
  contentType: string | null;
  body: Record<string, unknown>;
  ms: number;
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  return {
    status: res.status,
    policy: res.headers.get('ratelimit-policy'),
    rateLimit: res.headers.get('ratelimit'),
    retryAfter: res.headers.get('retry-after'),
    contentType: res.headers.get('content-type'),
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    ms: performance.now() - started,
  };
}

/** A client address no other test uses, as a trusted proxy would forward it. */
const clientIp = () => `10.${[...randomBytes(3)].join('.')}`;
const fromIp = (ip: string) => ({ 'x-forwarded-for': ip });

async function refusedCount(url: string, tier: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`throttle_refused_total{throttler="${tier}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

const login = (url: string, email: string, password: string, ip: string) =>
  call(`${url}/auth/login`, {
    method: 'POST',
    headers: { ...json, ...fromIp(ip) },
    body: JSON.stringify({ email, password }),
  });

describe('rate limits (ThrottlerModule)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  /** An app behind a trusted proxy (127.0.0.1), so each test can pick its client IP. */
  const start = (env: Record<string, string | undefined>) =>
    startApp({
      ...db.env,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('throttle'),
      TRUSTED_PROXIES: '127.0.0.1',
      // Functional tests: a timeout a busy machine cannot miss. The outage tests use their own.
      THROTTLE_COMMAND_TIMEOUT_MS: '2000',
      ...env,
    });

  describe.each([
    ['the shared Redis', TEST_REDIS_URL],
    ['Redis not configured (in-process store)', undefined],
  ])('on %s', (_label, redisUrl) => {
    let app: RunningApp;

    beforeAll(async () => {
      app = await start({
        REDIS_URL: redisUrl,
        THROTTLE_PUBLIC_LIMIT: '5',
        THROTTLE_API_LIMIT: '3',
        THROTTLE_AUTH_LIMIT: '5',
      });
    });
    afterAll(() => app?.close());

    it('announces the policy and what is left on every allowed answer, then refuses with 429, Retry-After and problem+json', async () => {
      const ip = clientIp();
      for (let left = 4; left >= 0; left--) {
        const res = await call(`${app.url}/events?limit=1`, { headers: fromIp(ip) });
        expect(res.status).toBe(200);
        expect(res.policy).toBe('"public";q=5;w=60');
        expect(res.rateLimit).toMatch(new RegExp(`^"public";r=${left};t=(59|60)$`));
      }
      const refused = await call(`${app.url}/events?limit=1`, { headers: fromIp(ip) });
      expect(refused.status).toBe(429);
      expect(refused.contentType).toBe('application/problem+json; charset=utf-8');
      expect(refused.body).toMatchObject({
        type: 'urn:box-office:problem:quota-exceeded',
        status: 429,
        'violated-policies': ['public'],
      });
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(59);
      expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
      expect(refused.policy).toBe('"public";q=5;w=60');
      expect(refused.rateLimit).toMatch(/^"public";r=0;t=(59|60)$/);
      // Another client is not affected.
      expect((await call(`${app.url}/events?limit=1`, { headers: fromIp(clientIp()) })).status).toBe(200);

      // Later refusals are answered before Nest's pipeline (anonymous, IP-keyed): the same answer, still counted.
      const metricsBefore = await refusedCount(app.url, 'public');
      for (const headers of [fromIp(ip), fromIp(ip), { ...fromIp(ip), cookie: 'unrelated=1' }]) {
        const again = await call(`${app.url}/events?limit=1`, { headers });
        expect(again).toMatchObject({ status: 429, contentType: refused.contentType, policy: refused.policy });
        expect(again.rateLimit).toMatch(/^"public";r=0;t=(5\d|60)$/);
        expect(Number(again.retryAfter)).toBeGreaterThanOrEqual(50);
        expect(Object.keys(again.body).sort()).toEqual(Object.keys(refused.body).sort());
        expect(again.body).toMatchObject({
          type: refused.body.type,
          'violated-policies': ['public'],
          instance: '/events',
        });
      }
      expect((await refusedCount(app.url, 'public')) - metricsBefore).toBe(3);
    });

    it('counts authenticated requests per user on the api tier, whatever their IP', async () => {
      const [alice, bob] = [
        await signUp(app.url, 'customer', fromIp(clientIp())),
        await signUp(app.url, 'customer', fromIp(clientIp())),
      ];
      for (let i = 0; i < 3; i++) {
        const res = await call(`${app.url}/auth/me`, { headers: { ...alice.auth, ...fromIp(clientIp()) } });
        expect(res).toMatchObject({ status: 200, policy: '"api";q=3;w=60' });
      }
      const refused = await call(`${app.url}/auth/me`, { headers: { ...alice.auth, ...fromIp(clientIp()) } });
      expect(refused.status).toBe(429);
      expect(refused.body['violated-policies']).toEqual(['api']);
      expect((await call(`${app.url}/auth/me`, { headers: bob.auth })).status).toBe(200);
    });

    it('never throttles the probes and the metrics', async () => {
      const ip = fromIp(clientIp());
      for (let i = 0; i < 12; i++) {
        const res = await call(`${app.url}/health/live`, { headers: ip });
        expect(res.status).toBe(200);
        expect(res.rateLimit).toBeNull();
      }
    });

    it('login: the auth tier counts failed attempts per IP; successful logins give theirs back', async () => {
      const user = await signUp(app.url, 'customer', fromIp(clientIp()));
      const ip = clientIp();
      for (let i = 0; i < 8; i++) expect((await login(app.url, user.email, user.password, ip)).status).toBe(200);
      for (let i = 0; i < 5; i++)
        expect((await login(app.url, `nobody-${i}@example.com`, 'guess', ip)).status).toBe(401);
      const refused = await login(app.url, user.email, user.password, ip);
      expect(refused.status).toBe(429);
      expect(refused.body['violated-policies']).toEqual(['auth']);
      expect(refused.policy).toBe('"auth";q=5;w=900');
    });

    it('login: the auth tier also counts per submitted email, across IPs (case and spaces do not matter)', async () => {
      const user = await signUp(app.url, 'customer', fromIp(clientIp()));
      // Registering the address took one attempt of its five.
      for (let i = 0; i < 4; i++) {
        const email = i % 2 ? user.email.toUpperCase() : ` ${user.email} `;
        expect((await login(app.url, email, 'wrong-password', clientIp())).status).toBe(401);
      }
      expect((await login(app.url, user.email, user.password, clientIp())).status).toBe(429);
    });

    it('login: 50 concurrent wrong guesses, exactly 5 are checked (401), the rest refused (429)', async () => {
      const ip = clientIp();
      const answers = await Promise.all(
        Array.from({ length: 50 }, () => login(app.url, `victim-${ip}@example.com`, 'wrong-password', ip)),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.filter((s) => s === 401)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(45);
    });
  });

  it('the window slides: a burst at the end of one window and one at the start of the next pass the limit once', async () => {
    const windowMs = 2000;
    const app = await start({ THROTTLE_PUBLIC_LIMIT: '5', THROTTLE_PUBLIC_WINDOW_MS: String(windowMs) });
    try {
      const ip = fromIp(clientIp());
      const burst = () =>
        Promise.all(Array.from({ length: 5 }, () => call(`${app.url}/events?limit=1`, { headers: ip })));
      // Just before a fixed window would roll over, and just after.
      await sleep(windowMs - (Date.now() % windowMs) - 150);
      const before = await burst();
      await sleep(Math.max(0, windowMs - (Date.now() % windowMs)) + 50);
      const after = await burst();
      expect(before.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
      expect(after.map((a) => a.status)).toEqual([429, 429, 429, 429, 429]);
      // Once the first burst has left the window, the next one passes.
      await sleep(windowMs);
      expect((await burst()).map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    } finally {
      await app.close();
    }
  });

  it('believes X-Forwarded-For only from a trusted proxy: a spoofed one does not change the key', async () => {
    const app = await start({ TRUSTED_PROXIES: '10.9.8.7', THROTTLE_PUBLIC_LIMIT: '5' });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        statuses.push((await call(`${app.url}/events?limit=1`, { headers: fromIp(clientIp()) })).status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    } finally {
      await app.close();
    }
  });

  it('keeps the in-process store within its bound under a flood of distinct keys', async () => {
    const app = await start({ REDIS_URL: undefined, THROTTLE_MEMORY_MAX_KEYS: '100' });
    try {
      for (let i = 0; i < 300; i += 30) {
        await Promise.all(
          Array.from({ length: 30 }, (_, j) =>
            call(`${app.url}/events?limit=1`, { headers: fromIp(`203.0.113.${(i + j) % 250}`) }).then((r) =>
              expect(r.status).toBe(200),
            ),
          ),
        );
      }
      const store = app.app.get<MemoryThrottleStore>(THROTTLE_STORE);
      expect(store.size).toBeLessThanOrEqual(100);
    } finally {
      await app.close();
    }
  });

  describe('Redis failing', () => {
    // A bound far above the timeouts: no request waits on a dead Redis (correctness, not speed).
    const NO_HANG_MS = 2000;

    it('Redis killed mid-test: other routes keep answering under the per-process limiter, auth answers 503; Redis back: limits shared again', async () => {
      const redis = await RedisProcess.start();
      const prefix = uniquePrefix('throttle-outage');
      const env = {
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        THROTTLE_COMMAND_TIMEOUT_MS: '200',
        THROTTLE_RETRY_AFTER_FAILURE_MS: '300',
        THROTTLE_PUBLIC_LIMIT: '6',
        THROTTLE_FALLBACK_DIVISOR: '2',
      };
      const [a, b] = [await start(env), await start(env)];
      try {
        const user = await signUp(a.url, 'customer', fromIp(clientIp()));
        await redis.kill();

        // The insurance limiter: limit / divisor = 3 per instance.
        const ip = fromIp(clientIp());
        const during = [];
        for (let i = 0; i < 5; i++) during.push(await call(`${a.url}/events?limit=1`, { headers: ip }));
        expect(during.map((r) => r.status)).toEqual([200, 200, 200, 429, 429]);
        expect(during[0]!.policy).toBe('"public";q=6;w=60');
        for (const r of during) expect(r.ms).toBeLessThan(NO_HANG_MS);

        const refused = await login(a.url, user.email, user.password, clientIp());
        expect(refused.status).toBe(503);
        expect(refused.body).toMatchObject({ type: 'urn:box-office:problem:rate-limit-store-unavailable' });
        expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
        expect(refused.ms).toBeLessThan(NO_HANG_MS);

        const metrics = await (await fetch(`${a.url}/metrics`)).text();
        expect(metrics).toMatch(/throttle_fallback_total\{throttler="public"\} [1-9]/);
        expect(metrics).toMatch(/throttle_store_errors_total [1-9]/);

        await redis.start();
        // The auth tier fails closed, so a login checked (401 for an unknown user) says the limits are on Redis again.
        for (const instance of [a, b]) {
          const deadline = Date.now() + 15_000;
          let res: Answer;
          while ((res = await login(instance.url, 'nobody@example.com', 'some-password', clientIp())).status !== 401) {
            if (Date.now() > deadline) throw new Error(`throttling did not come back to Redis: ${JSON.stringify(res)}`);
            await sleep(100);
          }
        }
        // Shared again: hits through one instance count on the other.
        const shared = fromIp(clientIp());
        const statuses = [];
        for (let i = 0; i < 7; i++) {
          statuses.push((await call(`${(i % 2 ? a : b).url}/events?limit=1`, { headers: shared })).status);
        }
        expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429]);
      } finally {
        await a.close();
        await b.close();
        await redis.stop();
      }
    });

    it('Redis paused (never answers): requests are decided locally after one command timeout, auth answers 503', async () => {
      const redis = await RedisProcess.start();
      const app = await start({
        REDIS_URL: redis.url,
        THROTTLE_COMMAND_TIMEOUT_MS: '200',
        THROTTLE_RETRY_AFTER_FAILURE_MS: '5000',
        THROTTLE_PUBLIC_LIMIT: '5',
      });
      try {
        redis.pause();
        const ip = fromIp(clientIp());
        for (let i = 0; i < 5; i++) {
          const res = await call(`${app.url}/events?limit=1`, { headers: ip });
          expect(res.status).toBe(200);
          expect(res.ms).toBeLessThan(NO_HANG_MS);
        }
        expect((await call(`${app.url}/events?limit=1`, { headers: ip })).status).toBe(429);
        const refused = await login(app.url, 'someone@example.com', 'whatever-password', clientIp());
        expect(refused.status).toBe(503);
        expect(refused.ms).toBeLessThan(NO_HANG_MS);
      } finally {
        redis.resume();
        await app.close();
        await redis.stop();
      }
    });
  });
});
