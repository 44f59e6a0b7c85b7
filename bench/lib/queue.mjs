// The queue section: enqueue-to-complete of a no-op job, for each entry of `queueScenarios` in
// bench/scenarios.mjs. The server times it itself (POST /__bench/queue/measure, see
// src/bench/queue-bench.controller.ts): the harness only starts each measurement, so neither
// HTTP nor the load tool is in the numbers, and ours and BullMQ direct share one process.
import { median, printVariants } from './report.mjs';
import { requestJson } from './seed.mjs';

export const MODES = ['latency', 'throughput'];
export const METRICS = { p50Ms: 'p50 ms', p99Ms: 'p99 ms', jobsPerSec: 'jobs/s' };

const MEASURE_TIMEOUT_MS = 300_000; // the server gives up on a run after 120 s; this is the backstop

function measure(plan, mode, cfg) {
  const jobs = mode === 'latency' ? cfg.queueLatencyJobs : cfg.queueThroughputJobs;
  const query = new URLSearchParams({
    driver: plan.driver,
    mode,
    jobs: String(jobs),
    warmup: String(cfg.queueWarmupJobs),
    window: String(cfg.queueWindow),
  });
  const path = `/__bench/queue/measure?${query}`;
  return requestJson(plan.inst.baseUrl, 'POST', path, undefined, 200, {}, MEASURE_TIMEOUT_MS);
}

// The reference first, then the rest in file order; a filter never drops the reference.
export function selectQueueScenarios(list, filter) {
  const rest = list.filter(
    (s) => !s.reference && filter.split('|').some((part) => s.name.toLowerCase().includes(part)),
  );
  return rest.length ? [list.find((s) => s.reference), ...rest] : [];
}

// Checked on the whole list (as the HTTP scenarios are), so a typo fails every run.
export function checkQueueScenarios(list) {
  if (list.filter((s) => s.reference).length !== 1) {
    throw new Error('queueScenarios needs exactly one scenario with `reference`');
  }
  for (const s of list) {
    if (!['ours', 'bullmq'].includes(s.driver) || !['bullmq', 'memory'].includes(s.engine)) {
      throw new Error(`queue scenario "${s.name}": driver must be ours or bullmq, engine bullmq or memory`);
    }
    for (const t of [s.target ?? []].flat()) {
      // Exactly one bound: `max` for latencies (lower is better), `min` for jobs/s.
      if (!Object.hasOwn(METRICS, t?.metric) || (typeof t.max === 'number') === (typeof t.min === 'number')) {
        throw new Error(`queue scenario "${s.name}": invalid target ${JSON.stringify(t)} (metric and max or min)`);
      }
    }
  }
}

// Rotating the order each round: no side always runs first, or always right after the other's
// burst of 5000 jobs (Redis still trimming retention, the CPU still busy with GC).
const rotate = (list, by) => list.map((_, i) => list[(i + by) % list.length]);

/**
 * Round 0 is a warm-up (every scenario, every mode, discarded); then `queueRounds` measured
 * rounds. Returns Map name -> one entry per measured round: { p50Ms, p99Ms, jobsPerSec, raw }.
 */
export async function runQueueRounds(plans, cfg, { progress, onServer, assertServersAlive }) {
  const runsByName = new Map(plans.map((p) => [p.name, []]));
  for (let round = 0; round <= cfg.queueRounds; round++) {
    const results = new Map(plans.map((p) => [p.name, {}]));
    for (const mode of MODES) {
      for (const plan of rotate(plans, round)) {
        assertServersAlive();
        progress(`queue round ${round ? `${round}/${cfg.queueRounds}` : 'warm-up'} ${plan.name}: ${mode}`);
        const r = await onServer(plan.inst, () => measure(plan, mode, cfg));
        // Without Redis, ours falls back to the in-process driver: never let one pose as the other.
        if (r.engine !== plan.engine) {
          throw new Error(`queue scenario "${plan.name}" ran on engine "${r.engine}", expected "${plan.engine}"`);
        }
        results.get(plan.name)[mode] = r;
      }
    }
    if (round === 0) continue;
    for (const [name, { latency, throughput }] of results) {
      runsByName.get(name).push({
        p50Ms: latency.p50Ms,
        p99Ms: latency.p99Ms,
        jobsPerSec: throughput.jobsPerSec,
        raw: { latency, throughput },
      });
    }
  }
  return runsByName;
}

// Per-round ratios, then the median: the two sides ran seconds apart, so drift cancels out.
const medianRatio = (runs, refRuns, metric) => median(runs.map((r, i) => r[metric] / refRuns[i][metric]));

export function buildQueueRows(plans, runsByName) {
  const refRuns = runsByName.get(plans[0].name);
  return plans.map((s) => {
    const runs = runsByName.get(s.name);
    const ratios = Object.fromEntries(Object.keys(METRICS).map((m) => [m, medianRatio(runs, refRuns, m)]));
    return {
      scenario: s.name,
      driver: s.driver,
      engine: s.engine,
      server: s.server ?? null,
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      jobsPerSec: median(runs.map((r) => r.jobsPerSec)),
      ratioToReference: ratios,
      rounds: runs,
    };
  });
}

// Targets are ratios to the reference (which always runs with any queue scenario: no SKIP).
export function evaluateQueueTargets(plans, rows) {
  const ref = plans[0].name;
  return plans.flatMap((s) =>
    [s.target ?? []].flat().map(({ metric, max, min }) => {
      const ratio = rows.find((r) => r.scenario === s.name).ratioToReference[metric];
      const bound = max !== undefined ? `<= ${max}` : `>= ${min}`;
      const label = `${s.name}: ${METRICS[metric]} ${bound}× ${ref}`;
      const pass = max !== undefined ? ratio <= max : ratio >= min;
      return { scenario: s.name, label, metric, max, min, reference: ref, ratio, status: pass ? 'PASS' : 'FAIL' };
    }),
  );
}

const times = (r) => `${r.toFixed(2)}×`;

export function formatQueueTable(rows) {
  const ref = rows[0].scenario;
  const header = ['queue scenario', 'p50 ms', 'p99 ms', 'jobs/s', 'p50 / ref', 'p99 / ref', 'jobs/s / ref'];
  const body = rows.map((r) => [
    r.scenario,
    r.p50Ms.toFixed(3),
    r.p99Ms.toFixed(3),
    r.jobsPerSec.toFixed(0),
    times(r.ratioToReference.p50Ms),
    times(r.ratioToReference.p99Ms),
    times(r.ratioToReference.jobsPerSec),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const cell = (v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]));
  const line = (cells) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...body.map(line), `ref = ${ref}`].join('\n');
}

// runMeta: the run's `meta`, for the server variants the rows ran on.
export function printQueueReport({ meta, rows, targets }, strict, runMeta) {
  if (!rows.length) return;
  console.log(
    `\nQueue: no-op job, enqueue to completion, timed in the server | worker concurrency: ${meta.concurrency}` +
      ` | latency: ${meta.latencyJobs} sequential jobs | throughput: ${meta.throughputJobs} jobs,` +
      ` ${meta.window} adds in flight | warm-up: ${meta.warmupJobs} jobs per measurement + 1 round` +
      ` | rounds: ${meta.rounds}\n`,
  );
  console.log(formatQueueTable(rows));
  printVariants(runMeta, rows);
  if (targets.length) {
    const lines = targets.map((t) => `${t.status.padEnd(4)}  ${t.label} (got ${times(t.ratio)})`);
    console.log(`\nQueue targets${strict ? ' (strict)' : ''}:\n${lines.join('\n')}`);
  }
}
