import { PreciseInstant } from './app-ability';
import { BASE_ACTIONS, type FieldType, RULE_PLACEHOLDERS, StoredRule, SubjectDefinition, type SubjectField } from './rule.types';
import { placeholdersIn } from './rule-interpolation';
import type { FieldErrorDto } from '../http/error-response.dto';

const FIELD_OPERATORS = new Set(['$eq', '$ne', '$in', '$nin', '$lt', '$lte', '$gt', '$gte', '$exists']);
const LOGICAL_OPERATORS = new Set(['$and', '$or', '$nor']);
const ORDERING_OPERATORS = new Set(['$lt', '$lte', '$gt', '$gte']);
/** Field types whose values have an order both CASL and PostgreSQL compare by. */
const ORDERED_TYPES: ReadonlySet<FieldType> = new Set(['uuid', 'string', 'number', 'date']);

/**
 * Checks rules before they are saved: known actions and subjects, fields the subject has (and
 * field lists only on actions checked field by field), operators the SQL translation supports,
 * placeholders that resolve, no empty conditions.
 */
export function validateRules(rules: StoredRule[], subjects: (name: string) => SubjectDefinition | undefined, allSubjects: string[], actionsFor: (subject: string) => string[]): FieldErrorDto[] {
  const errors: FieldErrorDto[] = [];
  rules.forEach((rule, index) => {
    const at = (path: string, message: string) => errors.push({ field: `rules.${index}${path ? `.${path}` : ''}`, message });
    const subjectNames = Array.isArray(rule.subject) ? rule.subject : [rule.subject];
    const actionNames = Array.isArray(rule.action) ? rule.action : [rule.action];
    if (!subjectNames.length) at('subject', 'must name at least one subject');
    if (!actionNames.length) at('action', 'must name at least one action');
    for (const name of subjectNames) {
      if (name !== 'all' && !subjects(name)) at('subject', `unknown subject "${name}"; known: all, ${allSubjects.join(', ')}`);
    }
    for (const action of actionNames) {
      const known = subjectNames.some((name) => actionsFor(name).includes(action)) || (BASE_ACTIONS as readonly string[]).includes(action);
      if (!known) at('action', `unknown action "${action}" for ${subjectNames.join(', ')}`);
    }
    if (!rule.inverted) {
      for (const name of subjectNames) {
        // "all" covers roles too: an action reserved anywhere is reserved on "all", save manage all (an administrator's equal).
        const reserved =
          name === 'all'
            ? actionNames.filter((action) => action !== 'manage' && allSubjects.some((other) => subjects(other)?.administratorActions?.includes(action)))
            : (subjects(name)?.administratorActions ?? []).filter((action) => actionNames.includes(action));
        if (reserved.length) at('action', `only administrators may ${reserved.map((action) => `"${action}"`).join(', ')} ${name === 'all' ? 'every subject' : name}; leave it out`);
      }
    }
    const definitions = subjectNames.map((name) => subjects(name)).filter((d): d is SubjectDefinition => Boolean(d));
    // Own names only: `in` would take "constructor" or "toString", which CASL then fails on.
    const fieldKnown = (field: string) => definitions.length > 0 && definitions.every((d) => Object.hasOwn(d.fields, field));
    if (rule.fields !== undefined) {
      if (!Array.isArray(rule.fields) || rule.fields.length === 0) at('fields', 'must be a non-empty list of field names when given');
      else for (const field of rule.fields) if (!fieldKnown(field)) at('fields', `unknown field "${field}"`);
      // A field list on an action nothing checks field by field would grant the whole record.
      for (const definition of definitions) {
        const limited = definition.fieldLimitedActions ?? [];
        const unchecked = actionNames.filter((action) => !limited.includes(action));
        if (unchecked.length) {
          at('fields', `${definition.name} is not limited field by field for ${unchecked.map((action) => `"${action}"`).join(', ')}${limited.length ? `; only ${limited.map((action) => `"${action}"`).join(', ')} rules may list fields` : '; leave fields out'}`);
        }
      }
    }
    if (rule.conditions !== undefined) {
      if (subjectNames.includes('all')) at('conditions', 'conditions cannot be used with the subject "all"');
      if (!rule.conditions || typeof rule.conditions !== 'object' || Array.isArray(rule.conditions) || Object.keys(rule.conditions).length === 0) {
        at('conditions', 'must be a non-empty object when given (leave it out to match everything)');
      } else {
        const fieldOf = (field: string) => (fieldKnown(field) ? definitions[0]!.fields[field] : undefined);
        checkConditions(rule.conditions, 'conditions', fieldKnown, fieldOf, at);
      }
      for (const placeholder of placeholdersIn(rule.conditions)) {
        if (!(RULE_PLACEHOLDERS as readonly string[]).includes(placeholder)) {
          at('conditions', `unknown placeholder \${${placeholder}}; known: ${RULE_PLACEHOLDERS.map((p) => `\${${p}}`).join(', ')}`);
        }
      }
    }
  });
  return errors;
}

