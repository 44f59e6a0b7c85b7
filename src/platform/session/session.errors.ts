import { HttpStatus } from '@nestjs/common';
// The problem type directly, not the http barrel: http's metrics route imports @Public from here.
import { ProblemException } from '../http/problem';

export const unauthenticated = (detail = 'A valid session is required.') =>
  new ProblemException(HttpStatus.UNAUTHORIZED, {
    type: 'unauthenticated',
    title: 'Authentication required',
    detail,
    headers: { 'WWW-Authenticate': 'Bearer realm="box-office"' },
  });

export const forbiddenRole = (roles: string[]) =>
  new ProblemException(HttpStatus.FORBIDDEN, {
    type: 'forbidden',
    title: 'Forbidden',
    detail: `This route needs one of the roles: ${roles.join(', ')}.`,
  });

/** Fail closed: without the store, revocation cannot be checked. */
export const sessionStoreUnavailable = (retryAfterSeconds: number) =>
  new ProblemException(HttpStatus.SERVICE_UNAVAILABLE, {
    type: 'session-store-unavailable',
    title: 'Session store unavailable',
    detail: 'Sessions cannot be checked right now; retry shortly.',
    headers: { 'Retry-After': String(retryAfterSeconds) },
  });
