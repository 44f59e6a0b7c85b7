import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { SessionService } from '../src/platform/session';
import { startApp, type RunningApp } from './support/app';
import { logIn, signUp, type SignedIn } from './support/auth';
import { visitPage } from './support/chromium';
import { createTestDatabase, type TestDatabase } from './support/database';
import { PROBLEM_JSON } from './support/fixtures';
import { TEST_REDIS_URL, uniquePrefix } from './support/redis';

const DASHBOARD = '/admin/queues';
const SCREENSHOT = join(__dirname, 'artifacts', 'queue-dashboard.png');

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** A problem body without the members that name the request. */
const sansRequest = (body: string) => {
  const { instance: _instance, requestId: _requestId, ...rest } = JSON.parse(body) as Record<string, unknown>;
  return rest;
};

describe('queue dashboard: Bull Board behind an admin session', () => {
  let db: TestDatabase;
  let running: RunningApp;
  let url: string;
  let customer: SignedIn;
  let admin: SignedIn;

  beforeAll(async () => {
    db = await createTestDatabase();
    running = await startApp({ ...db.env, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('dashboard') });
    url = running.url;
    customer = await signUp(url);
    // Nobody registers as an admin: the role is granted in the database, then a new login carries it.
    const promoted = await signUp(url);
    await running.app.get(DataSource).query("UPDATE users SET roles = '{admin}' WHERE id = $1", [promoted.userId]);
    admin = { ...promoted, ...(await logIn(url, promoted.email, promoted.password)) };
  });
  afterAll(async () => {
    await running?.close();
    await db?.drop();
  });

  describe.each([
    ['the page', ''],
    ['a client-side route of the page', '/queue/exports'],
    ['a static asset', '/static/images/logo.svg'],
    ['the JSON API', '/api/queues'],
  ])('%s', (_label, path) => {
    it('is refused without a session: 401 problem+json with WWW-Authenticate, as the API refuses', async () => {
      const res = await get(url + DASHBOARD + path);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe(PROBLEM_JSON);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="box-office"');
      expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
      const body = JSON.parse(res.body);
      expect(body).toMatchObject({
        type: 'urn:box-office:problem:unauthenticated',
        status: 401,
        instance: DASHBOARD + path,
        requestId: res.headers.get('x-request-id'),
      });
      expect(sansRequest(res.body)).toEqual(sansRequest((await get(`${url}/auth/me`)).body));
    });

    it('is refused to a customer: 403 problem+json, as an admin-only API route refuses', async () => {
      const res = await get(url + DASHBOARD + path, customer.auth);
      expect(res.status).toBe(403);
      expect(res.headers.get('content-type')).toBe(PROBLEM_JSON);
      const apiRefusal = await fetch(`${url}/users/${customer.userId}/roles`, {
        method: 'PUT',
        headers: { ...customer.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ roles: ['admin'] }),
      });
      expect(apiRefusal.status).toBe(403);
      expect(sansRequest(res.body)).toEqual(sansRequest(await apiRefusal.text()));
    });

    it('is served to an admin, by Bearer token and by session cookie', async () => {
      const cookie = `${running.app.get(SessionService).cookieName}=${admin.token}`;
      for (const headers of [admin.auth, { cookie }]) {
        const res = await get(url + DASHBOARD + path, headers);
        expect(res.status).toBe(200);
        expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      }
    });
  });

  it('serves the page as HTML without third-party requests', async () => {
    const res = await get(url + DASHBOARD, admin.auth);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.body).toContain(`<base href="${DASHBOARD}/" />`);
    expect(res.body).not.toMatch(/(src|href)="https?:/);
  });

  it("lists the app's queues in the JSON API", async () => {
    const res = await get(`${url}${DASHBOARD}/api/queues`, admin.auth);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const names = (JSON.parse(res.body) as { queues: Array<{ name: string }> }).queues.map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['exports', 'webhooks']));
  });

  it('refuses a revoked session with 401', async () => {
    const session = await logIn(url, admin.email, admin.password);
    expect((await fetch(`${url}/auth/logout`, { method: 'POST', headers: session.auth })).status).toBe(204);
    const res = await get(url + DASHBOARD, session.auth);
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toMatchObject({
      type: 'urn:box-office:problem:unauthenticated',
      detail: 'The session has expired or was revoked.',
    });
  });

  // Fails (never skips) without Chromium: the helper names the missing binary.
  it('renders in Chromium with the queues listed and no console errors or CSP violations', async () => {
    const page = await visitPage(url + DASHBOARD, {
      cookies: { [running.app.get(SessionService).cookieName]: admin.token },
      waitForText: ['exports', 'webhooks'],
      untilGone: ['Loading'],
      screenshot: SCREENSHOT,
    });
    expect(page.errors).toEqual([]);
    expect(page.text).toContain('Bull Dashboard');
  });
});
