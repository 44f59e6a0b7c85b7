import { HttpStatus, ValidationPipe, type ArgumentMetadata, type ValidationError } from '@nestjs/common';
import { checkInput } from './input-rules';
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

function validationProblem(errors: FieldError[]): ProblemException {
  return new ProblemException(HttpStatus.BAD_REQUEST, {
    type: 'validation-error',
    title: 'Request validation failed',
    detail: 'One or more fields are invalid.',
    extensions: { errors },
  });
}

/** The DTO's own rules after the input rules every route shares (see `input-rules.ts`). */
class RequestValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'custom') return super.transform(value, metadata);
    const { errors: broken, misshapen } = checkInput(
      value,
      metadata.data ?? '',
      metadata.data ? undefined : metadata.metatype,
    );
    if (broken.length === 0) return super.transform(value, metadata);
    if (misshapen) throw validationProblem(broken);
    // One 400 lists every bad field: the DTO's findings are added to the input rules'.
    const others = await super.transform(value, metadata).then(
      () => [],
      (error: unknown) => fieldErrorsOf(error),
    );
    const seen = new Set(broken.map((error) => error.field));
    throw validationProblem([...broken, ...others.filter((error) => !seen.has(error.field))]);
  }
}

/**
 * The DTO's findings; nothing when its rules threw instead: validator.js's isEmail throws a
 * URIError on a lone surrogate, which the input rules have already refused.
 */
function fieldErrorsOf(error: unknown): FieldError[] {
  if (!(error instanceof ProblemException)) return [];
  return (error.problem.extensions?.errors as FieldError[] | undefined) ?? [];
}

/** DTO validation: unknown fields are rejected, and the 400 problem lists every bad field. */
export function createValidationPipe(): ValidationPipe {
  return new RequestValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    stopAtFirstError: false,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => validationProblem(flatten(errors)),
  });
}
