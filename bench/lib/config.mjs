// All env knobs live here so run.mjs and bench/README.md have one place to agree on.

function readInt(env, name, def, min) {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  // Integers only: wrk's -d flag and the rounds/connections counts need whole numbers.
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`${name} must be an integer >= ${min} (got "${raw}")`);
  }
  return n;
}

export function loadConfig(env = process.env) {
  const tool = (env.BENCH_TOOL || 'auto').toLowerCase();
  if (!['auto', 'wrk', 'autocannon'].includes(tool)) {
    throw new Error(`BENCH_TOOL must be "wrk" or "autocannon" (got "${env.BENCH_TOOL}")`);
  }
  return {
    warmupS: readInt(env, 'BENCH_WARMUP_S', 3, 0),
    durationS: readInt(env, 'BENCH_DURATION_S', 10, 1),
    connections: readInt(env, 'BENCH_CONNECTIONS', 32, 1),
    rounds: readInt(env, 'BENCH_ROUNDS', 1, 1),
    wrkThreads: readInt(env, 'BENCH_WRK_THREADS', 2, 1),
    tool,
    filter: (env.BENCH_FILTER || '').toLowerCase(),
    strict: env.BENCH_STRICT === 'true',
    redisUrl: env.BENCH_REDIS_URL || 'redis://127.0.0.1:6379',
    // PostgreSQL instead of PGlite; the events table gets the bench's rows, so use a scratch database.
    databaseUrl: env.BENCH_DATABASE_URL || '',
    serverCmd: env.BENCH_SERVER_CMD || '',
    // The queue section (bench/lib/queue.mjs): job counts per measurement, not seconds.
    queueRounds: readInt(env, 'BENCH_QUEUE_ROUNDS', 5, 1),
    queueLatencyJobs: readInt(env, 'BENCH_QUEUE_LATENCY_JOBS', 500, 1),
    queueThroughputJobs: readInt(env, 'BENCH_QUEUE_THROUGHPUT_JOBS', 5000, 1),
    queueWarmupJobs: readInt(env, 'BENCH_QUEUE_WARMUP_JOBS', 50, 0),
    queueWindow: readInt(env, 'BENCH_QUEUE_WINDOW', 64, 1),
  };
}
