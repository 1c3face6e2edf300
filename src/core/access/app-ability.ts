import { createMongoAbility, MongoAbility, MongoQuery, subject as asSubject } from '@casl/ability';
import type { StoredRule } from './rule.types';

export type AppAbility = MongoAbility<[string, string | object], MongoQuery>;

export function buildAbility(rules: StoredRule[]): AppAbility {
  return createMongoAbility<[string, string | object], MongoQuery>(rules as never);
}

/** Tags a plain record with its subject type, so conditions are checked against it. */
export function subjectOf<T extends object>(type: string, record: T): T {
  return asSubject(type, { ...record });
}
