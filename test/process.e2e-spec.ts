import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { BUILT_MAIN, startChildApp, spawnServer, type ChildApp } from './support/child-app';
import { createTestDatabase, type TestDatabase } from './support/database';
import { eventually } from './support/eventually';
import { RedisProcess } from './support/redis';

/** A request on a new TCP connection (no keep-alive pool), so a closed listener shows as ECONNREFUSED. */
function freshGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const waitForExit = (app: ChildApp) => app.exit;

describe('the built server as a process', () => {
  let child: ChildApp | undefined;
  afterEach(async () => {
    await child?.stop();
    child = undefined;
  });

  it('starts with no environment at all on PGlite and in-process stores', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bo-embedded-'));
    try {
      // PORT=0 only so the test never collides with a server already on 3000.
      child = await startChildApp({ env: { PORT: '0' }, cwd });
      const ready = await fetch(`${child.url}/health/ready`);
      expect(ready.status).toBe(200);
      const body = await ready.json();
      expect(body.status).toBe('ok');
      expect(body.details.redis).toMatchObject({ status: 'up', configured: false });
      expect(body.details.database.status).toBe('up');
      expect((await fetch(`${child.url}/events`)).status).toBe(200);
      expect(existsSync(join(cwd, '.data', 'pglite'))).toBe(true);

      child.proc.kill('SIGINT');
      expect(await waitForExit(child)).toEqual({ code: 0, signal: null });
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  describe.each<{ env: Record<string, string>; variable: string; expected: string }>([
    { env: { PORT: 'abc' }, variable: 'PORT', expected: 'expected an integer between 0 and 65535' },
    { env: { NODE_ENV: 'staging' }, variable: 'NODE_ENV', expected: 'expected one of development, production, test' },
    { env: { REDIS_URL: 'http://cache:6379' }, variable: 'REDIS_URL', expected: 'redis:// or rediss://' },
    {
      env: { DATABASE_URL: 'mysql://u:secret@db/x' },
      variable: 'DATABASE_URL',
      expected: 'postgres:// or postgresql://',
    },
    { env: { NODE_ENV: 'production' }, variable: 'REDIS_URL', expected: 'REDIS_OPTIONAL=true' },
    { env: { NODE_ENV: 'production', REDIS_OPTIONAL: 'true' }, variable: 'SESSION_SECRET', expected: 'required' },
    { env: { SHUTDOWN_DRAIN_MS: '60000' }, variable: 'SHUTDOWN_DRAIN_MS', expected: 'less than SHUTDOWN_TIMEOUT_MS' },
  ])('with $variable invalid ($env)', ({ env, variable, expected }) => {
    it('exits 1 with a message naming the variable and what was expected', async () => {
      const proc = spawnServer({ env });
      const code = await new Promise((resolve) => proc.once('exit', resolve));
      const output = proc.output.join('\n');
      expect(code).toBe(1);
      expect(output).toContain('Invalid configuration');
      expect(output).toMatch(new RegExp(`- ${variable}: .*${expected.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));
      expect(output).not.toContain('secret');
      expect(output).not.toMatch(/\n\s+at /); // a message, not a stack trace
    });
  });

  it('NODE_ENV=production with REDIS_OPTIONAL=true starts on in-process stores', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bo-prod-optional-'));
    try {
      child = await startChildApp({
        env: { NODE_ENV: 'production', REDIS_OPTIONAL: 'true', SESSION_SECRET: 's'.repeat(40) },
        cwd,
      });
      expect((await fetch(`${child.url}/health/ready`)).status).toBe(200);
    } finally {
      await child?.stop();
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  describe('SIGTERM', () => {
    let db: TestDatabase;
    let redis: RedisProcess;
    beforeAll(async () => {
      db = await createTestDatabase();
      redis = await RedisProcess.start();
    });
    afterAll(async () => {
      await redis?.stop();
      await db?.drop();
    });

    it('readiness 503 at once, serves through the drain, finishes in-flight requests, closes Redis, exits 0', async () => {
      const drainMs = 1500;
      child = await startChildApp({
        env: {
          ...db.env,
          REDIS_URL: redis.url,
          BENCH_ROUTES: 'true',
          SHUTDOWN_DRAIN_MS: String(drainMs),
          SHUTDOWN_TIMEOUT_MS: '10000',
        },
      });
      const url = child.url;
      const admin = new Redis(redis.url);
      const appConnections = async () =>
        String(await admin.client('LIST'))
          .split('\n')
          .filter((line) => line.includes('name=box-office')).length;
      try {
        expect(await appConnections()).toBeGreaterThan(0);
        const inFlight = Array.from({ length: 5 }, () => fetch(`${url}/__bench/slow?ms=3000`).then((r) => r.status));
        await new Promise((resolve) => setTimeout(resolve, 300));

        const signalledAt = Date.now();
        child.proc.kill('SIGTERM');
        await new Promise((resolve) => setTimeout(resolve, 100));

        const ready = await fetch(`${url}/health/ready`);
        expect(ready.status).toBe(503);
        expect((await ready.json()).status).toBe('shutting_down');
        expect((await fetch(`${url}/health/live`)).status).toBe(200);
        expect(await freshGet(`${url}/events`)).toBe(200);

        // After the drain the listener is closed: new connections are refused...
        await new Promise((resolve) => setTimeout(resolve, drainMs + 400 - (Date.now() - signalledAt)));
        await expect(freshGet(`${url}/events`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

        // ...while every request already in flight completes.
        expect(await Promise.all(inFlight)).toEqual([200, 200, 200, 200, 200]);
        const exit = await waitForExit(child);
        if (exit.code !== 0) process.stderr.write(child.output.slice(-15).join('\n'));
        expect(exit).toEqual({ code: 0, signal: null });
        expect(Date.now() - signalledAt).toBeLessThan(10_000);
        expect(await appConnections()).toBe(0);
        expect(child.output.join('\n')).toContain('SIGTERM received');
      } finally {
        admin.disconnect();
      }
    });
  });

  it('npm start passes SIGTERM on to the server, which exits 0 and logs that the shutdown completed', async () => {
    // What a developer or a container runtime does: signal the npm process, not the server.
    const npm = spawn('npm', ['start'], {
      cwd: join(__dirname, '..'),
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        PGLITE_DATA_DIR: 'memory://',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    npm.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      npm.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let pid: number | undefined;
    try {
      const url = await eventually(
        async () => output.join('').match(/listening on (http:\/\/[^\s"]+)/)?.[1],
        (found) => found !== undefined,
        50_000,
        200,
      );
      expect(url).toBeDefined();
      pid = Number(
        JSON.parse(
          output
            .join('')
            .split('\n')
            .find((line) => line.includes('listening on'))!,
        ).pid,
      );
      expect((await fetch(`${url!}/health/live`)).status).toBe(200);

      npm.kill('SIGTERM');
      expect(await exit).toEqual({ code: 0, signal: null });
      expect(() => process.kill(pid!, 0)).toThrow(); // the server itself is gone, not orphaned
      expect(output.join('')).toMatch(/Shutdown complete in \d+ ms \(exit code 0\)/);
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL');
      // An orphaned server (the signal not passed on) would hold the suite open: end it here.
      if (pid !== undefined) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already, as it should be.
        }
      }
      npm.stdout.destroy();
      npm.stderr.destroy();
    }
  }, 90_000);

  describe('development logs', () => {
    const banner =
      /Box Office listening on http:\/\/\S+ \(development\) · docs http:\/\/\S+\/docs · database PGlite memory:\/\/ · Redis not configured \(in-process stores\) · queues in process/;
    const requestLine = /GET \/events 200 \d+\.\d ms/;

    it('LOG_FORMAT=pretty: a start-up banner and one readable line per request, no JSON, no route-by-route chatter', async () => {
      child = await startChildApp({ env: { PORT: '0', PGLITE_DATA_DIR: 'memory://', LOG_FORMAT: 'pretty' } });
      await fetch(`${child.url}/events`);
      await eventually(async () => child!.output.some((line) => requestLine.test(line)), Boolean);
      const lines = child.output;
      expect(lines.some((line) => banner.test(line))).toBe(true);
      expect(lines.filter((line) => line.trimStart().startsWith('{'))).toEqual([]);
      // Nest's "Mapped {/events, GET} route" and "dependencies initialized" lines are debug now.
      expect(lines.filter((line) => /Mapped \{|dependencies initialized/.test(line))).toEqual([]);
      expect(lines.findIndex((line) => banner.test(line))).toBeLessThan(12);
    });

    it('LOG_FORMAT=auto (the default) is readable on a terminal and JSON through a pipe', async () => {
      child = await startChildApp({ env: { PORT: '0', PGLITE_DATA_DIR: 'memory://' } });
      expect(child.output.length).toBeGreaterThan(0);
      for (const line of child.output) expect(() => JSON.parse(line)).not.toThrow();
      await child.stop();

      // util-linux `script` gives the server a pseudo-terminal as stdout.
      const tty = spawn(
        'script',
        ['-qfec', `${JSON.stringify(process.execPath)} ${JSON.stringify(BUILT_MAIN)}`, '/dev/null'],
        {
          env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: '0', PGLITE_DATA_DIR: 'memory://' },
          stdio: ['pipe', 'pipe', 'pipe'],
        },
      );
      const output: string[] = [];
      tty.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
      try {
        // eslint-disable-next-line no-control-regex
        const plain = () => output.join('').replace(/\u001b\[[0-9;]*m/g, '');
        const url = await eventually(
          async () => plain().match(/listening on (http:\/\/[^\s]+)/)?.[1],
          Boolean,
          30_000,
          200,
        );
        expect(plain()).toMatch(banner);
        await fetch(`${url!}/events`);
        await eventually(async () => requestLine.test(plain()), Boolean);
        expect(plain()).not.toMatch(/^\{/m);
      } finally {
        // Closing the terminal hangs up the server (SIGHUP), as closing a terminal window does.
        const closed = new Promise((resolve) => tty.once('exit', resolve));
        tty.kill('SIGTERM');
        await closed;
      }
    });
  });

  it('puts the request id in the log lines of that request', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'bo-logs-'));
    try {
      child = await startChildApp({ env: { PGLITE_DATA_DIR: 'memory://' }, cwd });
      await fetch(`${child.url}/events/00000000-0000-4000-8000-000000000000`, {
        headers: { 'x-request-id': 'trace-7f3a' },
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const lines = child.output.filter((line) => line.includes('trace-7f3a'));
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        const entry = JSON.parse(line);
        expect(entry.reqId).toBe('trace-7f3a');
        expect(entry.res.statusCode).toBe(404);
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
