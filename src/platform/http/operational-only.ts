import { HttpStatus, type INestApplication } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { ProblemException } from './problem';
import { sendProblem } from './problem.filter';

/**
 * A process that serves no API (a worker pod): every path outside `allowed` answers 404 before
 * Nest's pipeline, so the pod still answers its probes and metrics scrapes and nothing else.
 */
export function serveOperationalRoutesOnly(app: INestApplication, allowed: string[]): void {
  const fastify = app.getHttpAdapter().getInstance() as FastifyInstance;
  const notServed = new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'api-not-served',
    title: 'Not served here',
    detail: 'This process runs background jobs only (API_ENABLED=false); send API requests to the web service.',
  });
  fastify.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0];
    if (allowed.some((prefix) => path === prefix || path.startsWith(`${prefix}/`))) return;
    sendProblem(reply, notServed, request);
    return reply;
  });
}
