import { HttpStatus } from '@nestjs/common';
import { ProblemException } from '../../platform/http';

export const emailTaken = () =>
  new ProblemException(HttpStatus.CONFLICT, {
    type: 'email-taken',
    title: 'Email already registered',
    detail: 'An account with this email exists; log in instead.',
  });

/** The same answer whether the email exists or not. */
export const invalidCredentials = () =>
  new ProblemException(HttpStatus.UNAUTHORIZED, {
    type: 'invalid-credentials',
    title: 'Invalid credentials',
    detail: 'The email or the password is incorrect.',
  });

export const sessionNotFound = () =>
  new ProblemException(HttpStatus.NOT_FOUND, {
    type: 'session-not-found',
    title: 'Session not found',
    detail: 'You have no live session with this id.',
  });

export const userNotFound = () =>
  new ProblemException(HttpStatus.NOT_FOUND, { type: 'user-not-found', title: 'User not found' });
