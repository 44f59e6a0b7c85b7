import { Logger } from '@nestjs/common';
import { JOB_OWNER_KEY, type JobEvent, type JobState, type JobView } from './queue.types';

// What both drivers share: job ids, the owner carried in the job's data, the client's view of a
// job, and the watchers of its events.

const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;

/** Whether `id` can be a job id: letters, digits, `-` and `_`, at most 128. */
export const isJobId = (id: string) => JOB_ID.test(id);

/** Refuses a caller-chosen job id that `isJobId` would not accept (a programming error, not a client's). */
export function assertJobId(id: string | undefined): void {
  if (id !== undefined && !isJobId(id)) throw new Error(`Invalid job id "${id}"`);
}

/** The job's data with its owner, who alone may read the job's status. */
export const withOwner = (data: unknown, owner: string | undefined): unknown =>
  owner === undefined ? data : { ...(data as object), [JOB_OWNER_KEY]: owner };

/** A job's stored fields, whichever driver stores them (BullMQ's `Job` names them so). */
export interface JobFields {
  id: string;
  name: string;
  data: unknown;
  progress: number | string | boolean | object;
  attemptsMade: number;
  attempts: number;
  timestamp: number;
  finishedOn?: number;
  returnvalue?: unknown;
  failedReason?: string;
}

/** What clients see of a job in `state`; the owner stays server-side (see `JobView.owner`). */
export function jobView(queue: string, job: JobFields, state: JobState): JobView {
  const owner = (job.data as { [JOB_OWNER_KEY]?: unknown } | null)?.[JOB_OWNER_KEY];
  return {
    id: job.id,
    queue,
    name: job.name,
    state,
    progress: job.progress,
    attemptsMade: job.attemptsMade,
    attempts: job.attempts,
    createdAt: new Date(job.timestamp).toISOString(),
    ...(job.finishedOn && { finishedAt: new Date(job.finishedOn).toISOString() }),
    ...(state === 'completed' && { result: job.returnvalue }),
    ...(state === 'failed' && { failedReason: job.failedReason }),
    ...(typeof owner === 'string' && { owner }),
  };
}

/** The listeners of each job's events; a listener that throws is logged, and the others still hear. */
export class JobWatchers {
  private readonly logger = new Logger('Queue');
  private readonly listeners = new Map<string, Set<(event: JobEvent) => void>>();

  /** Adds a listener of the job's events; the returned function removes it. */
  add(jobId: string, listener: (event: JobEvent) => void): () => void {
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(jobId) === set) this.listeners.delete(jobId);
    };
  }

  emit(jobId: string, event: JobEvent): void {
    const set = this.listeners.get(jobId);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn(`Job event listener failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
