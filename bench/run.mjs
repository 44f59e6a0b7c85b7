// Benchmark harness: starts the compiled app, seeds data, load-tests every scenario in
// bench/scenarios.mjs, runs the queue section (bench/lib/queue.mjs), prints the tables and
// writes bench/results/latest.json.
// Env knobs: see bench/lib/config.mjs and bench/README.md.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './lib/config.mjs';
import {
  buildQueueRows,
  checkQueueScenarios,
  evaluateQueueTargets,
  printQueueReport,
  runQueueRounds,
  selectQueueScenarios,
} from './lib/queue.mjs';
import { buildRows, evaluateTargets, printReport, targetList, writeJson } from './lib/report.mjs';
import { freePort, startServer, waitReady } from './lib/server.mjs';
import { statusRanges } from './lib/status.mjs';
import * as wrk from './lib/wrk.mjs';
import { queueScenarios, scenarios, servers as serverVariants } from './scenarios.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const resultsFile = path.join(benchDir, 'results', 'latest.json');
const READY_TIMEOUT_MS = 60_000;

// Every server process of the run: { variant, label, baseUrl, dataDir, server }. The main
// server (variant null) comes first, then one per variant used by a selected scenario.
// Entries are pushed before their process starts, so cleanup() also reaches a booting one.
const instances = [];
let tool;
let interrupted = 0; // exit code to use after a signal (128 + signal number)
let cleaning;

// Idempotent: reached from the normal path, the error path and signal handlers.
function cleanup() {
  cleaning ??= (async () => {
    tool?.abort();
    // allSettled: one server failing to stop must not leave the others running.
    await Promise.allSettled(instances.map((inst) => inst.server?.stop()));
    for (const inst of instances) rmSync(inst.dataDir, { recursive: true, force: true });
    await dropRedisKeys(instances.map((inst) => inst.redisPrefix).filter(Boolean));
  })();
  return cleaning;
}

// The run's keys (the tag benchmark alone writes 100k entries) go with it: SCAN + UNLINK per prefix.
async function dropRedisKeys(prefixes) {
  const url = instances.find((inst) => inst.redisUrl)?.redisUrl;
  if (!url || !prefixes.length) return;
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    for (const prefix of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
    }
  } catch (err) {
    progress(`could not remove the run's Redis keys: ${err.message}`);
  } finally {
    redis.disconnect();
  }
}

const progress = (msg) => console.error(`[bench] ${msg}`); // stderr: keeps stdout = the report
const resolve = (value, ctx) => (typeof value === 'function' ? value(ctx) : value);

async function pickTool(cfg) {
  const hasWrk = wrk.available();
  if (cfg.tool === 'wrk' && !hasWrk) throw new Error('BENCH_TOOL=wrk but wrk is not on PATH');
  if (hasWrk && cfg.tool !== 'autocannon') return wrk;
  return import('./lib/autocannon.mjs'); // lazy, so a wrk run never loads autocannon
}

// PORT and HOST make up the base URL the harness talks to, so a variant must not move them.
function checkVariant(name, { env = {}, entry, ready } = {}) {
  if (entry !== undefined && (typeof entry !== 'string' || !entry.endsWith('.js'))) {
    throw new Error(`servers["${name}"].entry must be the path of a built .js file`);
  }
  if (ready !== undefined && (typeof ready !== 'string' || !ready.startsWith('/'))) {
    throw new Error(`servers["${name}"].ready must be a path starting with /`);
  }
  for (const [k, v] of Object.entries(env)) {
    if (k === 'PORT' || k === 'HOST') throw new Error(`servers["${name}"].env cannot set ${k}`);
    if (typeof v !== 'string') throw new Error(`servers["${name}"].env.${k} must be a string`);
  }
}

// Checked on the whole list, not only the selected part, so a typo fails every run instead
// of surfacing as a target that is silently SKIPped whenever BENCH_FILTER hides it.
function checkReferences(names) {
  for (const [name, variant] of Object.entries(serverVariants)) checkVariant(name, variant);
  checkQueueScenarios(queueScenarios);
  for (const s of [...scenarios, ...queueScenarios]) {
    if (s.server !== undefined && !Object.hasOwn(serverVariants, s.server)) {
      throw new Error(`scenario "${s.name}": server "${s.server}" is not defined in \`servers\` of scenarios.mjs`);
    }
    // The baseline defines "ratio to bare" for the main server; it must run there.
    if (s.baseline && s.server !== undefined) throw new Error(`baseline "${s.name}" cannot have a \`server\``);
    if (queueScenarios.includes(s)) continue; // their targets: checkQueueScenarios()
    for (const t of targetList(s.target)) {
      if (!names.includes(t?.minRatioTo) || typeof t.min !== 'number') {
        throw new Error(
          `scenario "${s.name}": invalid target ${JSON.stringify(t)} (unknown minRatioTo or no numeric min)`,
        );
      }
    }
  }
}

