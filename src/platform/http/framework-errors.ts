import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpStatus } from '@nestjs/common';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PROBLEM_CONTENT_TYPE, ProblemException, problemForStatus } from './problem';
import { sendProblem } from './problem.filter';
import { REQUEST_ID_HEADER } from './request-id';

interface HeaderSink {
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  removeHeader(name: string): unknown;
}

/** The request hook of `app.useSecurityHeaders()`, which Nest's Fastify adapter keeps as `securityHook`. */
type SecurityHook = (request: unknown, response: HeaderSink) => unknown;
export interface SecurityHookHolder {
  securityHook?: SecurityHook;
}

const MAX_PARAM_LENGTH = 100;

/** The problem for an error the router raises before any hook or route runs. */
function routerProblem(error: { code?: string }): unknown {
  if (error.code === 'FST_ERR_BAD_URL') {
    return new ProblemException(HttpStatus.BAD_REQUEST, {
      type: 'bad-request',
      title: 'Bad request',
      detail: 'The request URL cannot be decoded (malformed percent-encoding).',
    });
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new ProblemException(HttpStatus.URI_TOO_LONG, {
      type: 'uri-too-long',
      title: 'URI too long',
      detail: `A path parameter is longer than ${MAX_PARAM_LENGTH} characters.`,
    });
  }
  return error;
}

/** Runs the security hook for its headers only: the request is refused whatever a CSRF check would say. */
function applySecurityHeaders(holder: SecurityHookHolder, request: unknown, response: HeaderSink): void {
  try {
    holder.securityHook?.(request, response);
  } catch {
    // Nest's own framework-error handler ignores it the same way: params and query are null here.
  }
}

/**
 * Fastify's `frameworkErrors`: an undecodable URL (400) or an over-long path parameter (414) is
 * answered by the router before any hook, so the request id, the security headers and the
 * problem body are all set here. It replaces the handler of Nest's adapter, which runs the same
 * security hook but lets Fastify render its own JSON.
 */
export function frameworkErrorHandler(holder: SecurityHookHolder) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
    applySecurityHeaders(holder, request, reply.raw);
    reply.header(REQUEST_ID_HEADER, request.id);
    sendProblem(reply as Parameters<typeof sendProblem>[0], routerProblem(error), request);
  };
}

const CLIENT_ERRORS: Record<string, [status: number, detail: string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request was not received in time.'],
  HPE_HEADER_OVERFLOW: [431, 'The request headers are too large.'],
  HPE_URI_TOO_LONG: [414, 'The request URL is too long.'],
};

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the request (a malformed request
 * line or header, a bad Content-Length, headers over the size limit, a timeout). There is no
 * request object, so the answer is written on the socket, as Fastify's default does, but as
 * problem+json with a fresh request id and the security headers.
 */
export function clientErrorHandler(holder: SecurityHookHolder) {
  return (error: Error & { code?: string }, socket: Duplex): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, detail] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'The request is not valid HTTP.'];
    const id = randomUUID();
    const body = JSON.stringify({ ...problemForStatus(status), status, detail, requestId: id });
    const headers = new Map<string, string>();
    applySecurityHeaders(holder, { method: 'GET', headers: {}, url: '/' }, headerCollector(headers));
    headers.set('Content-Type', PROBLEM_CONTENT_TYPE);
    headers.set('Content-Length', String(Buffer.byteLength(body)));
    headers.set(REQUEST_ID_HEADER, id);
    headers.set('Connection', 'close');
    if (socket.writable) {
      const lines = [...headers].map(([name, value]) => `${name}: ${value}`).join('\r\n');
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${lines}\r\n\r\n${body}`);
    }
    socket.destroy(error);
  };
}

function headerCollector(headers: Map<string, string>): HeaderSink {
  return {
    setHeader: (name, value) => headers.set(name, Array.isArray(value) ? value.join(', ') : String(value)),
    removeHeader: (name) => headers.delete(name),
  };
}
