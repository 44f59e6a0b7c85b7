// Aggregation across rounds, the console table, targets and the JSON file.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

const sum = (values) => values.reduce((a, b) => a + b, 0);

// Ratios are taken per round and then the median: bare and the scenario ran close together
// in time, so a round-local ratio cancels out most of the drift on a noisy machine.
export function medianRatio(runs, refRuns) {
  return median(runs.map((r, i) => (refRuns[i].reqPerSec > 0 ? r.reqPerSec / refRuns[i].reqPerSec : 0)));
}

// plans: [{ name, method, path, expectStatus, target }] with path already resolved.
export function buildRows(plans, runsByName, baselineName) {
  return plans.map((s) => {
    const runs = runsByName.get(s.name);
    return {
      scenario: s.name,
      method: s.method,
      path: s.path,
      expectStatus: s.expectStatus ?? '2xx',
      reqPerSec: median(runs.map((r) => r.reqPerSec)),
      p50Ms: median(runs.map((r) => r.p50Ms)),
      p99Ms: median(runs.map((r) => r.p99Ms)),
      unexpectedStatus: sum(runs.map((r) => r.unexpected)),
      socketErrors: sum(runs.map((r) => r.errors)),
      ratioToBare: medianRatio(runs, runsByName.get(baselineName)),
      rounds: runs,
    };
  });
}

// A scenario's `target`: none, one { minRatioTo, min }, or an array of them.
export const targetList = (target) => [target ?? []].flat();

// Each target of a scenario becomes its own row. The reference can be any scenario of the
// run (ratios are per round, so the same drift argument holds). A reference hidden by
// BENCH_FILTER is reported as SKIP, not pulled in: the filter keeps meaning "run only
// these" (pulling in could mean a long setup), and SKIP never counts as a failure.
export function evaluateTargets(plans, runsByName) {
  return plans.flatMap((s) =>
    targetList(s.target).map(({ minRatioTo, min }) => {
      const label = `${s.name}: req/s >= ${Math.round(min * 100)}% of ${minRatioTo}`;
      const refRuns = runsByName.get(minRatioTo);
      if (!refRuns) {
        return { scenario: s.name, label, minRatioTo, min, status: 'SKIP', reason: 'not selected by BENCH_FILTER' };
      }
      const ratio = medianRatio(runsByName.get(s.name), refRuns);
      return { scenario: s.name, label, minRatioTo, ratio, min, status: ratio >= min ? 'PASS' : 'FAIL' };
    }),
  );
}

const pct = (r) => `${Math.round(r * 100)}%`;

export function formatTable(rows) {
  const header = ['scenario', 'req/s', 'p50 ms', 'p99 ms', 'non-2xx', 'ratio to bare'];
  const body = rows.map((r) => [
    r.scenario,
    r.reqPerSec.toFixed(0),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    String(r.unexpectedStatus),
    pct(r.ratioToBare),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  // Column 0 is text (left-aligned); the rest are numbers (right-aligned), as in markdown.
  const cell = (v, i) => (i === 0 ? v.padEnd(widths[i]) : v.padStart(widths[i]));
  const line = (cells) => `| ${cells.map(cell).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}

export function formatTargets(targets) {
  return targets
    .map((t) => {
      const detail = t.status === 'SKIP' ? t.reason : `got ${pct(t.ratio)}`;
      return `${t.status.padEnd(4)}  ${t.label} (${detail})`;
    })
    .join('\n');
}

// Under a table, the variants its rows ran on (the queue section prints its own).
export function printVariants(meta, rows) {
  for (const [name, v] of Object.entries(meta.serverVariants ?? {})) {
    const used = v.scenarios.filter((s) => rows.some((r) => r.scenario === s));
    if (!used.length) continue;
    const env = Object.entries(v.env).map(([k, val]) => `${k}=${val}`);
    console.log(`server "${name}" (${env.join(' ') || 'no extra env'}): ${used.join(', ')}`);
  }
}

export function printReport({ meta, rows, targets }, strict) {
  const threads = meta.wrkThreads ? ` (${meta.wrkThreads} threads)` : '';
  console.log(`\nBenchmark ${meta.timestamp}`);
  // BENCH_FILTER=queue: the HTTP part did not run; the queue section follows on its own.
  if (!rows.length) return console.log(`node: ${meta.node} | no HTTP scenario selected`);
  console.log(
    `tool: ${meta.tool} ${meta.toolVersion}${threads} | connections: ${meta.connections}` +
      ` | pipelining: ${meta.pipelining} | warm-up: ${meta.warmupS}s | duration: ${meta.durationS}s` +
      ` | rounds: ${meta.rounds} | node: ${meta.node}\n`,
  );
  console.log(formatTable(rows));
  // Their "ratio to bare" divides by the main server's bare: another process, same machine.
  printVariants(meta, rows);
  for (const r of rows.filter((row) => row.socketErrors > 0)) {
    console.log(`warning: ${r.scenario}: ${r.socketErrors} socket errors/timeouts`);
  }
  if (targets.length) {
    console.log(`\nTargets${strict ? ' (strict)' : ''}:\n${formatTargets(targets)}`);
  }
}

export function writeJson(file, data) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
}
