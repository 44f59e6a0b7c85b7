import { FastifyAdapter } from '@nestjs/platform-fastify';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';

export interface FastifyAdapterOptions {
  /** Largest accepted request body; larger ones get 413. Default 1 MiB. */
  bodyLimit?: number;
}

/** The Fastify adapter with request ids (accepted or generated, echoed on every response) and a body limit. */
export function createFastifyAdapter(options: FastifyAdapterOptions = {}): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit: options.bodyLimit ?? 1_048_576,
    genReqId: requestIdOf,
    // Proxies are trusted per route by the throttling module's configuration, never globally.
    trustProxy: false,
    // Nest logs through pino already; Fastify's own request logging would double every line.
    logger: false,
  });
  const fastify = adapter.getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  // Closing only drops connections that are idle at that moment; a keep-alive connection whose
  // request is still in flight would hold the shutdown open until the client lets it go. Once
  // closing, every response asks the client to close its connection.
  let closing = false;
  fastify.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  fastify.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  return adapter;
}
