import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';
const ACCEPTED = /^[A-Za-z0-9._~:@/+=-]{1,128}$/;

/**
 * A caller's X-Request-Id is kept when it is short and printable (so it cannot inject log
 * lines or bloat them); otherwise a UUID is generated. Fastify binds it to the request's logger
 * as `reqId`, so every log line of the request carries it.
 */
export function requestIdOf(req: IncomingMessage): string {
  const header = req.headers[REQUEST_ID_HEADER];
  return typeof header === 'string' && ACCEPTED.test(header) ? header : randomUUID();
}
