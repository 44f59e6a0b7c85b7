import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Backoffs, type KeepJobs } from 'bullmq';
import { assertJobId, jobView, JobWatchers, withOwner } from './job-view';
import { QueueFullError } from './queue.errors';
import type { QueueMetrics } from './queue.metrics';
import type { EnqueueOptions, JobCounts, JobEvent, JobQueue, JobState, JobView, QueueJob } from './queue.types';

/** What runs a job: the processor's `process(job, token, signal)`. */
export type ProcessJob = (job: QueueJob, token: undefined, signal: AbortSignal) => Promise<unknown>;

interface Record {
  id: string;
  name: string;
  data: unknown;
  options: EnqueueOptions;
  state: JobState;
  attemptsMade: number;
  progress: number | string | boolean | object;
  timestamp: number;
  finishedOn?: number;
  result?: unknown;
  failedReason?: string;
  seq: number;
  timer?: NodeJS.Timeout;
  dedupId?: string;
}

/** The job object an in-process processor receives; it mirrors the parts of BullMQ's `Job` we promise. */
class MemoryJob implements QueueJob {
  readonly id: string;
  readonly name: string;
  readonly data: unknown;
  readonly attemptsMade: number;
  readonly opts: { attempts?: number };
  readonly timestamp: number;

  constructor(
    private readonly record: Record,
    private readonly onProgress: (record: Record) => void,
  ) {
    this.id = record.id;
    this.name = record.name;
    this.data = record.data;
    this.attemptsMade = record.attemptsMade;
    this.opts = { attempts: record.options.attempts ?? 1 };
    this.timestamp = record.timestamp;
  }

  get progress() {
    return this.record.progress;
  }

  get returnvalue() {
    return this.record.result;
  }

  async updateProgress(progress: number | object): Promise<void> {
    this.record.progress = progress;
    this.onProgress(this.record);
  }

  async log(): Promise<number> {
    return 0;
  }
}

/**
 * A queue in this process, for when Redis is not configured. It keeps BullMQ's semantics where
 * they matter to processors and clients (attempts, the same backoff arithmetic, priority, delay,
 * job-id and deduplication no-ops, retention, progress events) and is bounded. It is not durable:
 * jobs waiting when the process stops are lost, which the README and `/health/ready` say.
 */
export class MemoryJobQueue implements JobQueue {
  private readonly logger = new Logger('Queue');
  private readonly jobs = new Map<string, Record>();
  private readonly ready: Record[] = [];
  private readonly retained: { completed: string[]; failed: string[] } = { completed: [], failed: [] };
  private readonly deduplicated = new Map<string, { jobId: string; until?: number }>();
  private readonly watchers = new JobWatchers();
  private readonly running = new Map<string, { promise: Promise<void>; abort: AbortController }>();
  private processor?: { run: ProcessJob; concurrency: number };
  private unfinished = 0;
  private seq = 0;
  private closing = false;

  constructor(
    readonly name: string,
    private readonly defaults: EnqueueOptions,
    private readonly maxJobs: number,
    private readonly metrics?: QueueMetrics,
  ) {}

  /** Jobs by state, for the backlog gauge. */
  async counts(): Promise<JobCounts> {
    const counts: JobCounts = { waiting: 0, prioritized: 0, delayed: 0, active: 0, failed: 0 };
    for (const { state } of this.jobs.values()) if (state in counts) counts[state as keyof JobCounts]++;
    return counts;
  }

  /** Starts running jobs with a processor (workers enabled); until then jobs wait. */
  attach(run: ProcessJob, concurrency: number): void {
    this.processor = { run, concurrency: Math.max(1, concurrency) };
    this.pump();
  }

  async add(jobName: string, data: unknown, options: EnqueueOptions = {}): Promise<JobView> {
    const opts = { ...this.defaults, ...options };
    assertJobId(opts.jobId);
    const existing = opts.jobId ? this.jobs.get(opts.jobId) : undefined;
    if (existing) return this.view(existing);
    const now = Date.now();
    if (opts.deduplication) {
      const held = this.deduplicated.get(opts.deduplication.id);
      const holder = held && this.jobs.get(held.jobId);
      // As BullMQ: with a ttl, for that long whatever the job's state; without, until it finishes.
      const holds = held?.until === undefined ? holder?.finishedOn === undefined : now < held.until;
      if (holder && holds) return this.view(holder);
    }
    if (this.closing || this.unfinished >= this.maxJobs) {
      this.metrics?.refused(this.name);
      throw new QueueFullError(this.name);
    }

    const record: Record = {
      id: opts.jobId ?? randomUUID(),
      name: jobName,
      data: withOwner(data, opts.owner),
      options: opts,
      state: 'waiting',
      attemptsMade: 0,
      progress: 0,
      timestamp: now,
      seq: this.seq++,
    };
    if (opts.deduplication) {
      record.dedupId = opts.deduplication.id;
      const { ttl } = opts.deduplication;
      this.deduplicated.set(opts.deduplication.id, { jobId: record.id, until: ttl ? now + ttl : undefined });
    }
    this.jobs.set(record.id, record);
    this.unfinished++;
    if (opts.delay && opts.delay > 0) this.delay(record, opts.delay);
    else this.enqueue(record);
    return this.view(record);
  }

  async get(jobId: string): Promise<JobView | null> {
    const record = this.jobs.get(jobId);
    return record ? this.view(record) : null;
  }

  async watch(jobId: string, listener: (event: JobEvent) => void): Promise<() => void> {
    return this.watchers.add(jobId, listener);
  }

  /** Jobs not yet finished: waiting, delayed or running. */
  get size(): number {
    return this.unfinished;
  }

