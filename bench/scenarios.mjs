// The benchmark scenarios. Append new entries at the end; see bench/README.md.
//
// Shape: {
//   name,                        unique; BENCH_FILTER matches on it (substring)
//   method,                      'GET' | 'POST' | ...
//   path | (ctx) => path,        ctx = whatever setup() returned
//   headers?, body?,             value or (ctx) => value; an object body is sent as JSON
//   setup?: async (baseUrl) => ctx,   seeding, run once before the first round
//   expectStatus?,               201 | '2xx' | [200, 304] (default '2xx'); others count as non-2xx
//   target?: { minRatioTo: 'bare', min: 0.9 },   req/s ratio to another scenario; PASS/FAIL
//            | [{ minRatioTo, min }, ...]         several targets, each evaluated and reported;
//                                minRatioTo is any scenario name; if BENCH_FILTER leaves it
//                                out, the target is reported as SKIP (never pulled in)
//   server?: '<name>',           run against servers['<name>'] (below) instead of the main server:
//                                setup(baseUrl) and the requests get that server's base URL
//   baseline?: 'bare',           marks THE reference scenario (exactly one): runs first,
//                                ignores BENCH_FILTER, denominator of the "ratio to bare" column
// }
import {
  createEvent,
  createEvents,
  customerWithOrders,
  fillTag,
  requestJson,
  signUp,
  storeDoc,
  warmCache,
} from './lib/seed.mjs';

// Server variants: `{ '<name>': { env: { VAR: 'value' } } }`. Each variant used by a selected
// scenario gets one extra process for the whole run, with the main server's env (own PORT,
// PGlite dir and Redis key prefix) plus `env` on top. Its scenarios' "ratio to bare" still
// divides by the main server's bare (another process), so a variant's scenario is better
// judged by a target against a reference scenario (limit, peer) than by that column.
export const servers = {
  // The two-tier cache with L1 disabled: every hit is a Redis round trip.
  'l1-off': { env: { CACHE_L1_MAX_ENTRIES: '0' } },
  // No Redis: queues run on the in-process driver (an empty value means unset to the app).
  'queue-memory': { env: { REDIS_URL: '' } },
  // Peers, side by side in the same run: other apps (`entry`, built from src/bench/peers) with
  // their own readiness route. They get the same env (PORT, REDIS_URL, REDIS_KEY_PREFIX).
  // An empty NestJS 12 + Fastify app: no hooks, guards, interceptors or logger.
  'peer-empty': { entry: 'dist/src/bench/peers/empty-app.js', ready: '/ready' },
  // The official @nestjs/cache-manager CacheInterceptor on Redis (@keyv/redis), hook-free.
  'peer-cache': { entry: 'dist/src/bench/peers/cache-peer-app.js', ready: '/ready' },
};

// A fresh event whose cached route has answered HIT: the measured requests are all hits.
async function warmEvent(baseUrl, route) {
  const event = await createEvent(baseUrl);
  await warmCache(baseUrl, route(event.id));
  return event;
}

const eventRoute = (id) => `/events/${id}`;
const officialRoute = (id) => `/__bench/cache/official/events/${id}`;
const floorRoute = (id) => `/__bench/cache/floor/events/${id}`;
const invalidateRoute = ({ tag }) => `/__bench/cache/tags/${tag}/invalidate`;

