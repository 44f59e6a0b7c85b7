import { join } from 'node:path';
import { startApp, type RunningApp } from './support/app';
import { visitPage } from './support/chromium';
import { createTestDatabase, type TestDatabase } from './support/database';

const ARTIFACTS = join(__dirname, 'artifacts');

describe('the OpenAPI UI under /docs', () => {
  let db: TestDatabase;
  let running: RunningApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    running = await startApp({ ...db.env });
  });
  afterAll(async () => {
    await running?.close();
    await db?.drop();
  });

  // Fails (never skips) without Chromium: the helper names the missing binary.
  it.each([
    ['/docs', 'docs.png'],
    ['/docs/', 'docs-trailing-slash.png'],
  ])('%s renders the API in Chromium with no console errors or CSP violations', async (path, file) => {
    const page = await visitPage(running.url + path, {
      waitForText: ['Box Office API', '/events/{id}'],
      screenshot: join(ARTIFACTS, file),
    });
    expect(page.errors).toEqual([]);
  });
});
