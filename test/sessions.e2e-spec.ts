import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import type { Redis } from 'ioredis';
import { RedisService } from '../src/platform/redis';
import { SessionTokens } from '../src/platform/session';
import { startApp, type RunningApp } from './support/app';
import { logIn, signUp, type SignedIn } from './support/auth';
import { createTestDatabase, type TestDatabase } from './support/database';
import { RedisProcess, rawRedis, TEST_REDIS_URL, uniquePrefix } from './support/redis';
import { eventBody } from './support/fixtures';
import { eventually } from './support/eventually';

const PROBLEM = 'application/problem+json; charset=utf-8';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const json = { 'content-type': 'application/json' };

/** The `name=value` pair of a Set-Cookie header, ready to send back as a Cookie header. */
const cookiePair = (setCookie: string) => setCookie.split(';')[0]!.trim();
const cookieOf = (name: string, token: string) => ({ cookie: `${name}=${token}` });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Set-Cookie attributes by lower-cased name (flags map to true). */
function cookieAttributes(setCookie: string): { name: string; value: string; attrs: Record<string, string | true> } {
  const [pair, ...rest] = setCookie.split(';').map((part) => part.trim());
  const at = pair!.indexOf('=');
  const attrs: Record<string, string | true> = {};
  for (const part of rest) {
    const eq = part.indexOf('=');
    if (eq < 0) attrs[part.toLowerCase()] = true;
    else attrs[part.slice(0, eq).toLowerCase()] = part.slice(eq + 1);
  }
  return { name: pair!.slice(0, at), value: pair!.slice(at + 1), attrs };
}

const me = (url: string, headers: Record<string, string>) => fetch(`${url}/auth/me`, { headers });
const logout = (url: string, headers: Record<string, string>) =>
  fetch(`${url}/auth/logout`, { method: 'POST', headers });

