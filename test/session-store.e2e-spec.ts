import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { RedisService, type RedisModuleOptions } from '../src/platform/redis';
import { MemorySessionStore } from '../src/platform/session/memory-session.store';
import { RedisSessionStore, type RedisSessionStoreOptions } from '../src/platform/session/redis-session.store';
import type { SessionRecord, SessionStore } from '../src/platform/session/session.store';
import { RedisProcess, rawRedis } from './support/redis';
import { settle } from './support/settle';
import { redisHarness } from './support/redis-harness';

// Both stores take `now` from the caller, so expiry is tested by passing a later `now`, never by sleeping.
const SECOND = 1000;
const IDLE = 30 * 60 * SECOND;
const HOUR = 3600 * SECOND;

const { shared, openService, privateRedis } = redisHarness('session');

async function openRedisStore(
  options: RedisModuleOptions = {},
  storeOptions: RedisSessionStoreOptions = {},
): Promise<{ store: RedisSessionStore; redis: RedisService; prefix: string }> {
  const { redis, prefix } = await openService(options);
  return { store: new RedisSessionStore(redis, storeOptions), redis, prefix };
}

/** A user's partition as the session module derives it: a hash of the user id, never the id itself. */
function partitionOf(userId: string): string {
  return RedisService.hashKeyPart(userId);
}

