import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { startApp } from './support/app';
import { signUp, type SignedIn } from './support/auth';
import { createTestDatabase, type TestDatabase } from './support/database';
import { eventBody, PROBLEM_JSON } from './support/fixtures';
import { parse, problemType, send, type Answer } from './support/http';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { eventually } from './support/eventually';

const newKey = () => `key-${randomBytes(8).toString('hex')}`;
const problem = (type: string) => `urn:box-office:problem:${type}`;

interface Order {
  id: string;
  eventId: string;
  quantity: number;
  amountCents: number;
  currency: string;
  status: 'held' | 'paid' | 'expired';
  holdExpiresAt: string;
  paymentId: string | null;
  paidAt: string | null;
  createdAt: string;
}

interface EventView {
  id: string;
  capacity: number;
  seatsAvailable: number;
  priceCents: number;
}

describe('orders: reservations and payments', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  /** An app on the given Redis (or none) with a fresh prefix, an organizer and helpers. */
  async function setUp(env: Record<string, string | undefined>) {
    const running = await startApp({
      ...db.env,
      REDIS_KEY_PREFIX: uniquePrefix('orders'),
      IDEMPOTENCY_COMMAND_TIMEOUT_MS: '2000',
      // The session store's connection: one 250 ms timeout under a loaded CI machine opens its
      // breaker (503s); these tests are about orders, not about a slow Redis.
      REDIS_COMMAND_TIMEOUT_MS: '2000',
      CACHE_COMMAND_TIMEOUT_MS: '1000',
      LOCK_COMMAND_TIMEOUT_MS: '1000',
      ...env,
    });
    const url = running.url;
    const dataSource = running.app.get(DataSource);
    const organizer = await signUp(url, 'organizer');

    const createEvent = async (overrides: Record<string, unknown> = {}) => {
      const created = await send('POST', `${url}/events`, eventBody(overrides), organizer.auth);
      expect(created.status).toBe(201);
      return parse<EventView>(created);
    };
    const getEvent = async (id: string) => {
      const answer = await send('GET', `${url}/events/${id}`);
      expect(answer.status).toBe(200);
      return parse<EventView>(answer);
    };
    const reserve = (eventId: string, quantity: number, who: SignedIn, key = newKey()) =>
      send('POST', `${url}/events/${eventId}/reservations`, { quantity }, { ...who.auth, 'idempotency-key': key });
    const reserveOk = async (eventId: string, quantity: number, who: SignedIn) => {
      const answer = await reserve(eventId, quantity, who);
      expect(answer.status).toBe(201);
      return parse<Order>(answer);
    };
    const pay = (orderId: string, who: SignedIn, key = newKey()) =>
      send('POST', `${url}/orders/${orderId}/payment`, {}, { ...who.auth, 'idempotency-key': key });
    const getOrder = (orderId: string, who: SignedIn) => send('GET', `${url}/orders/${orderId}`, undefined, who.auth);
    const ledgerRows = async (orderId: string) =>
      (
        (await dataSource.query('SELECT count(*)::int AS n FROM fake_provider_charges WHERE order_id = $1', [
          orderId,
        ])) as { n: number }[]
      )[0]!.n;

    return {
      running,
      url,
      dataSource,
      organizer,
      createEvent,
      getEvent,
      reserve,
      reserveOk,
      pay,
      getOrder,
      ledgerRows,
    };
  }

  type Ctx = Awaited<ReturnType<typeof setUp>>;

  /** Runs `fn` on an app of its own (special settings), closing it afterwards. */
  async function withApp(env: Record<string, string | undefined>, fn: (ctx: Ctx) => Promise<void>): Promise<void> {
    const ctx = await setUp(env);
    try {
      await fn(ctx);
    } finally {
      await ctx.running.close();
    }
  }

  describe.each([
    ['the shared Redis', TEST_REDIS_URL],
    ['Redis not configured (in-process stores)', undefined],
  ])('on %s', (_label, redisUrl) => {
    let ctx: Ctx;
    let customer: SignedIn;

    beforeAll(async () => {
      ctx = await setUp({ REDIS_URL: redisUrl });
      customer = await signUp(ctx.url);
    });
    afterAll(() => ctx?.running.close());

    it('reserves: 201 with a held order and its Location, and the event shows fewer seats at once', async () => {
      const event = await ctx.createEvent({ capacity: 10, priceCents: 1250 });
      // Warm the event's cache entry: the reservation has to invalidate it.
      expect((await ctx.getEvent(event.id)).seatsAvailable).toBe(10);
      expect((await send('GET', `${ctx.url}/events/${event.id}`)).headers.get('x-cache')).toBe('HIT');

      const before = Date.now();
      const answer = await ctx.reserve(event.id, 3, customer);
      expect(answer.status).toBe(201);
      const order = parse<Order>(answer);
      expect(order).toMatchObject({
        eventId: event.id,
        quantity: 3,
        amountCents: 3750,
        currency: 'EUR',
        status: 'held',
        paymentId: null,
        paidAt: null,
      });
      expect(order.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(new Date(order.holdExpiresAt).getTime()).toBeGreaterThan(before);
      expect(answer.headers.get('location')).toBe(`/orders/${order.id}`);

      expect((await ctx.getEvent(event.id)).seatsAvailable).toBe(7);
    });

    it('refuses what cannot be held: sold out (409 with seatsAvailable), a draft (409), an unknown event (404)', async () => {
      const event = await ctx.createEvent({ capacity: 3 });
      await ctx.reserveOk(event.id, 2, customer);
      const soldOut = await ctx.reserve(event.id, 2, customer);
      expect(soldOut.status).toBe(409);
      expect(soldOut.headers.get('content-type')).toBe(PROBLEM_JSON);
      expect(parse(soldOut)).toMatchObject({ type: problem('sold-out'), status: 409, seatsAvailable: 1 });
      expect((await ctx.getEvent(event.id)).seatsAvailable).toBe(1);

      const draft = await ctx.createEvent({ capacity: 5, status: 'draft' });
      const notOnSale = await ctx.reserve(draft.id, 1, customer);
      expect(notOnSale.status).toBe(409);
      expect(problemType(notOnSale)).toBe(problem('event-not-on-sale'));

      for (const id of [randomUUID(), 'not-a-uuid']) {
        const unknown = await ctx.reserve(id, 1, customer);
        expect(unknown.status).toBe(404);
        expect(problemType(unknown)).toBe(problem('event-not-found'));
      }
    });

    it("shows an order to its owner only (another customer gets 404) and lists the caller's orders, newest first", async () => {
      const [alice, bob] = await Promise.all([signUp(ctx.url), signUp(ctx.url)]);
      const event = await ctx.createEvent({ capacity: 20 });
      const mine: Order[] = [];
      for (const quantity of [1, 2, 3]) mine.push(await ctx.reserveOk(event.id, quantity, alice));
      const theirs = await ctx.reserveOk(event.id, 1, bob);

      const own = await ctx.getOrder(mine[0]!.id, alice);
      expect(own.status).toBe(200);
      expect(parse(own)).toEqual(mine[0]);
      const foreign = await ctx.getOrder(mine[0]!.id, bob);
      expect(foreign.status).toBe(404);
      expect(problemType(foreign)).toBe(problem('order-not-found'));
      expect((await ctx.getOrder(randomUUID(), alice)).status).toBe(404);

      const list = await send('GET', `${ctx.url}/orders`, undefined, alice.auth);
      expect(list.status).toBe(200);
      const page = parse<{ items: Order[]; total: number; limit: number; offset: number }>(list);
      expect(page).toMatchObject({ total: 3, limit: 20, offset: 0 });
      expect(page.items.map((o) => o.id)).toEqual(mine.map((o) => o.id).reverse());
      expect(page.items.map((o) => o.id)).not.toContain(theirs.id);

      const window = parse<{ items: Order[]; total: number }>(
        await send('GET', `${ctx.url}/orders?limit=1&offset=1`, undefined, alice.auth),
      );
      expect(window.total).toBe(3);
      expect(window.items.map((o) => o.id)).toEqual([mine[1]!.id]);

      const bobs = parse<{ items: Order[]; total: number }>(
        await send('GET', `${ctx.url}/orders`, undefined, bob.auth),
      );
      expect(bobs.total).toBe(1);
      expect(bobs.items.map((o) => o.id)).toEqual([theirs.id]);
    });

    it('pays once: 200 paid, the same key replays, a new key is 409 order-already-paid, one ledger row', async () => {
      const event = await ctx.createEvent({ capacity: 10 });
      const order = await ctx.reserveOk(event.id, 2, customer);
      const key = newKey();
      const paid = await ctx.pay(order.id, customer, key);
      expect(paid.status).toBe(200);
      expect(paid.headers.get('idempotent-replayed')).toBeNull();
      const body = parse<Order>(paid);
      expect(body).toMatchObject({ id: order.id, status: 'paid', amountCents: order.amountCents });
      expect(body.paymentId).toMatch(/^ch_/);
      expect(body.paidAt).not.toBeNull();

      const replay = await ctx.pay(order.id, customer, key);
      expect(replay.status).toBe(200);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.body).toBe(paid.body);

      const again = await ctx.pay(order.id, customer, newKey());
      expect(again.status).toBe(409);
      expect(problemType(again)).toBe(problem('order-already-paid'));

      expect(await ctx.ledgerRows(order.id)).toBe(1);
      expect(parse<Order>(await ctx.getOrder(order.id, customer))).toMatchObject({
        status: 'paid',
        paymentId: body.paymentId,
      });
    });

    it('never oversells: 200 concurrent reservations of 1 seat on 20 seats give exactly 20 holds', async () => {
      const event = await ctx.createEvent({ capacity: 20 });
      const customers = await Promise.all(Array.from({ length: 5 }, () => signUp(ctx.url)));
      const answers = await Promise.all(
        Array.from({ length: 200 }, (_, i) => ctx.reserve(event.id, 1, customers[i % customers.length]!)),
      );
      const created = answers.filter((a) => a.status === 201);
      const refused = answers.filter((a) => a.status !== 201);
      expect(created).toHaveLength(20);
      expect(refused).toHaveLength(180);
      for (const answer of refused) {
        expect(answer.status).toBe(409);
        expect(problemType(answer)).toBe(problem('sold-out'));
      }
      expect(new Set(created.map((a) => parse<Order>(a).id)).size).toBe(20);

      const [row] = (await ctx.dataSource.query('SELECT seats_available FROM events WHERE id = $1', [event.id])) as {
        seats_available: number;
      }[];
      expect(row!.seats_available).toBe(0);
      const [held] = (await ctx.dataSource.query(
        `SELECT coalesce(sum(quantity), 0)::int AS seats, count(*)::int AS n FROM orders WHERE event_id = $1 AND status = 'held'`,
        [event.id],
      )) as { seats: number; n: number }[];
      expect(held).toEqual({ seats: 20, n: 20 });
      expect((await ctx.getEvent(event.id)).seatsAvailable).toBe(0);
    });

    it('lets one of 10 concurrent payments of an order through: one 200, the others 409, one ledger row', async () => {
      await withApp({ REDIS_URL: redisUrl, PAYMENT_FAKE_LATENCY_MS: '200' }, async (slow) => {
        const buyer = await signUp(slow.url);
        const event = await slow.createEvent({ capacity: 5 });
        const order = await slow.reserveOk(event.id, 1, buyer);
        const answers = await Promise.all(Array.from({ length: 10 }, () => slow.pay(order.id, buyer)));
        const ok = answers.filter((a) => a.status === 200);
        expect(ok).toHaveLength(1);
        expect(parse<Order>(ok[0]!).status).toBe('paid');
        for (const answer of answers.filter((a) => a.status !== 200)) {
          expect(answer.status).toBe(409);
          expect([problem('resource-locked'), problem('order-already-paid')]).toContain(problemType(answer));
        }
        expect(await slow.ledgerRows(order.id)).toBe(1);
        expect(parse<Order>(await slow.getOrder(order.id, buyer))).toMatchObject({
          status: 'paid',
          paymentId: parse<Order>(ok[0]!).paymentId,
        });
      });
    });

    it('expires holds lazily: the seats come back to the next reservation, and the expired order cannot be paid', async () => {
      await withApp({ REDIS_URL: redisUrl, ORDER_HOLD_MS: '1000', ORDER_SWEEP_INTERVAL_MS: '0' }, async (app) => {
        const buyer = await signUp(app.url);
        const event = await app.createEvent({ capacity: 2 });
        const first = await app.reserveOk(event.id, 2, buyer);
        expect((await app.reserve(event.id, 1, buyer)).status).toBe(409);
        await sleep(1300);

        const second = await app.reserveOk(event.id, 2, buyer);
        expect(second.status).toBe('held');
        expect(parse<Order>(await app.getOrder(first.id, buyer)).status).toBe('expired');
        const late = await app.pay(first.id, buyer);
        expect(late.status).toBe(409);
        expect(problemType(late)).toBe(problem('hold-expired'));
        expect(await app.ledgerRows(first.id)).toBe(0);
        expect((await app.getEvent(event.id)).seatsAvailable).toBe(0);
      });
    });

    it('expires holds in the background with ORDER_SWEEP_INTERVAL_MS: the event shows the seats back', async () => {
      await withApp({ REDIS_URL: redisUrl, ORDER_HOLD_MS: '1000', ORDER_SWEEP_INTERVAL_MS: '300' }, async (app) => {
        const buyer = await signUp(app.url);
        const event = await app.createEvent({ capacity: 2 });
        const order = await app.reserveOk(event.id, 2, buyer);
        expect((await app.getEvent(event.id)).seatsAvailable).toBe(0);
        const after = await eventually(
          () => app.getEvent(event.id),
          (e) => e.seatsAvailable === 2,
        );
        expect(after.seatsAvailable).toBe(2);
        expect(parse<Order>(await app.getOrder(order.id, buyer)).status).toBe('expired');
        const late = await app.pay(order.id, buyer);
        expect(late.status).toBe(409);
        expect(problemType(late)).toBe(problem('hold-expired'));
        expect(await app.ledgerRows(order.id)).toBe(0);
      });
    });

    it('keeps the order held when the payment fails; a 502 frees the key, a 402 is replayed', async () => {
      await withApp({ REDIS_URL: redisUrl, PAYMENT_FAKE_FAILURE_PERCENT: '100' }, async (app) => {
        const buyer = await signUp(app.url);
        const event = await app.createEvent({ capacity: 5 });
        const order = await app.reserveOk(event.id, 1, buyer);

        // Half the failures are declines, half provider errors: try fresh keys until both were seen.
        const seen = new Map<number, { key: string; answer: Answer }>();
        for (let i = 0; i < 40 && seen.size < 2; i++) {
          const key = newKey();
          const answer = await app.pay(order.id, buyer, key);
          expect([402, 502]).toContain(answer.status);
          expect(answer.headers.get('idempotent-replayed')).toBeNull();
          expect(problemType(answer)).toBe(
            problem(answer.status === 402 ? 'payment-declined' : 'payment-provider-error'),
          );
          if (!seen.has(answer.status)) seen.set(answer.status, { key, answer });
        }
        expect([...seen.keys()].sort()).toEqual([402, 502]);

        const declined = seen.get(402)!;
        const replay = await app.pay(order.id, buyer, declined.key);
        expect(replay.status).toBe(402);
        expect(replay.headers.get('idempotent-replayed')).toBe('true');
        expect(replay.body).toBe(declined.answer.body);

        const providerError = seen.get(502)!;
        const retry = await app.pay(order.id, buyer, providerError.key);
        expect([402, 502]).toContain(retry.status);
        expect(retry.headers.get('idempotent-replayed')).toBeNull();

        expect(parse<Order>(await app.getOrder(order.id, buyer))).toMatchObject({ status: 'held', paymentId: null });
        expect(await app.ledgerRows(order.id)).toBe(0);
      });
    });
  });
});
