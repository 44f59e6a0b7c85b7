import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../http';

const seconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

/**
 * 429 with the IETF draft's "quota exceeded" problem semantics: the tiers that refused are named
 * in `violated-policies`, as in the RateLimit-Policy field.
 */
export function tooManyRequests(retryAfterMs: number, violated: string[], headers: Record<string, string>) {
  // A refusal is the limiter working, not a fault: no stack trace to capture (it was the
  // largest single cost of the 429 path, which a flood of refused requests runs hot).
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new ProblemException(HttpStatus.TOO_MANY_REQUESTS, {
      type: 'quota-exceeded',
      title: 'Too many requests',
      detail: `Rate limit exceeded (${violated.join(', ')}); retry after ${seconds(retryAfterMs)} s.`,
      extensions: { 'violated-policies': violated },
      headers: { ...headers, 'Retry-After': seconds(retryAfterMs) },
    });
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
}

/** A fail-closed tier (auth) while the shared store is down: no unchecked credential guessing. */
export const throttleStoreUnavailable = (retryAfterMs: number) =>
  new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, {
    type: 'rate-limit-store-unavailable',
    title: 'Rate limiting unavailable',
    detail: 'This route is not served while its rate limit cannot be checked; retry shortly.',
    headers: { 'Retry-After': seconds(retryAfterMs) },
  });
