import { buildMongoQueryMatcher, createMongoAbility, MongoAbility, MongoQuery, subject as asSubject } from '@casl/ability';
import { $and, $nor, $or, and, nor, or } from '@ucast/mongo2js';
import type { StoredRule } from './rule.types';

export type AppAbility = MongoAbility<[string, string | object], MongoQuery>;

/**
 * Orders values the way SQL does: NULL/undefined is neither equal to, less nor greater than
 * anything, so a rule matches a loaded record exactly when its SQL translation matches the row.
 */
function sqlLikeCompare<T>(a: T, b: T): 1 | -1 | 0 {
  if (a === null || a === undefined || b === null || b === undefined) return (a === b ? 0 : 2) as 0;
  if (a === b) return 0;
  // A loaded timestamp is a Date, a rule's value ISO text: SQL compares them as instants, to the microsecond.
  if (a instanceof Date || b instanceof Date) {
    const left = microsecondsOf(a);
    const right = microsecondsOf(b);
    if (left !== undefined && right !== undefined) return left === right ? 0 : left > right ? 1 : -1;
  }
  return a > b ? 1 : -1;
}

/**
 * A timestamp as PostgreSQL keeps it, to the microsecond; a Date alone keeps milliseconds,
 * which would put a row created 400 µs after a rule's instant on the wrong side of it.
 * Records give rules their timestamps as these.
 */
export class PreciseInstant extends Date {
  private constructor(readonly microseconds: bigint) {
    // Floor division: the Date is the millisecond the instant falls in, before 1970 too.
    super(Number((microseconds - (((microseconds % 1000n) + 1000n) % 1000n)) / 1000n));
  }

  /** From ISO 8601 text, as PostgreSQL reads it in a UTC session (no offset: UTC). */
  static fromIso(text: string): PreciseInstant | undefined {
    const microseconds = isoMicroseconds(text);
    return microseconds === undefined ? undefined : new PreciseInstant(microseconds);
  }
}

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|([+-])(\d{2}):(\d{2}))?)?$/;

/**
 * Microseconds since 1970 of ISO 8601 text, read as PostgreSQL reads it in the UTC sessions
 * the API runs: without an offset the time is UTC (not this process's zone), and a fraction
 * finer than a microsecond is rounded to one the way PostgreSQL rounds it.
 */
function isoMicroseconds(text: string): bigint | undefined {
  const parts = ISO_INSTANT.exec(text);
  if (!parts) return undefined;
  const [, year, month, day, hours = '0', minutes = '0', seconds = '0', fraction = '', , sign, offsetHours = '0', offsetMinutes = '0'] = parts;
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  // A day that rolls over (February 30th) is refused by SQL, and so here; 24:00 and a leap second are taken as SQL takes them.
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return undefined;
  const wholeSeconds = (Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds);
  if (Number(minutes) > 59 || Number(seconds) > 60 || wholeSeconds > 86_400) return undefined;
  const fractionMicros = BigInt(roundHalfEven(Number(`0.${fraction || '0'}`) * 1_000_000));
  const offsetMicros = sign ? BigInt((Number(offsetHours) * 60 + Number(offsetMinutes)) * 60_000_000) * (sign === '-' ? -1n : 1n) : 0n;
  return (BigInt(date.getTime()) + BigInt(wholeSeconds) * 1000n) * 1000n + fractionMicros - offsetMicros;
}

/** C's rint(), which PostgreSQL rounds a fraction of a second with. */
function roundHalfEven(value: number): number {
  const rounded = Math.round(value);
  return rounded - value === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

function microsecondsOf(value: unknown): bigint | undefined {
  if (value instanceof PreciseInstant) return value.microseconds;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : BigInt(value.getTime()) * 1000n;
  return typeof value === 'string' ? isoMicroseconds(value) : undefined;
}

// CASL 7's default matcher knows field operators only; stored rules may also group with $and/$or/$nor.
const conditionsMatcher = buildMongoQueryMatcher({ $and, $or, $nor }, { and, or, nor }, { compare: sqlLikeCompare });

export function buildAbility(rules: StoredRule[]): AppAbility {
  return createMongoAbility<[string, string | object], MongoQuery>(rules as never, { conditionsMatcher });
}

/**
 * Tags a plain record with its subject type, so conditions are checked against it. Null
 * fields are left out: in SQL a NULL column neither exists nor equals anything.
 */
export function subjectOf<T extends object>(type: string, record: T): T {
  const present: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (value !== null && value !== undefined) present[key] = value;
  return asSubject(type, present as T);
}
