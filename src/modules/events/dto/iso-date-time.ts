import { applyDecorators } from '@nestjs/common';
import { Transform } from 'class-transformer';
import { IsDate } from 'class-validator';

const ISO_8601 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/;

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
const daysIn = (year: number, month: number) => (month === 2 && isLeap(year) ? 29 : DAYS[month - 1]);

/**
 * The instant of an ISO 8601 date-time with an offset, or null. `Date` rolls an impossible
 * date over (February 31st becomes March 3rd), so every field is checked against its calendar
 * range first.
 */
export function parseIsoDateTime(value: string): Date | null {
  const match = ISO_8601.exec(value);
  if (!match) return null;
  const [year, month, day, hour, minute, second = 0, offsetHours = 0, offsetMinutes = 0] = match
    .slice(1)
    .map((part) => (part === undefined ? undefined : Number(part))) as number[];
  const valid =
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysIn(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 23 &&
    offsetMinutes <= 59;
  const date = valid ? new Date(value) : null;
  return date && !Number.isNaN(date.getTime()) ? date : null;
}

/** Accepts only a real ISO 8601 date-time string with an offset and turns it into a Date. */
export function IsIsoDateTime(field: string): PropertyDecorator {
  return applyDecorators(
    Transform(({ value }) => (typeof value === 'string' ? (parseIsoDateTime(value) ?? value) : value)),
    IsDate({ message: `${field} must be an ISO 8601 date-time with an offset, e.g. 2030-01-31T20:00:00Z` }),
  );
}
