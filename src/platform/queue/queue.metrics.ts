import { Counter, Gauge, type Registry } from 'prom-client';
import type { JobCounts } from './queue.types';

/** How long a scrape waits for the job counts: a slow Redis must not hang /metrics. */
const COUNTS_TIMEOUT_MS = 500;

interface CountedQueue {
  name: string;
  counts(): Promise<JobCounts>;
}

export type JobOutcome = 'completed' | 'retried' | 'failed';

/** The queues' Prometheus metrics: what happened to jobs, and enqueues refused (503). */
export class QueueMetrics {
  private readonly outcomes: Counter<'queue' | 'outcome'>;
  private readonly refusals: Counter<'queue'>;
  private queues: () => CountedQueue[] = () => [];

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
    const queues = () => this.queues();
    new Gauge({
      name: 'queue_jobs',
      help: 'Jobs by queue and state (waiting, prioritized, delayed, active, failed), read at scrape time; unchanged when Redis does not answer within 500 ms',
      labelNames: ['queue', 'state'] as const,
      registers,
      async collect() {
        await Promise.all(
          queues().map(async (queue) => {
            const counts = await withTimeout(queue.counts(), COUNTS_TIMEOUT_MS);
            if (!counts) return;
            for (const [state, count] of Object.entries(counts)) this.labels(queue.name, state).set(count);
          }),
        );
      },
    });
    this.outcomes = new Counter({
      name: 'queue_jobs_total',
      help: 'Job attempts that ended, by queue and outcome (completed, retried, failed for good)',
      labelNames: ['queue', 'outcome'] as const,
      registers,
    });
    this.refusals = new Counter({
      name: 'queue_enqueue_refused_total',
      help: 'Jobs that could not be enqueued (the request answered 503), by queue',
      labelNames: ['queue'] as const,
      registers,
    });
  }

  /** Where the backlog gauge finds the queues. */
  countQueues(queues: () => CountedQueue[]): void {
    this.queues = queues;
  }

  outcome(queue: string, outcome: JobOutcome): void {
    this.outcomes.labels(queue, outcome).inc();
  }

  refused(queue: string): void {
    this.refusals.labels(queue).inc();
  }
}

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
