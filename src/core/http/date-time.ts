import { Transform } from 'class-transformer';
import { ValidateBy } from 'class-validator';

/**
 * Date-times the API takes: a calendar date, optionally a time (`HH:MM`, seconds and a fraction
 * optional, the fraction up to nine digits), optionally an offset (`Z`, `±HH:MM` or `±HHMM`, up to ±23:59).
 * A value with an offset is handed on as its UTC instant (`…Z`): PostgreSQL refuses offsets past
 * ±15:59, and the UTC instant is what it stores. That instant must fall in the years 0001 to 9999:
 * PostgreSQL has no year 0, and past 9999 JavaScript writes `+010000-…`, which is no RFC 3339
 * date-time, so it could not be given back.
 */
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** The first and the last instant of the range, in UTC. */
export const DATE_TIME_MIN = '0001-01-01T00:00:00Z';
export const DATE_TIME_MAX = '9999-12-31T23:59:59.999999Z';
const MIN_MS = utcMs(1, 1, 1, 0, 0, 0);
const END_MS = utcMs(10000, 1, 1, 0, 0, 0);

export const DATE_TIME_RANGE_MESSAGE = `must be between ${DATE_TIME_MIN} and ${DATE_TIME_MAX} (in UTC)`;

export interface DateTimeForms {
  /** A bare date (`2025-03-01`) is taken as it is. */
  date?: boolean;
  /** A date-time without an offset is taken as it is: the API's database sessions read it in UTC. */
  localTime?: boolean;
}

export type DateTimeReading = { value: string } | { error: 'form' | 'range' };

/** Milliseconds since the epoch of a UTC calendar time; years below 100 stay themselves (Date.UTC would add 1900). */
function utcMs(year: number, month: number, day: number, hours: number, minutes: number, seconds: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hours, minutes, seconds, 0);
  return date.getTime();
}

/**
 * The text with its fraction of a second cut to microseconds, what PostgreSQL keeps. Cut, not
 * rounded as PostgreSQL would: rounding 23:59:59.9999999 up could leave the year 9999.
 */
export function cutToMicroseconds(text: string): string {
  return text.replace(/(\.\d{6})\d+/, '$1');
}

/**
 * Checks a date-time (see DATE_TIME) and gives the value to pass on: UTC for one with an offset,
 * as written otherwise. `form` when it is not one of the accepted forms or names no real
 * day or time (2025-02-30, 24:00), `range` when it is outside the years 0001 to 9999.
 */
export function readDateTime(text: string, forms: DateTimeForms = {}): DateTimeReading {
  const match = DATE_TIME.exec(text);
  if (!match) return { error: 'form' };
  const [, y, mo, d, h, mi, s, fraction, offset] = match;
  const [year, month, day] = [Number(y), Number(mo), Number(d)];
  const [hours, minutes, seconds] = [Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0)];
  if (h === undefined ? !forms.date : offset === undefined && !forms.localTime) return { error: 'form' };
  if (month < 1 || month > 12 || day < 1 || hours > 23 || minutes > 59 || seconds > 59) return { error: 'form' };
  // A day past the month's end would roll over into the next month.
  if (new Date(utcMs(year, month, day, 0, 0, 0)).getUTCDate() !== day) return { error: 'form' };
  if (offset === undefined) return year >= 1 && year <= 9999 ? { value: cutToMicroseconds(text) } : { error: 'range' };

  let shift = 0;
  if (offset !== 'Z') {
    const [, sign, oh, om] = /^([+-])(\d{2}):?(\d{2})$/.exec(offset)!;
    if (Number(oh) > 23 || Number(om) > 59) return { error: 'form' };
    shift = (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om)) * 60_000;
  }
  const instant = utcMs(year, month, day, hours, minutes, seconds) - shift;
  if (instant < MIN_MS || instant >= END_MS) return { error: 'range' };
  // Whole minutes apart, so the fraction carries over; PostgreSQL keeps microseconds.
  const digits = fraction ? `.${fraction.slice(0, 6)}` : '';
  return { value: `${new Date(instant).toISOString().slice(0, 19)}${digits}Z` };
}

/**
 * A date-time field (see readDateTime): checked, then handed on normalised, so a value with
 * an offset reaches the database as its UTC instant. `message` says what form is expected.
 */
export function IsDateTime(message: string, forms: DateTimeForms = {}): PropertyDecorator {
  const normalise = Transform(
    ({ value }: { value: unknown }) => {
      if (typeof value !== 'string') return value;
      const read = readDateTime(value, forms);
      return 'value' in read ? read.value : value;
    },
    { toClassOnly: true },
  );
  const check = ValidateBy({
    name: 'isDateTime',
    validator: {
      validate: (value: unknown) => typeof value === 'string' && 'value' in readDateTime(value, forms),
      defaultMessage: (args) => {
        const read = typeof args?.value === 'string' ? readDateTime(args.value, forms) : undefined;
        return read && 'error' in read && read.error === 'range' ? DATE_TIME_RANGE_MESSAGE : message;
      },
    },
  });
  return (target: object, property: string | symbol) => {
    normalise(target, property);
    check(target, property);
  };
}