async function expectUnauthenticated(res: Response): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get('content-type')).toBe(PROBLEM);
  expect(res.headers.get('www-authenticate')).toBe('Bearer realm="box-office"');
  expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:unauthenticated', status: 401 });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('sessions and identity', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  describe('on the shared Redis', () => {
    let running: RunningApp;
    let url: string;
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(url + path, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify(body) });
    const patch = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(url + path, { method: 'PATCH', headers: { ...json, ...headers }, body: JSON.stringify(body) });
    const listSessions = async (token: string) => {
      const res = await fetch(`${url}/auth/sessions`, { headers: bearer(token) });
      expect(res.status).toBe(200);
      return (await res.json()) as Array<Record<string, unknown>>;
    };
    /** A user made admin in the database, then logged in again so the session carries the role. */
    const signUpAdmin = async (): Promise<SignedIn> => {
      const user = await signUp(url);
      await running.app.get(DataSource).query("UPDATE users SET roles = '{admin}' WHERE id = $1", [user.userId]);
      return { ...user, ...(await logIn(url, user.email, user.password)) };
    };

    /** A customer shared by tests that only need fresh sessions of some user. */
    let regular: SignedIn;
    const regularSession = async (): Promise<SignedIn> => ({
      ...regular,
      ...(await logIn(url, regular.email, regular.password)),
    });

    beforeAll(async () => {
      running = await startApp({ ...db.env, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('sessions') });
      url = running.url;
      regular = await signUp(url);
    });
    afterAll(() => running?.close());

    describe('register, login, me, logout', () => {
      it('works with the session cookie; after logout the cookie gets 401 and logout clears it', async () => {
        const user = await signUp(url);
        const cookie = { cookie: cookiePair(user.setCookie) };
        expect(cookie.cookie).toBe(`bo_session=${user.token}`);

        const who = await me(url, cookie);
        expect(who.status).toBe(200);
        expect(await who.json()).toEqual({ id: user.userId, email: user.email, roles: ['customer'] });

        const out = await logout(url, cookie);
        expect(out.status).toBe(204);
        const cleared = cookieAttributes(out.headers.get('set-cookie') ?? '');
        expect(cleared).toMatchObject({ name: 'bo_session', value: '' });
        const maxAge = cleared.attrs['max-age'];
        const expires = cleared.attrs.expires;
        // Max-Age wins over Expires in browsers, so a positive one would keep the cookie alive.
        if (maxAge !== undefined) expect(Number(maxAge)).toBeLessThanOrEqual(0);
        if (maxAge === undefined) expect(Date.parse(String(expires))).toBeLessThan(Date.now());

        await expectUnauthenticated(await me(url, cookie));
        await expectUnauthenticated(await logout(url, cookie));
      });

      it('works with the Bearer header; after logout the token gets 401', async () => {
        const user = await signUp(url, 'organizer');
        const who = await me(url, user.auth);
        expect(who.status).toBe(200);
        expect(await who.json()).toEqual({ id: user.userId, email: user.email, roles: ['organizer'] });

        expect((await logout(url, user.auth)).status).toBe(204);
        await expectUnauthenticated(await me(url, user.auth));
      });

      it('login answers the token, its absolute expiry and the user', async () => {
        const user = await regularSession();
        const res = await post('/auth/login', { email: user.email, password: user.password });
        expect(res.status).toBe(200);
        const body = await res.json();
        expect(body).toEqual({
          token: expect.stringMatching(/^[\w-]{22}\.[\w-]{43}\.[\w-]{22}$/),
          expiresAt: expect.stringMatching(ISO),
          user: { id: user.userId, email: user.email, roles: ['customer'] },
        });
        const hours = (Date.parse(body.expiresAt) - Date.now()) / 3_600_000;
        expect(hours).toBeGreaterThan(7.9);
        expect(hours).toBeLessThanOrEqual(8);
      });
    });

    describe('login rotates the token', () => {
      it('a Bearer token sent with the login is revoked and replaced by a new one', async () => {
        const user = await regularSession();
        const a = user.token;
        const { token: b } = await logIn(url, user.email, user.password, bearer(a));
        expect(b).not.toBe(a);
        await expectUnauthenticated(await me(url, bearer(a)));
        expect((await me(url, bearer(b))).status).toBe(200);
      });

      it('a cookie sent with the login is revoked and replaced by a new one', async () => {
        const user = await regularSession();
        const a = user.token;
        const { token: b, setCookie } = await logIn(url, user.email, user.password, cookieOf('bo_session', a));
        expect(b).not.toBe(a);
        expect(cookiePair(setCookie)).toBe(`bo_session=${b}`);
        await expectUnauthenticated(await me(url, cookieOf('bo_session', a)));
        expect((await me(url, cookieOf('bo_session', b))).status).toBe(200);
      });

      it('two logins give two different tokens, both live', async () => {
        const user = await regularSession();
        const second = await logIn(url, user.email, user.password);
        expect(second.token).not.toBe(user.token);
        expect((await me(url, user.auth)).status).toBe(200);
        expect((await me(url, second.auth)).status).toBe(200);
      });
    });

    describe('listing and revoking sessions', () => {
      it("lists the user's live sessions with their metadata, current only for the caller's", async () => {
        const user = await signUp(url);
        const phone = await logIn(url, user.email, user.password, { 'user-agent': 'sessions-e2e/phone' });
        const before = Date.now();
        const laptop = await logIn(url, user.email, user.password, { 'user-agent': 'sessions-e2e/laptop' });

        const sessions = await listSessions(laptop.token);
        expect(sessions).toHaveLength(3);
        // Newest first.
        expect(sessions.map((s) => s.userAgent)).toEqual([
          'sessions-e2e/laptop',
          'sessions-e2e/phone',
          expect.any(String), // fetch's own user agent, from signUp
        ]);
        expect(sessions.map((s) => s.current)).toEqual([true, false, false]);
        for (const session of sessions) {
          expect(session).toEqual({
            id: expect.any(String),
            createdAt: expect.stringMatching(ISO),
            lastSeenAt: expect.stringMatching(ISO),
            expiresAt: expect.stringMatching(ISO),
            userAgent: expect.any(String),
            ip: '127.0.0.1',
            current: expect.any(Boolean),
          });
          expect(Date.parse(session.lastSeenAt as string)).toBeGreaterThanOrEqual(
            Date.parse(session.createdAt as string),
          );
        }
        expect(Date.parse(sessions[0]!.createdAt as string)).toBeGreaterThanOrEqual(before - 5);
        // The caller's own session was touched by the listing request itself.
        expect(Date.parse(sessions[0]!.lastSeenAt as string)).toBeGreaterThanOrEqual(
          Date.parse(sessions[0]!.createdAt as string),
        );
        expect(new Set(sessions.map((s) => s.id)).size).toBe(3);
        // The phone sees itself as current.
        expect((await listSessions(phone.token)).map((s) => s.current)).toEqual([false, true, false]);
      });

      it('revoking one session by id kills it on its very next request', async () => {
        const user = await signUp(url);
        const other = await logIn(url, user.email, user.password, { 'user-agent': 'sessions-e2e/other' });
        const target = (await listSessions(user.token)).find((s) => s.userAgent === 'sessions-e2e/other')!;
        expect((await me(url, other.auth)).status).toBe(200);

        const res = await fetch(`${url}/auth/sessions/${target.id}`, { method: 'DELETE', headers: user.auth });
        expect(res.status).toBe(204);
        await expectUnauthenticated(await me(url, other.auth));
        expect((await me(url, user.auth)).status).toBe(200);
        expect((await listSessions(user.token)).map((s) => s.id)).not.toContain(target.id);

        const again = await fetch(`${url}/auth/sessions/${target.id}`, { method: 'DELETE', headers: user.auth });
        expect(again.status).toBe(404);
        expect(await again.json()).toMatchObject({ type: 'urn:box-office:problem:session-not-found' });
      });

      it('DELETE /auth/sessions revokes every other session and keeps the caller', async () => {
        const user = await signUp(url);
        const [second, third] = await Promise.all([
          logIn(url, user.email, user.password),
          logIn(url, user.email, user.password),
        ]);

        const res = await fetch(`${url}/auth/sessions`, { method: 'DELETE', headers: third.auth });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ revoked: 2 });
        await expectUnauthenticated(await me(url, user.auth));
        await expectUnauthenticated(await me(url, second.auth));
        expect((await me(url, third.auth)).status).toBe(200);
        expect(await listSessions(third.token)).toHaveLength(1);
      });

      it('DELETE /auth/sessions?all=true revokes every session including the caller', async () => {
        const user = await signUp(url);
        const second = await logIn(url, user.email, user.password);

        const res = await fetch(`${url}/auth/sessions?all=true`, { method: 'DELETE', headers: second.auth });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ revoked: 2 });
        await expectUnauthenticated(await me(url, user.auth));
        await expectUnauthenticated(await me(url, second.auth));
      });

      it("revoking another user's session id answers 404 and that session keeps working", async () => {
        const [alice, bob] = await Promise.all([signUp(url), signUp(url)]);
        const [bobSession] = await listSessions(bob.token);

        const res = await fetch(`${url}/auth/sessions/${bobSession!.id}`, { method: 'DELETE', headers: alice.auth });
        expect(res.status).toBe(404);
        expect(res.headers.get('content-type')).toBe(PROBLEM);
        expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:session-not-found', status: 404 });
        expect((await me(url, bob.auth)).status).toBe(200);
        expect((await me(url, alice.auth)).status).toBe(200);
      });
    });

    describe('session cookie in development', () => {
      it('is bo_session with Path=/, Max-Age of the absolute timeout, HttpOnly, SameSite=Lax and no Secure', async () => {
        const user = await regularSession();
        const cookie = cookieAttributes(user.setCookie);
        expect(cookie.name).toBe('bo_session');
        expect(cookie.value).toBe(user.token);
        expect(cookie.attrs).toEqual({ path: '/', 'max-age': '28800', httponly: true, samesite: 'Lax' });
      });
    });

    describe('CSRF with cookie authentication', () => {
      let user: SignedIn;
      let cookie: Record<string, string>;
      beforeEach(async () => {
        user ??= regular;
        const session = await logIn(url, user.email, user.password);
        cookie = { cookie: cookiePair(session.setCookie) };
      });

      it('a cross-site unsafe request is refused with 403 and the session still works', async () => {
        const res = await logout(url, { ...cookie, 'sec-fetch-site': 'cross-site' });
        expect(res.status).toBe(403);
        expect(res.headers.get('content-type')).toBe(PROBLEM);
        expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:forbidden', status: 403 });
        expect((await me(url, cookie)).status).toBe(200);
      });

      it('a same-origin unsafe request passes', async () => {
        expect((await logout(url, { ...cookie, 'sec-fetch-site': 'same-origin' })).status).toBe(204);
        await expectUnauthenticated(await me(url, cookie));
      });

      it('a foreign Origin without Sec-Fetch-Site is refused and the session still works', async () => {
        const res = await logout(url, { ...cookie, origin: 'https://evil.example' });
        expect(res.status).toBe(403);
        expect(res.headers.get('content-type')).toBe(PROBLEM);
        expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:forbidden', status: 403 });
        expect((await me(url, cookie)).status).toBe(200);
      });

      it('a Bearer API client sending neither header passes', async () => {
        const session = await logIn(url, user.email, user.password);
        expect((await logout(url, session.auth)).status).toBe(204);
        await expectUnauthenticated(await me(url, session.auth));
      });
    });

    describe('roles and ownership', () => {
      let customer: SignedIn;
      let organizer: SignedIn;
      let rival: SignedIn;
      let admin: SignedIn;
      const createEvent = async (headers: Record<string, string>) => {
        const res = await post('/events', eventBody(), headers);
        expect(res.status).toBe(201);
        return res.json();
      };

      beforeAll(async () => {
        [customer, organizer, rival, admin] = await Promise.all([
          signUp(url),
          signUp(url, 'organizer'),
          signUp(url, 'organizer'),
          signUpAdmin(),
        ]);
      });

      it('a customer gets 403 forbidden on POST /events', async () => {
        const res = await post('/events', eventBody(), customer.auth);
        expect(res.status).toBe(403);
        expect(res.headers.get('content-type')).toBe(PROBLEM);
        expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:forbidden', status: 403 });
      });

      it('an organizer creates an event and becomes its organizer', async () => {
        const event = await createEvent(organizer.auth);
        expect(event.organizerId).toBe(organizer.userId);
      });

      it('another organizer gets 403 not-event-owner on PATCH', async () => {
        const event = await createEvent(organizer.auth);
        const res = await patch(`/events/${event.id}`, { title: 'Hijacked' }, rival.auth);
        expect(res.status).toBe(403);
        expect(res.headers.get('content-type')).toBe(PROBLEM);
        expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:not-event-owner', status: 403 });
        const stored = await (await fetch(`${url}/events/${event.id}`)).json();
        expect(stored.title).toBe('Jazz night');
      });

      it('the owning organizer and an admin may PATCH', async () => {
        const event = await createEvent(organizer.auth);
        const own = await patch(`/events/${event.id}`, { title: 'Jazz night II' }, organizer.auth);
        expect(own.status).toBe(200);
        const res = await patch(`/events/${event.id}`, { title: 'Moderated' }, admin.auth);
        expect(res.status).toBe(200);
        expect(await res.json()).toMatchObject({ title: 'Moderated', organizerId: organizer.userId });
      });

      it('an unauthenticated POST /events gets 401', async () => {
        await expectUnauthenticated(await post('/events', eventBody()));
      });

      it('a privilege change revokes the user’s sessions; a new login carries the new role', async () => {
        const user = await signUp(url);
        const other = await logIn(url, user.email, user.password);
        const forbidden = await fetch(`${url}/users/${user.userId}/roles`, {
          method: 'PUT',
          headers: { ...json, ...user.auth },
          body: JSON.stringify({ roles: ['admin'] }),
        });
        expect(forbidden.status).toBe(403);

        const res = await fetch(`${url}/users/${user.userId}/roles`, {
          method: 'PUT',
          headers: { ...json, ...admin.auth },
          body: JSON.stringify({ roles: ['organizer'] }),
        });
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ id: user.userId, email: user.email, roles: ['organizer'] });
        await expectUnauthenticated(await me(url, user.auth));
        await expectUnauthenticated(await post('/events', eventBody(), other.auth));

        const fresh = await logIn(url, user.email, user.password);
        expect(await (await me(url, fresh.auth)).json()).toMatchObject({ roles: ['organizer'] });
        expect((await createEvent(fresh.auth)).organizerId).toBe(user.userId);
        expect((await me(url, admin.auth)).status).toBe(200);
      });
    });

    describe('the session record carries the user', () => {
      it('/auth/me answers id, email and roles from the session, without reading the database', async () => {
        const user = await signUp(url);
        const changed = `changed-${randomBytes(6).toString('hex')}@example.com`;
        await running.app.get(DataSource).query('UPDATE users SET email = $1 WHERE id = $2', [changed, user.userId]);
        expect(await (await me(url, user.auth)).json()).toEqual({
          id: user.userId,
          email: user.email,
          roles: ['customer'],
        });
        // A new login carries what the database says now.
        const fresh = await logIn(url, changed, user.password);
        expect(await (await me(url, fresh.auth)).json()).toMatchObject({ email: changed });
      });

      it('/metrics shows the session store breaker closed and the sessions held in memory', async () => {
        await me(url, regular.auth);
        const text = await (await fetch(`${url}/metrics`)).text();
        expect(text).toMatch(/^session_store_breaker_open 0$/m);
        expect(Number(/^session_l1_entries (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(1);
        expect(text).toMatch(/^session_store_failures_total 0$/m);
      });
    });

    describe('password change', () => {
      const changePassword = (auth: Record<string, string>, body: unknown) =>
        fetch(`${url}/auth/password`, { method: 'PUT', headers: { ...json, ...auth }, body: JSON.stringify(body) });

      it('a wrong current password is 401 invalid-credentials and changes nothing', async () => {
        const user = await signUp(url);
        const other = await logIn(url, user.email, user.password);
        const res = await changePassword(user.auth, {
          currentPassword: 'not it at all',
          newPassword: 'a new long password',
        });
        expect(res.status).toBe(401);
        expect(await res.json()).toMatchObject({ type: 'urn:box-office:problem:invalid-credentials' });
        expect((await me(url, other.auth)).status).toBe(200);
        expect((await logIn(url, user.email, user.password)).token).toEqual(expect.any(String));
      });

      it('revokes every other session, keeps the caller, and only the new password logs in', async () => {
        const user = await signUp(url);
        const other = await logIn(url, user.email, user.password);
        expect((await me(url, other.auth)).status).toBe(200);
        const newPassword = `new-${randomBytes(12).toString('hex')}`;
        const res = await changePassword(user.auth, { currentPassword: user.password, newPassword });
        expect(res.status).toBe(204);
        await expectUnauthenticated(await me(url, other.auth));
        expect((await me(url, user.auth)).status).toBe(200);
        const old = await post('/auth/login', { email: user.email, password: user.password });
        expect(old.status).toBe(401);
        expect((await logIn(url, user.email, newPassword)).token).toEqual(expect.any(String));
      });

      it('a new password shorter than 12 characters is 400', async () => {
        const user = await signUp(url);
        const res = await changePassword(user.auth, { currentPassword: user.password, newPassword: 'short' });
        expect(res.status).toBe(400);
        expect((await me(url, user.auth)).status).toBe(200);
      });
    });

    describe('login failures and email identity', () => {
      it('an unknown email and a wrong password get the same answer in about the same time', async () => {
        const user = regular;
        const attempt = async (email: string) => {
          const started = performance.now();
          const res = await post('/auth/login', { email, password: 'not the password at all' });
          // requestId differs per request by design; everything else must be identical.
          const { requestId, ...body } = await res.json();
          expect(requestId).toEqual(expect.any(String));
          return { ms: performance.now() - started, status: res.status, type: res.headers.get('content-type'), body };
        };
        const unknown = () => attempt(`nobody-${randomBytes(6).toString('hex')}@example.com`);
        const wrong = () => attempt(user.email);
        // Warm-up: the first unknown email also derives the decoy hash.
        const [u0, w0] = [await unknown(), await wrong()];
        expect(u0.status).toBe(401);
        expect(u0.type).toBe(PROBLEM);
        expect(u0.body).toEqual({
          type: 'urn:box-office:problem:invalid-credentials',
          title: 'Invalid credentials',
          status: 401,
          detail: 'The email or the password is incorrect.',
          instance: '/auth/login',
        });
        expect({ ...w0, ms: 0 }).toEqual({ ...u0, ms: 0 });

        const unknownMs: number[] = [];
        const wrongMs: number[] = [];
        for (let i = 0; i < 5; i++) {
          const u = await unknown();
          const w = await wrong();
          expect([u.status, w.status]).toEqual([401, 401]);
          expect(w.body).toEqual(u.body);
          unknownMs.push(u.ms);
          wrongMs.push(w.ms);
        }
        const ratio = median(unknownMs) / median(wrongMs);
        expect(ratio).toBeGreaterThan(0.5);
        expect(ratio).toBeLessThan(2);
      });

      it('emails are case-insensitive and unique: a differently cased duplicate is 409 email-taken', async () => {
        const local = `case-${randomBytes(6).toString('hex')}`;
        const password = 'correct horse battery';
        const first = await post('/auth/register', { email: `${local}@example.com`, password });
        expect(first.status).toBe(201);
        const dup = await post('/auth/register', { email: `${local.toUpperCase()}@EXAMPLE.com`, password });
        expect(dup.status).toBe(409);
        expect(dup.headers.get('content-type')).toBe(PROBLEM);
        expect(await dup.json()).toMatchObject({ type: 'urn:box-office:problem:email-taken', status: 409 });
      });

      it('login with a differently cased email works', async () => {
        const user = await regularSession();
        const session = await logIn(url, user.email.toUpperCase(), user.password);
        expect(await (await me(url, session.auth)).json()).toMatchObject({ id: user.userId, email: user.email });
      });
    });

    describe('registration validation', () => {
      it('a short password is 400 validation-error listing password', async () => {
        const res = await post('/auth/register', { email: 'short@example.com', password: 'short' });
        expect(res.status).toBe(400);
        expect(res.headers.get('content-type')).toBe(PROBLEM);
        const problem = await res.json();
        expect(problem).toMatchObject({ type: 'urn:box-office:problem:validation-error', status: 400 });
        expect(problem.errors.map((e: { field: string }) => e.field)).toEqual(['password']);
      });

      it('unknown fields are 400, including an attempt to register as admin', async () => {
        const email = `extra-${randomBytes(6).toString('hex')}@example.com`;
        const res = await post('/auth/register', { email, password: 'long enough password', isAdmin: true });
        expect(res.status).toBe(400);
        const problem = await res.json();
        expect(problem.type).toBe('urn:box-office:problem:validation-error');
        expect(problem.errors.map((e: { field: string }) => e.field)).toContain('isAdmin');

        const admin = await post('/auth/register', { email, password: 'long enough password', role: 'admin' });
        expect(admin.status).toBe(400);
        expect((await admin.json()).errors.map((e: { field: string }) => e.field)).toContain('role');
      });
    });
  });

  describe('idle and absolute timeouts', () => {
    let running: RunningApp;
    let user: SignedIn;

    beforeAll(async () => {
      running = await startApp({
        ...db.env,
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: uniquePrefix('sessions-ttl'),
        SESSION_IDLE_TIMEOUT_MS: '1000',
        SESSION_ABSOLUTE_TIMEOUT_MS: '2500',
      });
      user = await signUp(running.url);
    });
    afterAll(() => running?.close());

    it('a session used every 500 ms outlives the idle timeout but dies at the absolute timeout', async () => {
      const { auth } = await logIn(running.url, user.email, user.password);
      const start = Date.now();
      const at = (ms: number) => sleep(Math.max(0, start + ms - Date.now()));
      for (const ms of [500, 1000, 1500, 2000]) {
        await at(ms);
        expect({ ms, status: (await me(running.url, auth)).status }).toEqual({ ms, status: 200 });
      }
      // 750 ms after the last use (within the idle timeout) but past the 2500 ms absolute one.
      await at(2750);
      await expectUnauthenticated(await me(running.url, auth));
    });

    it('a session left idle longer than the idle timeout dies', async () => {
      const { auth } = await logIn(running.url, user.email, user.password);
      expect((await me(running.url, auth)).status).toBe(200);
      await sleep(1300);
      await expectUnauthenticated(await me(running.url, auth));
    });
  });

  describe('on a private Redis', () => {
    // The kill-and-restart test runs last; it leaves Redis running again.
    let redis: RedisProcess;
    let running: RunningApp;
    let probe: Redis;
    let user: SignedIn;

    /** Calls per command from INFO commandstats (this INFO call itself is counted by the next one). */
    const commandCalls = async (): Promise<Record<string, number>> => {
      const info = await probe.info('commandstats');
      const calls: Record<string, number> = {};
      for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1]!] = Number(match[2]);
      return calls;
    };
    const changedCommands = (before: Record<string, number>, after: Record<string, number>) => {
      const changed: Record<string, number> = {};
      for (const [name, calls] of Object.entries(after)) {
        // PING: the revocation channel's heartbeat (its own connection, on its own clock).
        if (name === 'ping') continue;
        const delta = calls - (before[name] ?? 0);
        if (delta !== 0) changed[name] = delta;
      }
      return changed;
    };

    beforeAll(async () => {
      redis = await RedisProcess.start();
      // Workers off: BullMQ's own commands (blocking fetches, stalled checks) would show in the
      // command counts below.
      running = await startApp({
        ...db.env,
        REDIS_URL: redis.url,
        REDIS_COMMAND_TIMEOUT_MS: '100',
        WORKERS_ENABLED: 'false',
      });
      probe = rawRedis(redis.url);
      user = await signUp(running.url);
    });
    afterAll(async () => {
      probe?.disconnect();
      await running?.close();
      await redis?.stop();
    });

    const flipSecretChar = (token: string) => {
      const [p, s, m] = token.split('.');
      const flipped = s![10] === 'A' ? 'B' : 'A';
      return `${p}.${s!.slice(0, 10)}${flipped}${s!.slice(11)}.${m}`;
    };
    const cases: Array<[string, () => Record<string, string>]> = [
      ['garbage Bearer', () => bearer('garbage')],
      ['right shape, wrong MAC', () => bearer(flipSecretChar(user.token))],
      ['issued under another SESSION_SECRET', () => bearer(new SessionTokens('y'.repeat(48)).issue(user.userId).token)],
      ['10 kB Bearer', () => bearer('a'.repeat(10_240))],
      ['empty Bearer', () => ({ authorization: 'Bearer ' })],
      ['garbage cookie', () => cookieOf('bo_session', 'garbage')],
      ['10 kB cookie', () => cookieOf('bo_session', 'a'.repeat(10_240))],
    ];

    describe('malformed, forged or oversized tokens', () => {
      it.each(cases)('%s gets 401 problem+json without any Redis command', async (_, headers) => {
        const before = await commandCalls();
        await expectUnauthenticated(await me(running.url, headers()));
        const after = await commandCalls();
        expect(changedCommands(before, after)).toEqual({ info: 1 });
      });

      it('the count does see a valid token touching the store (control)', async () => {
        const fresh = await logIn(running.url, user.email, user.password);
        const before = await commandCalls();
        expect((await me(running.url, fresh.auth)).status).toBe(200);
        const changed = changedCommands(before, await commandCalls());
        expect(changed.info).toBe(1);
        expect(Object.keys(changed).length).toBeGreaterThan(1);
      });
    });

    describe('a session held in memory', () => {
      it('answers 20 requests without a Redis command; their idle-timeout touch lands in one write behind', async () => {
        // The bench route behind the session guard alone: /auth/me's rate limit has Redis commands of its own.
        const guarded = (auth: Record<string, string>) =>
          fetch(`${running.url}/__bench/authenticated`, { headers: auth });
        const fresh = await logIn(running.url, user.email, user.password);
        expect((await guarded(fresh.auth)).status).toBe(200); // verified in Redis, now held
        await sleep(1100); // the first use's touch (SESSION_TOUCH_INTERVAL_MS, 1 s) is written

        const before = await commandCalls();
        const started = Date.now();
        for (let i = 0; i < 20; i++) expect((await guarded(fresh.auth)).status).toBe(200);
        const lastUse = Date.now();
        expect(lastUse - started).toBeLessThan(900); // all within one touch interval
        expect(changedCommands(before, await commandCalls())).toEqual({ info: 1 });

        await sleep(1100);
        // One script call (the batch, pipelined; INFO counts the commands the script runs too), and
        // the stored last-seen time moved to the last use.
        expect(changedCommands(before, await commandCalls())).toEqual({
          info: 2,
          evalsha: 1,
          hmget: 1,
          hset: 2,
          pexpire: 1,
        });
        const keys = (await probe.keys('bo:sess:*')).filter((key) => key.endsWith(SessionTokens.idOf(fresh.token)));
        expect(keys).toHaveLength(1);
        const lastSeenAt = Number(await probe.hget(keys[0]!, 'lastSeenAt'));
        expect(lastSeenAt).toBeGreaterThanOrEqual(started);
        expect(lastSeenAt).toBeLessThanOrEqual(lastUse);
      });
    });

    describe('Redis stopped', () => {
      it('authenticated routes answer 503 with Retry-After, public ones 200; Redis back restores logins', async () => {
        expect((await me(running.url, user.auth)).status).toBe(200);

        await redis.kill();
        // A session held in memory is trusted at most SESSION_L1_MAX_STALENESS_MS (1 s) once the
        // revocation channel is gone; then it needs Redis, and Redis is down.
        const killedAt = Date.now();
        const down = await eventually(
          () => me(running.url, user.auth),
          (res) => res.status !== 200,
          2000,
        );
        expect(Date.now() - killedAt).toBeLessThan(1000 + 250);
        expect(down.status).toBe(503);
        expect(down.headers.get('content-type')).toBe(PROBLEM);
        expect(down.headers.get('retry-after')).toBe('5');
        expect(await down.json()).toMatchObject({
          type: 'urn:box-office:problem:session-store-unavailable',
          status: 503,
        });
        expect((await fetch(`${running.url}/events`)).status).toBe(200);
        expect((await fetch(`${running.url}/health/live`)).status).toBe(200);

        await redis.start();
        const service = running.app.get(RedisService);
        await new Promise<void>((resolve) => {
          const check = () => {
            if (!service.isReady) return;
            service.off('state', check);
            resolve();
          };
          service.on('state', check);
          check();
        });
        // The killed redis-server kept nothing, so the old session is gone (once the session
        // store's breaker has seen Redis answer again); a new login works once the rate limiter
        // (its own connection; the auth tier fails closed) is back on Redis too.
        await expectUnauthenticated(
          await eventually(
            () => me(running.url, user.auth),
            (res) => res.status !== 503,
            2000,
          ),
        );
        const loginStatus = async () =>
          (
            await fetch(`${running.url}/auth/login`, {
              method: 'POST',
              headers: json,
              body: JSON.stringify({ email: user.email, password: user.password }),
            })
          ).status;
        expect(await eventually(loginStatus, (status) => status === 200, 10_000)).toBe(200);
        const again = await logIn(running.url, user.email, user.password);
        expect(await (await me(running.url, again.auth)).json()).toMatchObject({ id: user.userId });
      });
    });
  });

  describe('production cookie', () => {
    let running: RunningApp;

    beforeAll(async () => {
      running = await startApp({
        ...db.env,
        NODE_ENV: 'production',
        SESSION_SECRET: randomBytes(32).toString('base64url'),
        REDIS_URL: TEST_REDIS_URL,
        REDIS_KEY_PREFIX: uniquePrefix('sessions-prod'),
      });
    });
    afterAll(() => running?.close());

    it('is __Host-bo_session with Secure, HttpOnly, SameSite=Lax, Path=/ and no Domain, and authenticates', async () => {
      const user = await signUp(running.url);
      const cookie = cookieAttributes(user.setCookie);
      expect(cookie.name).toBe('__Host-bo_session');
      expect(cookie.value).toBe(user.token);
      expect(cookie.attrs).toEqual({ path: '/', 'max-age': '28800', httponly: true, secure: true, samesite: 'Lax' });

      const who = await me(running.url, cookieOf('__Host-bo_session', user.token));
      expect(who.status).toBe(200);
      expect(await who.json()).toMatchObject({ id: user.userId });
      await expectUnauthenticated(await me(running.url, cookieOf('bo_session', user.token)));
    });
  });

  describe('Redis not configured', () => {
    let running: RunningApp;

    beforeAll(async () => {
      running = await startApp({ ...db.env });
    });
    afterAll(() => running?.close());

    it('login, me and logout work on the in-memory store', async () => {
      const user = await signUp(running.url);
      const cookie = { cookie: cookiePair(user.setCookie) };
      expect(await (await me(running.url, cookie)).json()).toMatchObject({ id: user.userId });
      expect(await (await me(running.url, user.auth)).json()).toMatchObject({ id: user.userId });
      expect((await logout(running.url, cookie)).status).toBe(204);
      await expectUnauthenticated(await me(running.url, cookie));
      await expectUnauthenticated(await me(running.url, user.auth));
    });
  });
});