function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const userId = overrides.userId ?? randomUUID();
  const createdAt = overrides.createdAt ?? Date.now();
  return {
    id: tokenHash(randomBytes(32).toString('base64url')),
    partition: partitionOf(userId),
    userId,
    email: null,
    roles: ['customer'],
    createdAt,
    lastSeenAt: createdAt,
    absoluteExpiresAt: createdAt + 12 * HOUR,
    userAgent: null,
    ip: null,
    ...overrides,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const ids = (sessions: SessionRecord[]) => sessions.map((session) => session.id);

beforeAll(() => Logger.overrideLogger(false));

describe.each<[string, () => Promise<SessionStore>]>([
  // The contract is about results, not speed: a generous command timeout keeps a busy machine
  // (50 concurrent scripts next to other suites) from failing it. The failure tests below set their own.
  ['redis', async () => (await openRedisStore({ commandTimeoutMs: 5000 })).store],
  ['memory', async () => new MemorySessionStore({ maxSessions: 10_000 })],
])('%s session store', (_name, openStore) => {
  let store: SessionStore;
  let t0: number;

  beforeEach(async () => {
    store = await openStore();
    t0 = Date.now();
  });

  describe('create and touch', () => {
    it('returns every field as created, with lastSeenAt moved to the touch time', async () => {
      const session = record({
        roles: ['customer', 'box-office:admin', 'ünïcødé ✓'],
        createdAt: t0,
        lastSeenAt: t0,
        absoluteExpiresAt: t0 + 12 * HOUR,
        userAgent: null,
        ip: null,
      });
      await store.create(session, IDLE);

      const touched = await store.touch(session.partition, session.id, t0 + 5 * SECOND, IDLE);
      expect(touched).toEqual({ ...session, lastSeenAt: t0 + 5 * SECOND });
      expect(touched?.userAgent).toBeNull();
      expect(touched?.ip).toBeNull();
      expect(typeof touched?.createdAt).toBe('number');
      expect(typeof touched?.absoluteExpiresAt).toBe('number');
    });

    it('round-trips string user agent and IP, and an empty roles list stays an empty array', async () => {
      const session = record({
        roles: [],
        userAgent: 'Mozilla/5.0 (X11; Linux x86_64) "quoted" {braces} ✓',
        ip: '2001:db8::1',
        createdAt: t0,
        lastSeenAt: t0,
      });
      await store.create(session, IDLE);

      const touched = await store.touch(session.partition, session.id, t0 + 1, IDLE);
      expect(touched).toEqual({ ...session, lastSeenAt: t0 + 1 });
      expect(Array.isArray(touched?.roles)).toBe(true);
      expect(await store.list(session.partition, t0 + 2)).toEqual([{ ...session, lastSeenAt: t0 + 1 }]);
    });

    it('round-trips the email the session was issued with (null when none)', async () => {
      const withEmail = record({ email: 'ada@example.com', createdAt: t0 });
      const without = record({ createdAt: t0 });
      await store.create(withEmail, IDLE);
      await store.create(without, IDLE);
      expect(await store.touch(withEmail.partition, withEmail.id, t0 + 1, IDLE)).toMatchObject({
        email: 'ada@example.com',
      });
      expect(await store.touch(without.partition, without.id, t0 + 1, IDLE)).toMatchObject({ email: null });
      expect(await store.list(withEmail.partition, t0 + 2)).toEqual([{ ...withEmail, lastSeenAt: t0 + 1 }]);
    });

    it('keeps its own copy: changing the record given to create, or one it returned, changes nothing stored', async () => {
      const session = record({ createdAt: t0, roles: ['customer'] });
      const original = structuredClone(session);
      await store.create(session, IDLE);
      session.roles.push('admin');
      session.userId = 'someone-else';

      const first = await store.touch(original.partition, original.id, t0 + 1, IDLE);
      expect(first).toEqual({ ...original, lastSeenAt: t0 + 1 });
      first!.roles.push('admin');
      first!.absoluteExpiresAt = t0 + 100 * HOUR;

      expect(await store.touch(original.partition, original.id, t0 + 2, IDLE)).toEqual({
        ...original,
        lastSeenAt: t0 + 2,
      });
    });

    it('slides the idle expiry: a session touched within each idle window outlives its first window', async () => {
      const session = record({ createdAt: t0 });
      await store.create(session, IDLE);
      const first = t0 + 0.9 * IDLE;
      const second = first + 0.9 * IDLE; // past t0 + IDLE, the first idle window
      const third = second + 0.9 * IDLE;

      expect(await store.touch(session.partition, session.id, first, IDLE)).toMatchObject({ lastSeenAt: first });
      expect(await store.touch(session.partition, session.id, second, IDLE)).toMatchObject({ lastSeenAt: second });
      expect(await store.touch(session.partition, session.id, third, IDLE)).toMatchObject({ lastSeenAt: third });
      expect(ids(await store.list(session.partition, third + 1))).toEqual([session.id]);
    });
  });

  describe('expiry', () => {
    it('is idle-expired one millisecond after its idle window, and is removed, not merely hidden', async () => {
      const session = record({ createdAt: t0 });
      await store.create(session, IDLE);

      expect(await store.touch(session.partition, session.id, t0 + IDLE + 1, IDLE)).toBeNull();
      expect(await store.list(session.partition, t0 + IDLE + 1)).toEqual([]);
      // Removed: asking again at a time it would still have been live finds nothing.
      expect(await store.list(session.partition, t0 + 1)).toEqual([]);
      expect(await store.touch(session.partition, session.id, t0 + 2, IDLE)).toBeNull();
    });

    it('an idle window slid by a touch ends idleMs after that touch', async () => {
      const session = record({ createdAt: t0 });
      await store.create(session, IDLE);
      const touchedAt = t0 + 0.5 * IDLE;
      expect(await store.touch(session.partition, session.id, touchedAt, IDLE)).not.toBeNull();

      expect(await store.touch(session.partition, session.id, touchedAt + IDLE + 1, IDLE)).toBeNull();
      expect(await store.list(session.partition, touchedAt + 1)).toEqual([]);
    });

    it('dies at its absolute expiry even when touched within every idle window, and is removed', async () => {
      const absoluteExpiresAt = t0 + 2.5 * IDLE;
      const session = record({ createdAt: t0, absoluteExpiresAt });
      await store.create(session, IDLE);

      expect(await store.touch(session.partition, session.id, t0 + 0.9 * IDLE, IDLE)).not.toBeNull();
      expect(await store.touch(session.partition, session.id, t0 + 1.8 * IDLE, IDLE)).not.toBeNull();
      // Alive up to its absolute expiry (list leaves a Redis key's real TTL alone, so it stays well above zero).
      expect(ids(await store.list(session.partition, absoluteExpiresAt))).toEqual([session.id]);
      // Still within the idle window slid by the last touch, but past the absolute expiry.
      expect(await store.touch(session.partition, session.id, absoluteExpiresAt + 1, IDLE)).toBeNull();
      expect(await store.list(session.partition, absoluteExpiresAt - 2)).toEqual([]);
      expect(await store.touch(session.partition, session.id, absoluteExpiresAt - 2, IDLE)).toBeNull();
    });
  });

  describe('partitions', () => {
    it('answers null for an unknown id, an unknown partition, and an id asked for under another partition', async () => {
      const mine = record({ createdAt: t0 });
      const theirs = record({ createdAt: t0 });
      await store.create(mine, IDLE);
      await store.create(theirs, IDLE);

      expect(await store.touch(mine.partition, tokenHash('unknown'), t0 + 1, IDLE)).toBeNull();
      expect(await store.touch(partitionOf('nobody'), mine.id, t0 + 1, IDLE)).toBeNull();
      expect(await store.touch(theirs.partition, mine.id, t0 + 1, IDLE)).toBeNull();
      expect(await store.list(partitionOf('nobody'), t0 + 1)).toEqual([]);

      // Asking under the wrong partition neither returns nor removes the session.
      expect(await store.touch(mine.partition, mine.id, t0 + 2, IDLE)).toMatchObject({ id: mine.id });
      expect(ids(await store.list(theirs.partition, t0 + 2))).toEqual([theirs.id]);
    });

    it('revoke and revokeAll leave other partitions untouched', async () => {
      const userA = randomUUID();
      const userB = randomUUID();
      const a = [0, 1, 2].map((i) => record({ userId: userA, createdAt: t0 + i }));
      const b = [0, 1].map((i) => record({ userId: userB, createdAt: t0 + i }));
      for (const session of [...a, ...b]) await store.create(session, IDLE);
      const partitionA = a[0].partition;
      const partitionB = b[0].partition;

      expect(await store.revoke(partitionA, b[0].id)).toBe(false);
      expect(await store.revoke(partitionA, a[0].id)).toBe(true);
      expect(await store.revokeAll(partitionA, b[1].id)).toBe(2);
      expect(await store.list(partitionA, t0 + 10)).toEqual([]);

      expect(ids(await store.list(partitionB, t0 + 10))).toEqual([b[1].id, b[0].id]);
      for (const session of b) {
        expect(await store.touch(partitionB, session.id, t0 + 10, IDLE)).toMatchObject({ id: session.id });
      }
    });
  });

  describe('list', () => {
    it("shows only the partition's live sessions, newest first, whatever the order they were created in", async () => {
      const user = randomUUID();
      const [older, middle, newest] = [0, 1, 2].map((i) => record({ userId: user, createdAt: t0 + i * SECOND }));
      const other = record({ createdAt: t0 + 5 * SECOND });
      for (const session of [middle, other, newest, older]) await store.create(session, IDLE);

      expect(await store.list(older.partition, t0 + 3 * SECOND)).toEqual([newest, middle, older]);
    });

    it('leaves out and prunes sessions that are idle-expired or past their absolute expiry at `now`', async () => {
      const user = randomUUID();
      const idle = record({ userId: user, createdAt: t0 });
      const capped = record({ userId: user, createdAt: t0 + 1, absoluteExpiresAt: t0 + 0.6 * IDLE });
      const live = record({ userId: user, createdAt: t0 + 2 });
      for (const session of [idle, capped, live]) await store.create(session, IDLE);
      const partition = live.partition;
      const at = t0 + 0.5 * IDLE;
      await store.touch(partition, live.id, at, IDLE);
      await store.touch(partition, capped.id, at, IDLE);

      expect(ids(await store.list(partition, at))).toEqual([live.id, capped.id, idle.id]);
      // idle: last seen at t0, so dead after t0 + IDLE; capped: absolute expiry at t0 + 0.6 * IDLE.
      const later = t0 + IDLE + 1;
      expect(ids(await store.list(partition, later))).toEqual([live.id]);
      // Pruned from the index: a list at an earlier time no longer finds them either.
      expect(ids(await store.list(partition, at))).toEqual([live.id]);
    });
  });

  describe('revoke', () => {
    it('deletes one session: true once, then the session is gone and a second revoke is false', async () => {
      const user = randomUUID();
      const kept = record({ userId: user, createdAt: t0 });
      const revoked = record({ userId: user, createdAt: t0 + 1 });
      await store.create(kept, IDLE);
      await store.create(revoked, IDLE);

      expect(await store.revoke(revoked.partition, revoked.id)).toBe(true);
      expect(await store.touch(revoked.partition, revoked.id, t0 + 2, IDLE)).toBeNull();
      expect(ids(await store.list(revoked.partition, t0 + 2))).toEqual([kept.id]);
      expect(await store.revoke(revoked.partition, revoked.id)).toBe(false);
      expect(await store.revoke(revoked.partition, tokenHash('never-issued'))).toBe(false);
    });

    it('revokeAll with an exception removes every other session, answers how many, and the exception still works', async () => {
      const user = randomUUID();
      const sessions = [0, 1, 2, 3].map((i) => record({ userId: user, createdAt: t0 + i }));
      for (const session of sessions) await store.create(session, IDLE);
      const { partition } = sessions[0];
      const current = sessions[2];

      expect(await store.revokeAll(partition, current.id)).toBe(3);
      expect(await store.touch(partition, current.id, t0 + 10, IDLE)).toMatchObject({ id: current.id });
      for (const session of sessions.filter((s) => s !== current)) {
        expect(await store.touch(partition, session.id, t0 + 10, IDLE)).toBeNull();
      }
      expect(ids(await store.list(partition, t0 + 10))).toEqual([current.id]);
      expect(await store.revokeAll(partition, current.id)).toBe(0);
    });

    it('revokeAll without an exception removes them all; on an empty partition it answers 0', async () => {
      const user = randomUUID();
      const sessions = [0, 1, 2].map((i) => record({ userId: user, createdAt: t0 + i }));
      for (const session of sessions) await store.create(session, IDLE);
      const { partition } = sessions[0];

      expect(await store.revokeAll(partition)).toBe(3);
      expect(await store.list(partition, t0 + 10)).toEqual([]);
      for (const session of sessions) expect(await store.touch(partition, session.id, t0 + 10, IDLE)).toBeNull();
      expect(await store.revokeAll(partition)).toBe(0);
      expect(await store.revokeAll(partitionOf('nobody'))).toBe(0);
    });
  });

  describe('concurrency', () => {
    it('keeps all of 50 concurrent creates for one user in the index', async () => {
      const user = randomUUID();
      const sessions = Array.from({ length: 50 }, (_, i) => record({ userId: user, createdAt: t0 + i }));
      await Promise.all(sessions.map((session) => store.create(session, IDLE)));

      const listed = await store.list(sessions[0].partition, t0 + 100);
      expect(listed).toHaveLength(50);
      expect(ids(listed)).toEqual(ids(sessions).reverse());
    });

    it('answers all of 50 concurrent touches of one session', async () => {
      const session = record({ createdAt: t0 });
      await store.create(session, IDLE);

      const touched = await Promise.all(
        Array.from({ length: 50 }, (_, i) => store.touch(session.partition, session.id, t0 + 1 + i, IDLE)),
      );
      expect(touched.filter((result) => result?.id === session.id)).toHaveLength(50);
      const [after] = await store.list(session.partition, t0 + 100);
      expect(after.lastSeenAt).toBeGreaterThan(t0);
      expect(after.lastSeenAt).toBeLessThanOrEqual(t0 + 50);
    });
  });
});

/** The hash tag Redis Cluster would hash: between the first '{' and the next '}', when not empty. */
function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : null;
}

