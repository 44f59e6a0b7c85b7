import { Counter, type Registry } from 'prom-client';

export type JobOutcome = 'completed' | 'retried' | 'failed';

/** The queues' Prometheus metrics: what happened to jobs, and enqueues refused (503). */
export class QueueMetrics {
  private readonly outcomes: Counter<'queue' | 'outcome'>;
  private readonly refusals: Counter<'queue'>;

  constructor(registry: Registry | undefined) {
    const registers = registry ? [registry] : [];
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

  outcome(queue: string, outcome: JobOutcome): void {
    this.outcomes.labels(queue, outcome).inc();
  }

  refused(queue: string): void {
    this.refusals.labels(queue).inc();
  }
}
