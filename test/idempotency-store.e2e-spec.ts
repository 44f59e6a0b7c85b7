import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Logger } from '@nestjs/common';
import type { IdempotencyStore, StoredResponse } from '../src/platform/idempotency/idempotency.store';
import {
  IdempotencyStoreFullError,
  MemoryIdempotencyStore,
} from '../src/platform/idempotency/memory-idempotency.store';
import { RedisIdempotencyStore } from '../src/platform/idempotency/redis-idempotency.store';
import { redisHarness } from './support/redis-harness';

// One contract, two stores: every case in the `describe.each` below holds for the shared Redis store
// and for the in-process memory store alike; store-specific behaviour is tested after it.

const { shared, openService } = redisHarness('idem');

/** A key as the interceptor passes it: a SHA-256, base64url (43 characters). */
const key = () => createHash('sha256').update(randomBytes(16)).digest('base64url');
/** One execution: 22 characters. */
const owner = () => randomBytes(16).toString('base64url');
/** A request payload's fingerprint: 43 characters. */
const fingerprint = (payload: string = randomBytes(16).toString('hex')) =>
  createHash('sha256').update(payload).digest('base64url');

const LEASE = 60_000;
const RETENTION = 60_000;

function response(overrides: Partial<StoredResponse> = {}): StoredResponse {
  return {
    status: 201,
    headers: { 'content-type': 'application/json; charset=utf-8', location: '/orders/42' },
    body: JSON.stringify({ id: 42, seats: ['A1', 'A2'] }),
    ...overrides,
  };
}

/** 200 KB and more of lines, accents, symbols and astral characters. */
const largeBody = () => {
  const line = 'Ticket n° 42 — Opéra « Garnier » ✓ 🎟️ 座席 A1\n';
  return line.repeat(Math.ceil(200_000 / line.length));
};

beforeAll(() => Logger.overrideLogger(false));

