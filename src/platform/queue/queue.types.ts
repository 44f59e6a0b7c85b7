import type { BackoffOptions, KeepJobs } from 'bullmq';

/** The part of a job a processor reads and writes; a BullMQ `Job` is one, and so is an in-process job. */
export interface QueueJob<Data = unknown, Result = unknown> {
  readonly id?: string;
  readonly name: string;
  readonly data: Data;
  /** Failed attempts before this one. */
  readonly attemptsMade: number;
  readonly opts: { attempts?: number };
  readonly timestamp: number;
  readonly progress: number | string | boolean | object;
  updateProgress(progress: number | object): Promise<void>;
  log(line: string): Promise<number>;
  /** Set once completed. */
  returnvalue?: Result;
}

/** How a job is enqueued. Defaults come from the queue's registration. */
export interface EnqueueOptions {
  /**
   * A caller-chosen id. Adding a job whose id exists (waiting, active, or retained after it
   * finished) adds nothing and returns the existing job: use it to make enqueueing idempotent.
   * Letters, digits, `-` and `_` only.
   */
  jobId?: string;
  /** The user who may read the job's status (`GET /jobs/:id`); no owner means nobody may. */
  owner?: string;
  /** Total tries, the first included. */
  attempts?: number;
  /** Wait between tries; `{ type: 'exponential', delay, jitter }` doubles it each time. */
  backoff?: number | BackoffOptions;
  /** 1 is the highest; jobs without a priority run first. */
  priority?: number;
  /** Milliseconds before the job may run. */
  delay?: number;
  /**
   * Adding a job with this id is a no-op (the first job is returned): with a `ttl`, for that long
   * whatever the first job's state; without one, until the first job finishes (BullMQ's rule).
   */
  deduplication?: { id: string; ttl?: number };
  /** Completed jobs kept for status reads: true removes at once, a count or `{ age (s), count }` keeps some. */
  removeOnComplete?: boolean | number | KeepJobs;
  removeOnFail?: boolean | number | KeepJobs;
}

export type JobState =
  'waiting' | 'delayed' | 'prioritized' | 'waiting-children' | 'active' | 'completed' | 'failed' | 'unknown';

/** What clients see of a job. */
export interface JobView<Result = unknown> {
  id: string;
  queue: string;
  name: string;
  state: JobState;
  progress: number | string | boolean | object;
  attemptsMade: number;
  attempts: number;
  createdAt: string;
  finishedAt?: string;
  result?: Result;
  failedReason?: string;
  /** Kept server-side for the ownership check; not part of the public representation. */
  owner?: string;
}

/** One event of a job's life, as streamed to its owner. Terminal events end the stream. */
export type JobEvent =
  | { type: 'state'; job: JobView }
  | { type: 'progress'; jobId: string; progress: number | string | boolean | object }
  | { type: 'completed'; jobId: string; result: unknown }
  | { type: 'failed'; jobId: string; failedReason: string };

export const isTerminalState = (state: JobState) => state === 'completed' || state === 'failed';

/**
 * Whether the run in progress is the job's last try: if it fails, the job fails for good. A
 * processor uses it to record a final failure (BullMQ runs a job with no attempts set once).
 */
export const isLastAttempt = (job: QueueJob) => job.attemptsMade + 1 >= (job.opts.attempts || 1);

/**
 * A named queue, whichever driver runs it. Inject it with `@InjectJobQueue('name')` in a module
 * that imported `QueueModule.registerQueue({ name })`.
 */
export interface JobQueue<Data = unknown> {
  readonly name: string;
  /**
   * Adds a job and resolves once it is stored (Redis) or accepted (in process). Rejects with a
   * 503 problem (`queue-unavailable`) when it could not be stored: nothing is dropped silently.
   */
  add(jobName: string, data: Data, options?: EnqueueOptions): Promise<JobView>;
  /** The job, or null when it does not exist (or was removed by retention). */
  get(jobId: string): Promise<JobView | null>;
  /**
   * The job's events from now on; subscribe before reading the state so nothing falls between.
   * The returned function unsubscribes.
   */
  watch(jobId: string, listener: (event: JobEvent) => void): Promise<() => void>;
}

/** Jobs of a queue by state, for the backlog gauge. */
export type JobCounts = Record<'waiting' | 'prioritized' | 'delayed' | 'active' | 'failed', number>;

/** Which engine runs the queues. */
export type QueueDriverKind = 'bullmq' | 'memory';

/** The reserved key under which a job's owner travels in its data. */
export const JOB_OWNER_KEY = '_owner';
