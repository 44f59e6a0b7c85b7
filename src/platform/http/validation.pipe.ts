import { HttpStatus, ValidationPipe, type ValidationError } from '@nestjs/common';
import { ProblemException } from './problem';

export interface FieldError {
  /** Dotted path of the offending field, e.g. `items.0.quantity`. */
  field: string;
  messages: string[];
}

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, messages: Object.values(error.constraints) }] : [];
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/** DTO validation: unknown fields are rejected, and the 400 problem lists every bad field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) =>
      new ProblemException(HttpStatus.BAD_REQUEST, {
        type: 'validation-error',
        title: 'Request validation failed',
        detail: 'One or more fields are invalid.',
        extensions: { errors: flatten(errors) },
      }),
  });
}
