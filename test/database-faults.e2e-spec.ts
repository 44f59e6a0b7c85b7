import { setTimeout as sleep } from 'node:timers/promises';
import { signUp, type SignedIn } from './support/auth';
import { startChildApp, type ChildApp } from './support/child-app';
import { createPostgresDatabase, type TestDatabase } from './support/database';
import { startTcpProxy, type ProxyMode, type TcpProxy } from './support/tcp-proxy';

const CONNECT_TIMEOUT_MS = 1000;
const STATEMENT_TIMEOUT_MS = 1500;
// Acquire (or connect) plus the client-side read deadline (statement timeout + 500 ms), plus slack.
const BOUND_MS = CONNECT_TIMEOUT_MS + STATEMENT_TIMEOUT_MS + 500 + 1000;
const REQUESTS = 24;
const PARALLEL = 6;

interface Sample {
  status: number;
  type?: string;
  retryAfter: string | null;
  ms: number;
}

const p99 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length * 0.99) - 1]!;

describe('the database as a failing dependency (PostgreSQL behind a TCP proxy)', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let app: ChildApp;
  let customer: SignedIn;
  const table: Record<string, string>[] = [];

  beforeAll(async () => {
    db = await createPostgresDatabase();
    const url = new URL(db.env.DATABASE_URL!);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.host = `127.0.0.1:${proxy.port}`;
    app = await startChildApp({
      env: {
        DATABASE_URL: url.toString(),
        DATABASE_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
        DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
        DATABASE_POOL_SIZE: '4',
        LOG_LEVEL: 'info',
      },
    });
    customer = await signUp(app.url);
  }, 60_000);

  afterAll(async () => {
    await app?.stop();
    await proxy?.close();
    await db?.drop();
    if (table.length) console.log(`database faults (bound ${BOUND_MS} ms)\n${formatTable(table)}`);
  });

  async function getOrders(): Promise<Sample> {
    const started = performance.now();
    const res = await fetch(`${app.url}/orders`, { headers: customer.auth, signal: AbortSignal.timeout(15_000) });
    const body = (await res.json()) as { type?: string };
    return {
      status: res.status,
      type: body.type,
      retryAfter: res.headers.get('retry-after'),
      ms: performance.now() - started,
    };
  }

  async function burst(): Promise<Sample[]> {
    const samples: Sample[] = [];
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (samples.length < REQUESTS) samples.push(await getOrders());
      }),
    );
    return samples;
  }

  async function readiness(): Promise<number> {
    return (await fetch(`${app.url}/health/ready`, { signal: AbortSignal.timeout(15_000) })).status;
  }

  /** Milliseconds from the database being back until GET /orders answers 200 again. */
  async function recovery(): Promise<number> {
    const started = performance.now();
    proxy.set('pass');
    while (performance.now() - started < 30_000) {
      if ((await getOrders()).status === 200 && (await readiness()) === 200) return performance.now() - started;
      await sleep(50);
    }
    throw new Error('did not recover within 30 s');
  }

  it.each<[string, ProxyMode, number, number]>([
    ['stopped', 'cut', 0, 503],
    ['frozen', 'freeze', 0, 503],
    ['slow (100 ms per packet)', 'slow', 100, 200],
  ])(
    '%s: answers within the bound, readiness reports it, recovers without a restart',
    async (name, mode, latencyMs, expected) => {
      expect((await getOrders()).status).toBe(200);
      proxy.set(mode, latencyMs);
      const samples = await burst();
      const ready = await readiness();
      const recoveredMs = await recovery();
      const statuses = [...new Set(samples.map((s) => s.status))].join('/');
      table.push({
        fault: name,
        status: statuses,
        'p99 ms': p99(samples.map((s) => s.ms)).toFixed(0),
        'max ms': Math.max(...samples.map((s) => s.ms)).toFixed(0),
        readiness: String(ready),
        'recovery ms': recoveredMs.toFixed(0),
      });
      for (const sample of samples) {
        expect(sample.status).toBe(expected);
        if (expected === 503) {
          expect(sample.type).toBe('urn:box-office:problem:database-unavailable');
          expect(sample.retryAfter).toMatch(/^\d+$/);
        }
      }
      expect(p99(samples.map((s) => s.ms))).toBeLessThan(BOUND_MS);
      if (expected === 503) expect(ready).toBe(503);
      expect(recoveredMs).toBeLessThan(10_000);
    },
    60_000,
  );
});

function formatTable(rows: Record<string, string>[]): string {
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(columns.map((c) => r[c]!))),
  ].join('\n');
}
