import { createTestDatabase, type TestDatabase } from './support/database';
import { startApp, type RunningApp } from './support/app';
import { signUp } from './support/auth';
import { eventBody, future, PROBLEM_JSON } from './support/fixtures';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';

const PROBLEM = PROBLEM_JSON;

describe('HTTP contract', () => {
  let db: TestDatabase;
  let running: RunningApp;
  let organizer: Record<string, string>;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(running.url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...organizer, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    running = await startApp({
      ...db.env,
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('http'),
      BODY_LIMIT_BYTES: '2048',
    });
    organizer = (await signUp(running.url, 'organizer')).auth;
  });
  afterAll(async () => {
    await running?.close();
    await db?.drop();
  });

  describe('errors are RFC 9457 problem+json', () => {
    it('400 lists every invalid field and rejects unknown fields', async () => {
      const res = await post('/events', { title: '', capacity: 0, currency: 'euro', color: 'red' });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe(PROBLEM);
      const problem = await res.json();
      expect(problem).toMatchObject({
        type: 'urn:box-office:problem:validation-error',
        title: 'Request validation failed',
        status: 400,
        instance: '/events',
      });
      const fields = problem.errors.map((e: { field: string }) => e.field);
      expect(fields).toEqual(
        expect.arrayContaining(['title', 'venue', 'startsAt', 'capacity', 'priceCents', 'currency', 'color']),
      );
      expect(problem.errors.find((e: { field: string }) => e.field === 'color').messages).toEqual([
        'property color should not exist',
      ]);
    });

    it('400 for a body that is not JSON, without a stack trace', async () => {
      const res = await post('/events', '{"title": ');
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toBe(PROBLEM);
      const problem = await res.json();
      expect(problem).toMatchObject({ type: 'urn:box-office:problem:bad-request', status: 400 });
      expect(JSON.stringify(problem)).not.toMatch(/at .+\.js:\d+/);
    });

    it('404 for an unknown route and for an unknown event', async () => {
      const route = await fetch(`${running.url}/no-such-route`);
      expect(route.status).toBe(404);
      expect(route.headers.get('content-type')).toBe(PROBLEM);
      expect(await route.json()).toMatchObject({ type: 'urn:box-office:problem:not-found', status: 404 });

      const id = '00000000-0000-4000-8000-000000000000';
      const event = await fetch(`${running.url}/events/${id}`);
      expect(event.status).toBe(404);
      expect(await event.json()).toMatchObject({
        type: 'urn:box-office:problem:event-not-found',
        status: 404,
        detail: `No event has the id ${id}.`,
        instance: `/events/${id}`,
      });
      expect((await fetch(`${running.url}/events/not-a-uuid`)).status).toBe(404);
    });

    it('413 when the body exceeds BODY_LIMIT_BYTES', async () => {
      const res = await post('/events', eventBody({ title: 'x'.repeat(4096) }));
      expect(res.status).toBe(413);
      expect(res.headers.get('content-type')).toBe(PROBLEM);
      expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:payload-too-large', status: 413 });
    });

    it('415 for a body that is not JSON by content type', async () => {
      const res = await post('/events', '<event/>', { 'content-type': 'application/xml' });
      expect(res.status).toBe(415);
      expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:unsupported-media-type', status: 415 });
    });
  });

  describe('request ids and headers', () => {
    it('echoes an accepted X-Request-Id, also on errors', async () => {
      const ok = await fetch(`${running.url}/health/live`, { headers: { 'x-request-id': 'client-123' } });
      expect(ok.headers.get('x-request-id')).toBe('client-123');
      const missing = await fetch(`${running.url}/nope`, { headers: { 'x-request-id': 'client-456' } });
      expect(missing.headers.get('x-request-id')).toBe('client-456');
      expect((await missing.json()).requestId).toBe('client-456');
    });

    it('generates an id when none or an unsafe one is sent', async () => {
      const none = await fetch(`${running.url}/health/live`);
      expect(none.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const unsafe = await fetch(`${running.url}/health/live`, { headers: { 'x-request-id': 'a b\tc'.repeat(50) } });
      expect(unsafe.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('sends security headers', async () => {
      const res = await fetch(`${running.url}/events`);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
      expect(res.headers.get('strict-transport-security')).toBeNull(); // production only
      // The OpenAPI UI, the one HTML page, gets a policy that lets it run.
      const docs = await fetch(`${running.url}/docs`);
      expect(docs.headers.get('content-security-policy')).toContain("script-src 'self' 'unsafe-inline'");
    });
  });

  describe('metrics and docs', () => {
    it('exposes Prometheus metrics with the request duration histogram by route pattern', async () => {
      const created = await (await post('/events', eventBody())).json();
      await fetch(`${running.url}/events/${created.id}`);
      const res = await fetch(`${running.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(text).toMatch(/http_request_duration_seconds_bucket\{[^}]*route="\/events\/:id"[^}]*status_code="200"/);
      expect(text).not.toContain(created.id);
    });

    it('serves the OpenAPI document and its UI', async () => {
      const doc = await (await fetch(`${running.url}/docs/openapi.json`)).json();
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/events', '/events/{id}', '/health/ready']));
      expect(doc.components.schemas.CreateEventDto.required).toEqual(expect.arrayContaining(['title', 'startsAt']));
      const ui = await fetch(`${running.url}/docs`);
      expect(ui.status).toBe(200);
      expect(await ui.text()).toContain('swagger');
    });
  });

  describe('events catalog', () => {
    it('creates, reads, lists and updates an event', async () => {
      const res = await post('/events', eventBody({ title: 'Catalog test', startsAt: future(400) }));
      expect(res.status).toBe(201);
      const event = await res.json();
      expect(res.headers.get('location')).toBe(`/events/${event.id}`);
      expect(event).toMatchObject({
        title: 'Catalog test',
        capacity: 100,
        seatsAvailable: 100,
        status: 'published',
        version: 1,
      });

      const read = await (await fetch(`${running.url}/events/${event.id}`)).json();
      expect(read).toEqual(event);

      const patched = await fetch(`${running.url}/events/${event.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...organizer },
        body: JSON.stringify({ capacity: 150, priceCents: 3000 }),
      });
      expect(patched.status).toBe(200);
      expect(await patched.json()).toMatchObject({ capacity: 150, seatsAvailable: 150, priceCents: 3000, version: 2 });
    });

    it('paginates and filters by date range', async () => {
      const base = Date.now() + 1000 * 86_400_000;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const e = await (
          await post(
            '/events',
            eventBody({ title: `Range ${i}`, startsAt: new Date(base + i * 3_600_000).toISOString() }),
          )
        ).json();
        ids.push(e.id);
      }
      const from = new Date(base + 3_600_000).toISOString();
      const to = new Date(base + 4 * 3_600_000).toISOString();
      const page1 = await (await fetch(`${running.url}/events?from=${from}&to=${to}&limit=2`)).json();
      expect(page1).toMatchObject({ total: 3, limit: 2, offset: 0 });
      expect(page1.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(1, 3));
      const page2 = await (await fetch(`${running.url}/events?from=${from}&to=${to}&limit=2&offset=2`)).json();
      expect(page2.items.map((e: { id: string }) => e.id)).toEqual(ids.slice(3, 4));

      const bad = await fetch(`${running.url}/events?from=${to}&to=${from}`);
      expect(bad.status).toBe(400);
      const badLimit = await fetch(`${running.url}/events?limit=1000&from=yesterday`);
      expect(badLimit.status).toBe(400);
      const fields = (await badLimit.json()).errors.map((e: { field: string }) => e.field);
      expect(fields).toEqual(expect.arrayContaining(['limit', 'from']));
    });

    it('refuses a capacity below the seats already taken', async () => {
      const event = await (await post('/events', eventBody({ capacity: 10 }))).json();
      // Ten seats taken, as reservations will do it: a conditional update in the database.
      await running.app
        .get(await import('typeorm').then((m) => m.DataSource))
        .query('UPDATE events SET seats_available = seats_available - 6 WHERE id = $1', [event.id]);
      const res = await fetch(`${running.url}/events/${event.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...organizer },
        body: JSON.stringify({ capacity: 5 }),
      });
      expect(res.status).toBe(409);
      expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:capacity-below-sold', seatsTaken: 6 });
      const ok = await fetch(`${running.url}/events/${event.id}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', ...organizer },
        body: JSON.stringify({ capacity: 8 }),
      });
      expect(await ok.json()).toMatchObject({ capacity: 8, seatsAvailable: 2 });
    });
  });
});