describe.each<[string, () => Promise<IdempotencyStore>]>([
  // A generous command timeout: these cases are about the records, not latency, and CI machines are busy.
  [
    'redis idempotency store',
    async () => new RedisIdempotencyStore((await openService({ commandTimeoutMs: 5000 })).redis),
  ],
  ['memory idempotency store', async () => new MemoryIdempotencyStore()],
])('%s', (_name, open) => {
  let store: IdempotencyStore;

  beforeEach(async () => {
    store = await open();
  });

  it('claims a free key, then says it is in progress for the same payload, with about the lease left', async () => {
    const k = key();
    const fp = fingerprint();
    expect(await store.claim(k, owner(), fp, LEASE)).toEqual({ state: 'claimed' });
    const again = await store.claim(k, owner(), fp, LEASE);
    expect(again.state).toBe('in-progress');
    const { retryAfterMs } = again as { retryAfterMs: number };
    expect(retryAfterMs).toBeGreaterThan(LEASE - 10_000);
    expect(retryAfterMs).toBeLessThanOrEqual(LEASE);
    // The same owner asking again is a duplicate too: a claim never hands a held key out twice.
    const k2 = key();
    const o = owner();
    await store.claim(k2, o, fp, LEASE);
    expect((await store.claim(k2, o, fp, LEASE)).state).toBe('in-progress');
  });

  it('says mismatch for another payload, while in progress and once completed', async () => {
    const k = key();
    const o = owner();
    const fp = fingerprint('{"seats":2}');
    const other = fingerprint('{"seats":3}');
    await store.claim(k, o, fp, LEASE);
    expect(await store.claim(k, owner(), other, LEASE)).toEqual({ state: 'mismatch' });
    // The mismatch took nothing over.
    expect((await store.claim(k, owner(), fp, LEASE)).state).toBe('in-progress');

    expect(await store.complete(k, o, fp, response(), RETENTION)).toBe(true);
    expect(await store.claim(k, owner(), other, LEASE)).toEqual({ state: 'mismatch' });
    expect((await store.claim(k, owner(), fp, LEASE)).state).toBe('completed');
  });

  it('replays exactly what the owner completed', async () => {
    const k = key();
    const o = owner();
    const fp = fingerprint();
    const stored = response({
      status: 201,
      headers: {
        'content-type': 'text/plain; charset=utf-8',
        location: '/orders/42',
        'x-note': 'a value with "quotes", \\ backslashes, {braces}, and é ✓ 🎟️',
      },
      body: '\nfirst line\r\n\nÉté ✓ 🎟️ 座席\n{"json":"inside"}\n\n',
    });
    await store.claim(k, o, fp, LEASE);
    expect(await store.complete(k, o, fp, stored, RETENTION)).toBe(true);
    for (let i = 0; i < 3; i++) {
      expect(await store.claim(k, owner(), fp, LEASE)).toEqual({ state: 'completed', response: stored });
    }
  });

  it('replays an empty body, no headers, and a 200 KB body byte for byte', async () => {
    const empty = response({ status: 204, headers: {}, body: '' });
    const large = response({ status: 200, body: largeBody() });
    expect(large.body.length).toBeGreaterThan(200_000);
    for (const stored of [empty, large]) {
      const k = key();
      const o = owner();
      const fp = fingerprint();
      await store.claim(k, o, fp, LEASE);
      expect(await store.complete(k, o, fp, stored, RETENTION)).toBe(true);
      const replayed = await store.claim(k, owner(), fp, LEASE);
      expect(replayed.state).toBe('completed');
      const { response: got } = replayed as { response: StoredResponse };
      expect(got.status).toBe(stored.status);
      expect(got.headers).toEqual(stored.headers);
      expect(got.body.length).toBe(stored.body.length);
      expect(got.body === stored.body).toBe(true); // no 200 KB diff on failure
    }
  });

  it('refuses a completion by anyone but the owner, and stores nothing', async () => {
    const k = key();
    const o = owner();
    const fp = fingerprint();
    await store.claim(k, o, fp, LEASE);
    expect(await store.complete(k, owner(), fp, response(), RETENTION)).toBe(false);
    expect((await store.claim(k, owner(), fp, LEASE)).state).toBe('in-progress');
    // The owner still can.
    const stored = response({ body: 'the real one' });
    expect(await store.complete(k, o, fp, stored, RETENTION)).toBe(true);
    expect(await store.claim(k, owner(), fp, LEASE)).toEqual({ state: 'completed', response: stored });
    // Nobody can overwrite a completed record, not even its owner.
    expect(await store.complete(k, o, fp, response({ body: 'overwritten' }), RETENTION)).toBe(false);
    expect(await store.claim(k, owner(), fp, LEASE)).toEqual({ state: 'completed', response: stored });

    // A completion of a key nobody claimed stores nothing either.
    const free = key();
    expect(await store.complete(free, owner(), fp, response(), RETENTION)).toBe(false);
    expect(await store.claim(free, owner(), fp, LEASE)).toEqual({ state: 'claimed' });
  });

  it("extends the owner's lease only", async () => {
    const k = key();
    const o = owner();
    const fp = fingerprint();
    await store.claim(k, o, fp, 300);
    expect(await store.extend(k, owner(), 60_000)).toBe(false);
    expect(await store.extend(k, o, 10_000)).toBe(true);
    await sleep(300 + 400); // past the first lease
    const held = await store.claim(k, owner(), fp, LEASE);
    expect(held.state).toBe('in-progress');
    expect((held as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(10_000 - 300 - 400 - 5000);
    expect((held as { retryAfterMs: number }).retryAfterMs).toBeLessThanOrEqual(10_000);

    // A refused extension does not push the lease.
    const k2 = key();
    await store.claim(k2, owner(), fp, 300);
    expect(await store.extend(k2, owner(), 60_000)).toBe(false);
    await sleep(300 + 400);
    expect(await store.claim(k2, owner(), fp, LEASE)).toEqual({ state: 'claimed' });

    // Nor can a completed record be extended.
    const k3 = key();
    const o3 = owner();
    await store.claim(k3, o3, fp, LEASE);
    await store.complete(k3, o3, fp, response(), RETENTION);
    expect(await store.extend(k3, o3, LEASE)).toBe(false);
  });

  it("frees the key on the owner's release only", async () => {
    const k = key();
    const o = owner();
    const fp = fingerprint();
    await store.claim(k, o, fp, LEASE);
    await store.release(k, owner());
    expect((await store.claim(k, owner(), fp, LEASE)).state).toBe('in-progress');
    await store.release(k, o);
    // Free: even another payload may claim it now.
    const next = owner();
    expect(await store.claim(k, next, fingerprint(), LEASE)).toEqual({ state: 'claimed' });
    // The first owner's late release does not free the new owner's claim.
    await store.release(k, o);
    expect((await store.claim(k, owner(), fp, LEASE)).state).toBe('mismatch');

    // A completed record is not released by anyone.
    const k2 = key();
    const o2 = owner();
    await store.claim(k2, o2, fp, LEASE);
    await store.complete(k2, o2, fp, response(), RETENTION);
    await store.release(k2, o2);
    expect((await store.claim(k2, owner(), fp, LEASE)).state).toBe('completed');
  });

  it("lets a lease expire: the key is claimed again and the old owner's completion is refused", async () => {
    const k = key();
    const old = owner();
    const fp = fingerprint();
    await store.claim(k, old, fp, 300);
    await sleep(300 + 400);
    const next = owner();
    expect(await store.claim(k, next, fp, LEASE)).toEqual({ state: 'claimed' });
    expect(await store.extend(k, old, LEASE)).toBe(false);
    expect(await store.complete(k, old, fp, response({ body: 'stale' }), RETENTION)).toBe(false);
    await store.release(k, old);
    expect((await store.claim(k, owner(), fp, LEASE)).state).toBe('in-progress');
    const stored = response({ body: 'fresh' });
    expect(await store.complete(k, next, fp, stored, RETENTION)).toBe(true);
    expect(await store.claim(k, owner(), fp, LEASE)).toEqual({ state: 'completed', response: stored });

    // Expired before anyone claimed it again: the old owner still cannot complete it.
    const k2 = key();
    const o2 = owner();
    await store.claim(k2, o2, fp, 300);
    await sleep(300 + 400);
    expect(await store.complete(k2, o2, fp, response(), RETENTION)).toBe(false);
    expect(await store.claim(k2, owner(), fp, LEASE)).toEqual({ state: 'claimed' });
  });

  it('gives one of 200 concurrent claims of one key the key, and tells the others it is in progress', async () => {
    const k = key();
    const fp = fingerprint();
    const results = await Promise.all(Array.from({ length: 200 }, () => store.claim(k, owner(), fp, LEASE)));
    expect(results.filter((r) => r.state === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r.state === 'in-progress')).toHaveLength(199);
  });

  it('gives one of 200 concurrent claims with 200 payloads the key, and the others a mismatch', async () => {
    const k = key();
    const results = await Promise.all(Array.from({ length: 200 }, () => store.claim(k, owner(), fingerprint(), LEASE)));
    expect(results.filter((r) => r.state === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r.state === 'mismatch')).toHaveLength(199);
  });

  it('forgets a completed record after its retention', async () => {
    const k = key();
    const o = owner();
    const fp = fingerprint();
    await store.claim(k, o, fp, LEASE);
    expect(await store.complete(k, o, fp, response(), 400)).toBe(true);
    expect((await store.claim(k, owner(), fp, LEASE)).state).toBe('completed');
    await sleep(400 + 500);
    expect(await store.claim(k, owner(), fp, LEASE)).toEqual({ state: 'claimed' });
  });

  it('keeps keys apart', async () => {
    const fp = fingerprint();
    const a = key();
    const o = owner();
    await store.claim(a, o, fp, LEASE);
    expect(await store.claim(key(), owner(), fp, LEASE)).toEqual({ state: 'claimed' });
    await store.complete(a, o, fp, response(), RETENTION);
    expect(await store.claim(key(), owner(), fp, LEASE)).toEqual({ state: 'claimed' });
  });
});

describe('redis idempotency store on Redis itself', () => {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('keeps one record per key under the app prefix with a hash tag, expiring with the lease, then the retention', async () => {
    const { redis, prefix } = await openService({ commandTimeoutMs: 5000 });
    const store = new RedisIdempotencyStore(redis);
    const k = key();
    const o = owner();
    const fp = fingerprint();
    await store.claim(k, o, fp, 30_000);
    const keys = await shared.keys(`${prefix}*`);
    expect(keys).toEqual([`${prefix}idem:{${k}}`]);
    expect(keys[0]).toMatch(new RegExp(`^${escape(prefix)}idem:\\{[\\w-]{43}\\}$`));
    expect(await shared.get(keys[0]!)).toBe(`P${o}${fp}`);
    let ttl = await shared.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30_000);

    await store.extend(k, o, 50_000);
    ttl = await shared.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(30_000);
    expect(ttl).toBeLessThanOrEqual(50_000);

    await store.complete(k, o, fp, response({ body: 'done' }), 120_000);
    expect(await shared.keys(`${prefix}*`)).toEqual(keys);
    const record = await shared.get(keys[0]!);
    expect(record?.startsWith(`C${fp}{`)).toBe(true);
    expect(record?.endsWith('\ndone')).toBe(true);
    ttl = await shared.pttl(keys[0]!);
    expect(ttl).toBeGreaterThan(50_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });

  it('treats a record it cannot read as another payload: never replayed, never overwritten', async () => {
    const { redis, prefix } = await openService({ commandTimeoutMs: 5000 });
    const store = new RedisIdempotencyStore(redis);
    const k = key();
    const fp = fingerprint();
    const unreadable = [`C${fp}{"s":200,"h":{}} but no newline`, `C${fp}{not json\nbody`];
    for (const record of unreadable) {
      await shared.set(`${prefix}idem:{${k}}`, record, 'PX', 60_000);
      expect(await store.claim(k, owner(), fp, LEASE)).toEqual({ state: 'mismatch' });
      expect(await store.complete(k, owner(), fp, response(), RETENTION)).toBe(false);
      expect(await shared.get(`${prefix}idem:{${k}}`)).toBe(record);
    }
  });
});

describe('memory idempotency store', () => {
  it('keeps at most `maxKeys` completed records under 50,000 distinct keys, the most recent ones', async () => {
    const store = new MemoryIdempotencyStore({ maxKeys: 1000 });
    const fp = fingerprint();
    let most = 0;
    for (let i = 0; i < 50_000; i++) {
      const k = `flood-${i}`;
      const o = owner();
      await store.claim(k, o, fp, LEASE);
      await store.complete(k, o, fp, response(), RETENTION);
      most = Math.max(most, store.size);
    }
    expect(most).toBeLessThanOrEqual(1001);
    expect(store.size).toBeLessThanOrEqual(1000);
    expect((await store.claim('flood-49999', owner(), fp, LEASE)).state).toBe('completed');
  });

  it('never evicts a claim in progress: past `maxKeys` live claims a new one fails, until leases end', async () => {
    const store = new MemoryIdempotencyStore({ maxKeys: 100 });
    const fp = fingerprint();
    for (let i = 0; i < 100; i++) expect((await store.claim(`busy-${i}`, owner(), fp, 300)).state).toBe('claimed');
    await expect(store.claim('one-more', owner(), fp, 300)).rejects.toBeInstanceOf(IdempotencyStoreFullError);
    // Completed responses never push a live claim out either.
    expect((await store.claim('busy-0', owner(), fp, 300)).state).toBe('in-progress');
    await sleep(400);
    expect((await store.claim('one-more', owner(), fp, 300)).state).toBe('claimed');
  });

  it('keeps a completed record larger than `maxBytes` (never silently dropped): later claims replay it', async () => {
    const store = new MemoryIdempotencyStore({ maxBytes: 64 * 1024 });
    const k = key();
    const o = owner();
    const fp = fingerprint();
    const stored = response({ body: largeBody() });
    expect(stored.body.length * 2).toBeGreaterThan(3 * 64 * 1024);
    expect(await store.claim(k, o, fp, LEASE)).toEqual({ state: 'claimed' });
    expect(await store.complete(k, o, fp, stored, RETENTION)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const replayed = await store.claim(k, owner(), fp, LEASE);
      expect(replayed.state).toBe('completed'); // not 'claimed': a duplicate must not run
      expect((replayed as { response: StoredResponse }).response.body === stored.body).toBe(true);
    }
    expect(store.size).toBe(1);
  });
});
