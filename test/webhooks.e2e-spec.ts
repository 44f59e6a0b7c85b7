import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { getJobQueueToken, type JobQueue } from '../src/platform/queue';
import { startApp, type RunningApp } from './support/app';
import { signUp, type SignedIn } from './support/auth';
import { createPostgresDatabase, createTestDatabase, type TestDatabase } from './support/database';
import { eventually } from './support/eventually';
import { eventBody, PROBLEM_JSON } from './support/fixtures';
import { parse, send } from './support/http';
import { rawRedis, RedisProcess, TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { stopQuietly } from './support/redis-harness';

const problem = (type: string) => `urn:box-office:problem:${type}`;
const newKey = () => `key-${randomBytes(8).toString('hex')}`;

interface Delivery {
  id: string;
  endpointId: string;
  eventId: string;
  eventType: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  replays: number;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
  payload?: { id: string; type: string; createdAt: string; data: Record<string, unknown> };
}

interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

// ---- A receiver: one local HTTP server, one path per test, answering as the test says -------------

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

interface Hook {
  url: string;
  requests: Received[];
  /** The status for the n-th request (1-based). */
  answer: (n: number) => number;
}

async function startReceiver() {
  const hooks = new Map<string, Hook>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const hook = hooks.get(req.url ?? '');
      if (!hook) return void res.writeHead(404).end();
      hook.requests.push({ headers: req.headers, body });
      res.writeHead(hook.answer(hook.requests.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    hook(answer: (n: number) => number = () => 204): Hook {
      const path = `/hooks/${randomBytes(6).toString('hex')}`;
      const hook: Hook = { url: `http://127.0.0.1:${port}${path}`, requests: [], answer };
      hooks.set(path, hook);
      return hook;
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/**
 * A receiver's check, as the Standard Webhooks libraries do it: HMAC-SHA256 keyed with the
 * base64-decoded secret over "<id>.<timestamp>.<body>", compared in constant time, and a
 * timestamp within five minutes.
 */
function verifySignature(secret: string, { headers, body }: Received): boolean {
  const id = String(headers['webhook-id']);
  const timestamp = Number(headers['webhook-timestamp']);
  if (!Number.isInteger(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return String(headers['webhook-signature'] ?? '')
    .split(' ')
    .some((candidate) => {
      const [version, signature = ''] = candidate.split(',');
      const given = Buffer.from(signature, 'base64');
      return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
    });
}

describe('organizer webhooks on order.paid', () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(() => receiver?.close());

  /** An app of its own (own database, own key prefix) on the given Redis, with helpers. */
  async function setUp(env: Record<string, string | undefined>, sharedDb?: TestDatabase) {
    const db: TestDatabase = sharedDb ?? (await createTestDatabase());
    const prefix = env.REDIS_KEY_PREFIX ?? uniquePrefix('webhooks');
    let running: RunningApp;
    try {
      running = await startApp({
        ...db.env,
        REDIS_KEY_PREFIX: prefix,
        WEBHOOK_ALLOW_HTTP: 'true',
        WEBHOOK_ALLOWED_PRIVATE_ADDRESSES: '127.0.0.1',
        WEBHOOK_BACKOFF_MS: '50',
        WEBHOOK_TIMEOUT_MS: '2000',
        // Frequent sweeps run alongside every case: they must never cause a second send.
        WEBHOOK_SWEEP_INTERVAL_MS: '100',
        ...env,
      });
    } catch (error) {
      if (!sharedDb) await db.drop();
      throw error;
    }
    const url = running.url;
    const dataSource = running.app.get(DataSource);
    const customer = await signUp(url);

    const register = (who: SignedIn, body: Record<string, unknown>) =>
      send('POST', `${url}/webhooks/endpoints`, body, who.auth);
    const registerOk = async (who: SignedIn, hookUrl: string) => {
      const answer = await register(who, { url: hookUrl, description: 'test receiver' });
      expect(answer.status).toBe(201);
      return parse<{ id: string; url: string; secret: string; createdAt: string; description: string }>(answer);
    };
    /** An event of the organizer's, and a customer's paid order for it. */
    const paidOrder = async (organizer: SignedIn, quantity = 2) => {
      const created = await send(
        'POST',
        `${url}/events`,
        eventBody({ capacity: 10, priceCents: 1500 }),
        organizer.auth,
      );
      expect(created.status).toBe(201);
      const event = parse<{ id: string }>(created);
      const order = await reserve(event.id, quantity);
      const paid = await pay(order.id);
      expect(paid.status).toBe(200);
      return { event, order: parse<{ id: string; paidAt: string; amountCents: number; currency: string }>(paid) };
    };
    const reserve = async (eventId: string, quantity: number) => {
      const held = await send(
        'POST',
        `${url}/events/${eventId}/reservations`,
        { quantity },
        { ...customer.auth, 'idempotency-key': newKey() },
      );
      expect(held.status).toBe(201);
      return parse<{ id: string }>(held);
    };
    const pay = (orderId: string, key = newKey()) =>
      send('POST', `${url}/orders/${orderId}/payment`, {}, { ...customer.auth, 'idempotency-key': key });
    const deliveries = async (who: SignedIn, query = '') => {
      const answer = await send('GET', `${url}/webhooks/deliveries${query}`, undefined, who.auth);
      expect(answer.status).toBe(200);
      return parse<Page<Delivery>>(answer);
    };
    /** Waits until the organizer's only delivery has the status. */
    const settled = async (who: SignedIn, status: Delivery['status'], timeoutMs = 15_000) => {
      const page = await eventually(
        () => deliveries(who),
        (p) => p.items.length === 1 && p.items[0]!.status === status,
        timeoutMs,
        25,
      );
      expect(page.items.map((d) => d.status)).toEqual([status]);
      return page.items[0]!;
    };

    return {
      running,
      url,
      dataSource,
      customer,
      register,
      registerOk,
      paidOrder,
      reserve,
      pay,
      deliveries,
      settled,
      queue: () => running.app.get<string, JobQueue>(getJobQueueToken('webhooks'), { strict: false }),
      close: async () => {
        await running.close();
        if (!sharedDb) await db.drop();
        if (env.REDIS_URL === TEST_REDIS_URL) {
          const shared = rawRedis();
          const keys = await shared.keys(`${prefix}*`);
          if (keys.length) await shared.del(...keys);
          await shared.quit();
        }
      },
    };
  }

  type Ctx = Awaited<ReturnType<typeof setUp>>;

  async function withApp(env: Record<string, string | undefined>, fn: (ctx: Ctx) => Promise<void>): Promise<void> {
    const ctx = await setUp(env);
    try {
      await fn(ctx);
    } finally {
      await ctx.close();
    }
  }

  describe.each([
    ['the shared Redis (BullMQ)', TEST_REDIS_URL],
    ['Redis not configured (in-process queue)', undefined],
  ])('on %s', (_label, redisUrl) => {
    let ctx: Ctx;

    beforeAll(async () => {
      ctx = await setUp({ REDIS_URL: redisUrl });
    });
    afterAll(() => ctx?.close());

    it('registers an endpoint: 201 with the signing secret once; the list never shows it; delete stops deliveries', async () => {
      const organizer = await signUp(ctx.url, 'organizer');
      const hook = receiver.hook();
      const created = await ctx.registerOk(organizer, hook.url);
      expect(created).toMatchObject({ url: hook.url, description: 'test receiver' });
      expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(Number.isNaN(Date.parse(created.createdAt))).toBe(false);

      const listed = await send('GET', `${ctx.url}/webhooks/endpoints`, undefined, organizer.auth);
      expect(listed.status).toBe(200);
      const page = parse<Page<Record<string, unknown>>>(listed);
      expect(page).toMatchObject({ total: 1, limit: 20, offset: 0 });
      expect(page.items).toEqual([
        { id: created.id, url: hook.url, description: 'test receiver', createdAt: created.createdAt },
      ]);
      expect(listed.body).not.toContain(created.secret);

      const removed = await send('DELETE', `${ctx.url}/webhooks/endpoints/${created.id}`, undefined, organizer.auth);
      expect(removed.status).toBe(204);
      expect(
        parse<Page<unknown>>(await send('GET', `${ctx.url}/webhooks/endpoints`, undefined, organizer.auth)).total,
      ).toBe(0);
      const again = await send('DELETE', `${ctx.url}/webhooks/endpoints/${created.id}`, undefined, organizer.auth);
      expect(again.status).toBe(404);

      await ctx.paidOrder(organizer);
      // The outbox row is recorded and published (to no endpoint), and nothing is sent.
      const [outbox] = await eventually(
        () =>
          ctx.dataSource.query(
            `SELECT count(*)::int AS recorded, count(published_at)::int AS published FROM order_events
              WHERE organizer_id = $1 AND type = 'order.paid'`,
            [organizer.userId],
          ) as Promise<{ recorded: number; published: number }[]>,
        ([row]) => row!.published === 1,
      );
      expect(outbox).toEqual({ recorded: 1, published: 1 });
      expect((await ctx.deliveries(organizer)).total).toBe(0);
      expect(hook.requests).toHaveLength(0);

      const doc = await (await fetch(`${ctx.url}/docs/openapi.json`)).json();
      expect(Object.keys(doc.paths)).toEqual(
        expect.arrayContaining([
          '/webhooks/endpoints',
          '/webhooks/endpoints/{id}',
          '/webhooks/deliveries',
          '/webhooks/deliveries/{id}',
          '/webhooks/deliveries/{id}/replay',
        ]),
      );
      expect(doc.components.schemas.CreatedWebhookEndpointDto.required).toEqual(expect.arrayContaining(['secret']));
    });

    it('validates registrations: problem+json 400 for a bad URL, credentials or unknown fields; 403 for a customer', async () => {
      const organizer = await signUp(ctx.url, 'organizer');
      for (const body of [
        { url: 'not a url' },
        { url: 'ftp://127.0.0.1/hook' },
        { url: 'http://user:secret@127.0.0.1/hook' },
        { url: 'http://127.0.0.1/hook#fragment' },
        { url: `http://127.0.0.1/${'a'.repeat(2100)}` },
        { url: 'http://127.0.0.1/hook', secret: 'mine' },
        { url: 'http://127.0.0.1/hook', description: '' },
        {},
      ]) {
        const answer = await ctx.register(organizer, body);
        expect([answer.status, body]).toEqual([400, body]);
        expect(answer.headers.get('content-type')).toBe(PROBLEM_JSON);
        expect(parse<{ type: string }>(answer).type).toBe(problem('validation-error'));
      }
      const credentials = parse<{ errors: { field: string; messages: string[] }[] }>(
        await ctx.register(organizer, { url: 'https://user:pw@hooks.example.com/' }),
      );
      expect(credentials.errors).toEqual([{ field: 'url', messages: [expect.stringContaining('credentials')] }]);

      const asCustomer = await ctx.register(ctx.customer, { url: receiver.hook().url });
      expect(asCustomer.status).toBe(403);
    });

    it('retries a failing receiver with backoff: three 500s, then 200 → delivered once after exactly 4 attempts, signed', async () => {
      const organizer = await signUp(ctx.url, 'organizer');
      const hook = receiver.hook((n) => (n <= 3 ? 500 : 200));
      const endpoint = await ctx.registerOk(organizer, hook.url);
      const { event, order } = await ctx.paidOrder(organizer, 2);

      const delivery = await ctx.settled(organizer, 'delivered');
      expect(delivery).toMatchObject({
        endpointId: endpoint.id,
        eventType: 'order.paid',
        attempts: 4,
        replays: 0,
        lastStatus: 200,
        lastError: null,
      });
      expect(hook.requests).toHaveLength(4);

      const [first] = hook.requests as [Received];
      const body = JSON.parse(first.body) as { id: string; type: string; createdAt: string; data: unknown };
      expect(body).toEqual({
        id: delivery.eventId,
        type: 'order.paid',
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        data: {
          orderId: order.id,
          eventId: event.id,
          quantity: 2,
          amountCents: 3000,
          currency: 'EUR',
          paidAt: new Date(order.paidAt).toISOString(),
        },
      });
      for (const request of hook.requests) {
        expect(request.headers['content-type']).toBe('application/json');
        expect(request.headers['user-agent']).toBe('BoxOffice-Webhooks/1');
        expect(request.headers['webhook-id']).toBe(delivery.eventId);
        expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
        expect(request.body).toBe(first.body);
        expect(verifySignature(endpoint.secret, request)).toBe(true);
      }
      expect(verifySignature(`whsec_${randomBytes(32).toString('base64')}`, first)).toBe(false);
      expect(
        verifySignature(endpoint.secret, { ...first, body: first.body.replace('"quantity":2', '"quantity":9') }),
      ).toBe(false);

      const detail = await send('GET', `${ctx.url}/webhooks/deliveries/${delivery.id}`, undefined, organizer.auth);
      expect(detail.status).toBe(200);
      expect(parse<Delivery>(detail).payload).toEqual(body);

      // Paying again is refused (409) and makes no second event; a stray duplicate job sends nothing.
      expect((await ctx.pay(order.id)).status).toBe(409);
      const duplicate = await ctx.queue().add('deliver', { deliveryId: delivery.id }, { jobId: `dup-${delivery.id}` });
      await eventually(
        () => ctx.queue().get(duplicate.id),
        (job) => job?.state === 'completed',
      );
      expect(hook.requests).toHaveLength(4);
      expect((await ctx.deliveries(organizer)).total).toBe(1);
      expect(
        parse<{ type: string }>(
          await send('POST', `${ctx.url}/webhooks/deliveries/${delivery.id}/replay`, undefined, organizer.auth),
        ),
      ).toMatchObject({ type: problem('webhook-delivery-not-dead'), status: 409, deliveryStatus: 'delivered' });
    });

    it('dead-letters a receiver that always fails (WEBHOOK_ATTEMPTS=3); replay delivers the same Webhook-Id once it recovers', async () => {
      await withApp({ REDIS_URL: redisUrl, WEBHOOK_ATTEMPTS: '3' }, async (app) => {
        const organizer = await signUp(app.url, 'organizer');
        let failing = true;
        const hook = receiver.hook(() => (failing ? 503 : 200));
        const endpoint = await app.registerOk(organizer, hook.url);
        await app.paidOrder(organizer);

        const dead = await app.settled(organizer, 'dead');
        expect(dead).toMatchObject({ attempts: 3, lastStatus: 503, lastError: 'HTTP 503', deliveredAt: null });
        expect(hook.requests).toHaveLength(3);
        const letters = await app.deliveries(organizer, '?status=dead');
        expect(letters).toMatchObject({ total: 1, limit: 20, offset: 0 });
        expect(letters.items.map((d) => d.id)).toEqual([dead.id]);
        expect((await app.deliveries(organizer, '?status=delivered')).total).toBe(0);

        failing = false;
        const replay = await send(
          'POST',
          `${app.url}/webhooks/deliveries/${dead.id}/replay`,
          undefined,
          organizer.auth,
        );
        expect(replay.status).toBe(202);
        expect(parse<Delivery>(replay)).toMatchObject({ id: dead.id, status: 'pending', attempts: 0, replays: 1 });

        const delivered = await app.settled(organizer, 'delivered');
        expect(delivered).toMatchObject({ id: dead.id, attempts: 1, replays: 1, lastStatus: 200 });
        expect(hook.requests).toHaveLength(4);
        const [first, , , last] = hook.requests as [Received, Received, Received, Received];
        expect(last.headers['webhook-id']).toBe(first.headers['webhook-id']);
        expect(last.headers['webhook-id']).toBe(dead.eventId);
        expect(last.body).toBe(first.body);
        expect(verifySignature(endpoint.secret, last)).toBe(true);
        expect((await app.deliveries(organizer, '?status=dead')).total).toBe(0);
      });
    });

    it("keeps organizers apart: another organizer neither sees nor replays nor deletes someone's webhooks (404)", async () => {
      const [owner, other] = await Promise.all([signUp(ctx.url, 'organizer'), signUp(ctx.url, 'organizer')]);
      const hook = receiver.hook(() => 200);
      const endpoint = await ctx.registerOk(owner, hook.url);
      await ctx.paidOrder(owner);
      const delivery = await ctx.settled(owner, 'delivered');

      expect((await ctx.deliveries(other)).total).toBe(0);
      expect(
        parse<Page<unknown>>(await send('GET', `${ctx.url}/webhooks/endpoints`, undefined, other.auth)).total,
      ).toBe(0);
      for (const [method, path, type] of [
        ['GET', `/webhooks/deliveries/${delivery.id}`, 'webhook-delivery-not-found'],
        ['POST', `/webhooks/deliveries/${delivery.id}/replay`, 'webhook-delivery-not-found'],
        ['DELETE', `/webhooks/endpoints/${endpoint.id}`, 'webhook-endpoint-not-found'],
        ['GET', '/webhooks/deliveries/not-a-uuid', 'webhook-delivery-not-found'],
      ] as const) {
        const answer = await send(method, `${ctx.url}${path}`, undefined, other.auth);
        expect([method, path, answer.status, parse<{ type: string }>(answer).type]).toEqual([
          method,
          path,
          404,
          problem(type),
        ]);
      }
      // Still the owner's, untouched.
      expect((await send('GET', `${ctx.url}/webhooks/deliveries/${delivery.id}`, undefined, owner.auth)).status).toBe(
        200,
      );
      expect(hook.requests).toHaveLength(1);
    });

    it('checks the destination again at delivery time: an address that became forbidden is never connected to', async () => {
      await withApp({ REDIS_URL: redisUrl, WEBHOOK_ATTEMPTS: '2' }, async (app) => {
        const organizer = await signUp(app.url, 'organizer');
        const hook = receiver.hook(() => 200);
        const endpoint = await app.registerOk(organizer, hook.url);
        // What a DNS change does between registration and delivery: the destination is now 127.0.0.2.
        await app.dataSource.query('UPDATE webhook_endpoints SET url = $2 WHERE id = $1', [
          endpoint.id,
          hook.url.replace('127.0.0.1', '127.0.0.2'),
        ]);
        await app.paidOrder(organizer);
        const dead = await app.settled(organizer, 'dead');
        expect(dead).toMatchObject({ attempts: 2, lastStatus: null });
        expect(dead.lastError).toMatch(/resolves to 127\.0\.0\.2 \(loopback\)/);
        expect(hook.requests).toHaveLength(0);
      });
    });
  });

  it('refuses destinations that resolve to non-public addresses (422), and plain http unless allowed (400)', async () => {
    await withApp({ WEBHOOK_ALLOW_HTTP: 'false', WEBHOOK_ALLOWED_PRIVATE_ADDRESSES: undefined }, async (app) => {
      const organizer = await signUp(app.url, 'organizer');
      for (const url of [
        `https://127.0.0.1:${receiver.port}/hook`,
        `https://localhost:${receiver.port}/hook`,
        'https://10.0.0.1/hook',
        'https://172.20.1.1/hook',
        'https://192.168.0.10/hook',
        'https://100.64.0.1/hook',
        'https://169.254.169.254/latest/meta-data/',
        'https://0.0.0.0/hook',
        'https://2130706433/hook', // 127.0.0.1 in decimal
        'https://[::1]/hook',
        'https://[::ffff:127.0.0.1]/hook',
        'https://[::ffff:10.0.0.1]/hook',
        'https://[fd00::1]/hook',
        'https://[fe80::1]/hook',
        'https://224.0.0.1/hook',
      ]) {
        const answer = await app.register(organizer, { url });
        expect([url, answer.status, parse<{ type: string }>(answer).type]).toEqual([
          url,
          422,
          problem('webhook-destination-forbidden'),
        ]);
        expect(answer.headers.get('content-type')).toBe(PROBLEM_JSON);
      }
      const unresolvable = await app.register(organizer, { url: 'https://hooks.invalid/box-office' });
      expect(unresolvable.status).toBe(422);
      expect(parse<{ type: string }>(unresolvable).type).toBe(problem('webhook-destination-unresolvable'));

      const plain = await app.register(organizer, { url: 'http://93.184.215.14/hook' });
      expect(plain.status).toBe(400);
      expect(parse<{ type: string; errors: unknown }>(plain)).toMatchObject({
        type: problem('validation-error'),
        errors: [{ field: 'url', messages: ['url must use https'] }],
      });
      expect(
        parse<Page<unknown>>(await send('GET', `${app.url}/webhooks/endpoints`, undefined, organizer.auth)).total,
      ).toBe(0);
    });
  });

  it('two instances on one PostgreSQL and one Redis, sweeping at once: every payment is received exactly once', async () => {
    const db = await createPostgresDatabase();
    const env = {
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('webhooks-pair'),
      SESSION_SECRET: randomBytes(32).toString('base64url'),
      WEBHOOK_SWEEP_INTERVAL_MS: '10',
    };
    const apps: Ctx[] = [];
    try {
      apps.push(await setUp(env, db));
      apps.push(await setUp(env, db));
      const [a, b] = apps as [Ctx, Ctx];
      const organizer = await signUp(a.url, 'organizer');
      const hook = receiver.hook(() => 200);
      await a.registerOk(organizer, hook.url);
      const created = await send('POST', `${a.url}/events`, eventBody({ capacity: 50 }), organizer.auth);
      const eventId = parse<{ id: string }>(created).id;
      const orders: string[] = [];
      for (let i = 0; i < 12; i++) {
        // Half the payments on each instance: each nudges its own dispatcher, both keep sweeping.
        const order = await a.reserve(eventId, 1);
        const paid = await send(
          'POST',
          `${(i % 2 ? b : a).url}/orders/${order.id}/payment`,
          {},
          {
            ...a.customer.auth,
            'idempotency-key': newKey(),
          },
        );
        expect(paid.status).toBe(200);
        orders.push(order.id);
      }
      const page = await eventually(
        () => a.deliveries(organizer, '?status=delivered&limit=100'),
        (p) => p.total === orders.length,
        20_000,
        50,
      );
      expect(page.total).toBe(orders.length);
      expect(hook.requests).toHaveLength(orders.length);
      const received = hook.requests.map((r) => (JSON.parse(r.body) as { data: { orderId: string } }).data.orderId);
      expect(received.sort()).toEqual([...orders].sort());
      expect(new Set(hook.requests.map((r) => r.headers['webhook-id'])).size).toBe(orders.length);
      expect(page.items.every((d) => d.attempts === 1)).toBe(true);
    } finally {
      for (const app of apps) await app.close();
      await db.drop();
    }
  });

  it('Redis down at payment time: the payment succeeds, and the delivery goes out once Redis is back (sweep)', async () => {
    const redis = await RedisProcess.start();
    const probe = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    probe.on('error', () => undefined);
    let app: Ctx | undefined;
    try {
      app = await setUp({ REDIS_URL: redis.url, PAYMENT_FAKE_LATENCY_MS: '1500', WEBHOOK_SWEEP_INTERVAL_MS: '200' });
      const ctx = app;
      const organizer = await signUp(ctx.url, 'organizer');
      const hook = receiver.hook(() => 200);
      const endpoint = await ctx.registerOk(organizer, hook.url);
      const created = await send('POST', `${ctx.url}/events`, eventBody({ capacity: 5 }), organizer.auth);
      const order = await ctx.reserve(parse<{ id: string }>(created).id, 1);

      // Redis dies while the payment runs: after the idempotency key and the lock were taken,
      // before the order is marked paid and the webhook enqueued.
      const paying = ctx.pay(order.id);
      await eventually(
        () => probe.keys('*lock:{order:*'),
        (keys) => keys.length > 0,
      );
      probe.disconnect();
      await redis.kill();

      const paid = await paying;
      expect(paid.status).toBe(200);
      expect(parse<{ status: string }>(paid).status).toBe('paid');

      const deliveryRows = () =>
        ctx.dataSource.query('SELECT id, status, enqueued_at FROM webhook_deliveries WHERE endpoint_id = $1', [
          endpoint.id,
        ]) as Promise<{ id: string; status: string; enqueued_at: Date | null }[]>;
      // The outbox row was published into a delivery, but no job could be stored.
      const [pending] = await eventually(deliveryRows, (rows) => rows.length === 1);
      expect(pending).toMatchObject({ status: 'pending', enqueued_at: null });
      expect(hook.requests).toHaveLength(0);

      await redis.start();
      await eventually(deliveryRows, (rows) => rows[0]?.status === 'delivered', 30_000, 50);
      expect(hook.requests).toHaveLength(1);
      expect(verifySignature(endpoint.secret, hook.requests[0]!)).toBe(true);
      expect(JSON.parse(hook.requests[0]!.body)).toMatchObject({ type: 'order.paid', data: { orderId: order.id } });
    } finally {
      probe.disconnect();
      await app?.close();
      await stopQuietly(redis);
    }
  });
});