export const scenarios = [
  {
    name: 'bare',
    baseline: 'bare',
    method: 'GET',
    path: '/__bench/bare',
    // The platform's fixed cost: every global hook, guard and interceptor, against none at all.
    target: { minRatioTo: 'peer: empty NestJS app, bare', min: 0.9 },
  },
  {
    name: 'peer: empty NestJS app, bare',
    method: 'GET',
    server: 'peer-empty',
    path: '/bare',
  },
  {
    // The floor of a Redis-backed hit, without our platform: one raw ioredis GET in the empty app.
    name: 'peer: empty app, one raw ioredis GET',
    method: 'GET',
    server: 'peer-empty',
    path: '/redis-get',
  },
  {
    // What the official modules give: CacheInterceptor + cache-manager on @keyv/redis, every request a hit.
    name: 'peer: official CacheInterceptor (Keyv Redis), hit',
    method: 'GET',
    server: 'peer-cache',
    setup: async (baseUrl) => {
      const id = `bench-${Date.now()}`;
      await requestJson(baseUrl, 'GET', `/events/${id}`, undefined, 200);
      return id;
    },
    path: (id) => `/events/${id}`,
  },
  {
    // The event detail straight from the database (GET /events/:id itself is cached now).
    name: 'events.get uncached',
    method: 'GET',
    setup: (baseUrl) => createEvent(baseUrl),
    path: (event) => `/__bench/cache/source/events/${event.id}`,
  },
  {
    // The session guard's cost: one token check, the session from the in-process tier (no
    // Redis round trip; its idle-timeout touch is written behind).
    name: 'authenticated GET',
    method: 'GET',
    setup: (baseUrl) => signUp(baseUrl),
    path: '/__bench/authenticated',
    headers: (auth) => auth,
    target: { minRatioTo: 'bare', min: 0.75 },
  },
  // The cache's references come first: the floor a Redis-backed hit cannot beat (one raw
  // GET) and the peer (the official @nestjs/cache-manager interceptor on a Redis store).
  {
    name: 'redis GET limit',
    method: 'GET',
    setup: async (baseUrl) => {
      const event = await createEvent(baseUrl);
      await storeDoc(baseUrl, event.id);
      return event;
    },
    path: (event) => `/__bench/cache/docs/${event.id}`,
  },
  {
    name: 'cache.get official peer',
    method: 'GET',
    setup: (baseUrl) => warmEvent(baseUrl, officialRoute),
    path: (event) => officialRoute(event.id),
  },
  {
    // The floor of any caching interceptor: an interceptor that answers a constant body through
    // of() and does nothing else. Its gap to bare is Nest's interceptor pipeline.
    name: 'cache interceptor floor',
    method: 'GET',
    setup: async (baseUrl) => {
      const event = await createEvent(baseUrl);
      await requestJson(baseUrl, 'GET', floorRoute(event.id), undefined, 200);
      return event;
    },
    path: (event) => floorRoute(event.id),
  },
  {
    // An L1 hit should cost next to nothing over the bare route, and clearly beat the peer.
    name: 'cache.get L1 hit',
    method: 'GET',
    setup: (baseUrl) => warmEvent(baseUrl, eventRoute),
    path: (event) => eventRoute(event.id),
    target: [
      { minRatioTo: 'bare', min: 0.9 },
      { minRatioTo: 'peer: official CacheInterceptor (Keyv Redis), hit', min: 1.3 },
    ],
  },
  {
    // The real GET /events (the cached list) from L1.
    name: 'events.list L1 hit',
    method: 'GET',
    setup: async (baseUrl) => {
      await createEvent(baseUrl);
      await warmCache(baseUrl, '/events');
    },
    path: '/events',
    target: [
      { minRatioTo: 'bare', min: 0.9 },
      { minRatioTo: 'peer: official CacheInterceptor (Keyv Redis), hit', min: 1.3 },
    ],
  },
  {
    // Same route with L1 off: what our Redis tier adds over a single raw GET.
    name: 'cache.get Redis only (L1 off)',
    method: 'GET',
    server: 'l1-off',
    setup: (baseUrl) => warmEvent(baseUrl, eventRoute),
    path: (event) => eventRoute(event.id),
    target: [
      { minRatioTo: 'redis GET limit', min: 0.9 },
      { minRatioTo: 'cache.get official peer', min: 1.0 },
    ],
  },
  {
    // Repeated invalidation of one tag; the setup's entries only matter for the 100k twin.
    name: 'cache tag invalidate (10 entries)',
    method: 'POST',
    setup: (baseUrl) => fillTag(baseUrl, 'small', 10),
    path: invalidateRoute,
    expectStatus: 204,
  },
  {
    // Invalidation must not scale with the tag's size: as fast as over 10 entries.
    name: 'cache tag invalidate (100k entries)',
    method: 'POST',
    setup: (baseUrl) => fillTag(baseUrl, 'large', 100_000),
    path: invalidateRoute,
    expectStatus: 204,
    target: { minRatioTo: 'cache tag invalidate (10 entries)', min: 0.9 },
  },
  // Throttling. References first: one raw EVALSHA round trip in a guard (the floor of any
  // Redis limiter), the @nest-lab/throttler-storage-redis peer and @nestjs/throttler's default
  // in-memory storage, each under the same guard as ours, each with a limit no run reaches.
  {
    name: 'throttle limit (1 EVALSHA)',
    method: 'GET',
    path: '/__bench/throttle/evalsha',
  },
  {
    name: 'throttle peer (@nest-lab Redis)',
    method: 'GET',
    path: '/__bench/throttle/peer',
  },
  {
    name: 'throttle default memory storage',
    method: 'GET',
    path: '/__bench/throttle/nest-memory',
  },
  {
    // Our Redis store, one script call per request: near the raw round trip, ahead of the peer.
    name: 'throttle Redis (ours)',
    method: 'GET',
    path: '/__bench/throttle/shared',
    target: [
      { minRatioTo: 'throttle limit (1 EVALSHA)', min: 0.9 },
      { minRatioTo: 'throttle peer (@nest-lab Redis)', min: 1.1 },
    ],
  },
  {
    // A high limit on our Redis store, its hits taken in leases (2 % of the limit, at most 100,
    // kept at most a tenth of the window): most requests make no Redis call.
    name: 'throttle Redis leased (ours)',
    method: 'GET',
    path: '/__bench/throttle/leased',
    target: { minRatioTo: 'throttle limit (1 EVALSHA)', min: 1.0 },
  },
  {
    name: 'throttle memory (ours)',
    method: 'GET',
    path: '/__bench/throttle/memory',
    target: { minRatioTo: 'bare', min: 0.9 },
  },
  {
    // The floor of any guard that refuses: it throws one prebuilt 429 problem, nothing else.
    // Its gap to bare is Nest's exception path, which no guard-based limiter avoids.
    name: 'throttle refusal floor',
    method: 'GET',
    path: '/__bench/throttle/refuse-floor',
    expectStatus: 429,
  },
  {
    // A client over its limit (1 per hour, spent in setup): refused by the local over-limit
    // cache, with no Redis call, as a problem+json 429.
    name: 'throttle over limit (429)',
    method: 'GET',
    setup: (baseUrl) => requestJson(baseUrl, 'GET', '/__bench/throttle/over', undefined, 200),
    path: '/__bench/throttle/over',
    expectStatus: 429,
    target: { minRatioTo: 'bare', min: 0.9 },
  },
  // Idempotency and locks: a replay costs one script call; a locked POST two (take, release).
  {
    // The reference of the POST scenarios: the bare route as a POST with a JSON body.
    name: 'bare POST (idempotent reference)',
    method: 'POST',
    path: '/__bench/bare',
    body: {},
    expectStatus: 201,
  },
  {
    name: 'idempotent replay',
    method: 'POST',
    setup: async (baseUrl) => {
      const key = `bench-${Math.random().toString(36).slice(2)}`;
      await requestJson(baseUrl, 'POST', '/__bench/idempotent/echo', {}, 201, { 'idempotency-key': key });
      return { key };
    },
    path: '/__bench/idempotent/echo',
    headers: ({ key }) => ({ 'idempotency-key': key }),
    body: {},
    expectStatus: 201,
    target: { minRatioTo: 'redis GET limit', min: 0.85 },
  },
  {
    name: 'locked POST (no contention)',
    method: 'POST',
    path: '/__bench/locked-each',
    expectStatus: 200,
    target: { minRatioTo: 'locked POST limit (2 raw commands)', min: 0.85 },
  },
  {
    // The same two round trips on a raw connection: SET NX PX, then a compare-and-delete script.
    name: 'locked POST limit (2 raw commands)',
    method: 'POST',
    path: '/__bench/locked-limit',
    expectStatus: 200,
  },
  // Database reads and writes, on PostgreSQL (BENCH_DATABASE_URL). Each real route is judged
  // against a limit route that runs the same SQL on a raw pg Pool (src/bench/db-bench.controller.ts).
  {
    // The real GET /events/:id, every request a cache miss: rotated over 64 events, with a query
    // parameter that never repeats (it is part of the cache key, the route ignores it). So each
    // request pays the cache's miss path (L1 peek, Redis GET, fill) plus the SELECT.
    name: 'events.get uncached (real route)',
    method: 'GET',
    setup: (baseUrl) => createEvents(baseUrl, 64),
    path: (events) => eventRoute(events[0].id),
    paths: (events) => events.map((e) => eventRoute(e.id)),
    uniqueQuery: 'bench_miss',
    target: { minRatioTo: 'events.get db limit', min: 0.8 },
  },
  {
    name: 'events.get db limit',
    method: 'GET',
    setup: (baseUrl) => createEvents(baseUrl, 64),
    path: (events) => `/__bench/db/events/${events[0].id}`,
    paths: (events) => events.map((e) => `/__bench/db/events/${e.id}`),
  },
  {
    // GET /orders of a customer with 20 orders: session guard, one SELECT with count(*) OVER ().
    name: 'orders.list',
    method: 'GET',
    setup: (baseUrl) => customerWithOrders(baseUrl, 20),
    path: '/orders',
    headers: (ctx) => ctx.auth,
    target: { minRatioTo: 'orders.list db limit', min: 0.8 },
  },
  {
    name: 'orders.list db limit',
    method: 'GET',
    setup: (baseUrl) => customerWithOrders(baseUrl, 20),
    path: '/__bench/db/orders',
    headers: (ctx) => ctx.auth,
  },
  {
    // POST /events/:id/reservations spread over 64 events (so row locks rarely collide), a fresh
    // Idempotency-Key on every request: every request is a new hold.
    name: 'reservations (64 events)',
    method: 'POST',
    setup: async (baseUrl) => ({
      auth: await signUp(baseUrl),
      events: await createEvents(baseUrl, 64, { capacity: 1_000_000 }),
    }),
    path: (ctx) => `/events/${ctx.events[0].id}/reservations`,
    paths: (ctx) => ctx.events.map((e) => `/events/${e.id}/reservations`),
    headers: (ctx) => ctx.auth,
    body: { quantity: 1 },
    freshIdempotencyKey: true,
    expectStatus: 201,
    target: { minRatioTo: 'reservations db limit', min: 0.7 },
  },
  {
    name: 'reservations db limit',
    method: 'POST',
    setup: async (baseUrl) => ({
      auth: await signUp(baseUrl),
      events: await createEvents(baseUrl, 64, { capacity: 1_000_000 }),
    }),
    path: (ctx) => `/__bench/db/events/${ctx.events[0].id}/reservations`,
    paths: (ctx) => ctx.events.map((e) => `/__bench/db/events/${e.id}/reservations`),
    headers: (ctx) => ctx.auth,
    body: { quantity: 1 },
    expectStatus: 201,
  },
  {
    // The real GET /auth/me of a signed-in user: the session guard, the throttler's api tier and
    // a handler answering from the session record (id, roles and email), no database read.
    name: 'auth.me',
    method: 'GET',
    setup: (baseUrl) => signUp(baseUrl),
    path: '/auth/me',
    headers: (auth) => auth,
    expectStatus: 200,
    target: { minRatioTo: 'bare', min: 0.75 },
  },
];

