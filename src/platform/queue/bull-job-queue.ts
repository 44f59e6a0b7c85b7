import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Job, QueueEvents, type JobsOptions, type Queue } from 'bullmq';
import type { RedisClient } from '../redis';
import { assertJobId, isJobId, jobView, JobWatchers, withOwner } from './job-view';
import { QueueUnavailableError } from './queue.errors';
import type { QueueMetrics } from './queue.metrics';
import type { EnqueueOptions, JobCounts, JobEvent, JobQueue, JobState, JobView } from './queue.types';

const parse = (value: unknown) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
};

/**
 * A BullMQ queue behind the `JobQueue` port. The producer connection fails fast (no offline
 * queue, a command timeout), so `add` either stores the job or rejects and the request answers
 * 503: a job is never parked in memory waiting for Redis. Events for SSE come from one
 * `QueueEvents` reader per queue, opened on the first watcher.
 */
export class BullJobQueue implements JobQueue {
  private readonly logger = new Logger('Queue');
  private readonly watchers = new JobWatchers();
  private events?: Promise<QueueEvents>;

  constructor(
    readonly queue: Queue,
    private readonly producer: RedisClient,
    private readonly openEvents: (lastEventId: string) => QueueEvents,
    private readonly metrics?: QueueMetrics,
  ) {}

  get name(): string {
    return this.queue.name;
  }

  /** Jobs by state, for the backlog gauge (one round trip). */
  async counts(): Promise<JobCounts> {
    const counts = await this.queue.getJobCounts('waiting', 'prioritized', 'delayed', 'active', 'failed');
    return {
      waiting: counts.waiting ?? 0,
      prioritized: counts.prioritized ?? 0,
      delayed: counts.delayed ?? 0,
      active: counts.active ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  async add(jobName: string, data: unknown, options: EnqueueOptions = {}): Promise<JobView> {
    const { owner, jobId, ...rest } = options;
    assertJobId(jobId);
    // Not connected: refuse at once rather than let BullMQ wait for a connection.
    if (this.producer.status !== 'ready') {
      this.metrics?.refused(this.name);
      throw new QueueUnavailableError(this.name);
    }
    const opts: JobsOptions = { ...rest, jobId: jobId ?? randomUUID() };
    let job: Job;
    try {
      job = await this.queue.add(jobName, withOwner(data, owner), opts);
    } catch (error) {
      this.metrics?.refused(this.name);
      throw new QueueUnavailableError(this.name, error);
    }
    // The same id or deduplication id adds nothing: report the job that exists.
    if (jobId !== undefined || rest.deduplication || job.id !== opts.jobId) {
      return (await this.get(job.id as string)) ?? this.view(job, 'waiting');
    }
    // job.opts: the queue's default options with the job's own over them.
    return this.view(job, job.opts.delay ? 'delayed' : job.opts.priority ? 'prioritized' : 'waiting');
  }

  async get(jobId: string): Promise<JobView | null> {
    if (!isJobId(jobId)) return null;
    try {
      // The state first, then the fields: read the other way round, a job that completes in
      // between would show as completed without its result.
      const state = (await this.queue.getJobState(jobId)) as JobState;
      const job = await Job.fromId(this.queue, jobId);
      if (!job) return null;
      return this.view(job, state);
    } catch (error) {
      throw new QueueUnavailableError(this.name, error);
    }
  }

  async watch(jobId: string, listener: (event: JobEvent) => void): Promise<() => void> {
    const unsubscribe = this.watchers.add(jobId, listener);
    try {
      await this.eventsReader();
    } catch (error) {
      unsubscribe();
      throw new QueueUnavailableError(this.name, error);
    }
    return unsubscribe;
  }

  async close(): Promise<void> {
    const events = this.events;
    this.events = undefined;
    if (events) await events.then((reader) => reader.close()).catch(() => undefined);
  }

  private eventsReader(): Promise<QueueEvents> {
    this.events ??= (async () => {
      // Read from the stream's end as of now: with '$' the reader would start where the stream is
      // at its first XREAD, a round trip after `watch` resolved, and miss what came in between.
      const [last] = await this.producer.xrevrange(this.queue.keys.events, '+', '-', 'COUNT', 1);
      const reader = this.openEvents(last?.[0] ?? '0-0');
      // Read before its first XREAD, which waits for the connection.
      reader.on('error', (error) => this.logger.warn(`Queue "${this.name}" events: ${error.message}`));
      reader.on('progress', ({ jobId, data }) => this.emit(jobId, { type: 'progress', jobId, progress: data }));
      reader.on('completed', ({ jobId, returnvalue }) =>
        this.emit(jobId, { type: 'completed', jobId, result: parse(returnvalue) }),
      );
      // BullMQ writes 'failed' to the stream only when a job fails for good (a retry writes
      // 'delayed' or 'waiting'), and the job may be gone already (removeOnFail).
      reader.on('failed', ({ jobId, failedReason }) => this.emit(jobId, { type: 'failed', jobId, failedReason }));
      await reader.waitUntilReady();
      return reader;
    })();
    this.events.catch(() => (this.events = undefined));
    return this.events;
  }

  private emit(jobId: string, event: JobEvent): void {
    this.watchers.emit(jobId, event);
  }

  private view(job: Job, state: JobState): JobView {
    const { name, data, progress, attemptsMade, timestamp, finishedOn, returnvalue, failedReason } = job;
    // BullMQ stores no attempts as 0, and runs such a job once.
    const attempts = job.opts.attempts || 1;
    const fields = { id: job.id as string, name, data, progress, attemptsMade, attempts, timestamp, finishedOn };
    return jobView(this.name, { ...fields, returnvalue, failedReason }, state);
  }
}
