import { createTestDatabase, type TestDatabase } from './support/database';
import { startApp, type RunningApp } from './support/app';
import { freePort, silentServer } from './support/ports';
import { RedisService } from '../src/platform/redis';
import { RedisProcess, TEST_REDIS_URL, uniquePrefix } from './support/redis';

const ready = async (app: RunningApp) => {
  const res = await fetch(`${app.url}/health/ready`);
  return { status: res.status, body: await res.json() };
};

describe('readiness in the three Redis states', () => {
  let db: TestDatabase;
  let running: RunningApp | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  afterAll(() => db?.drop());

  it('not configured: 200, Redis up with configured false, database up; liveness checks nothing', async () => {
    running = await startApp({ ...db.env });
    const { status, body } = await ready(running);
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.details.database.status).toBe('up');
    expect(body.details.redis).toMatchObject({ status: 'up', configured: false });
    const live = await fetch(`${running.url}/health/live`);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok' });
  });

  it('configured and up: 200 with Redis up and its latency', async () => {
    running = await startApp({ ...db.env, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('health') });
    const { status, body } = await ready(running);
    expect(status).toBe(200);
    expect(body.status).toBe('ok');
    expect(body.details.redis).toMatchObject({ status: 'up', configured: true, state: 'ready' });
    expect(typeof body.details.redis.latencyMs).toBe('number');
  });

  describe.each([
    { requires: 'false', status: 200, overall: 'degraded', entry: 'degraded' },
    { requires: 'true', status: 503, overall: 'error', entry: 'down' },
  ])('configured at a closed port, READINESS_REQUIRES_REDIS=$requires', ({ requires, status, overall, entry }) => {
    it(`starts, serves, and readiness answers ${status} (${overall})`, async () => {
      const port = await freePort();
      running = await startApp({
        ...db.env,
        REDIS_URL: `redis://127.0.0.1:${port}`,
        REDIS_CONNECT_TIMEOUT_MS: '200',
        READINESS_REQUIRES_REDIS: requires,
      });
      expect((await fetch(`${running.url}/events`)).status).toBe(200);
      const res = await ready(running);
      expect(res.status).toBe(status);
      expect(res.body.status).toBe(overall);
      expect(res.body.details.redis).toMatchObject({ status: entry, configured: true, state: 'down' });
      expect(res.body.details.database.status).toBe('up');
    });
  });

  it('a Redis that accepts connections but never answers does not hang readiness or requests', async () => {
    const silent = await silentServer();
    try {
      running = await startApp({
        ...db.env,
        REDIS_URL: `redis://127.0.0.1:${silent.port}`,
        REDIS_CONNECT_TIMEOUT_MS: '300',
        REDIS_COMMAND_TIMEOUT_MS: '100',
      });
      const started = Date.now();
      const res = await ready(running);
      expect(Date.now() - started).toBeLessThan(1500);
      expect(res.status).toBe(200);
      expect(res.body.details.redis).toMatchObject({ status: 'degraded', configured: true });
      expect(['connecting', 'down']).toContain(res.body.details.redis.state);
      expect((await fetch(`${running.url}/events`)).status).toBe(200);
    } finally {
      await running?.close();
      running = undefined;
      await silent.close();
    }
  });

  it('Redis killed mid-test turns readiness degraded; Redis back turns it ok without a restart', async () => {
    const redis = await RedisProcess.start();
    try {
      running = await startApp({ ...db.env, REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '100' });
      expect((await ready(running)).body.status).toBe('ok');

      await redis.kill();
      const down = await ready(running);
      expect(down.status).toBe(200);
      expect(down.body.status).toBe('degraded');
      expect(['reconnecting', 'down']).toContain(down.body.details.redis.state);

      await redis.start();
      const service = running.app.get(RedisService);
      if (!service.isReady) await new Promise((resolve) => service.once('state', resolve));
      const back = await ready(running);
      expect(back.body.status).toBe('ok');
      expect(back.body.details.redis.state).toBe('ready');
    } finally {
      await running?.close();
      running = undefined;
      await redis.stop();
    }
  });
});
