import { ForbiddenException, NotFoundException } from '@nestjs/common';
import { permittedFieldsOf } from '@casl/ability/extra';
import { AppAbility, subjectOf } from './app-ability';

/**
 * Checks an action on a loaded record. A record the user may not even read is reported
 * as missing (404), so its existence does not leak; one they may read but not change is 403.
 */
export function assertCanOnRecord<T extends object>(ability: AppAbility, action: string, subject: string, record: T | null | undefined, notFoundMessage = `${subject} not found`): T {
  if (!record) throw new NotFoundException({ message: notFoundMessage, code: 'not_found' });
  const conditional = dependsOnRecord(ability, 'read', subject) || (action !== 'read' && dependsOnRecord(ability, action, subject));
  const tagged = conditional ? subjectOf(subject, record) : subject;
  if (!ability.can('read', tagged)) throw new NotFoundException({ message: notFoundMessage, code: 'not_found' });
  if (action !== 'read' && !ability.can(action, tagged)) {
    throw new ForbiddenException({ message: `You may not ${action} this ${subject}`, code: 'forbidden' });
  }
  return record;
}

const conditionalRules = new WeakMap<AppAbility, Map<string, boolean>>();

/**
 * Whether a record's values can change the answer to `action` on `subject`: only rules with
 * conditions look at them. Abilities never change once built, so the answer is kept with each.
 */
export function dependsOnRecord(ability: AppAbility, action: string, subject: string): boolean {
  let answers = conditionalRules.get(ability);
  if (!answers) conditionalRules.set(ability, (answers = new Map()));
  const key = `${action}\u0000${subject}`;
  let answer = answers.get(key);
  if (answer === undefined) {
    answer = ability.rulesFor(action, subject).some((rule) => rule.conditions !== undefined);
    answers.set(key, answer);
  }
  return answer;
}

/**
 * Whether the caller may `action` every `subject` record, whole: no conditions, no field list.
 * `untouched` names fields the operation never writes: an inverted rule on those alone does not
 * limit it.
 */
export function hasWholeRight(ability: AppAbility, action: string, subject: string, untouched: readonly string[] = []): boolean {
  // CASL lists the rules by precedence, and the first one matching a record decides: a whole
  // grant counts only when no inverted rule (conditional or on some fields) ranks above it.
  // (possibleRulesFor: rulesFor leaves out inverted rules on fields when asked about no field.)
  for (const rule of ability.possibleRulesFor(action, subject)) {
    if (rule.inverted) {
      if (rule.fields && rule.fields.every((field) => untouched.includes(field))) continue;
      return false;
    }
    if (!rule.conditions && !rule.fields) return true;
  }
  return false;
}

/** An administrator holds `manage all` without conditions: the admin role, or a role made its equal. */
export function isAdministrator(ability: AppAbility): boolean {
  return grantsAdministration(ability.rules);
}

/** The rule shape `grantsAdministration` reads: stored rules and an ability's rules alike. */
export interface RuleOutline {
  action: string | string[];
  subject?: unknown;
  conditions?: unknown;
  fields?: unknown;
  inverted?: boolean;
}

/** Whether rules, in precedence order (later wins), make an administrator; see `isAdministrator`. */
export function grantsAdministration(rules: readonly RuleOutline[]): boolean {
  // Later rules take precedence: `manage all` makes an administrator unless an inverted rule, on anything, comes after it.
  const has = (value: unknown, wanted: string) => (Array.isArray(value) ? value.includes(wanted) : value === wanted);
  for (let index = rules.length - 1; index >= 0; index -= 1) {
    const rule = rules[index]!;
    if (rule.inverted) return false;
    if (has(rule.action, 'manage') && has(rule.subject, 'all') && !rule.conditions && !rule.fields) return true;
  }
  return false;
}

/** Refuses what only administrators may do (choose roles, write rules, change an administrator's account). */
export function assertAdministrator(ability: AppAbility, what: string): void {
  if (!isAdministrator(ability)) throw new ForbiddenException({ message: `Only administrators may ${what}`, code: 'forbidden' });
}

/** Fields of `record` that `action` may touch, given rules with `fields`. */
export function permittedFields(ability: AppAbility, action: string, subject: string, record: object, allFields: string[]): string[] {
  return permittedFieldsOf(ability, action, subjectOf(subject, record), { fieldsFrom: (rule) => rule.fields ?? allFields });
}

/** Refuses a change that touches fields the rules do not open to this user. */
export function assertFieldsPermitted(ability: AppAbility, action: string, subject: string, record: object, changed: string[], allFields: string[]): void {
  const allowed = new Set(permittedFields(ability, action, subject, record, allFields));
  const refused = changed.filter((field) => !allowed.has(field));
  if (refused.length) {
    throw new ForbiddenException({
      message: `You may not change ${refused.join(', ')} of this ${subject}`,
      code: 'field_forbidden',
      details: refused.map((field) => ({ field, message: 'not permitted for your role' })),
    });
  }
}
