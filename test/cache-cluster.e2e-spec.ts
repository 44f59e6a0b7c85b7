import { randomBytes } from 'node:crypto';
import { startChildApp, type ChildApp } from './support/child-app';
import { signUp, type SignedIn } from './support/auth';
import { createPostgresDatabase, type TestDatabase } from './support/database';
import { eventBody } from './support/fixtures';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';

const json = { 'content-type': 'application/json' };
const INSTANCES = 3;

/** Loader runs of one cache on one instance, from its Prometheus metrics. */
async function loads(url: string, cache: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`cache_loads_total{cache="${cache}"}`));
  return line ? Number(line.split(' ').pop()) : 0;
}

async function untilHit(url: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.headers.get('x-cache') === 'HIT') return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no X-Cache: HIT from ${url} within ${timeoutMs} ms`);
}

const totalLoads = async (apps: ChildApp[], cache: string) =>
  (await Promise.all(apps.map((app) => loads(app.url, cache)))).reduce((a, b) => a + b, 0);

describe('caching across 3 app instances (child processes, one Redis, one PostgreSQL)', () => {
  let db: TestDatabase;
  let apps: ChildApp[] = [];
  let organizer: SignedIn;

  beforeAll(async () => {
    db = await createPostgresDatabase();
    const env = {
      ...db.env,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('cache-cluster'),
      SESSION_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'info',
      // 500 requests on three processes sharing two cores lag their event loops past the 50 ms
      // default, and a timed-out command rightly fails open to the source; this suite is about
      // stampede protection and invalidation, so Redis gets a timeout it cannot miss here.
      CACHE_COMMAND_TIMEOUT_MS: '2000',
    };
    // The first instance runs the migrations; the others start once the schema is there.
    apps = [await startChildApp({ env })];
    apps.push(...(await Promise.all(Array.from({ length: INSTANCES - 1 }, () => startChildApp({ env })))));
    organizer = await signUp(apps[0]!.url, 'organizer');
    // Every instance's cache must be up (connected and subscribed) before the counting starts:
    // until then it rightly serves from the source. A HIT on a warm-up route proves it.
    await Promise.all(apps.map((app) => untilHit(`${app.url}/events?limit=3`)));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(apps.map((app) => app.stop()));
    await db?.drop();
  });

  async function createEvent(title: string): Promise<string> {
    const res = await fetch(`${apps[0]!.url}/events`, {
      method: 'POST',
      headers: { ...json, ...organizer.auth },
      body: JSON.stringify(eventBody({ title })),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  it('runs the loader exactly once for 500 concurrent requests of a cold key spread over the 3 instances', async () => {
    const id = await createEvent('Cold key');
    const before = await totalLoads(apps, 'GET /events/:id');

    const responses = await Promise.all(
      Array.from({ length: 500 }, async (_, i) => {
        const res = await fetch(`${apps[i % INSTANCES]!.url}/events/${id}`);
        return { status: res.status, body: await res.text() };
      }),
    );

    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(new Set(responses.map((r) => r.body)).size).toBe(1);
    expect(JSON.parse(responses[0]!.body)).toMatchObject({ id, title: 'Cold key' });
    const loadsNow = await totalLoads(apps, 'GET /events/:id');
    expect(loadsNow - before).toBe(1);
  });

  it('shows an update made through one instance on the next read through any instance', async () => {
    const id = await createEvent('Version 0');
    const readTitle = async (app: ChildApp) => {
      const res = await fetch(`${app.url}/events/${id}`);
      expect(res.status).toBe(200);
      return { title: ((await res.json()) as { title: string }).title, xCache: res.headers.get('x-cache') };
    };
    // Warm every instance's L1.
    for (const app of apps) await readTitle(app);
    for (const app of apps) expect(await readTitle(app)).toEqual({ title: 'Version 0', xCache: 'HIT' });

    for (let version = 1; version <= 12; version++) {
      const writer = apps[version % INSTANCES]!;
      const res = await fetch(`${writer.url}/events/${id}`, {
        method: 'PATCH',
        headers: { ...json, ...organizer.auth },
        body: JSON.stringify({ title: `Version ${version}` }),
      });
      expect(res.status).toBe(200);
      // Read at once through every instance, the writer last, then again (now from the L1s).
      const order = [...apps.filter((app) => app !== writer), writer];
      for (const app of [...order, ...order]) expect((await readTitle(app)).title).toBe(`Version ${version}`);
    }
  });
});