/** Everything a key holds, as text, whatever its type. */
async function contents(raw: Redis, key: string): Promise<string> {
  const type = await raw.type(key);
  if (type === 'string') return (await raw.get(key)) ?? '';
  if (type === 'hash') return JSON.stringify(await raw.hgetall(key));
  if (type === 'zset') return JSON.stringify(await raw.zrange(key, '0', '-1', 'WITHSCORES'));
  if (type === 'set') return JSON.stringify(await raw.smembers(key));
  if (type === 'list') return JSON.stringify(await raw.lrange(key, 0, -1));
  throw new Error(`unexpected ${type} at ${key}`);
}

/**
 * Records the commands clients send, as MONITOR reports them, leaving out those a script runs inside
 * Redis (INFO commandstats counts both). `until` returns what was sent before `raw` echoed the marker;
 * MONITOR reports in execution order, so nothing sent earlier is still on its way.
 */
async function recordCommands(
  raw: Redis,
): Promise<{ until: (marker: string) => Promise<string[][]>; close: () => void }> {
  const monitor = await raw.monitor();
  const sent: string[][] = [];
  let markerSeen: ((marker: string) => void) | undefined;
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === 'lua') return;
    if (args[0]?.toLowerCase() === 'echo') markerSeen?.(args[1]);
    else sent.push(args);
  });
  return {
    until: async (marker) => {
      const seen = new Promise<void>((resolve) => {
        markerSeen = (echoed) => echoed === marker && resolve();
      });
      await raw.echo(marker);
      await seen;
      return sent.splice(0);
    },
    close: () => monitor.disconnect(),
  };
}

