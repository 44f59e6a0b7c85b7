import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { startApp } from './support/app';
import { signUp, type SignedIn } from './support/auth';
import { createTestDatabase, type TestDatabase } from './support/database';
import { eventBody, PROBLEM_JSON } from './support/fixtures';
import { problemType, send } from './support/http';
import { RedisProcess, TEST_REDIS_URL, uniquePrefix } from './support/redis';

const newKey = () => `key-${randomBytes(8).toString('hex')}`;

const post = (url: string, body: unknown, headers: Record<string, string> = {}) => send('POST', url, body, headers);

describe('idempotency keys (@Idempotent)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  async function setUp(env: Record<string, string | undefined>) {
    const running = await startApp({
      ...db.env,
      REDIS_KEY_PREFIX: uniquePrefix('idem'),
      IDEMPOTENCY_COMMAND_TIMEOUT_MS: '2000',
      ...env,
    });
    const organizer = await signUp(running.url, 'organizer');
    const created = await post(`${running.url}/events`, eventBody({ capacity: 50 }), organizer.auth);
    expect(created.status).toBe(201);
    const event = JSON.parse(created.body) as { id: string };
    return { running, url: running.url, event, dataSource: running.app.get(DataSource) };
  }

  describe.each([
    ['the shared Redis', TEST_REDIS_URL],
    ['Redis not configured (in-process store)', undefined],
  ])('on %s', (_label, redisUrl) => {
    let ctx: Awaited<ReturnType<typeof setUp>>;
    let customer: SignedIn;
    const reserve = (key: string | undefined, quantity = 1, who: SignedIn = customer) =>
      post(
        `${ctx.url}/events/${ctx.event.id}/reservations`,
        { quantity },
        {
          ...who.auth,
          ...(key === undefined ? {} : { 'idempotency-key': key }),
        },
      );
    const ordersWithKey = async () =>
      Number(
        (
          (await ctx.dataSource.query('SELECT count(*)::int AS n FROM orders WHERE event_id = $1', [ctx.event.id])) as {
            n: number;
          }[]
        )[0]!.n,
      );

    beforeAll(async () => {
      ctx = await setUp({ REDIS_URL: redisUrl });
      customer = await signUp(ctx.url);
    });
    afterAll(() => ctx?.running.close());

    it('runs 100 concurrent identical requests once: one 201, the others 409 (in progress) or the replay', async () => {
      const before = await ordersWithKey();
      const key = newKey();
      const answers = await Promise.all(Array.from({ length: 100 }, () => reserve(key, 2)));
      const created = answers.filter((a) => a.status === 201);
      const original = created.filter((a) => a.headers.get('idempotent-replayed') === null);
      expect(original).toHaveLength(1);
      for (const a of answers.filter((a) => a.status !== 201)) {
        expect(a.status).toBe(409);
        expect(problemType(a)).toBe('urn:box-office:problem:idempotency-key-in-use');
        expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      for (const replay of created.filter((a) => a !== original[0])) expect(replay.body).toBe(original[0]!.body);
      expect((await ordersWithKey()) - before).toBe(1);
    });

    it('replays the completed response byte for byte, with Idempotent-Replayed: true', async () => {
      const key = newKey();
      const first = await reserve(key, 1);
      expect(first.status).toBe(201);
      expect(first.headers.get('idempotent-replayed')).toBeNull();
      const again = await reserve(key, 1);
      expect(again.status).toBe(201);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toBe(first.body);
      expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
      expect(again.headers.get('location')).toBe(first.headers.get('location'));
    });

    it('refuses the key with another payload (422), and a missing, empty, too long or malformed key (400)', async () => {
      const key = newKey();
      expect((await reserve(key, 1)).status).toBe(201);
      const other = await reserve(key, 3);
      expect(other.status).toBe(422);
      expect(problemType(other)).toBe('urn:box-office:problem:idempotency-key-reused');
      for (const bad of [undefined, '', 'x'.repeat(256), 'tab\tinside']) {
        const answer = await reserve(bad, 1);
        expect(answer.status).toBe(400);
        expect(answer.headers.get('content-type')).toBe(PROBLEM_JSON);
        expect(problemType(answer)).toBe('urn:box-office:problem:idempotency-key-invalid');
      }
    });

    it("scopes keys to the caller: another user's same key and body runs for them, no replay", async () => {
      const key = newKey();
      const mine = await reserve(key, 1);
      const theirs = await reserve(key, 1, await signUp(ctx.url));
      expect(theirs.status).toBe(201);
      expect(theirs.headers.get('idempotent-replayed')).toBeNull();
      expect(JSON.parse(theirs.body).id).not.toBe(JSON.parse(mine.body).id);
    });

    it('stores and replays a 4xx; a 5xx frees the key so the retry runs again', async () => {
      const runs = async () =>
        ((await (await fetch(`${ctx.url}/__bench/idempotent/runs`)).json()) as { runs: number }).runs;
      const clientError = newKey();
      const first = await post(`${ctx.url}/__bench/idempotent/fail?status=409`, {}, { 'idempotency-key': clientError });
      const before = await runs();
      const replay = await post(
        `${ctx.url}/__bench/idempotent/fail?status=409`,
        {},
        { 'idempotency-key': clientError },
      );
      expect(first.status).toBe(409);
      expect(replay).toMatchObject({ status: 409, body: first.body });
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await runs()).toBe(before);

      const serverError = newKey();
      expect((await post(`${ctx.url}/__bench/idempotent/fail`, {}, { 'idempotency-key': serverError })).status).toBe(
        500,
      );
      expect((await post(`${ctx.url}/__bench/idempotent/fail`, {}, { 'idempotency-key': serverError })).status).toBe(
        500,
      );
      expect(await runs()).toBe(before + 2);

      // "Not now" (a busy lock, a rate limit: an answer with Retry-After) is not kept either.
      const busy = newKey();
      const url = `${ctx.url}/__bench/idempotent/fail?status=409&retryAfter=1`;
      expect((await post(url, {}, { 'idempotency-key': busy })).status).toBe(409);
      const retried = await post(url, {}, { 'idempotency-key': busy });
      expect(retried.headers.get('idempotent-replayed')).toBeNull();
      expect(await runs()).toBe(before + 4);
    });

    it('takes the key from a body field on deduplication routes (keyField)', async () => {
      const url = `${ctx.url}/__bench/idempotent/dedupe`;
      const messageId = newKey();
      const first = await post(url, { messageId, text: 'hello' });
      const again = await post(url, { messageId, text: 'hello' });
      expect(first.status).toBe(201);
      expect(again).toMatchObject({ status: 201, body: first.body });
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect((await post(url, { messageId, text: 'changed' })).status).toBe(422);
      const missing = await post(url, { text: 'no id' });
      expect(missing.status).toBe(400);
      expect(JSON.parse(missing.body).detail).toContain('messageId');
    });

    it('with `wait`, concurrent requests wait for the first and get its response', async () => {
      const key = newKey();
      const answers = await Promise.all(
        Array.from({ length: 20 }, () =>
          post(`${ctx.url}/__bench/idempotent/slow?ms=400`, {}, { 'idempotency-key': key }),
        ),
      );
      expect(answers.every((a) => a.status === 201)).toBe(true);
      expect(new Set(answers.map((a) => a.body)).size).toBe(1);
      expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).toHaveLength(19);
    });
  });

  it('counts Redis round trips: a first execution makes 2 idempotency commands, a replay 1', async () => {
    const redis = await RedisProcess.start();
    const ctx = await setUp({ REDIS_URL: redis.url });
    const client = new Redis(redis.url);
    const monitor = await client.monitor();
    const commands: string[] = [];
    // Commands a script runs inside Redis show up with the source "lua": only round trips count.
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source !== 'lua' && args.some((arg) => String(arg).includes('idem:'))) {
        commands.push(String(args[0]).toLowerCase());
      }
    });
    try {
      // Loads the scripts (the first call of each is EVALSHA, NOSCRIPT, then EVAL), then counts.
      expect((await post(`${ctx.url}/__bench/idempotent/echo`, {}, { 'idempotency-key': newKey() })).status).toBe(201);
      await sleep(200);
      commands.length = 0;
      const key = newKey();
      expect((await post(`${ctx.url}/__bench/idempotent/echo`, {}, { 'idempotency-key': key })).status).toBe(201);
      await sleep(200);
      expect(commands).toHaveLength(2);
      commands.length = 0;
      expect((await post(`${ctx.url}/__bench/idempotent/echo`, {}, { 'idempotency-key': key })).status).toBe(201);
      await sleep(200);
      expect(commands).toHaveLength(1);
      expect(commands.every((c) => c === 'evalsha')).toBe(true);
    } finally {
      monitor.disconnect();
      client.disconnect(); // monitor() opens a connection of its own; this one would reconnect forever
      await ctx.running.close();
      await redis.stop();
    }
  });

  it('Redis killed: idempotent and locked routes answer 503 and their handlers do not run', async () => {
    const redis = await RedisProcess.start();
    const ctx = await setUp({
      REDIS_URL: redis.url,
      IDEMPOTENCY_COMMAND_TIMEOUT_MS: '300',
      LOCK_COMMAND_TIMEOUT_MS: '300',
    });
    const runs = async () =>
      ((await (await fetch(`${ctx.url}/__bench/idempotent/runs`)).json()) as { runs: number }).runs;
    try {
      const before = await runs();
      await redis.kill();
      const idempotent = await post(`${ctx.url}/__bench/idempotent/echo`, {}, { 'idempotency-key': newKey() });
      expect(idempotent.status).toBe(503);
      expect(problemType(idempotent)).toBe('urn:box-office:problem:idempotency-store-unavailable');
      expect(Number(idempotent.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const locked = await post(`${ctx.url}/__bench/locked/${newKey()}`, {});
      expect(locked.status).toBe(503);
      expect(problemType(locked)).toBe('urn:box-office:problem:lock-store-unavailable');
      expect(await runs()).toBe(before);
    } finally {
      await ctx.running.close();
      await redis.stop();
    }
  });
});
