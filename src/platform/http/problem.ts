import { HttpException, HttpStatus } from '@nestjs/common';

/** Every problem `type` is this prefix plus a stable slug; clients may switch on it. */
export const PROBLEM_TYPE_PREFIX = 'urn:box-office:problem:';
export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** RFC 9457 problem details; extension members sit beside the standard ones. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  [extension: string]: unknown;
}

export interface ProblemInit {
  /** Stable slug, e.g. `validation-error`; becomes `urn:box-office:problem:validation-error`. */
  type: string;
  title: string;
  detail?: string;
  /** Extension members, e.g. `errors` for validation. */
  extensions?: Record<string, unknown>;
  /** Response headers such as `Retry-After`. */
  headers?: Record<string, string>;
}

/** The one exception type platform and domain code throw for an HTTP error with a stable type. */
export class ProblemException extends HttpException {
  constructor(
    status: HttpStatus,
    readonly problem: ProblemInit,
  ) {
    super(problem.detail ?? problem.title, status);
  }
}

const SLUGS: Partial<Record<number, [slug: string, title: string]>> = {
  400: ['bad-request', 'Bad request'],
  401: ['unauthorized', 'Authentication required'],
  403: ['forbidden', 'Forbidden'],
  404: ['not-found', 'Not found'],
  405: ['method-not-allowed', 'Method not allowed'],
  406: ['not-acceptable', 'Not acceptable'],
  408: ['request-timeout', 'Request timeout'],
  409: ['conflict', 'Conflict'],
  413: ['payload-too-large', 'Payload too large'],
  414: ['uri-too-long', 'URI too long'],
  415: ['unsupported-media-type', 'Unsupported media type'],
  422: ['unprocessable-content', 'Unprocessable content'],
  429: ['too-many-requests', 'Too many requests'],
  431: ['request-header-fields-too-large', 'Request header fields too large'],
  500: ['internal-error', 'Internal server error'],
  502: ['bad-gateway', 'Bad gateway'],
  503: ['service-unavailable', 'Service unavailable'],
  504: ['gateway-timeout', 'Gateway timeout'],
};

/** The default type and title for a status that carries no more specific problem. */
export function problemForStatus(status: number): { type: string; title: string } {
  const [slug, title] = SLUGS[status] ?? (status >= 500 ? SLUGS[500]! : SLUGS[400]!);
  return { type: PROBLEM_TYPE_PREFIX + slug, title };
}
