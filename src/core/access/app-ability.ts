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
  // A loaded timestamp is a Date, a rule's value ISO text: SQL compares them as instants.
  if (a instanceof Date || b instanceof Date) {
    const left = instantOf(a);
    const right = instantOf(b);
    if (!Number.isNaN(left) && !Number.isNaN(right)) return left === right ? 0 : left > right ? 1 : -1;
  }
  return a > b ? 1 : -1;
}

function instantOf(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  return typeof value === 'string' ? Date.parse(value) : Number.NaN;
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