describe('redis session store on Redis itself', () => {
  it('keeps keys under the key prefix, names the session by its token hash, and tags session and index with {partition}', async () => {
    const { store, prefix } = await openRedisStore();
    const token = randomBytes(32).toString('base64url');
    const t0 = Date.now();
    const session = record({ id: tokenHash(token), createdAt: t0 });
    const sibling = record({ userId: session.userId, createdAt: t0 + 1 });
    await store.create(session, IDLE);

    const keys = await shared.keys(`${prefix}*`);
    expect(keys).toHaveLength(2); // the session and its user's index
    for (const key of keys) {
      expect(key.startsWith(prefix)).toBe(true);
      expect(hashTag(key)).toBe(session.partition);
      expect(key).not.toContain(token);
      expect(await contents(shared, key)).not.toContain(token);
      expect(key).not.toContain(session.userId);
    }
    expect(keys.filter((key) => key.includes(session.id))).toHaveLength(1);
    expect(await shared.exists(session.id)).toBe(0);

    await store.create(sibling, IDLE);
    const after = await shared.keys(`${prefix}*`);
    expect(after).toHaveLength(3); // one index per user, shared by both sessions
    expect(after.every((key) => hashTag(key) === session.partition)).toBe(true);
  });

  it('leaves no key behind once its sessions are revoked, revoked all, or found dead by touch', async () => {
    const { store, prefix } = await openRedisStore();
    const t0 = Date.now();
    const user = randomUUID();
    const [a, b, c] = [0, 1, 2].map((i) => record({ userId: user, createdAt: t0 + i }));
    for (const session of [a, b, c]) await store.create(session, IDLE);

    expect(await store.revoke(a.partition, a.id)).toBe(true);
    expect(await store.revokeAll(a.partition)).toBe(2);
    expect(await shared.keys(`${prefix}*`)).toEqual([]);

    const dead = record({ createdAt: t0 });
    await store.create(dead, IDLE);
    expect(await store.touch(dead.partition, dead.id, t0 + IDLE + 1, IDLE)).toBeNull();
    expect(await shared.keys(`${prefix}*`)).toEqual([]);
  });

  it('gives the session key a real TTL of idleMs that a touch slides, so Redis drops a session nobody touches', async () => {
    const { store, prefix } = await openRedisStore();
    const session = record();
    await store.create(session, 200);
    const [key] = (await shared.keys(`${prefix}*`)).filter((k) => k.includes(session.id));
    const created = await shared.pttl(key);
    expect(created).toBeGreaterThan(0);
    expect(created).toBeLessThanOrEqual(200);

    expect(await store.touch(session.partition, session.id, Date.now(), 300)).not.toBeNull();
    const touched = await shared.pttl(key);
    expect(touched).toBeGreaterThan(200);
    expect(touched).toBeLessThanOrEqual(300);

    await sleep(350);
    expect(await shared.exists(key)).toBe(0);
    expect(await store.list(session.partition, Date.now())).toEqual([]);
    expect(await store.touch(session.partition, session.id, Date.now(), 300)).toBeNull();
    expect(await shared.keys(`${prefix}*`)).toEqual([]); // the index entry was pruned too
  });

  it('never lets the session key outlive its absolute expiry, and keeps the index at least as long as its sessions', async () => {
    const { store, prefix } = await openRedisStore();
    const t0 = Date.now();
    const user = randomUUID();
    const capped = record({ userId: user, createdAt: t0, absoluteExpiresAt: t0 + 10 * SECOND });
    const longer = record({ userId: user, createdAt: t0 + 1, absoluteExpiresAt: t0 + 12 * HOUR });
    await store.create(capped, IDLE);
    const keys = await shared.keys(`${prefix}*`);
    const cappedKey = keys.find((key) => key.includes(capped.id))!;
    expect(await shared.pttl(cappedKey)).toBeLessThanOrEqual(10 * SECOND);

    expect(await store.touch(capped.partition, capped.id, t0 + 5 * SECOND, IDLE)).not.toBeNull();
    expect(await shared.pttl(cappedKey)).toBeLessThanOrEqual(5 * SECOND);

    await store.create(longer, IDLE);
    const longerKey = (await shared.keys(`${prefix}*`)).find((key) => key.includes(longer.id))!;
    const [indexKey] = keys.filter((key) => key !== cappedKey);
    const indexTtl = await shared.pttl(indexKey);
    // -1: no TTL at all; otherwise it must not drop a session that is still live.
    if (indexTtl !== -1) expect(indexTtl).toBeGreaterThanOrEqual(await shared.pttl(longerKey));
  });

  it('touches in one round trip: one script call per touch, nothing else', async () => {
    const proc = await privateRedis();
    const raw = rawRedis(proc.url);
    const commands = await recordCommands(raw);
    try {
      const { store } = await openRedisStore({ url: proc.url });
      const t0 = Date.now();
      const session = record({ createdAt: t0 });
      await store.create(session, IDLE);
      await store.touch(session.partition, session.id, t0 + 1, IDLE); // loads the script on this socket
      await commands.until('warmed-up');

      const touches = 5;
      for (let i = 0; i < touches; i++) {
        expect(await store.touch(session.partition, session.id, t0 + 2 + i, IDLE)).not.toBeNull();
      }
      const sent = (await commands.until('touched')).map(([command]) => command.toLowerCase());
      expect(sent).toHaveLength(touches);
      for (const command of sent) expect(['evalsha', 'eval', 'evalsha_ro', 'eval_ro']).toContain(command);
    } finally {
      commands.close();
      await raw.quit();
    }
  });

  it('announces every revocation on its channel, from the script that deletes', async () => {
    const { store } = await openRedisStore();
    const heard: string[][] = [];
    let notify: (() => void) | undefined;
    store.onRevoked((ids) => {
      heard.push(ids);
      notify?.();
    });
    await store.connect(2000);
    expect(store.coverage.since).toBeLessThanOrEqual(Date.now());
    const next = () => new Promise<void>((resolve) => (notify = resolve));
    const t0 = Date.now();
    const user = randomUUID();
    const [a, b, c] = [0, 1, 2].map((i) => record({ userId: user, createdAt: t0 + i }));
    for (const session of [a, b, c]) await store.create(session, IDLE);

    let arrived = next();
    expect(await store.revoke(a.partition, a.id)).toBe(true);
    await arrived;
    arrived = next();
    expect(await store.revokeAll(a.partition, c.id)).toBe(1);
    await arrived;
    arrived = next();
    expect(await store.revokeAll(a.partition)).toBe(1);
    await arrived;
    expect(heard).toEqual([[a.id], [b.id], [c.id]]);
    await store.close();
    await store.close(); // twice is harmless
    expect(store.coverage.since).toBe(Infinity);
  });

  it('touchMany moves last-seen forward only, in one pipeline, and never brings back a revoked session', async () => {
    const { store, prefix } = await openRedisStore({}, { ttlSlackMs: 100 });
    const t0 = Date.now();
    const [a, b] = [0, 1].map(() => record({ createdAt: t0 }));
    for (const session of [a, b]) await store.create(session, 300);

    expect(
      await store.touchMany(
        [
          { partition: a.partition, id: a.id, seenAt: t0 + 50 },
          { partition: b.partition, id: b.id, seenAt: t0 + 60 },
        ],
        300,
      ),
    ).toEqual([true, true]);
    expect(await store.touchMany([{ partition: a.partition, id: a.id, seenAt: t0 + 10 }], 300)).toEqual([true]);
    expect(await store.peek(a.partition, a.id, t0 + 70, 300)).toMatchObject({ lastSeenAt: t0 + 50 });
    expect(await store.peek(b.partition, b.id, t0 + 70, 300)).toMatchObject({ lastSeenAt: t0 + 60 });
    const [key] = (await shared.keys(`${prefix}*`)).filter((k) => k.includes(a.id));
    // The key lives idleMs plus the slack, so a touch still on its way finds it.
    expect(await shared.pttl(key!)).toBeGreaterThan(300);
    expect(await shared.pttl(key!)).toBeLessThanOrEqual(400);

    expect(await store.revoke(a.partition, a.id)).toBe(true);
    expect(await store.touchMany([{ partition: a.partition, id: a.id, seenAt: t0 + 80 }], 300)).toEqual([false]);
    expect(await shared.exists(key!)).toBe(0);
    expect(await store.touchMany([], 300)).toEqual([]);
  });

  it('peek reads a live session without writing, and removes a dead one like touch', async () => {
    const { store } = await openRedisStore();
    const t0 = Date.now();
    const session = record({ createdAt: t0 });
    await store.create(session, IDLE);

    expect(await store.peek(session.partition, session.id, t0 + 5, IDLE)).toEqual(session);
    expect(await store.list(session.partition, t0 + 6)).toEqual([session]); // lastSeenAt unchanged
    expect(await store.peek(session.partition, session.id, t0 + IDLE + 1, IDLE)).toBeNull();
    expect(await store.list(session.partition, t0 + 1)).toEqual([]);
  });

  describe.each<[string, (proc: RedisProcess) => Promise<void>]>([
    ['killed', (proc) => proc.kill()],
    ['paused (sockets open, no answers)', async (proc) => proc.pause()],
  ])('when Redis is %s', (_label, takeDown) => {
    it('rejects every operation with an error within 500 ms instead of hanging', async () => {
      const proc = await privateRedis();
      const { store } = await openRedisStore({ url: proc.url });
      const t0 = Date.now();
      const session = record({ createdAt: t0 });
      await store.create(session, IDLE);

      await takeDown(proc);
      const results = await Promise.all([
        settle(store.touch(session.partition, session.id, t0 + 1, IDLE)),
        settle(store.create(record({ createdAt: t0 }), IDLE)),
        settle(store.list(session.partition, t0 + 1)),
        settle(store.revoke(session.partition, session.id)),
        settle(store.revokeAll(session.partition)),
      ]);
      for (const result of results) {
        expect(result.error).toBeInstanceOf(Error);
        expect(result.ms).toBeLessThan(500);
      }
    });
  });
});

