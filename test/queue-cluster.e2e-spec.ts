import { Client } from 'pg';
import { signUp, type SignedIn } from './support/auth';
import { startChildApp, type ChildApp } from './support/child-app';
import { createPostgresDatabase, type TestDatabase } from './support/database';
import { eventually } from './support/eventually';
import { eventBody } from './support/fixtures';
import { rawRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis';

const json = { 'content-type': 'application/json' };

interface JobView {
  id: string;
  state: string;
  progress: { rows?: number } | number;
  attemptsMade: number;
  result?: { rows: number };
}

/**
 * Web and worker processes (the built server) on one Redis and one PostgreSQL: a web process that
 * only enqueues, worker processes that only work, and what happens to a running job when its
 * worker is killed or told to stop.
 */
describe('queues across processes: producers, workers, SIGKILL and SIGTERM', () => {
  let db: TestDatabase;
  let pg: Client;
  let web: ChildApp;
  let organizer: SignedIn;
  let eventId: string;
  const children: ChildApp[] = [];
  const prefix = uniquePrefix('queue-cluster');
  const common = () => ({
    ...db.env,
    NODE_ENV: 'test',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    SESSION_SECRET: 's'.repeat(48),
    EXPORTS_PAGE_SIZE: '5',
    EXPORTS_PAGE_PAUSE_MS: '300',
    // Short locks so a dead worker's job is taken over within seconds, not a minute.
    QUEUE_LOCK_DURATION_MS: '2000',
    QUEUE_STALLED_INTERVAL_MS: '1000',
    SHUTDOWN_DRAIN_MS: '0',
  });

  const startWorker = async (env: Record<string, string> = {}) => {
    const worker = await startChildApp({
      env: { ...common(), API_ENABLED: 'false', DATABASE_RUN_MIGRATIONS: 'false', ...env },
    });
    children.push(worker);
    return worker;
  };

  const requestExport = async (): Promise<string> => {
    const res = await fetch(`${web.url}/events/${eventId}/exports`, { method: 'POST', headers: organizer.auth });
    expect(res.status).toBe(202);
    return ((await res.json()) as { id: string }).id;
  };

  const job = async (id: string): Promise<JobView> => {
    const res = await fetch(`${web.url}/jobs/${id}`, { headers: organizer.auth });
    expect(res.status).toBe(200);
    return (await res.json()) as JobView;
  };

  const rowsOf = (view: JobView) => (typeof view.progress === 'object' ? (view.progress.rows ?? 0) : 0);

  /** The job once completed (the test fails if it is not within `timeoutMs`). */
  const completion = async (id: string, timeoutMs: number): Promise<JobView> => {
    const done = await eventually(
      () => job(id),
      (view) => view.state === 'completed',
      timeoutMs,
      100,
    );
    expect(done.state).toBe('completed');
    return done;
  };

  /** The job once a worker is running it and has written its first page. */
  const running = (id: string): Promise<JobView> =>
    eventually(
      () => job(id),
      (view) => view.state === 'active' && rowsOf(view) >= 5,
      15_000,
      50,
    );

  beforeAll(async () => {
    db = await createPostgresDatabase();
    web = await startChildApp({ env: { ...common(), WORKERS_ENABLED: 'false' } });
    children.push(web);
    organizer = await signUp(web.url, 'organizer');
    const buyer = await signUp(web.url, 'customer');
    const created = await fetch(`${web.url}/events`, {
      method: 'POST',
      headers: { ...json, ...organizer.auth },
      body: JSON.stringify(eventBody()),
    });
    eventId = ((await created.json()) as { id: string }).id;
    pg = new Client({ connectionString: db.env.DATABASE_URL });
    await pg.connect();
    // 40 orders, 5 a page, 300 ms between pages: an export runs for about 2.5 s.
    await pg.query(
      `INSERT INTO orders (user_id, event_id, quantity, amount_cents, currency, status, hold_expires_at, payment_id, paid_at)
       SELECT $1, $2, 1, 2500, 'EUR', 'paid', now(), 'ch_' || n, now() FROM generate_series(1, 40) AS n`,
      [buyer.userId, eventId],
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(children.map((child) => child.stop()));
    await pg?.end();
    await db?.drop();
    const redis = rawRedis();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  it('a web process (WORKERS_ENABLED=false) only enqueues; a worker process (API_ENABLED=false) only works', async () => {
    const id = await requestExport();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await job(id)).state).toBe('waiting');

    const worker = await startWorker();
    const api = await fetch(`${worker.url}/events`);
    expect(api.status).toBe(404);
    expect(((await api.json()) as { type: string }).type).toBe('urn:box-office:problem:api-not-served');
    const ready = (await (await fetch(`${worker.url}/health/ready`)).json()) as {
      details: { queue: { driver: string; workers: boolean } };
    };
    expect(ready.details.queue).toMatchObject({ driver: 'bullmq', workers: true });

    const done = await completion(id, 20_000);
    expect(done.result?.rows).toBe(40);
    await worker.stop();
  }, 60_000);

  it('a worker SIGKILLed mid-job: another worker process completes the job', async () => {
    const first = await startWorker();
    const id = await requestExport();
    await running(id);
    first.proc.kill('SIGKILL');
    await first.exit;
    expect((await job(id)).state).toBe('active'); // its lock outlives the process, for now

    const second = await startWorker();
    const done = await completion(id, 30_000);
    expect(done.result?.rows).toBe(40);
    const csv = await fetch(`${web.url}/exports/${id}/download`, { headers: organizer.auth });
    expect((await csv.text()).trimEnd().split('\r\n')).toHaveLength(41);
    await second.stop();
  }, 90_000);

  it('SIGTERM during a running job: the worker stops taking jobs, finishes it, then exits 0', async () => {
    const worker = await startWorker({ QUEUE_SHUTDOWN_TIMEOUT_MS: '15000' });
    const id = await requestExport();
    await running(id);
    worker.proc.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const queued = await requestExport(); // enqueued while it stops: the stopping worker must not take it
    const exit = await worker.exit;
    expect(exit.code).toBe(0);
    expect((await job(id)).state).toBe('completed');
    expect((await job(queued)).state).toBe('waiting');

    // Nothing is lost: the next worker runs what was left waiting.
    const next = await startWorker();
    await completion(queued, 20_000);
    await next.stop();
  }, 90_000);

  it('SIGTERM with a job longer than the grace period: the job is cut off, then recovered after a restart', async () => {
    const worker = await startWorker({ QUEUE_SHUTDOWN_TIMEOUT_MS: '300', EXPORTS_PAGE_PAUSE_MS: '1000' });
    const id = await requestExport();
    await running(id);
    worker.proc.kill('SIGTERM');
    const exit = await worker.exit;
    expect(exit.code).toBe(0);
    expect(worker.output.join('\n')).toMatch(/stalled-job recovery/);
    expect((await job(id)).state).not.toBe('completed');

    const restarted = await startWorker();
    const done = await completion(id, 40_000);
    expect(done.result?.rows).toBe(40);
    await restarted.stop();
  }, 120_000);
});
