import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { startApp, type RunningApp } from './support/app';
import { signUp, type SignedIn } from './support/auth';
import { createTestDatabase, type TestDatabase } from './support/database';
import { eventBody, PROBLEM_JSON } from './support/fixtures';
import { send } from './support/http';
import { eventually } from './support/eventually';
import { RedisProcess, TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { stopQuietly } from './support/redis-harness';
import { readSse } from './support/sse';

const problem = (type: string) => `urn:box-office:problem:${type}`;
const ORDERS = 23;

interface Accepted {
  id: string;
  state: string;
  status: string;
  events: string;
  download: string;
}

/** `count` orders of the event, straight into the table (the export reads them, nothing else matters). */
async function seedOrders(dataSource: DataSource, eventId: string, buyer: string, count: number): Promise<void> {
  await dataSource.query(
    `INSERT INTO orders (user_id, event_id, quantity, amount_cents, currency, status, hold_expires_at, payment_id, paid_at)
     SELECT $1, $2, 1 + n % 3, 2500 * (1 + n % 3), 'EUR', 'paid', now(), 'ch_' || n, now()
       FROM generate_series(1, $3) AS n`,
    [buyer, eventId, count],
  );
}

describe('exports: a queue job with live progress', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  describe.each([
    ['the shared Redis (BullMQ)', TEST_REDIS_URL, 'bullmq'],
    ['Redis not configured (in-process queue)', undefined, 'memory'],
  ])('on %s', (_label, redisUrl, driver) => {
    let running: RunningApp;
    let url: string;
    let organizer: SignedIn;
    let eventId: string;

    beforeAll(async () => {
      running = await startApp({
        ...db.env,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: uniquePrefix('exports'),
        EXPORTS_PAGE_SIZE: '5',
        EXPORTS_PAGE_PAUSE_MS: '150',
      });
      url = running.url;
      organizer = await signUp(url, 'organizer');
      const created = await send('POST', `${url}/events`, eventBody(), organizer.auth);
      eventId = (JSON.parse(created.body) as { id: string }).id;
      const buyer = await signUp(url, 'customer');
      await seedOrders(running.app.get(DataSource), eventId, buyer.userId, ORDERS);
    });
    afterAll(() => running?.close());

    it(`says in /health/ready that the ${driver} driver runs the queues`, async () => {
      const ready = JSON.parse((await send('GET', `${url}/health/ready`)).body);
      expect(ready.details.queue).toMatchObject({ status: 'up', driver, durable: driver === 'bullmq', workers: true });
      expect(ready.details.queue.queues).toEqual(expect.arrayContaining(['exports']));
    });

    it('answers 202 with the job, streams progress over SSE, and serves the CSV to its owner only', async () => {
      const accepted = await send('POST', `${url}/events/${eventId}/exports`, undefined, organizer.auth);
      expect(accepted.status).toBe(202);
      const job = JSON.parse(accepted.body) as Accepted;
      expect(accepted.headers.get('location')).toBe(`/jobs/${job.id}`);
      expect(job).toMatchObject({ status: `/jobs/${job.id}`, events: `/jobs/${job.id}/events` });

      // Not written yet: the download says so and points at the job.
      const early = await send('GET', `${url}${job.download}`, undefined, organizer.auth);
      expect(early.status).toBe(409);
      expect(JSON.parse(early.body).type).toBe(problem('export-not-ready'));

      const stream = await readSse(`${url}${job.events}`, organizer.auth);
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const kinds = stream.events.map((e) => e.event);
      expect(kinds[0]).toBe('state');
      expect(kinds[kinds.length - 1]).toBe('completed');
      const progress = stream.events
        .filter((e) => e.event === 'progress')
        .map((e) => (JSON.parse(e.data) as { progress: { rows: number } }).progress.rows);
      expect(progress.length).toBeGreaterThanOrEqual(3);
      expect([...progress].sort((a, b) => a - b)).toEqual(progress);
      expect(progress[progress.length - 1]).toBe(ORDERS);
      const completed = JSON.parse(stream.events[stream.events.length - 1].data);
      expect(completed.result).toMatchObject({ exportId: job.id, rows: ORDERS, download: job.download });

      const status = await send('GET', `${url}/jobs/${job.id}`, undefined, organizer.auth);
      expect(status.status).toBe(200);
      const view = JSON.parse(status.body);
      expect(view).toMatchObject({
        id: job.id,
        queue: 'exports',
        state: 'completed',
        progress: { rows: ORDERS, percent: 100 },
      });
      expect(view.result.rows).toBe(ORDERS);
      expect(view).not.toHaveProperty('owner');

      const csv = await send('GET', `${url}${job.download}`, undefined, organizer.auth);
      expect(csv.status).toBe(200);
      expect(csv.headers.get('content-type')).toBe('text/csv; charset=utf-8');
      expect(csv.headers.get('content-disposition')).toBe(`attachment; filename="event-${eventId}-orders.csv"`);
      const lines = csv.body.trimEnd().split('\r\n');
      expect(lines[0]).toBe('order_id,status,quantity,amount_cents,currency,buyer_email,created_at,paid_at');
      expect(lines).toHaveLength(ORDERS + 1);

      // Anyone else: the job, its stream and its file do not exist.
      const other = await signUp(url, 'organizer');
      expect((await send('GET', `${url}/jobs/${job.id}`, undefined, other.auth)).status).toBe(404);
      expect((await readSse(`${url}${job.events}`, other.auth)).status).toBe(404);
      const stolen = await send('GET', `${url}${job.download}`, undefined, other.auth);
      expect(stolen.status).toBe(404);
      expect(stolen.headers.get('content-type')).toBe(PROBLEM_JSON);
      expect((await send('GET', `${url}/jobs/${job.id}`)).status).toBe(401);

      const metrics = (await send('GET', `${url}/metrics`)).body;
      expect(metrics).toMatch(/queue_jobs_total\{queue="exports",outcome="completed"\} [1-9]/);
    });

    it("refuses customers and other organizers' events", async () => {
      const customer = await signUp(url, 'customer');
      expect((await send('POST', `${url}/events/${eventId}/exports`, undefined, customer.auth)).status).toBe(403);
      const other = await signUp(url, 'organizer');
      const refused = await send('POST', `${url}/events/${eventId}/exports`, undefined, other.auth);
      expect(refused.status).toBe(403);
      expect(JSON.parse(refused.body).type).toBe(problem('not-event-organizer'));
      const missing = await send(
        'POST',
        `${url}/events/${randomBytes(16).toString('hex')}/exports`,
        undefined,
        organizer.auth,
      );
      expect(missing.status).toBe(404);
    });

    it('maps a retried request with the same Idempotency-Key to the same job', async () => {
      const key = `exp-${randomBytes(6).toString('hex')}`;
      const first = await send('POST', `${url}/events/${eventId}/exports`, undefined, {
        ...organizer.auth,
        'idempotency-key': key,
      });
      const second = await send('POST', `${url}/events/${eventId}/exports`, undefined, {
        ...organizer.auth,
        'idempotency-key': key,
      });
      expect(first.status).toBe(202);
      expect(second.status).toBe(202);
      expect(JSON.parse(second.body).id).toBe(JSON.parse(first.body).id);
      const id = JSON.parse(first.body).id as string;
      const done = await eventually(
        async () => JSON.parse((await send('GET', `${url}/jobs/${id}`, undefined, organizer.auth)).body).state,
        (state) => state === 'completed',
        10_000,
      );
      expect(done).toBe('completed');
    });
  });

  it('counts exports per organizer in the `exports` tier (429 past the limit)', async () => {
    const running = await startApp({ ...db.env, THROTTLE_EXPORTS_LIMIT: '2' });
    try {
      const { url } = running;
      const create = async (who: SignedIn) => {
        const created = await send('POST', `${url}/events`, eventBody(), who.auth);
        return (JSON.parse(created.body) as { id: string }).id;
      };
      const organizer = await signUp(url, 'organizer');
      const [first, second] = [await create(organizer), await create(organizer)];
      const statuses = [];
      for (const id of [first, second, first]) {
        statuses.push((await send('POST', `${url}/events/${id}/exports`, undefined, organizer.auth)).status);
      }
      expect(statuses).toEqual([202, 202, 429]);
      const refused = await send('POST', `${url}/events/${second}/exports`, undefined, organizer.auth);
      expect(refused.headers.get('ratelimit-policy')).toContain('"exports";q=2;w=3600');
      expect(JSON.parse(refused.body).type).toBe(problem('quota-exceeded'));
      // Another organizer has a quota of their own.
      const other = await signUp(url, 'organizer');
      expect((await send('POST', `${url}/events/${await create(other)}/exports`, undefined, other.auth)).status).toBe(
        202,
      );
    } finally {
      await running.close();
    }
  });

  describe('Redis configured but down', () => {
    let redis: RedisProcess;
    let running: RunningApp;

    beforeAll(async () => {
      redis = await RedisProcess.start();
      running = await startApp({ ...db.env, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('exports-down') });
    });
    afterAll(async () => {
      await running?.close();
      await stopQuietly(redis);
    });

    it('answers 503 queue-unavailable on enqueue, fast, and keeps no half-made export', async () => {
      const { url } = running;
      const organizer = await signUp(url, 'organizer');
      const created = await send('POST', `${url}/events`, eventBody(), organizer.auth);
      const eventId = (JSON.parse(created.body) as { id: string }).id;
      expect((await send('POST', `${url}/__bench/queue/enqueue`)).status).toBe(202);
      await redis.kill();

      // A public enqueue route: the queue itself refuses.
      const started = Date.now();
      const refused = await send('POST', `${url}/__bench/queue/enqueue`);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toBe(PROBLEM_JSON);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(JSON.parse(refused.body).type).toBe(problem('queue-unavailable'));

      // An export needs a session, which is in Redis as well: the session check fails closed
      // first (503), and either way no export row is left behind.
      const exported = await send('POST', `${url}/events/${eventId}/exports`, undefined, organizer.auth);
      expect(exported.status).toBe(503);
      const rows = (await running.app
        .get(DataSource)
        .query('SELECT count(*)::int AS n FROM report_exports WHERE event_id = $1', [eventId])) as { n: number }[];
      expect(rows[0].n).toBe(0);
    });
  });
});
