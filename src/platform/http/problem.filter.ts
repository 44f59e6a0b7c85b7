import { ArgumentsHost, Catch, HttpException, Logger, type ExceptionFilter } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { DATABASE_UNAVAILABLE, isDatabaseUnavailableError } from '../database';
import {
  PROBLEM_CONTENT_TYPE,
  PROBLEM_TYPE_PREFIX,
  ProblemException,
  problemForStatus,
  type ProblemDetails,
} from './problem';
import { REQUEST_ID_HEADER } from './request-id';
import { securityHeadersOf } from './security-headers';

interface RequestLike {
  id?: string;
  url?: string;
  originalUrl?: string;
}

/** Errors raised by the HTTP framework itself (Fastify body parsing, limits) carry a status code. */
function frameworkStatus(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : undefined;
}

/**
 * Turns every error into RFC 9457 `application/problem+json`. Server errors are logged with
 * their stack and answered with a generic detail: a stack trace never reaches a client.
 */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Problem');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(error: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') throw error;
    const http = host.switchToHttp();
    const adapter = this.adapterHost.httpAdapter;
    const response = http.getResponse<unknown>();
    const rendered =
      error instanceof PrerenderedResponse ? error.rendered : renderProblem(this.toProblem(error), http.getRequest());
    if (rendered.status >= 500) {
      this.logger.error({ err: error, requestId: http.getRequest<RequestLike>().id }, problemDetail(rendered));
    }
    // A request refused by a hook that runs before the ones echoing the id and writing the
    // security headers (Nest's CSRF check) has neither yet.
    for (const [name, value] of securityHeadersOf(adapter.getInstance<object>()))
      adapter.setHeader(response, name, value);
    const id = http.getRequest<RequestLike>().id;
    if (id) adapter.setHeader(response, REQUEST_ID_HEADER, id);
    for (const [name, value] of Object.entries(rendered.headers)) adapter.setHeader(response, name, value);
    adapter.reply(response, rendered.body, rendered.status);
  }

  /** The problem for an error; override to map more error types. */
  protected toProblem(error: unknown): { problem: ProblemDetails; headers: Record<string, string> } {
    return problemOf(error);
  }
}

/** A response already rendered (an idempotent replay): the filter sends it as it is. */
export class PrerenderedResponse extends HttpException {
  constructor(readonly rendered: RenderedResponse) {
    super('Prerendered response', rendered.status);
  }
}

export interface RenderedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The problem details (and headers) of any error: what the filter would answer. */
export function problemOf(error: unknown): { problem: ProblemDetails; headers: Record<string, string> } {
  if (error instanceof ProblemException) {
    const { type, title, detail, extensions, headers } = error.problem;
    return {
      problem: { type: PROBLEM_TYPE_PREFIX + type, title, status: error.getStatus(), detail, ...extensions },
      headers: headers ?? {},
    };
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    return { problem: { ...problemForStatus(status), status, detail: detailOf(error) }, headers: {} };
  }
  const status = frameworkStatus(error);
  if (status && status < 500) {
    return { problem: { ...problemForStatus(status), status, detail: (error as Error).message }, headers: {} };
  }
  if (isDatabaseUnavailableError(error)) {
    const { type, title, detail, retryAfterSeconds } = DATABASE_UNAVAILABLE;
    return {
      problem: { type: PROBLEM_TYPE_PREFIX + type, title, status: 503, detail },
      headers: { 'Retry-After': String(retryAfterSeconds) },
    };
  }
  return {
    problem: { ...problemForStatus(500), status: 500, detail: 'An unexpected error occurred; it has been logged.' },
    headers: {},
  };
}

/** The bytes the filter sends for a problem: `instance` and `requestId` filled from the request. */
export function renderProblem(
  { problem, headers }: { problem: ProblemDetails; headers: Record<string, string> },
  request: RequestLike,
): RenderedResponse {
  problem.instance = (request.originalUrl ?? request.url ?? '').split('?')[0];
  if (request.id) problem.requestId = request.id;
  return {
    status: problem.status,
    headers: { ...headers, 'Content-Type': PROBLEM_CONTENT_TYPE },
    body: JSON.stringify(problem),
  };
}

interface ReplyLike {
  code(status: number): unknown;
  header(name: string, value: string): unknown;
  send(body: string): unknown;
}

/**
 * Answers `error` as problem+json from a Fastify hook, before Nest's pipeline (which would
 * render it the same way through the filter). Returns what was sent.
 */
export function sendProblem(reply: ReplyLike, error: unknown, request: RequestLike): RenderedResponse {
  const rendered = renderProblem(problemOf(error), request);
  reply.code(rendered.status);
  for (const [name, value] of Object.entries(rendered.headers)) reply.header(name, value);
  reply.send(rendered.body);
  return rendered;
}

function problemDetail(rendered: RenderedResponse): string | undefined {
  try {
    return (JSON.parse(rendered.body) as ProblemDetails).detail;
  } catch {
    return undefined;
  }
}

function detailOf(error: HttpException): string | undefined {
  if (error.getStatus() >= 500) return 'The server could not complete the request.';
  const body = error.getResponse();
  if (typeof body === 'string') return body;
  const message = (body as { message?: unknown }).message;
  return Array.isArray(message) ? message.join('; ') : typeof message === 'string' ? message : undefined;
}
