import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { createTestDatabase, type TestDatabase } from './support/database';
import { startApp, type RunningApp } from './support/app';
import { signUp } from './support/auth';
import { eventBody, PROBLEM_JSON } from './support/fixtures';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';

/** The answers to input that once got a 500, Fastify's own JSON or the wrong status. */
describe('bad input', () => {
  let db: TestDatabase;
  let running: RunningApp;
  let organizer: Record<string, string>;
  const send = (method: string, path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(running.url + path, {
      method,
      headers: { 'content-type': 'application/json', ...organizer, ...headers },
      body,
    });
  const validationFields = async (res: Response) => {
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe(PROBLEM_JSON);
    const problem = await res.json();
    expect(problem.type).toBe('urn:box-office:problem:validation-error');
    return Object.fromEntries(
      (problem.errors as { field: string; messages: string[] }[]).map((e) => [e.field, e.messages.join('; ')]),
    );
  };
  const expectContract = async (res: Response, status: number) => {
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe(PROBLEM_JSON);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const problem = await res.json();
    expect(problem).toMatchObject({ status, requestId: id });
    expect(typeof problem.type).toBe('string');
    expect(typeof problem.title).toBe('string');
    return problem;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    running = await startApp({ ...db.env, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('bad') });
    organizer = (await signUp(running.url, 'organizer')).auth;
  });
  afterAll(async () => {
    await running?.close();
    await db?.drop();
  });

  describe('framework-level errors are problem+json with a request id and the security headers', () => {
    it('400 for a URL that cannot be decoded', async () => {
      const problem = await expectContract(await fetch(`${running.url}/events/%E0%A4%A`), 400);
      expect(problem).toMatchObject({ type: 'urn:box-office:problem:bad-request', instance: '/events/%E0%A4%A' });
    });

    it('414 for a path parameter over the length limit', async () => {
      const problem = await expectContract(await fetch(`${running.url}/events/${'a'.repeat(300)}`), 414);
      expect(problem.type).toBe('urn:box-office:problem:uri-too-long');
    });

    it('400 for a request Node cannot parse (bad Content-Length), written on the socket', async () => {
      const raw = await rawRequest('POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
      const [head, body] = raw.split('\r\n\r\n');
      expect(head).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toContain(`Content-Type: ${PROBLEM_JSON}`);
      expect(head).toMatch(/X-Content-Type-Options: nosniff/i);
      const id = /x-request-id: (\S+)/i.exec(head)?.[1];
      expect(JSON.parse(body)).toMatchObject({
        type: 'urn:box-office:problem:bad-request',
        status: 400,
        requestId: id,
      });
    });

    it('431 for headers over the size limit', async () => {
      const raw = await rawRequest(`GET /events HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      expect(raw).toMatch(/^HTTP\/1\.1 431 /);
      expect(JSON.parse(raw.split('\r\n\r\n')[1])).toMatchObject({ status: 431, requestId: expect.any(String) });
    });

    it('400 for malformed JSON and 413 for a body too large keep the contract', async () => {
      await expectContract(await send('POST', '/events', '{"title": '), 400);
      await expectContract(await send('POST', '/events', JSON.stringify({ title: 'x'.repeat(2_000_000) })), 413);
    });
  });

  describe('found by the fuzzer', () => {
    it('a body nested thousands of levels deep is a 400, not a stack overflow', async () => {
      const created = await (await send('POST', '/events', JSON.stringify(eventBody()))).json();
      const deep = '['.repeat(5000) + ']'.repeat(5000);
      for (const res of [
        await send('PATCH', `/events/${created.id}`, deep),
        // The idempotency fingerprint walks the body before any pipe does.
        await send('POST', `/events/${created.id}/reservations`, deep, { 'idempotency-key': randomUUID() }),
        await send('POST', '/events', JSON.stringify({ title: JSON.parse('['.repeat(40) + ']'.repeat(40)) })),
      ]) {
        const problem = await expectContract(res, 400);
        expect(problem).toMatchObject({
          type: 'urn:box-office:problem:bad-request',
          detail: expect.stringContaining('nested'),
        });
      }
      const fine = await send('PATCH', `/events/${created.id}`, JSON.stringify({ title: 'Still here' }));
      expect(fine.status).toBe(200);
    });

    it('a body that is not an object where a DTO is expected is a 400 saying so', async () => {
      for (const body of ['[]', '"x"', '42', 'null']) {
        const fields = await validationFields(await send('POST', '/events', body));
        expect(fields['']).toBe('the body must be a JSON object');
      }
    });

    it('a request refused by the CSRF check carries its X-Request-Id', async () => {
      const res = await send('POST', '/events', JSON.stringify(eventBody()), {
        'sec-fetch-site': 'cross-site',
        origin: 'https://elsewhere.example',
      });
      const problem = await expectContract(res, 403);
      expect(problem.type).toBe('urn:box-office:problem:forbidden');
    });

    it('Content-Type: application/json without a body is no body, not a 400', async () => {
      const res = await fetch(`${running.url}/auth/logout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(await signUp(running.url)).auth },
      });
      expect(res.status).toBe(204);
    });

    it('documents limit and offset as integers', async () => {
      const doc = await (await fetch(`${running.url}/docs/openapi.json`)).json();
      const limit = doc.paths['/events'].get.parameters.find((p: { name: string }) => p.name === 'limit');
      expect(limit.schema).toMatchObject({ type: 'integer', minimum: 1, maximum: 100 });
    });
  });

  describe('415 for every body that is not JSON', () => {
    it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x'])(
      '%s',
      async (type) => {
        const problem = await expectContract(await send('POST', '/events', 'title=a', { 'content-type': type }), 415);
        expect(problem.type).toBe('urn:box-office:problem:unsupported-media-type');
      },
    );

    it('a body without Content-Type', async () => {
      const res = await fetch(`${running.url}/events`, {
        method: 'POST',
        headers: organizer,
        body: new Uint8Array(Buffer.from('{"title":"a"}')),
      });
      await expectContract(res, 415);
    });
  });

  describe('null is refused where the field is not nullable', () => {
    it('PATCH /events/:id with {"title": null} is a 400 naming the field, and nothing changes', async () => {
      const created = await (await send('POST', '/events', JSON.stringify(eventBody()))).json();
      const fields = await validationFields(
        await send('PATCH', `/events/${created.id}`, JSON.stringify({ title: null, capacity: null, currency: null })),
      );
      expect(fields).toMatchObject({
        title: 'title must not be null',
        capacity: 'capacity must not be null',
        currency: 'currency must not be null',
      });
      expect(await (await fetch(`${running.url}/events/${created.id}`)).json()).toMatchObject({ title: 'Jazz night' });
    });

    it('null in a required field of POST /auth/login', async () => {
      const fields = await validationFields(
        await send('POST', '/auth/login', JSON.stringify({ email: null, password: null })),
      );
      expect(Object.keys(fields)).toEqual(expect.arrayContaining(['email', 'password']));
    });
  });

  describe('strings PostgreSQL or UTF-8 cannot hold', () => {
    it('U+0000 in any string field is a 400, in bodies and queries', async () => {
      const fields = await validationFields(
        await send('POST', '/events', JSON.stringify(eventBody({ title: 'a\u0000b', venue: '\u0000' }))),
      );
      expect(fields.title).toContain('NUL');
      expect(fields.venue).toContain('NUL');
      const register = await validationFields(
        await send(
          'POST',
          '/auth/register',
          JSON.stringify({ email: 'a@example.com', password: 'p'.repeat(12) + '\0' }),
        ),
      );
      expect(register.password).toContain('NUL');
      const query = await validationFields(await fetch(`${running.url}/events?status=%00`));
      expect(query.status).toContain('NUL');
    });

    it('a lone surrogate is a 400', async () => {
      // JSON.stringify escapes a lone surrogate as \ud800, which JSON.parse turns back into one.
      const fields = await validationFields(
        await send('POST', '/events', JSON.stringify(eventBody({ title: 'x\ud800' }))),
      );
      expect(fields.title).toContain('lone surrogate');
      // validator.js's isEmail throws on one (found by the fuzzer: it was a 500).
      const register = await validationFields(
        await send('POST', '/auth/register', JSON.stringify({ email: '\ud83c', password: ' '.repeat(12) })),
      );
      expect(register.email).toContain('lone surrogate');
      const created = await send('POST', '/events', JSON.stringify(eventBody({ title: 'Emoji 🎷 night' })));
      expect(created.status).toBe(201);
    });
  });

  describe('impossible calendar dates', () => {
    it.each(['2031-02-31T20:00:00Z', '2031-04-31T20:00:00Z', '2031-02-29T20:00:00Z', '2031-13-01T00:00:00Z'])(
      'startsAt %s is a 400',
      async (startsAt) => {
        const fields = await validationFields(await send('POST', '/events', JSON.stringify(eventBody({ startsAt }))));
        expect(fields.startsAt).toContain('ISO 8601');
      },
    );

    it.each(['2031-01-01T24:00:00Z', '2031-01-01T23:60:00Z', '2031-01-01T23:59:60Z', '2031-01-01T20:00:00+24:00'])(
      'startsAt %s is a 400',
      async (startsAt) => {
        await validationFields(await send('POST', '/events', JSON.stringify(eventBody({ startsAt }))));
      },
    );

    it('a leap day is accepted and stored as given', async () => {
      const res = await send('POST', '/events', JSON.stringify(eventBody({ startsAt: '2032-02-29T20:00:00+01:00' })));
      expect(res.status).toBe(201);
      expect((await res.json()).startsAt).toBe('2032-02-29T19:00:00.000Z');
    });

    it('the list filter refuses an impossible date too', async () => {
      const fields = await validationFields(await fetch(`${running.url}/events?from=2031-02-30T00:00:00Z`));
      expect(fields.from).toContain('ISO 8601');
    });
  });

  function rawRequest(request: string): Promise<string> {
    const { hostname, port } = new URL(running.url);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
      socket.write(request);
    });
  }
});
