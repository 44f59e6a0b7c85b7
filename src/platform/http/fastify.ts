import { FastifyAdapter } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import type { Logger } from 'pino';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';

export interface FastifyAdapterOptions {
  /** The app's pino instance; Fastify binds the request id to the logger of each request. */
  logger: Logger;
  /** Largest accepted request body; larger ones get 413. Default 1 MiB. */
  bodyLimit?: number;
  /**
   * Proxies (IPs or CIDR ranges) whose X-Forwarded-For is believed: `request.ip` is then the
   * nearest address that is not a trusted proxy. Default none: the peer address is the client.
   */
  trustedProxies?: string[];
}

const QUIET_ROUTES = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * The Fastify adapter with request ids (accepted or generated, echoed on every response), one
 * JSON log line per request, and a body limit. All of it runs as Fastify hooks: a Nest middleware
 * on every route would go through middie, which alone costs about a third of a bare route's
 * throughput.
 */
export function createFastifyAdapter(options: FastifyAdapterOptions): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit: options.bodyLimit ?? 1_048_576,
    genReqId: requestIdOf,
    loggerInstance: options.logger,
    // One line per request comes from the onResponse hook below, not from Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // A spoofed X-Forwarded-For from anyone else does not change request.ip (rate-limit keys, session records).
    trustProxy: options.trustedProxies?.length ? options.trustedProxies : false,
  });
  const fastify = adapter.getInstance();
  fastify.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  fastify.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    // A 429 is the limiter doing its job (counted in throttle_refused_total): logged as info, so
    // a flood of refused requests does not become a flood of warnings.
    const level = status >= 500 ? 'error' : status >= 400 && status !== 429 ? 'warn' : 'info';
    if (options.logger.isLevelEnabled(level) && !QUIET_ROUTES.has(request.routeOptions.url ?? '')) {
      request.log[level](
        {
          req: { method: request.method, url: request.url },
          res: { statusCode: status },
          responseTime: reply.elapsedTime,
        },
        'request completed',
      );
    }
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
