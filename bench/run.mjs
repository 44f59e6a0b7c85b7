// Benchmark harness: starts the compiled app, seeds data, load-tests every scenario in
// bench/scenarios.mjs, prints a table and writes bench/results/latest.json.
// Env knobs: see bench/lib/config.mjs and bench/README.md.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './lib/config.mjs';
import { buildRows, evaluateTargets, printReport, writeJson } from './lib/report.mjs';
import { freePort, startServer, waitReady } from './lib/server.mjs';
import { statusRanges } from './lib/status.mjs';
import * as wrk from './lib/wrk.mjs';
import { scenarios } from './scenarios.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const resultsFile = path.join(benchDir, 'results', 'latest.json');
const READY_TIMEOUT_MS = 60_000;

let server;
let tool;
let dataDir;
let interrupted = 0; // exit code to use after a signal (128 + signal number)
let cleaning;

// Idempotent: reached from the normal path, the error path and signal handlers.
function cleanup() {
  cleaning ??= (async () => {
    tool?.abort();
    await server?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  })();
  return cleaning;
}

const progress = (msg) => console.error(`[bench] ${msg}`); // stderr: keeps stdout = the report
const resolve = (value, ctx) => (typeof value === 'function' ? value(ctx) : value);

async function pickTool(cfg) {
  const hasWrk = wrk.available();
  if (cfg.tool === 'wrk' && !hasWrk) throw new Error('BENCH_TOOL=wrk but wrk is not on PATH');
  if (hasWrk && cfg.tool !== 'autocannon') return wrk;
  return import('./lib/autocannon.mjs'); // lazy, so a wrk run never loads autocannon
}

// The baseline always runs (and runs first in each round) so ratios are always available.
function selectScenarios(filter) {
  const names = scenarios.map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`duplicate scenario name "${dup}"`);
  const baselines = scenarios.filter((s) => s.baseline);
  if (baselines.length !== 1) {
    throw new Error('scenarios.mjs needs exactly one scenario with `baseline`');
  }
  const rest = scenarios.filter((s) => !s.baseline && s.name.toLowerCase().includes(filter));
  return [baselines[0], ...rest];
}

function buildPlan(s, ctx, baseUrl, connections) {
  const method = (s.method ?? 'GET').toUpperCase();
  const headers = { ...resolve(s.headers, ctx) };
  let body = resolve(s.body, ctx);
  if (body !== undefined && typeof body !== 'string') {
    body = JSON.stringify(body);
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'application/json';
    }
  }
  const p = resolve(s.path, ctx);
  const ranges = statusRanges(s.expectStatus);
  const req = { url: new URL(p, baseUrl).href, method, headers, body, ranges, connections };
  return { name: s.name, method, path: p, expectStatus: s.expectStatus, target: s.target, req };
}

function assertServerAlive() {
  if (server.isRunning()) return;
  const { exitCode, signalCode } = server.child;
  throw new Error(`server process exited during the benchmark (code=${exitCode} signal=${signalCode})`);
}

async function main() {
  const cfg = loadConfig();
  const selected = selectScenarios(cfg.filter);
  tool = await pickTool(cfg);
  if (!cfg.serverCmd && !existsSync(path.join(repoRoot, 'dist/src/main.js'))) {
    throw new Error('dist/src/main.js not found: use `npm run bench` (builds first) or set BENCH_SERVER_CMD');
  }

  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'bench-pglite-'));
  const env = {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_ENV: 'development',
    REDIS_URL: cfg.redisUrl,
    REDIS_KEY_PREFIX: `bench:${randomBytes(4).toString('hex')}:`, // never collide with real keys
    PGLITE_DATA_DIR: dataDir,
    ...(cfg.databaseUrl ? { DATABASE_URL: cfg.databaseUrl } : {}),
    LOG_LEVEL: 'warn',
    BENCH_ROUTES: 'true',
  };
  progress(`starting ${cfg.serverCmd || 'node dist/src/main.js'} on ${baseUrl}`);
  server = startServer({ cmd: cfg.serverCmd, cwd: repoRoot, env });
  await waitReady(`${baseUrl}/health/ready`, server, READY_TIMEOUT_MS);

  const plans = [];
  for (const s of selected) {
    const ctx = s.setup ? await s.setup(baseUrl) : undefined;
    plans.push(buildPlan(s, ctx, baseUrl, cfg.connections));
  }

  // Strictly sequential; every round repeats the whole list (baseline first) so drift on a
  // shared machine hits all scenarios alike, and the median per scenario is reported.
  const runsByName = new Map(plans.map((p) => [p.name, []]));
  const toolOpts = { threads: cfg.wrkThreads };
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const plan of plans) {
      assertServerAlive();
      progress(`round ${round}/${cfg.rounds} ${plan.name}: warm-up ${cfg.warmupS}s, measure ${cfg.durationS}s`);
      if (cfg.warmupS > 0) await tool.run(plan.req, cfg.warmupS, toolOpts);
      runsByName.get(plan.name).push(await tool.run(plan.req, cfg.durationS, toolOpts));
    }
  }
  assertServerAlive(); // a crash during the last run would make its numbers meaningless

  const rows = buildRows(plans, runsByName, plans[0].name);
  const targets = evaluateTargets(plans, runsByName);
  const meta = {
    timestamp: new Date().toISOString(),
    tool: tool.name,
    toolVersion: tool.getVersion(),
    ...(tool === wrk && { wrkThreads: Math.min(cfg.wrkThreads, cfg.connections) }),
    connections: cfg.connections,
    pipelining: 1,
    warmupS: cfg.warmupS,
    durationS: cfg.durationS,
    rounds: cfg.rounds,
    filter: cfg.filter || null,
    node: process.version,
    cpus: os.cpus().length,
    platform: `${process.platform}-${process.arch}`,
    server: cfg.serverCmd || 'node dist/src/main.js',
  };

  printReport({ meta, rows, targets }, cfg.strict);
  writeJson(resultsFile, { meta, rows, targets });
  console.log(`\nwrote ${path.relative(process.cwd(), resultsFile)}`);

  return cfg.strict && targets.some((t) => t.status === 'FAIL') ? 1 : 0;
}

for (const [sig, code] of Object.entries({ SIGINT: 130, SIGTERM: 143 })) {
  process.once(sig, () => {
    interrupted = code;
    progress(`${sig}: stopping`);
    cleanup().finally(() => process.exit(code));
  });
}

let exitCode = 1;
try {
  exitCode = await main();
} catch (err) {
  if (!interrupted) {
    // Our own failures are plain Errors with a self-explanatory message; anything else
    // (TypeError from a scenario, fetch failure, ...) is worth its stack.
    console.error(`\n[bench] failed: ${err?.constructor === Error ? err.message : (err?.stack ?? err)}`);
    const tail = server?.tail();
    if (tail) console.error(`\n[bench] last server output:\n${tail}`);
  }
} finally {
  await cleanup();
}
process.exit(interrupted || exitCode);
