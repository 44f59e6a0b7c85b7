import { FastifyAdapter } from '@nestjs/platform-fastify';
import { LogController } from 'fastify';
import type { Logger } from 'pino';
import { clientErrorHandler, frameworkErrorHandler, type SecurityHookHolder } from './framework-errors';
import { REQUEST_ID_HEADER, requestIdOf } from './request-id';
import { securityHeadersOf } from './security-headers';

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
/** Deepest nesting of arrays and objects a JSON body may have. */
const MAX_JSON_DEPTH = 32;

/** Whether `value` nests deeper than `limit`; stops at the limit, so it never recurses far. */
function depthOver(value: unknown, limit: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (limit === 0) return true;
  return Object.values(value).some((item) => depthOver(item, limit - 1));
}

const tooDeep = () =>
  Object.assign(new Error(`The JSON body is nested more than ${MAX_JSON_DEPTH} levels deep.`), { statusCode: 400 });

/**
 * The Fastify adapter with request ids (accepted or generated, echoed on every response), one
 * JSON log line per request, and a body limit. All of it runs as Fastify hooks: a Nest middleware
 * on every route would go through middie, which alone costs about a third of a bare route's
 * throughput.
 */
export function createFastifyAdapter(options: FastifyAdapterOptions): FastifyAdapter {
  // The handlers run long after construction, when the security headers and Nest's security
  // hook (the CSRF check) have been registered.
  const hooks: SecurityHookHolder = {
    get securityHook() {
      const nest = (adapter as unknown as SecurityHookHolder).securityHook;
      const fixed = securityHeadersOf(fastify);
      return (request: unknown, response: Parameters<NonNullable<SecurityHookHolder['securityHook']>>[1]) => {
        for (const [name, value] of fixed) response.setHeader(name, value);
        return nest?.(request, response);
      };
    },
  };
  const adapter: FastifyAdapter = new FastifyAdapter({
    bodyLimit: options.bodyLimit ?? 1_048_576,
    genReqId: requestIdOf,
    loggerInstance: options.logger,
    // One line per request comes from the onResponse hook below, not from Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // A spoofed X-Forwarded-For from anyone else does not change request.ip (rate-limit keys, session records).
    trustProxy: options.trustedProxies?.length ? options.trustedProxies : false,
    // Errors raised before any hook (router, HTTP parser) are problem+json with a request id too.
    frameworkErrors: frameworkErrorHandler(hooks),
    clientErrorHandler: clientErrorHandler(hooks),
  });
  const fastify = adapter.getInstance();
  // JSON routes take JSON: Fastify's built-in text/plain parser would hand a string to DTO
  // validation. With Nest's own parsers off (`bodyParser: false`, which also drops its
  // urlencoded parser), any other body gets 415. A route family that takes another type
  // declares it with `adapter.useBodyParser(type)`.
  fastify.removeContentTypeParser('text/plain');
  // Many clients send `Content-Type: application/json` on every request, a bodiless DELETE or
  // POST included; Fastify would answer 400 "body cannot be empty". An empty body is no body.
  // A body nested thousands of levels deep is refused here, before anything walks it
  // recursively (class-transformer, the idempotency fingerprint) and overflows the stack.
  const parseJson = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    parseJson(request, body as string, (error, parsed) => {
      if (error) done(error, undefined);
      else if (depthOver(parsed, MAX_JSON_DEPTH)) done(tooDeep(), undefined);
      else done(null, parsed);
    });
  });
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
