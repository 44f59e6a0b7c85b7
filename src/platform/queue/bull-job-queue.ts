import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Job, QueueEvents, type JobsOptions, type Queue } from 'bullmq';
import type { RedisClient } from '../redis';
import { QueueUnavailableError } from './queue.errors';
import type { QueueMetrics } from './queue.metrics';
import {
  JOB_OWNER_KEY,
  type EnqueueOptions,
  type JobEvent,
  type JobQueue,
  type JobState,
  type JobView,
} from './queue.types';

const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;

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
  private readonly listeners = new Map<string, Set<(event: JobEvent) => void>>();
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

  async add(jobName: string, data: unknown, options: EnqueueOptions = {}): Promise<JobView> {
    const { owner, jobId, ...rest } = options;
    if (jobId !== undefined && !JOB_ID.test(jobId)) throw new Error(`Invalid job id "${jobId}"`);
    // Not connected: refuse at once rather than let BullMQ wait for a connection.
    if (this.producer.status !== 'ready') {
      this.metrics?.refused(this.name);
      throw new QueueUnavailableError(this.name);
    }
    const payload = owner === undefined ? data : { ...(data as object), [JOB_OWNER_KEY]: owner };
    const opts: JobsOptions = { ...rest, jobId: jobId ?? randomUUID() };
    let job: Job;
    try {
      job = await this.queue.add(jobName, payload, opts);
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
    if (!JOB_ID.test(jobId)) return null;
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
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    const unsubscribe = () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(jobId) === set) this.listeners.delete(jobId);
    };
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
    for (const listener of [...(this.listeners.get(jobId) ?? [])]) listener(event);
  }

  private view(job: Job, state: JobState): JobView {
    const data = job.data as { [JOB_OWNER_KEY]?: unknown } | null;
    return {
      id: job.id as string,
      queue: this.name,
      name: job.name,
      state,
      progress: job.progress,
      attemptsMade: job.attemptsMade,
      // BullMQ stores no attempts as 0, and runs such a job once.
      attempts: job.opts.attempts || 1,
      createdAt: new Date(job.timestamp).toISOString(),
      ...(job.finishedOn && { finishedAt: new Date(job.finishedOn).toISOString() }),
      ...(state === 'completed' && { result: job.returnvalue }),
      ...(state === 'failed' && { failedReason: job.failedReason }),
      ...(typeof data?.[JOB_OWNER_KEY] === 'string' && { owner: data[JOB_OWNER_KEY] }),
    };
  }
}
