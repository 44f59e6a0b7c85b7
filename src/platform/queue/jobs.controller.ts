import { Controller, Get, Param, Sse, type MessageEvent } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Observable } from 'rxjs';
import { CurrentUser, type SessionUser } from '../session';
import { isJobId } from './job-view';
import { jobNotFound } from './queue.errors';
import { QueueDriver } from './queue.driver';
import { isTerminalState, type JobEvent, type JobQueue, type JobView } from './queue.types';

/** Proxies close idle streams; a comment-like event every 15 s keeps the stream open. */
const HEARTBEAT_MS = 15_000;

const JOB_STATES = ['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed'];
/** The OpenAPI schema of `publicView`. */
const JOB_VIEW_SCHEMA = {
  type: 'object',
  required: ['id', 'queue', 'name', 'state', 'progress', 'attemptsMade', 'attempts', 'createdAt'],
  properties: {
    id: { type: 'string' },
    queue: { type: 'string' },
    name: { type: 'string' },
    state: { type: 'string', enum: JOB_STATES },
    progress: { description: 'A number (percent) or what the job reported' },
    attemptsMade: { type: 'integer' },
    attempts: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time' },
    result: { description: 'What the job returned (completed only)' },
    failedReason: { type: 'string' },
  },
};

/** What a job's owner sees of it. */
function publicView({ owner: _owner, ...view }: JobView) {
  return view;
}

/**
 * Job status for clients: `GET /jobs/:id` and a Server-Sent Events stream of progress and
 * completion. Only the job's owner sees it; to anyone else it does not exist (404).
 */
@ApiTags('jobs')
@ApiBearerAuth()
@ApiNotFoundResponse({ description: "job-not-found: no such job, or not the caller's" })
@Controller('jobs')
export class JobsController {
  constructor(private readonly driver: QueueDriver) {}

  @Get(':id')
  @ApiOperation({ summary: "A job's state, progress and result or failure reason (owner only)" })
  @ApiOkResponse({ schema: JOB_VIEW_SCHEMA })
  async get(@Param('id') id: string, @CurrentUser() user: SessionUser) {
    const { view } = await this.find(id, user);
    return publicView(view);
  }

  @Sse(':id/events')
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ content: { 'text/event-stream': { schema: { type: 'string' } } } })
  @ApiOperation({
    summary: "Server-Sent Events: the job's state, then `progress` events, then `completed` or `failed` (owner only)",
  })
  async events(@Param('id') id: string, @CurrentUser() user: SessionUser): Promise<Observable<MessageEvent>> {
    const { queue } = await this.find(id, user);
    return new Observable<MessageEvent>((subscriber) => {
      let unsubscribe: (() => void) | undefined;
      let closed = false;
      let seq = 0;
      const send = (event: JobEvent) => {
        if (closed) return;
        const { type, ...data } = event;
        subscriber.next({ id: String(++seq), type, data: type === 'state' ? publicView(event.job) : data });
        const terminal =
          type === 'completed' || type === 'failed' || (type === 'state' && isTerminalState(event.job.state));
        if (terminal) {
          closed = true;
          subscriber.complete();
        }
      };
      const heartbeat = setInterval(() => subscriber.next({ type: 'heartbeat', data: '' }), HEARTBEAT_MS);
      // Subscribe first, then read the state: an event in between is seen twice at worst, never missed.
      queue
        .watch(id, send)
        .then(async (stop) => {
          unsubscribe = stop;
          if (closed) return stop();
          const view = await queue.get(id);
          if (!view) return send({ type: 'failed', jobId: id, failedReason: 'the job no longer exists' });
          send({ type: 'state', job: view });
        })
        .catch((error: unknown) => {
          if (!closed) subscriber.error(error);
        });
      return () => {
        closed = true;
        clearInterval(heartbeat);
        unsubscribe?.();
      };
    });
  }

  private async find(id: string, user: SessionUser | undefined): Promise<{ queue: JobQueue; view: JobView }> {
    if (!user || !isJobId(id)) throw jobNotFound();
    const found = await Promise.all(this.driver.all.map(async (queue) => ({ queue, view: await queue.get(id) })));
    const hit = found.find((entry) => entry.view && entry.view.owner === user.id);
    if (!hit?.view) throw jobNotFound();
    return { queue: hit.queue, view: hit.view };
  }
}