// The baseline runs first in each round whenever the HTTP part runs, so ratios are always
// available. The HTTP part is skipped only when the filter picks queue scenarios alone
// (BENCH_FILTER=queue): a queue run needs no bare. Returns { http, queue }.
function selectScenarios(filter) {
  const names = [...scenarios, ...queueScenarios].map((s) => s.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`duplicate scenario name "${dup}"`);
  const baselines = scenarios.filter((s) => s.baseline);
  if (baselines.length !== 1) {
    throw new Error('scenarios.mjs needs exactly one scenario with `baseline`');
  }
  checkReferences(names);
  const rest = scenarios.filter((s) => !s.baseline && matchesFilter(s.name, filter));
  const queue = selectQueueScenarios(queueScenarios, filter);
  return { http: rest.length || !queue.length ? [baselines[0], ...rest] : [], queue };
}

// BENCH_FILTER: substrings separated by `|`; a name matches when it contains any of them.
export const matchesFilter = (name, filter) => filter.split('|').some((part) => name.toLowerCase().includes(part));

// Variant names in first-use order; only these get a process of their own.
const variantsUsed = (selected) => [...new Set(selected.map((s) => s.server).filter((v) => v !== undefined))];

const variantEnv = (name) => serverVariants[name].env ?? {};

// Shared by every server of the run; launch() adds what must differ per process.
function baseEnv(cfg) {
  return {
    ...process.env,
    HOST: '127.0.0.1',
    NODE_ENV: 'development',
    REDIS_URL: cfg.redisUrl,
    ...(cfg.databaseUrl ? { DATABASE_URL: cfg.databaseUrl } : {}),
    LOG_LEVEL: 'warn',
    BENCH_ROUTES: 'true',
    // Limits no run reaches: every scenario measures its route under its limit (the throttling
    // scenarios name tiers of their own, see src/bench/throttle-bench.controller.ts).
    THROTTLE_PUBLIC_LIMIT: '999999999',
    THROTTLE_API_LIMIT: '999999999',
    THROTTLE_AUTH_LIMIT: '999999999',
    THROTTLE_PAYMENT_LIMIT: '999999999',
    THROTTLE_EXPORTS_LIMIT: '999999999',
  };
}

// Tags an error with the server it concerns, so the crash report prints that server's
// output. The first tag wins: assertServersAlive() already names the server that died.
function blame(err, inst) {
  if (err && typeof err === 'object' && !err.server) err.server = inst;
  return err;
}

async function onServer(inst, fn) {
  try {
    return await fn();
  } catch (err) {
    throw blame(err, inst);
  }
}

/**
 * Starts one server with its own port, PGlite dir and Redis key prefix (servers never share
 * state: a variant's cache is never warmed or invalidated by another server), then waits for
 * it. Callers start servers one after the other: freePort() releases the port it found, so
 * it could hand the same port out twice while an earlier server is still booting.
 */
async function launch(cfg, variant, extraEnv = {}, { entry, ready = '/health/ready' } = {}) {
  const port = await freePort();
  const inst = {
    variant,
    label: variant === null ? 'main server' : `server "${variant}"`,
    baseUrl: `http://127.0.0.1:${port}`,
    dataDir: mkdtempSync(path.join(os.tmpdir(), 'bench-pglite-')),
    server: null,
  };
  instances.push(inst);
  inst.redisPrefix = `bench:${randomBytes(4).toString('hex')}:`; // never collide with real keys
  inst.redisUrl = cfg.redisUrl;
  const env = {
    ...baseEnv(cfg),
    PORT: String(port),
    REDIS_KEY_PREFIX: inst.redisPrefix,
    PGLITE_DATA_DIR: inst.dataDir,
    ...extraEnv,
  };
  const extra = Object.entries(extraEnv).map(([k, v]) => ` ${k}=${v}`);
  // A peer app (its own `entry`) is started as it is; BENCH_SERVER_CMD replaces our app only.
  const cmd = entry ? undefined : cfg.serverCmd;
  progress(
    `starting ${inst.label}: ${cmd || `node ${entry ?? 'dist/src/main.js'}`} on ${inst.baseUrl}${extra.join('')}`,
  );
  inst.server = startServer({ cmd, entry, cwd: repoRoot, env });
  try {
    await waitReady(`${inst.baseUrl}${ready}`, inst.server, READY_TIMEOUT_MS);
  } catch (err) {
    err.message = `${inst.label}: ${err.message}`; // with variants, "server exited" is ambiguous
    throw blame(err, inst);
  }
  return inst;
}

const instanceFor = (s) => instances.find((inst) => inst.variant === (s.server ?? null));

