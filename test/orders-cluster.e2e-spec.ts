import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { Client } from 'pg';
import { signUp, type SignedIn } from './support/auth';
import { startChildApp, type ChildApp } from './support/child-app';
import { createPostgresDatabase, type TestDatabase } from './support/database';
import { eventBody } from './support/fixtures';
import { rawRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis';

const json = { 'content-type': 'application/json' };
const INSTANCES = 3;
const PROBLEM = 'urn:box-office:problem:';

interface Answer {
  status: number;
  type?: string;
  body: Record<string, unknown>;
  replayed: string | null;
}

const newKey = (label: string) => `${label}-${randomBytes(8).toString('hex')}`;

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
  return {
    status: res.status,
    type: typeof body.type === 'string' ? body.type : undefined,
    body,
    replayed: res.headers.get('idempotent-replayed'),
  };
}

async function reserve(app: ChildApp, customer: SignedIn, eventId: string, key: string): Promise<Answer> {
  const res = await fetch(`${app.url}/events/${eventId}/reservations`, {
    method: 'POST',
    headers: { ...json, ...customer.auth, 'idempotency-key': key },
    body: JSON.stringify({ quantity: 1 }),
  });
  return answerOf(res);
}

async function pay(app: ChildApp, customer: SignedIn, orderId: string, key: string): Promise<Answer> {
  const res = await fetch(`${app.url}/orders/${orderId}/payment`, {
    method: 'POST',
    headers: { ...customer.auth, 'idempotency-key': key },
  });
  return answerOf(res);
}

/** Polls `check` every `everyMs` until it is true; false if `timeoutMs` passed first. */
async function until(check: () => Promise<boolean>, timeoutMs: number, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return check();
}

