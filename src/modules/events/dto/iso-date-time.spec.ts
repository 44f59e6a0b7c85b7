import { fc, it } from '@fast-check/jest';
import { parseIsoDateTime } from './iso-date-time';

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

describe('parseIsoDateTime', () => {
  it.prop([
    fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
  ])('reads back every instant Date.toISOString writes', (date) => {
    expect(parseIsoDateTime(date.toISOString())?.getTime()).toBe(date.getTime());
  });

  it.prop([fc.integer({ min: 1, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 })])(
    'accepts a calendar date if and only if it exists (no rolling over into the next month)',
    (year, month, day) => {
      const parsed = parseIsoDateTime(`${pad(year, 4)}-${pad(month)}-${pad(day)}T12:00:00Z`);
      const probe = new Date(0);
      probe.setUTCFullYear(year, month - 1, day);
      const exists = month >= 1 && month <= 12 && day >= 1 && probe.getUTCDate() === day;
      expect(parsed !== null).toBe(exists);
    },
  );

  it.prop([fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 })])(
    'accepts a time of day only within 23:59:59',
    (hour, minute, second) => {
      const parsed = parseIsoDateTime(`2031-01-01T${pad(hour)}:${pad(minute)}:${pad(second)}Z`);
      expect(parsed !== null).toBe(hour <= 23 && minute <= 59 && second <= 59);
    },
  );

  it('refuses offsets out of range and strings that are not ISO 8601 date-times', () => {
    for (const value of [
      '2031-01-01T20:00:00+24:00',
      '2031-01-01T20:00:00+01:60',
      '2031-01-01',
      '2031-01-01T20:00:00',
      'x',
    ]) {
      expect(parseIsoDateTime(value)).toBeNull();
    }
    expect(parseIsoDateTime('2031-01-01T20:00:00.123456789-09:30')?.toISOString()).toBe('2031-01-02T05:30:00.123Z');
  });
});
