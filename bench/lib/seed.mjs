// Seeding helpers for scenario setup() functions (plain fetch, run once before measuring).
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

// timeoutMs: raise it only for requests known to be slow (e.g. filling 100k cache entries).
export async function requestJson(baseUrl, method, path, body, expectStatus, headers = {}, timeoutMs = 10_000) {
  const res = await fetch(new URL(path, baseUrl), {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (expectStatus !== undefined && res.status !== expectStatus) {
    throw new Error(`${method} ${path} answered ${res.status} (expected ${expectStatus}): ${text.slice(0, 500)}`);
  }
  return text ? JSON.parse(text) : undefined;
}

// A fresh user with the role, logged in: returns the Authorization header of its session.
export async function signUp(baseUrl, role = 'customer') {
  const email = `bench-${role}-${Math.random().toString(36).slice(2)}@example.com`;
  const password = 'bench password 123';
  await requestJson(baseUrl, 'POST', '/auth/register', { email, password, role }, 201);
  const { token } = await requestJson(baseUrl, 'POST', '/auth/login', { email, password }, 200);
  return { authorization: `Bearer ${token}` };
}

const organizers = new Map();

// One fresh event per call, so scenarios never share (and never mutate) each other's rows.
export async function createEvent(baseUrl, overrides = {}) {
  if (!organizers.has(baseUrl)) organizers.set(baseUrl, await signUp(baseUrl, 'organizer'));
  const startsAt = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const event = await requestJson(
    baseUrl,
    'POST',
    '/events',
    {
      title: 'Bench night',
      venue: 'Hall A',
      startsAt,
      capacity: 500,
      priceCents: 2500,
      currency: 'EUR',
      ...overrides,
    },
    201,
    organizers.get(baseUrl),
  );
  if (!event?.id) throw new Error(`POST /events returned no id: ${JSON.stringify(event)}`);
  return event;
}

const WARM_MAX_TRIES = 10;

/**
 * GETs a cached route until it answers `X-Cache: HIT` (at least twice: the first is the MISS
 * that fills the cache). Throws otherwise, since a "hit" scenario that misses would quietly
 * measure the uncached path. Retries because the cache write after a MISS may land after
 * the response has been sent.
 */
export async function warmCache(baseUrl, path) {
  let outcome = 'none';
  for (let i = 1; i <= WARM_MAX_TRIES; i++) {
    const res = await fetch(new URL(path, baseUrl), { signal: AbortSignal.timeout(10_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`GET ${path} answered ${res.status} while warming the cache`);
    outcome = res.headers.get('x-cache') ?? 'no X-Cache header';
    if (i >= 2 && outcome === 'HIT') return;
    if (i >= 2) await sleep(50);
  }
  throw new Error(`GET ${path} still answers X-Cache: ${outcome} after ${WARM_MAX_TRIES} tries`);
}

// The limit route's document: the event JSON stored as a plain Redis string.
export async function storeDoc(baseUrl, id) {
  await requestJson(baseUrl, 'POST', `/__bench/cache/docs/${id}`, undefined, 204);
}

const FILL_TIMEOUT_MS = 120_000; // 100k entries take 15-30 s; room for a slower machine

// `n` cache entries under a tag unique to this call (`<prefix>-<random>`), so repeated or
// concurrent runs never invalidate each other's tag. Returns { tag, entries, ms }.
export async function fillTag(baseUrl, prefix, n) {
  const tag = `${prefix}-${randomBytes(4).toString('hex')}`;
  const path = `/__bench/cache/tags/${tag}/fill?n=${n}`;
  return requestJson(baseUrl, 'POST', path, undefined, 201, {}, FILL_TIMEOUT_MS);
}

// `n` fresh events (created a few at a time), for scenarios that spread requests over many rows.
export async function createEvents(baseUrl, n, overrides = {}) {
  const events = [];
  for (let i = 0; i < n; i += 8) {
    const batch = Math.min(8, n - i);
    events.push(...(await Promise.all(Array.from({ length: batch }, () => createEvent(baseUrl, overrides)))));
  }
  return events;
}

// A fresh customer with `n` orders (one seat each, on one fresh event): { auth, event }.
export async function customerWithOrders(baseUrl, n = 20) {
  const auth = await signUp(baseUrl);
  const event = await createEvent(baseUrl);
  for (let i = 0; i < n; i++) {
    await requestJson(baseUrl, 'POST', `/events/${event.id}/reservations`, { quantity: 1 }, 201, {
      ...auth,
      'idempotency-key': `seed-${randomBytes(8).toString('hex')}`,
    });
  }
  return { auth, event };
}
