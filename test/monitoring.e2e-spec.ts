import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { createTestDatabase, type TestDatabase } from './support/database';
import { startApp, type RunningApp } from './support/app';
import { signUp } from './support/auth';
import { RedisProcess, TEST_REDIS_URL, uniquePrefix } from './support/redis';

const MONITORING = join(__dirname, '..', 'deploy', 'monitoring');

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: string };
  annotations: { summary: string; description?: string };
}

const rules = (
  load(readFileSync(join(MONITORING, 'alerts.yaml'), 'utf8')) as { groups: { rules: Rule[] }[] }
).groups.flatMap((group) => group.rules);
const dashboard = JSON.parse(readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8')) as {
  panels: { title: string; targets: { expr: string }[] }[];
};

/** PromQL words that are not metric names. */
const PROMQL_WORDS = new Set([
  ...['sum', 'max', 'min', 'avg', 'count', 'topk', 'bottomk', 'rate', 'irate', 'increase', 'delta'],
  ...['histogram_quantile', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right'],
  ...['and', 'or', 'unless', 'bool', 'offset', 'abs', 'clamp_min', 'clamp_max', 'time'],
]);

/** The metric names a PromQL expression selects (without the `_bucket`/`_count`/`_sum` of histograms). */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // label values
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges, $__rate_interval included
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, ' '); // grouping labels
  const names = new Set<string>();
  for (const match of bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    if (PROMQL_WORDS.has(word) || /^\d/.test(word)) continue;
    // A function call is a name followed by `(`.
    if (/^\s*\(/.test(bare.slice((match.index ?? 0) + word.length))) continue;
    names.add(word.replace(/_(bucket|count|sum)$/, ''));
  }
  return [...names];
}

/** The metric families /metrics declares (`# TYPE name kind`). */
async function exported(url: string): Promise<Map<string, string>> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  const families = new Map<string, string>();
  for (const [, name, kind] of (await res.text()).matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(name, kind);
  return families;
}

async function sample(url: string, pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => pattern.test(l));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('deploy/monitoring: dashboard and alert rules', () => {
  it('every alert rule has a severity, a summary and an expression that names metrics', () => {
    expect(rules.map((rule) => rule.alert).sort()).toEqual(
      [
        'BoxOfficeDatabasePoolExhausted',
        'BoxOfficeHigh5xxRatio',
        'BoxOfficeHighLatency',
        'BoxOfficeJobsFailing',
        'BoxOfficeQueueBacklog',
        'BoxOfficeRedisDegraded',
        'BoxOfficeRedisDown',
        'BoxOfficeThrottleFallback',
        'BoxOfficeWebhookDeliveriesDead',
      ].sort(),
    );
    for (const rule of rules) {
      expect(['critical', 'warning']).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length).toBeGreaterThan(0);
      expect(metricNames(rule.expr).length).toBeGreaterThan(0);
    }
  });

  it('finds metric names in PromQL', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le, client) (rate(redis_command_duration_seconds_bucket{route!~"/a|b"}[5m]))) > 0.05 or max by (instance) (session_store_breaker_open) == 1',
      ).sort(),
    ).toEqual(['redis_command_duration_seconds', 'session_store_breaker_open']);
  });
});

describe('/metrics exports what the dashboard and the alert rules use', () => {
  let db: TestDatabase;
  let running: RunningApp | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
  afterAll(() => db?.drop());

  it('with Redis configured: every named metric is exported, with its per-client Redis and pool figures', async () => {
    running = await startApp({ ...db.env, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('metrics') });
    const { url } = running;
    const organizer = await signUp(url, 'organizer');
    await fetch(`${url}/auth/me`, { headers: organizer.auth });
    await fetch(`${url}/events`);

    const families = await exported(url);
    const named = new Set([
      ...rules.flatMap((rule) => metricNames(rule.expr)),
      ...dashboard.panels.flatMap((panel) => panel.targets.flatMap((target) => metricNames(target.expr))),
    ]);
    const missing = [...named].filter((name) => !families.has(name));
    expect(missing).toEqual([]);
    expect(named.size).toBeGreaterThan(15);

    expect(families.get('redis_command_duration_seconds')).toBe('histogram');
    expect(await sample(url, /^redis_connection_state\{state="ready"\}/)).toBe(1);
    expect(await sample(url, /^redis_connection_state\{state="down"\}/)).toBe(0);
    // The session store runs on the request-path connection; the throttler and the cache on their own.
    expect(await sample(url, /^redis_commands_total\{client="main"\}/)).toBeGreaterThan(0);
    expect(await sample(url, /^redis_commands_total\{client="throttler"\}/)).toBeGreaterThan(0);
    expect(await sample(url, /^redis_command_duration_seconds_count\{client="main"\}/)).toBeGreaterThan(0);
    expect(await sample(url, /^redis_connections\{client="main"\}/)).toBe(1);
    expect(await sample(url, /^db_pool_connections\{state="total"\}/)).toBeGreaterThanOrEqual(1);
    expect(await sample(url, /^db_pool_max /)).toBeGreaterThanOrEqual(1);
    expect(await sample(url, /^queue_jobs\{queue="exports",state="waiting"\}/)).toBe(0);
  });

  it('Redis not configured: the state says so, and the queue backlog comes from the in-process queues', async () => {
    running = await startApp({ ...db.env });
    expect(await sample(running.url, /^redis_connection_state\{state="not_configured"\}/)).toBe(1);
    expect(await sample(running.url, /^queue_jobs\{queue="exports",state="waiting"\}/)).toBe(0);
  });

  it('Redis frozen: a scrape still answers within a second, with the state and errors counted', async () => {
    const redis = await RedisProcess.start();
    try {
      running = await startApp({ ...db.env, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('metrics') });
      const { url } = running;
      redis.pause();
      await fetch(`${url}/events`); // the throttler's and the cache's commands time out
      const started = performance.now();
      const res = await fetch(`${url}/metrics`);
      expect(res.status).toBe(200);
      await res.text();
      expect(performance.now() - started).toBeLessThan(1000);
      expect(await sample(url, /^redis_command_errors_total\{client="/)).toBeGreaterThan(0);
    } finally {
      redis.resume(); // closing on a frozen Redis waits out every connection's QUIT
      await running?.close();
      running = undefined;
      await redis.stop();
    }
  });
});
