import type { OpenAPIObject } from '@nestjs/swagger';
import { PROBLEM_TYPE_PREFIX } from './problem';

type Operation = NonNullable<OpenAPIObject['paths'][string]['get']>;
type Responses = Operation['responses'];

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
const UNSAFE = new Set(['put', 'post', 'delete', 'patch']);

/** RFC 9457 problem details, as every error of the API is sent. */
const PROBLEM_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'status'],
  properties: {
    type: { type: 'string', example: `${PROBLEM_TYPE_PREFIX}validation-error`, description: 'Stable; switch on it' },
    title: { type: 'string' },
    status: { type: 'integer', minimum: 400, maximum: 599 },
    detail: { type: 'string' },
    instance: { type: 'string', description: 'The request path' },
    requestId: { type: 'string', description: 'Also in the X-Request-Id header; quote it when reporting' },
    errors: {
      type: 'array',
      description: 'validation-error only: every invalid field',
      items: {
        type: 'object',
        required: ['field', 'messages'],
        properties: { field: { type: 'string' }, messages: { type: 'array', items: { type: 'string' } } },
      },
    },
  },
  additionalProperties: true,
};

const DESCRIPTIONS: Record<number, string> = {
  400: 'validation-error (every invalid field), bad-request (malformed JSON, URL or Idempotency-Key)',
  401: 'unauthenticated: no valid session',
  403: 'forbidden: missing role, or a cross-origin browser request',
  404: 'not-found',
  413: 'payload-too-large: the body exceeds BODY_LIMIT_BYTES',
  414: 'uri-too-long: a path parameter over 100 characters',
  415: 'unsupported-media-type: the body is not application/json',
  429: 'too-many-requests: see Retry-After and RateLimit',
  503: 'a required dependency is unavailable (fail-closed module, database): see Retry-After',
};

/** Answers of the HTTP layer that any operation can get: not repeated on each one. */
export const TRANSPORT_STATUSES = [408, 431];
const TRANSPORT_NOTE =
  'Any request may also get 431 (request line and headers over 16 KiB) or 408 (request not received in time), ' +
  'as problem+json with a request id.';

/** The problem statuses an operation can answer, read from what the document says about it. */
function problemStatuses(method: string, path: string, operation: Operation, probePaths: string[]): number[] {
  const statuses: number[] = [];
  const secured = (operation.security?.length ?? 0) > 0;
  const probe = probePaths.some((prefix) => path.startsWith(prefix));
  // Fastify parses a body sent to any unsafe method, whether the route reads one or not.
  const body = operation.requestBody || UNSAFE.has(method);
  if (operation.parameters?.length || body) statuses.push(400);
  if (secured) statuses.push(401);
  if (secured || UNSAFE.has(method)) statuses.push(403);
  if (path.includes('{')) statuses.push(404, 414);
  if (body) statuses.push(413, 415);
  if (!probe) statuses.push(429, 503);
  return statuses;
}

/**
 * Declares the problem responses of every operation, so the document is exact about errors
 * without a decorator per status on every route: the statuses each operation can answer (from
 * its parameters, body and security), and `application/problem+json` content on every 4xx and
 * 5xx response a controller already declared (its description kept). `probePaths` are path
 * prefixes that are never throttled and declare their own 503 (health probes).
 */
export function declareProblemResponses(document: OpenAPIObject, probePaths: string[] = []): OpenAPIObject {
  document.components ??= {};
  document.components.schemas ??= {};
  document.components.schemas.Problem = PROBLEM_SCHEMA;
  document.info.description = `${document.info.description ?? ''} ${TRANSPORT_NOTE}`.trim();
  const content = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const responses: Responses = operation.responses;
      for (const status of problemStatuses(method, path, operation, probePaths)) {
        responses[status] ??= { description: DESCRIPTIONS[status] ?? 'Problem' };
      }
      for (const [status, response] of Object.entries(responses)) {
        const code = Number(status);
        if (!(code >= 400) || !response || '$ref' in response || response.content) continue;
        response.content = content;
      }
    }
  }
  return document;
}
