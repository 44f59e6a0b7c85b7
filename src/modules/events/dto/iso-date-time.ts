import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDate } from 'class-validator';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** Accepts only an ISO 8601 date-time string with an offset and turns it into a Date. */
export function IsIsoDateTime(field: string): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => (typeof value === 'string' && ISO_8601.test(value) ? new Date(value) : value)),
    IsDate({ message: `${field} must be an ISO 8601 date-time with an offset, e.g. 2030-01-31T20:00:00Z` }),
  );
}
