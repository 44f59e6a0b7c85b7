import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../http';

/**
 * The job could not be stored (Redis down or too slow): at-least-once needs it stored, so the
 * request answers 503 instead of the job being dropped or parked in memory.
 */
export class QueueUnavailableError extends ProblemException {
  constructor(
    readonly queue: string,
    cause?: unknown,
  ) {
    super(HttpStatus.SERVICE_UNAVAILABLE, {
      type: 'queue-unavailable',
      title: 'Queue unavailable',
      detail:
        'The queue did not confirm the job: it was not stored, or (if the queue was slow to answer) ' +
        'it may still be. Retry shortly with the same Idempotency-Key, so the work cannot be enqueued twice.',
      headers: { 'Retry-After': '1' },
    });
    if (cause !== undefined) this.cause = cause;
  }
}

/** The in-process queue holds as many unfinished jobs as it may (Redis not configured). */
export class QueueFullError extends ProblemException {
  constructor(readonly queue: string) {
    super(HttpStatus.SERVICE_UNAVAILABLE, {
      type: 'queue-full',
      title: 'Queue full',
      detail: 'The in-process queue holds as many unfinished jobs as it may; retry later.',
      headers: { 'Retry-After': '5' },
    });
  }
}

export const jobNotFound = () =>
  new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'job-not-found',
    title: 'Job not found',
    detail: 'No job with this id is visible to you: it never existed, belongs to someone else, or its retention ended.',
  });