/** The size of every Map and Set the store holds (its fields and the collections inside them), whatever their names. */
function collectionSizes(store: object): number[] {
  const sizes: number[] = [];
  const visit = (value: unknown, depth: number) => {
    if (!(value instanceof Map || value instanceof Set)) return;
    sizes.push(value.size);
    if (depth < 2) for (const inner of value.values()) visit(inner, depth + 1);
  };
  for (const value of Object.values(store)) visit(value, 0);
  return sizes;
}

describe('memory session store bounds', () => {
  it('holds at most maxSessions: after 1,000 users sign in, only the 100 most recent remain', async () => {
    const store = new MemorySessionStore({ maxSessions: 100 });
    const t0 = Date.now();
    const sessions = Array.from({ length: 1000 }, (_, i) => record({ createdAt: t0 + i }));
    for (const session of sessions) await store.create(session, IDLE);

    expect(store.size).toBeLessThanOrEqual(100);
    const survivors = sessions.slice(-100);
    for (const session of survivors) {
      expect(await store.touch(session.partition, session.id, t0 + 2000, IDLE)).toMatchObject({ id: session.id });
    }
    for (const session of sessions.slice(0, 900)) {
      expect(await store.list(session.partition, t0 + 2000)).toEqual([]);
      expect(await store.touch(session.partition, session.id, t0 + 2000, IDLE)).toBeNull();
    }
    expect(store.size).toBe(100);

    // Its bookkeeping is bounded too: an index entry left behind by each eviction would grow without limit.
    const sizes = collectionSizes(store);
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(sizes.reduce((sum, n) => sum + n, 0)).toBeLessThanOrEqual(4 * 100);
  });

  it('evicts the least recently touched session, not the oldest created', async () => {
    const store = new MemorySessionStore({ maxSessions: 3 });
    const t0 = Date.now();
    const [a, b, c, d] = [0, 1, 2, 3].map((i) => record({ createdAt: t0 + i }));
    for (const session of [a, b, c]) await store.create(session, IDLE);
    expect(await store.touch(a.partition, a.id, t0 + 10, IDLE)).not.toBeNull();

    await store.create(d, IDLE);
    expect(store.size).toBe(3);
    expect(await store.touch(b.partition, b.id, t0 + 20, IDLE)).toBeNull();
    expect(await store.list(b.partition, t0 + 20)).toEqual([]);
    for (const session of [a, c, d]) {
      expect(await store.touch(session.partition, session.id, t0 + 20, IDLE)).toMatchObject({ id: session.id });
    }
  });

  it("keeps a user's index consistent with evictions: list and revokeAll see only what is still held", async () => {
    const store = new MemorySessionStore({ maxSessions: 3 });
    const t0 = Date.now();
    const user = randomUUID();
    const sessions = [0, 1, 2, 3, 4].map((i) => record({ userId: user, createdAt: t0 + i }));
    for (const session of sessions) await store.create(session, IDLE);
    const { partition } = sessions[0];

    expect(store.size).toBe(3);
    expect(ids(await store.list(partition, t0 + 10))).toEqual(ids(sessions.slice(2)).reverse());
    expect(await store.revoke(partition, sessions[0].id)).toBe(false);
    expect(await store.revokeAll(partition)).toBe(3);
    expect(store.size).toBe(0);
  });

  it('frees the room of sessions it prunes or revokes', async () => {
    const store = new MemorySessionStore({ maxSessions: 10 });
    const t0 = Date.now();
    const user = randomUUID();
    const [dead, live, revoked] = [0, 1, 2].map((i) => record({ userId: user, createdAt: t0 + i }));
    for (const session of [dead, live, revoked]) await store.create(session, IDLE);
    await store.touch(live.partition, live.id, t0 + 0.5 * IDLE, IDLE);
    expect(store.size).toBe(3);

    expect(await store.revoke(revoked.partition, revoked.id)).toBe(true);
    expect(store.size).toBe(2);
    expect(ids(await store.list(live.partition, t0 + IDLE + 1))).toEqual([live.id]);
    expect(store.size).toBe(1);
  });
});
