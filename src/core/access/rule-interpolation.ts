import type { FieldType, StoredRule } from './rule.types';

export interface RuleUserContext {
  id: string;
  contactId: string;
  email: string;
}

const PLACEHOLDER = /\$\{(user\.[A-Za-z]+)\}/g;

/** Replaces `${user.id}`-style placeholders in rule conditions with the signed-in user's values. */
export function interpolateRules(rules: StoredRule[], user: RuleUserContext): StoredRule[] {
  const values: Record<string, string> = { 'user.id': user.id, 'user.contactId': user.contactId, 'user.email': user.email };
  const walk = (value: unknown): unknown => {
    if (typeof value === 'string') {
      const whole = /^\$\{(user\.[A-Za-z]+)\}$/.exec(value);
      if (whole) return values[whole[1]!];
      return value.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '');
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, walk(inner)]));
    }
    return value;
  };
  return rules.map((rule) => (rule.conditions ? { ...rule, conditions: walk(rule.conditions) as Record<string, unknown> } : rule));
}

/** Every `${…}` in the value, well-formed or not, so the validator can refuse the unknown ones. */
export function placeholdersIn(value: unknown): string[] {
  const found: string[] = [];
  const walk = (inner: unknown) => {
    if (typeof inner === 'string') for (const match of inner.matchAll(/\$\{([^}]*)\}/g)) found.push(match[1]!);
    else if (Array.isArray(inner)) inner.forEach(walk);
    else if (inner && typeof inner === 'object') Object.values(inner).forEach(walk);
  };
  walk(value);
  return found;
}

const LOGICAL = new Set(['$and', '$or', '$nor']);

/**
 * Lower-cases UUIDs compared with uuid fields: SQL compares them whatever their case, the
 * in-memory check as text, so a rule naming an id in capitals would pass a list's rows and
 * refuse the same record opened alone.
 */
export function lowerCaseUuids(rules: StoredRule[], fieldType: (subject: string, field: string) => FieldType | undefined): StoredRule[] {
  const lower = (value: unknown): unknown => (typeof value === 'string' ? value.toLowerCase() : Array.isArray(value) ? value.map(lower) : value);
  const walk = (subjects: string[], conditions: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(
      Object.entries(conditions).map(([key, value]) => {
        if (LOGICAL.has(key)) return [key, Array.isArray(value) ? value.map((inner) => (inner && typeof inner === 'object' ? walk(subjects, inner as Record<string, unknown>) : inner)) : value];
        const type = subjects.map((subject) => fieldType(subject, key)).find(Boolean);
        if (type !== 'uuid' && type !== 'uuid[]') return [key, value];
        if (value && typeof value === 'object' && !Array.isArray(value)) {
          return [key, Object.fromEntries(Object.entries(value).map(([operator, operand]) => [operator, lower(operand)]))];
        }
        return [key, lower(value)];
      }),
    );
  return rules.map((rule) => (rule.conditions ? { ...rule, conditions: walk(Array.isArray(rule.subject) ? rule.subject : [rule.subject], rule.conditions) } : rule));
}