describe('orders across app instances (child processes, one Redis, one PostgreSQL)', () => {
  let db: TestDatabase;
  let pg: Client;
  let redis: Redis;
  let env: Record<string, string>;
  let prefix: string;
  let apps: ChildApp[] = [];
  /** Children a test starts for itself (stopped by the test, and here again if it failed). */
  const extra: ChildApp[] = [];
  let organizer: SignedIn;
  let customers: SignedIn[];

  beforeAll(async () => {
    db = await createPostgresDatabase();
    prefix = uniquePrefix('orders-cluster');
    env = {
      ...db.env,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: prefix,
      SESSION_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'info',
      // 500 requests on three processes sharing two cores lag their event loops; this suite is
      // about exactness and crash recovery, not timeouts, so Redis gets timeouts it cannot miss.
      REDIS_COMMAND_TIMEOUT_MS: '5000',
      CACHE_COMMAND_TIMEOUT_MS: '5000',
      THROTTLE_COMMAND_TIMEOUT_MS: '5000',
      IDEMPOTENCY_COMMAND_TIMEOUT_MS: '5000',
      LOCK_COMMAND_TIMEOUT_MS: '5000',
    };
    // The first instance runs the migrations; the others start once the schema is there.
    apps = [await startChildApp({ env })];
    apps.push(...(await Promise.all(Array.from({ length: INSTANCES - 1 }, () => startChildApp({ env })))));
    pg = new Client({ connectionString: db.env.DATABASE_URL });
    await pg.connect();
    redis = rawRedis();
    organizer = await signUp(apps[0]!.url, 'organizer');
    customers = await Promise.all(Array.from({ length: 4 }, () => signUp(apps[0]!.url, 'customer')));
  }, 120_000);

  afterAll(async () => {
    for (const app of extra) app.proc.kill('SIGCONT');
    await Promise.all([...apps, ...extra].map((app) => app.stop()));
    redis?.disconnect();
    await pg?.end();
    await db?.drop();
  });

  async function createEvent(capacity: number): Promise<string> {
    const res = await fetch(`${apps[0]!.url}/events`, {
      method: 'POST',
      headers: { ...json, ...organizer.auth },
      body: JSON.stringify(eventBody({ title: `Capacity ${capacity}`, capacity })),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  }

  async function reservedOrder(customer: SignedIn): Promise<string> {
    const eventId = await createEvent(10);
    const answer = await reserve(apps[0]!, customer, eventId, newKey('reserve'));
    expect(answer.status).toBe(201);
    expect(answer.body.status).toBe('held');
    return answer.body.id as string;
  }

  async function startExtra(overrides: Record<string, string>): Promise<ChildApp> {
    const app = await startChildApp({ env: { ...env, ...overrides } });
    extra.push(app);
    return app;
  }

  const holdKey = (orderId: string) => `${prefix}lock:{order:${orderId}}`;
  const fenceKey = (orderId: string) => `${holdKey(orderId)}:fence`;

  async function orderRow(orderId: string) {
    const { rows } = await pg.query<{ status: string; payment_id: string | null; fence_token: string }>(
      'SELECT status, payment_id, fence_token FROM orders WHERE id = $1',
      [orderId],
    );
    return rows[0];
  }

  async function charges(orderId: string) {
    const { rows } = await pg.query<{ id: string; refunded: boolean }>(
      'SELECT id, refunded FROM fake_provider_charges WHERE order_id = $1',
      [orderId],
    );
    return rows;
  }

  it('holds exactly 50 seats for 500 concurrent reservations of a 50-seat event spread over the 3 instances', async () => {
    const eventId = await createEvent(50);

    const answers = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        reserve(apps[i % INSTANCES]!, customers[i % customers.length]!, eventId, newKey(`r${i}`)),
      ),
    );

    const created = answers.filter((a) => a.status === 201);
    const refused = answers.filter((a) => a.status !== 201);
    expect(created).toHaveLength(50);
    expect(new Set(created.map((a) => a.body.id)).size).toBe(50);
    expect(refused).toHaveLength(450);
    expect(refused.map((a) => `${a.status} ${a.type}`).filter((s) => s !== `409 ${PROBLEM}sold-out`)).toEqual([]);

    const { rows: events } = await pg.query<{ seats_available: number }>(
      'SELECT seats_available FROM events WHERE id = $1',
      [eventId],
    );
    expect(events[0]!.seats_available).toBe(0);
    const { rows: held } = await pg.query<{ orders: number; seats: number }>(
      `SELECT count(*)::int AS orders, coalesce(sum(quantity), 0)::int AS seats
         FROM orders WHERE event_id = $1 AND status = 'held'`,
      [eventId],
    );
    expect(held[0]).toEqual({ orders: 50, seats: 50 });
  }, 120_000);

  it('lets a retry on another instance pay once the lease and lock of a SIGKILLed instance expire', async () => {
    const customer = customers[0]!;
    const orderId = await reservedOrder(customer);
    const a = await startExtra({
      PAYMENT_FAKE_LATENCY_MS: '3000',
      IDEMPOTENCY_LEASE_MS: '1500',
      LOCK_TTL_MS: '1500',
    });
    const b = apps[1]!;
    const key = newKey('pay');
    try {
      const onA = pay(a, customer, orderId, key).then(
        (answer) => ({ answer, error: undefined }),
        (error: Error) => ({ answer: undefined, error }),
      );
      // A has claimed the key and holds the lock (it takes the lock after the claim), and sleeps
      // in the provider for 3 s: kill it mid-handler.
      const start = Date.now();
      expect(await until(async () => (await redis.exists(holdKey(orderId))) === 1, 2500)).toBe(true);
      await sleep(Math.max(0, 500 - (Date.now() - start)));
      a.proc.kill('SIGKILL');
      await a.exit;
      const fromA = await onA;
      expect(fromA.answer).toBeUndefined(); // the connection died with the process
      expect(await charges(orderId)).toEqual([]); // killed before the provider charged

      const seen: Answer[] = [];
      const deadline = Date.now() + 15_000;
      let last: Answer | undefined;
      while (Date.now() < deadline) {
        last = await pay(b, customer, orderId, key);
        seen.push(last);
        if (last.status !== 409) break;
        await sleep(200);
      }
      const busy = seen.slice(0, -1);
      // While A's lease (and lock) lived, B refused the retry.
      expect(busy.length).toBeGreaterThan(0);
      expect(
        busy
          .map((x) => `${x.status} ${x.type} ${x.replayed}`)
          .filter(
            (s) => s !== `409 ${PROBLEM}idempotency-key-in-use null` && s !== `409 ${PROBLEM}resource-locked null`,
          ),
      ).toEqual([]);
      expect(last).toMatchObject({ status: 200, replayed: null, body: { id: orderId, status: 'paid' } });

      const ledger = await charges(orderId);
      expect(ledger).toEqual([{ id: last!.body.paymentId, refunded: false }]);
      expect(await orderRow(orderId)).toMatchObject({ status: 'paid', payment_id: last!.body.paymentId });

      const replay = await pay(b, customer, orderId, key);
      expect(replay).toMatchObject({ status: 200, replayed: 'true', body: last!.body });
      const replayOnOther = await pay(apps[2]!, customer, orderId, key);
      expect(replayOnOther).toMatchObject({ status: 200, replayed: 'true', body: last!.body });
      expect(await charges(orderId)).toHaveLength(1);
    } finally {
      await a.stop(); // harmless: it is dead already
    }
  }, 90_000);

  it('refuses the fenced write of a paused lock holder after a later holder paid (SIGSTOP/SIGCONT)', async () => {
    const customer = customers[1]!;
    const orderId = await reservedOrder(customer);
    const settings = { PAYMENT_FAKE_LATENCY_MS: '2000', LOCK_TTL_MS: '1000' };
    const [a, b] = await Promise.all([startExtra(settings), startExtra(settings)]);
    try {
      const onA = pay(a, customer, orderId, newKey('k1'));
      // A takes the lock and sleeps 2 s in the provider; paused, its watchdog cannot renew.
      const start = Date.now();
      expect(await until(async () => (await redis.exists(holdKey(orderId))) === 1, 2500)).toBe(true);
      await sleep(Math.max(0, 300 - (Date.now() - start)));
      a.proc.kill('SIGSTOP');
      const tokenA = await redis.get(fenceKey(orderId));
      expect(Number(tokenA)).toBeGreaterThan(0);

      // The hold lapses (1 s TTL, no renewal).
      await sleep(1500);
      expect(await until(async () => (await redis.exists(holdKey(orderId))) === 0, 5000)).toBe(true);

      const onB = await pay(b, customer, orderId, newKey('k2'));
      expect(onB).toMatchObject({ status: 200, body: { id: orderId, status: 'paid' } });
      const tokenB = await redis.get(fenceKey(orderId));
      expect(BigInt(tokenB!)).toBeGreaterThan(BigInt(tokenA!));
      expect(await charges(orderId)).toEqual([{ id: onB.body.paymentId, refunded: false }]);

      a.proc.kill('SIGCONT');
      const fromA = await onA;
      expect(fromA).toMatchObject({ status: 409, type: `${PROBLEM}stale-lock-holder` });

      const row = await orderRow(orderId);
      expect(row).toEqual({ status: 'paid', payment_id: onB.body.paymentId, fence_token: tokenB });
      expect(BigInt(row!.fence_token)).toBeGreaterThan(0n);
      expect(await charges(orderId)).toEqual([{ id: onB.body.paymentId, refunded: false }]);
    } finally {
      a.proc.kill('SIGCONT');
      await Promise.all([a.stop(), b.stop()]);
    }
  }, 90_000);
});
