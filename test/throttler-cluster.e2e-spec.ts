import { randomBytes } from 'node:crypto';
import { startChildApp, type ChildApp } from './support/child-app';
import { createPostgresDatabase, type TestDatabase } from './support/database';
import { rawRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis';

const INSTANCES = 3;
const LIMIT = 5;

const clientIp = () => `10.${[...randomBytes(3)].join('.')}`;

/** EVALSHA calls Redis has served so far (all clients). */
async function evalshaCalls(): Promise<number> {
  const redis = rawRedis();
  try {
    const stats = await redis.info('commandstats');
    return Number(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  } finally {
    redis.disconnect();
  }
}

describe('rate limits across 3 app instances (child processes, one Redis, one PostgreSQL)', () => {
  let db: TestDatabase;
  let apps: ChildApp[] = [];

  beforeAll(async () => {
    db = await createPostgresDatabase();
    const env = {
      ...db.env,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('throttle-cluster'),
      SESSION_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'info',
      TRUSTED_PROXIES: '127.0.0.1',
      THROTTLE_PUBLIC_LIMIT: String(LIMIT),
      // 1,000 requests on three processes sharing two cores lag their event loops; this suite
      // is about exactness, not timeouts, so Redis gets a timeout it cannot miss here.
      THROTTLE_COMMAND_TIMEOUT_MS: '5000',
      CACHE_COMMAND_TIMEOUT_MS: '5000',
      // The test counts every EVALSHA Redis serves; BullMQ workers run their own scripts (job
      // fetches, stalled checks) at their own pace, so these instances only enqueue.
      WORKERS_ENABLED: 'false',
    };
    // The first instance runs the migrations; the others start once the schema is there.
    apps = [await startChildApp({ env })];
    apps.push(...(await Promise.all(Array.from({ length: INSTANCES - 1 }, () => startChildApp({ env })))));
    // Warm each instance's cache of the route, from addresses the test does not use.
    for (const app of apps) {
      for (let i = 0; i < 2; i++) {
        await (await fetch(`${app.url}/events?limit=1`, { headers: { 'x-forwarded-for': clientIp() } })).arrayBuffer();
      }
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await db?.drop();
  });

  it(`lets exactly ${LIMIT} of 1,000 concurrent requests of one client through; every other answer is 429 with Retry-After`, async () => {
    const headers = { 'x-forwarded-for': clientIp() };
    const answers = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const res = await fetch(`${apps[i % INSTANCES]!.url}/events?limit=1`, { headers });
        await res.arrayBuffer();
        return { status: res.status, retryAfter: res.headers.get('retry-after') };
      }),
    );
    expect(answers.filter((a) => a.status === 200)).toHaveLength(LIMIT);
    const refused = answers.filter((a) => a.status !== 200);
    expect(refused).toHaveLength(1000 - LIMIT);
    for (const answer of refused) {
      expect(answer.status).toBe(429);
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(60);
    }

    // Each instance now refuses this client by itself until the reset: no Redis call at all.
    const before = await evalshaCalls();
    const again = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const res = await fetch(`${apps[i % INSTANCES]!.url}/events?limit=1`, { headers });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    expect(again.every((status) => status === 429)).toBe(true);
    expect((await evalshaCalls()) - before).toBe(0);
  });
});
