import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

/** What a bench job carries: the run it belongs to and its index, so a completion is matched without its id. */
export interface BenchJobData {
  run: string;
  i: number;
}

/** A queue under test: how a job is added, and how its completion is heard (every job, any run). */
export interface BenchTarget {
  add(data: BenchJobData): Promise<unknown>;
  listen(onCompleted: (data: BenchJobData) => void): () => void;
}

export interface LatencyResult {
  mode: 'latency';
  jobs: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export interface ThroughputResult {
  mode: 'throughput';
  jobs: number;
  window: number;
  elapsedMs: number;
  jobsPerSec: number;
}

/** Past this a run gives up: a worker that never completes must fail the request, not hang it. */
const RUN_TIMEOUT_MS = 120_000;

/**
 * The completions of one run, timed when heard. Jobs are matched by their data, not their id:
 * a completion may be heard before `add` has even resolved (the worker is on another connection).
 */
class Run {
  readonly id = randomUUID();
  readonly at: Float64Array;
  private count = 0;
  private waiter?: { until: number; resolve: () => void; reject: (error: Error) => void };
  private failure?: Error;
  private readonly timer: NodeJS.Timeout;

  constructor(readonly jobs: number) {
    this.at = new Float64Array(jobs);
    this.timer = setTimeout(
      () => this.fail(new Error(`queue bench: jobs not completed after ${RUN_TIMEOUT_MS} ms`)),
      RUN_TIMEOUT_MS,
    );
  }

  readonly completed = ({ run, i }: BenchJobData): void => {
    if (run !== this.id || this.at[i] !== 0) return;
    this.at[i] = performance.now();
    this.count++;
    if (this.waiter && this.count >= this.waiter.until) this.waiter.resolve();
  };

  /** Resolves once `n` jobs of the run have completed. One waiter at a time. */
  reached(n: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.count >= n) return Promise.resolve();
    return new Promise((resolve, reject) => (this.waiter = { until: n, resolve, reject }));
  }

  end(): void {
    clearTimeout(this.timer);
  }

  private fail(error: Error): void {
    this.failure = error;
    this.waiter?.reject(error);
  }
}

async function withRun<T>(target: BenchTarget, jobs: number, body: (run: Run) => Promise<T>): Promise<T> {
  const run = new Run(jobs);
  const stop = target.listen(run.completed);
  try {
    return await body(run);
  } finally {
    stop();
    run.end();
  }
}

/** Nearest rank, as the HTTP side of the harness computes it. */
const percentile = (sorted: Float64Array, p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];

/** One job at a time: from just before `add` to its completion being heard. */
export async function measureLatency(target: BenchTarget, jobs: number): Promise<LatencyResult> {
  const took = await withRun(target, jobs, async (run) => {
    const started = new Float64Array(jobs);
    for (let i = 0; i < jobs; i++) {
      const done = run.reached(i + 1);
      started[i] = performance.now();
      await target.add({ run: run.id, i });
      await done;
    }
    return run.at.map((t, i) => t - started[i]);
  });
  const sorted = took.slice().sort();
  return {
    mode: 'latency',
    jobs,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: took.reduce((a, b) => a + b, 0) / jobs,
    maxMs: sorted[jobs - 1],
  };
}

/**
 * `jobs` added by `window` concurrent callers (each awaiting its `add` before the next), as a
 * busy API would; timed from the first `add` to the last completion.
 */
export async function measureThroughput(target: BenchTarget, jobs: number, window: number): Promise<ThroughputResult> {
  const elapsedMs = await withRun(target, jobs, async (run) => {
    const all = run.reached(jobs);
    all.catch(() => undefined); // a failing add rejects first; this one must not go unhandled
    let next = 0;
    const lane = async () => {
      while (next < jobs) await target.add({ run: run.id, i: next++ });
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: Math.min(window, jobs) }, lane));
    await all;
    return run.at.reduce((last, t) => Math.max(last, t), 0) - t0;
  });
  return { mode: 'throughput', jobs, window, elapsedMs, jobsPerSec: (jobs * 1000) / elapsedMs };
}