// For the JSON meta: which scenarios ran against which variant, and with what env.
function variantsMeta(selected) {
  return Object.fromEntries(
    variantsUsed(selected).map((name) => [
      name,
      {
        env: variantEnv(name),
        entry: serverVariants[name].entry,
        scenarios: selected.filter((s) => s.server === name).map((s) => s.name),
      },
    ]),
  );
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
  // Optional per-request variation (bench/lib/wrk.mjs builds it in Lua): rotate over paths,
  // append a query parameter that never repeats, send a fresh Idempotency-Key.
  if (s.paths) req.paths = resolve(s.paths, ctx);
  if (s.uniqueQuery) req.uniqueQuery = s.uniqueQuery;
  if (s.freshIdempotencyKey) req.freshIdempotencyKey = true;
  return { name: s.name, method, path: p, expectStatus: s.expectStatus, target: s.target, req };
}

// Any server, not only the current scenario's: a variant dying while idle is still a
// broken run, and the sooner it is reported the easier its output is to relate to.
function assertServersAlive() {
  for (const inst of instances) {
    if (inst.server.isRunning()) continue;
    const { exitCode, signalCode } = inst.server.child;
    const msg = `${inst.label} process exited during the benchmark (code=${exitCode} signal=${signalCode})`;
    throw blame(new Error(msg), inst);
  }
}

async function main() {
  const cfg = loadConfig();
  const { http, queue } = selectScenarios(cfg.filter);
  const selected = [...http, ...queue];
  tool = await pickTool(cfg);
  if (!cfg.serverCmd && !existsSync(path.join(repoRoot, 'dist/src/main.js'))) {
    throw new Error('dist/src/main.js not found: use `npm run bench` (builds first) or set BENCH_SERVER_CMD');
  }

  // Every server is up before the first setup and stays up for the whole run: an idle
  // server costs no CPU, and restarting one per scenario would redo its seeding each round.
  await launch(cfg, null);
  for (const name of variantsUsed(selected)) await launch(cfg, name, variantEnv(name), serverVariants[name]);

  const plans = [];
  for (const s of http) {
    const inst = instanceFor(s);
    if (s.setup) progress(`setup ${s.name}${s.server ? ` (on ${inst.label})` : ''}`);
    const ctx = s.setup ? await onServer(inst, () => s.setup(inst.baseUrl)) : undefined;
    plans.push({ ...buildPlan(s, ctx, inst.baseUrl, cfg.connections), inst });
  }

  // Strictly sequential; every round repeats the whole list (baseline first) so drift on a
  // shared machine hits all scenarios alike, and the median per scenario is reported.
  const runsByName = new Map(plans.map((p) => [p.name, []]));
  const toolOpts = { threads: cfg.wrkThreads };
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const plan of plans) {
      assertServersAlive();
      progress(`round ${round}/${cfg.rounds} ${plan.name}: warm-up ${cfg.warmupS}s, measure ${cfg.durationS}s`);
      await onServer(plan.inst, async () => {
        if (cfg.warmupS > 0) await tool.run(plan.req, cfg.warmupS, toolOpts);
        runsByName.get(plan.name).push(await tool.run(plan.req, cfg.durationS, toolOpts));
      });
    }
  }
  // After the HTTP part, never interleaved with it: a burst of jobs must not land in a wrk run.
  const queuePlans = queue.map((s) => ({ ...s, inst: instanceFor(s) }));
  const queueRuns = queuePlans.length
    ? await runQueueRounds(queuePlans, cfg, { progress, onServer, assertServersAlive })
    : new Map();
  assertServersAlive(); // a crash during the last run would make its numbers meaningless

  const rows = plans.length ? buildRows(plans, runsByName, plans[0].name) : [];
  const targets = evaluateTargets(plans, runsByName);
  const queueRows = queuePlans.length ? buildQueueRows(queuePlans, queueRuns) : [];
  const queueReport = {
    meta: {
      rounds: cfg.queueRounds,
      latencyJobs: cfg.queueLatencyJobs,
      throughputJobs: cfg.queueThroughputJobs,
      warmupJobs: cfg.queueWarmupJobs,
      window: cfg.queueWindow,
      concurrency: queueRows[0]?.rounds[0].raw.latency.concurrency ?? null,
    },
    rows: queueRows,
    targets: queuePlans.length ? evaluateQueueTargets(queuePlans, queueRows) : [],
  };
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
    serverVariants: variantsMeta(selected),
  };

  printReport({ meta, rows, targets }, cfg.strict);
  printQueueReport(queueReport, cfg.strict, meta);
  writeJson(resultsFile, { meta, rows, targets, queue: queueReport });
  console.log(`\nwrote ${path.relative(process.cwd(), resultsFile)}`);

  return cfg.strict && [...targets, ...queueReport.targets].some((t) => t.status === 'FAIL') ? 1 : 0;
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
    // Without a tag (e.g. a bad scenario file) the main server's output is the best guess.
    const inst = err?.server ?? instances[0];
    const tail = inst?.server?.tail();
    if (tail) console.error(`\n[bench] last output of the ${inst.label}:\n${tail}`);
  }
} finally {
  await cleanup();
}
process.exit(interrupted || exitCode);