// The queue section (bench/lib/queue.mjs), not load-tested over HTTP: each server times no-op
// jobs from enqueue to completion itself (POST /__bench/queue/measure). Every measured round
// runs each entry in two modes: latency (one job at a time: p50, p99) and throughput (many adds
// in flight: jobs/s).
//
// Shape: {
//   name,                        unique among all scenarios; BENCH_FILTER matches on it
//   driver: 'ours' | 'bullmq',   the app's JobQueue and worker, or BullMQ's Queue and Worker directly
//   engine: 'bullmq' | 'memory', what must have run (the server reports it; a mismatch fails the run)
//   server?: '<name>',           a server variant, as above
//   reference?: true,            THE denominator of the ratio columns (exactly one); runs whenever
//                                any other queue scenario does
//   target?: { metric: 'p50Ms' | 'p99Ms' | 'jobsPerSec', max | min },   ratio to the reference;
//            | [...]               several, each evaluated and reported
// }
export const queueScenarios = [
  {
    // BullMQ as its docs show it, in the main server, next to ours: same Redis, same key prefix,
    // same worker concurrency (8), same job options.
    name: 'queue BullMQ direct',
    reference: true,
    driver: 'bullmq',
    engine: 'bullmq',
  },
  {
    // JobQueue.add, then the @JobProcessor on the app's @nestjs/bullmq worker. Our layer (a job
    // id per add, the producer's fail-fast checks, the job view) may cost some, not much.
    name: 'queue ours (BullMQ)',
    driver: 'ours',
    engine: 'bullmq',
    target: [
      { metric: 'p50Ms', max: 1.3 },
      { metric: 'jobsPerSec', min: 0.8 },
    ],
  },
  {
    // The fallback without Redis, for scale: no network at all. Its ratios divide by the main
    // server's BullMQ direct (another process, measured in the same round).
    name: 'queue ours (in process)',
    driver: 'ours',
    engine: 'memory',
    server: 'queue-memory',
  },
];