function checkConditions(
  conditions: Record<string, unknown>,
  path: string,
  fieldKnown: (field: string) => boolean,
  fieldOf: (field: string) => SubjectField | undefined,
  at: (path: string, message: string) => void,
): void {
  for (const [key, value] of Object.entries(conditions)) {
    if (LOGICAL_OPERATORS.has(key)) {
      if (!Array.isArray(value) || value.length === 0) at(`${path}.${key}`, 'must be a non-empty list of conditions');
      else
        value.forEach((inner, i) => {
          // An empty entry (or a list, read as one) would match everything unsaid, as an empty `conditions` would.
          if (!inner || typeof inner !== 'object' || Array.isArray(inner)) at(`${path}.${key}.${i}`, 'must be an object');
          else if (Object.keys(inner).length === 0) at(`${path}.${key}.${i}`, 'must not be an empty object');
          else checkConditions(inner as Record<string, unknown>, `${path}.${key}.${i}`, fieldKnown, fieldOf, at);
        });
      continue;
    }
    if (key.startsWith('$')) {
      at(`${path}.${key}`, `unsupported operator "${key}"`);
      continue;
    }
    if (!fieldKnown(key)) at(`${path}.${key}`, `unknown field "${key}"`);
    const field = fieldOf(key);
    if (field?.conditions === false) at(`${path}.${key}`, `"${key}" can be listed in fields but not tested in conditions`);
    // Values are compared in SQL as the field's type: one that does not fit would fail every list of the role.
    const checkValue = (valuePath: string, operand: unknown) => {
      const problem = field && field.conditions !== false ? valueProblem(field.type, operand) : undefined;
      if (problem) at(valuePath, problem);
    };
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const operators = Object.keys(value);
      if (operators.length === 0) at(`${path}.${key}`, 'must not be an empty object');
      for (const operator of operators) {
        if (!FIELD_OPERATORS.has(operator)) at(`${path}.${key}.${operator}`, `unsupported operator "${operator}"; use one of ${[...FIELD_OPERATORS].join(', ')}`);
        const operand = (value as Record<string, unknown>)[operator];
        if (operator === '$in' || operator === '$nin') {
          if (!Array.isArray(operand)) at(`${path}.${key}.${operator}`, 'must be a list');
          // In SQL a list never holds NULL: said here rather than matched differently from what was written.
          else if (operand.includes(null)) at(`${path}.${key}.${operator}`, `must not hold null: match a missing value with {"${key}": null}, or keep it out with {"${key}": {"$ne": null}}, in a condition of its own`);
          else operand.forEach((item, i) => checkValue(`${path}.${key}.${operator}.${i}`, item));
        } else if (operator === '$exists') {
          if (typeof operand !== 'boolean') at(`${path}.${key}.${operator}`, 'must be true or false');
        } else if (operand === null && operator !== '$eq' && operator !== '$ne') {
          at(`${path}.${key}.${operator}`, 'must not be null: a missing value is neither less nor greater than anything');
        } else if (ORDERING_OPERATORS.has(operator) && field && field.conditions !== false && !ORDERED_TYPES.has(field.type)) {
          // Neither the in-memory check nor SQL orders these: the role's every check and list would fail.
          at(`${path}.${key}.${operator}`, field.type.endsWith('[]') ? `"${key}" is a list: compare it with $eq, $ne, $in, $nin or $exists` : `"${key}" is true or false, which has no order: use $eq or $ne`);
        } else if (FIELD_OPERATORS.has(operator)) {
          checkValue(`${path}.${key}.${operator}`, operand);
        }
      }
    } else if (Array.isArray(value)) {
      at(`${path}.${key}`, 'use { "$in": [...] } to match one of several values');
    } else {
      checkValue(`${path}.${key}`, value);
    }
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PLACEHOLDER = /^\$\{([\w.]+)\}$/;
/** What each placeholder holds, as a rule field type. */
const PLACEHOLDER_TYPES: Record<string, FieldType> = { 'user.id': 'uuid', 'user.contactId': 'uuid', 'user.email': 'string' };
/** Fractions of a second up to nanoseconds: PostgreSQL refuses text past 128 characters. */
const TIMESTAMP = /^(\d{4})-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|([+-])(\d{2}):(\d{2}))?)?$/;

/** Why `value` cannot be compared with a field of `type` in SQL, if it cannot; null matches a missing value. */
function valueProblem(type: FieldType, value: unknown): string | undefined {
  if (value === null) return undefined;
  const scalar = type.endsWith('[]') ? type.slice(0, -2) : type;
  if (typeof value === 'string' && value.includes('${')) {
    const whole = PLACEHOLDER.exec(value);
    // An unknown placeholder is reported by the placeholder check.
    if (!whole) return scalar === 'string' ? undefined : `must be a ${scalar === 'uuid' ? 'UUID' : scalar} or a placeholder alone`;
    const held = PLACEHOLDER_TYPES[whole[1]!];
    return !held || held === scalar || scalar === 'string' ? undefined : `\${${whole[1]}} is not a ${scalar === 'uuid' ? 'UUID' : scalar}`;
  }
  switch (scalar) {
    case 'uuid':
      return typeof value === 'string' && UUID.test(value) ? undefined : 'must be a UUID';
    case 'string':
      return typeof value === 'string' ? undefined : 'must be text';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'must be a number';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'date': {
      const parts = typeof value === 'string' ? TIMESTAMP.exec(value) : null;
      // Days that exist (Date.parse rolls February 30th over; SQL refuses it), years PostgreSQL and
      // JavaScript share (no year 0), offsets PostgreSQL takes (up to ±15:59).
      const fits = parts && PreciseInstant.fromIso(value as string) !== undefined && parts[1]! >= '0001' && (!parts[7] || (Number(parts[7]) <= 15 && Number(parts[8]) < 60));
      return fits ? undefined : 'must be an ISO 8601 date-time';
    }
  }
  return undefined;
}
