import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter as BullBoardAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { sendProblem } from '../http';
import { forbiddenRole, unauthenticated } from '../session';

export type DashboardAccess = 'ok' | 'unauthenticated' | 'forbidden';

export interface QueueDashboardOptions {
  /** Where the dashboard is served, e.g. `/admin/queues`. */
  basePath: string;
  /** The BullMQ queues to show, read on every authorized request: queues registered after mounting appear. */
  queues: () => Queue[];
  /**
   * Decides every dashboard request: the page, its assets and its JSON API. A thrown error is
   * answered as the API answers it (a `ProblemException` keeps its status, type and headers).
   */
  authorize: (request: FastifyRequest) => Promise<DashboardAccess>;
  /** The role named in the 403 detail. Default `admin`. */
  role?: string;
  /** Bull Board refuses (405) retrying, cleaning, pausing and the other changes. Default false. */
  readOnly?: boolean;
}

/**
 * The app's `default-src 'none'` would stop the page. Bull Board needs its own scripts (and a
 * same-origin web worker), inline styles, `data:` images and its JSON API; nothing else.
 */
const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Bull Board's page links its fonts from Google: an admin page makes no third-party requests (system fonts instead). */
const THIRD_PARTY_FONTS = /<link\b[^>]*\bhref="https:\/\/fonts\.googleapis\.com\/[^>]*>/g;

/**
 * Mounts Bull Board at `basePath` as an encapsulated Fastify plugin: its `onRequest` hook
 * authorizes every dashboard route (a Nest guard never sees them), refusals are the API's
 * problem+json, and its `onSend` hook replaces the API's CSP on the dashboard's own responses.
 * Call it before the Fastify instance is ready (`onModuleInit` runs before `listen`/`init` ends).
 */
export function mountQueueDashboard(fastify: FastifyInstance, options: QueueDashboardOptions): void {
  const serverAdapter = new BullBoardAdapter().setBasePath(options.basePath);
  const board = createBullBoard({ queues: [], serverAdapter });
  // Adapters are plain wrappers (no connection of their own), so each request builds them afresh.
  const refreshQueues = () =>
    board.replaceQueues(
      options.queues().map((queue) => new BullMQAdapter(queue, { readOnlyMode: options.readOnly ?? false })),
    );

  void fastify.register(
    async (dashboard) => {
      dashboard.addHook('onRequest', async (request, reply) => {
        let refusal: unknown;
        try {
          const access = await options.authorize(request);
          if (access === 'ok') {
            refreshQueues();
            return;
          }
          refusal = access === 'unauthenticated' ? unauthenticated() : forbiddenRole([options.role ?? 'admin']);
        } catch (error) {
          refusal = error;
        }
        const { status } = sendProblem(reply, refusal, request);
        if (status >= 500) request.log.error({ err: refusal }, 'Queue dashboard authorization failed');
        return reply;
      });
      // After the app's own onSend hooks (inherited, so they run first): this header wins.
      // Refusals keep the API's policy.
      dashboard.addHook('onSend', async (_request, reply, payload) => {
        if (reply.statusCode >= 400) return payload;
        reply.header('content-security-policy', DASHBOARD_CSP);
        const html = String(reply.getHeader('content-type')).startsWith('text/html');
        return html && typeof payload === 'string' ? payload.replace(THIRD_PARTY_FONTS, '') : payload;
      });
      await dashboard.register(serverAdapter.registerPlugin());
    },
    { prefix: options.basePath },
  );
}