  /**
   * Stops taking jobs and waits up to `timeoutMs` for the running ones. What is still waiting
   * is lost (no durable store), and said so in the log.
   */
  async close(timeoutMs: number): Promise<void> {
    this.closing = true;
    for (const record of this.jobs.values()) clearTimeout(record.timer);
    const running = [...this.running.values()].map((r) => r.promise);
    if (running.length) {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        Promise.all(running).then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        this.logger.warn(`Queue "${this.name}": ${this.running.size} job(s) still running after ${timeoutMs} ms`);
        for (const { abort } of this.running.values()) abort.abort(new Error('shutting down'));
      }
    }
    const lost = this.unfinished - this.running.size;
    if (lost > 0) this.logger.warn(`Queue "${this.name}": ${lost} unstarted job(s) lost (in-process queue)`);
  }

  private enqueue(record: Record): void {
    record.state = record.options.priority ? 'prioritized' : 'waiting';
    // Jobs without a priority first, then by priority (1 is highest), each in arrival order.
    const rank = (r: Record) => r.options.priority ?? 0;
    let at = this.ready.length;
    while (
      at > 0 &&
      (rank(this.ready[at - 1]) > rank(record) ||
        (rank(this.ready[at - 1]) === rank(record) && this.ready[at - 1].seq > record.seq))
    )
      at--;
    this.ready.splice(at, 0, record);
    this.pump();
  }

  private delay(record: Record, ms: number): void {
    record.state = 'delayed';
    record.timer = setTimeout(() => {
      record.timer = undefined;
      if (!this.closing) this.enqueue(record);
    }, ms);
    record.timer.unref();
  }

  private pump(): void {
    const processor = this.processor;
    if (!processor) return;
    while (!this.closing && this.running.size < processor.concurrency && this.ready.length) {
      const record = this.ready.shift() as Record;
      const abort = new AbortController();
      const promise = this.run(record, processor.run, abort.signal).finally(() => {
        this.running.delete(record.id);
        this.pump();
      });
      this.running.set(record.id, { promise, abort });
    }
  }

  private async run(record: Record, process: ProcessJob, signal: AbortSignal): Promise<void> {
    const job = new MemoryJob(record, (r) => this.emit(r.id, { type: 'progress', jobId: r.id, progress: r.progress }));
    try {
      // A microtask turn first, so a processor that throws synchronously is handled like a rejection
      // and `add` answers with the job as it was accepted (waiting), as BullMQ's add does.
      record.result = await Promise.resolve().then(() => {
        record.state = 'active';
        return process(job, undefined, signal);
      });
      // BullMQ counts the attempt that succeeded too.
      record.attemptsMade++;
      this.finish(record, 'completed');
    } catch (error) {
      record.attemptsMade++;
      const reason = error instanceof Error ? error.message : String(error);
      const attempts = record.options.attempts ?? 1;
      // BullMQ's UnrecoverableError ends the job at once, whatever attempts are left.
      const recoverable = !(error instanceof Error && error.name === 'UnrecoverableError');
      if (recoverable && record.attemptsMade < attempts && !this.closing) {
        const backoff = record.options.backoff === undefined ? undefined : Backoffs.normalize(record.options.backoff);
        const wait = Number(
          backoff ? await Backoffs.calculate(backoff, record.attemptsMade, error as Error, job as never) : 0,
        );
        record.failedReason = reason;
        this.metrics?.outcome(this.name, 'retried');
        if (wait > 0) this.delay(record, wait);
        else this.enqueue(record);
      } else {
        record.failedReason = reason;
        this.finish(record, 'failed');
      }
    }
  }

  private finish(record: Record, state: 'completed' | 'failed'): void {
    record.state = state;
    record.finishedOn = Date.now();
    this.metrics?.outcome(this.name, state);
    this.unfinished--;
    if (state === 'completed') this.emit(record.id, { type: 'completed', jobId: record.id, result: record.result });
    else this.emit(record.id, { type: 'failed', jobId: record.id, failedReason: record.failedReason ?? 'failed' });
    const keep = state === 'completed' ? record.options.removeOnComplete : record.options.removeOnFail;
    const list = this.retained[state];
    list.push(record.id);
    this.trim(list, keep);
  }

  /** Applies BullMQ's retention rules: `true` removes, a number keeps that many, `{ age, count }` both. */
  private trim(list: string[], keep: boolean | number | KeepJobs | undefined): void {
    const maxCount =
      keep === true
        ? 0
        : typeof keep === 'number'
          ? keep
          : keep && 'count' in keep
            ? (keep.count ?? Infinity)
            : Infinity;
    const maxAgeMs = keep && typeof keep === 'object' && 'age' in keep ? keep.age * 1000 : Infinity;
    // Unbounded retention would grow without end in process: keep at most the job limit.
    const limit = Math.min(maxCount, this.maxJobs);
    const now = Date.now();
    while (list.length > limit || (list.length && now - (this.jobs.get(list[0])?.finishedOn ?? 0) > maxAgeMs)) {
      const id = list.shift() as string;
      const record = this.jobs.get(id);
      this.jobs.delete(id);
      if (record?.dedupId && this.deduplicated.get(record.dedupId)?.jobId === id)
        this.deduplicated.delete(record.dedupId);
    }
  }

  private emit(jobId: string, event: JobEvent): void {
    this.watchers.emit(jobId, event);
  }

  private view(record: Record): JobView {
    const fields = { ...record, attempts: record.options.attempts ?? 1 };
    return jobView(this.name, { ...fields, returnvalue: record.result }, record.state);
  }
}
