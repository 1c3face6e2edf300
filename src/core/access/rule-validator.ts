import { BASE_ACTIONS, RULE_PLACEHOLDERS, StoredRule, SubjectDefinition } from './rule.types';
import { placeholdersIn } from './rule-interpolation';
import type { FieldErrorDto } from '../http/error-response.dto';

const FIELD_OPERATORS = new Set(['$eq', '$ne', '$in', '$nin', '$lt', '$lte', '$gt', '$gte', '$exists']);
const LOGICAL_OPERATORS = new Set(['$and', '$or', '$nor']);

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
        // "all" covers roles too: reading everything is fine, changing everything is an administrator's (manage all).
        const reserved = name === 'all' ? actionNames.filter((action) => action !== 'read' && action !== 'manage') : (subjects(name)?.administratorActions ?? []).filter((action) => actionNames.includes(action));
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
        checkConditions(rule.conditions, 'conditions', fieldKnown, at);
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
  at: (path: string, message: string) => void,
): void {
  for (const [key, value] of Object.entries(conditions)) {
    if (LOGICAL_OPERATORS.has(key)) {
      if (!Array.isArray(value) || value.length === 0) at(`${path}.${key}`, 'must be a non-empty list of conditions');
      else value.forEach((inner, i) => (inner && typeof inner === 'object' ? checkConditions(inner as Record<string, unknown>, `${path}.${key}.${i}`, fieldKnown, at) : at(`${path}.${key}.${i}`, 'must be an object')));
      continue;
    }
    if (key.startsWith('$')) {
      at(`${path}.${key}`, `unsupported operator "${key}"`);
      continue;
    }
    if (!fieldKnown(key)) at(`${path}.${key}`, `unknown field "${key}"`);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const operators = Object.keys(value);
      if (operators.length === 0) at(`${path}.${key}`, 'must not be an empty object');
      for (const operator of operators) {
        if (!FIELD_OPERATORS.has(operator)) at(`${path}.${key}.${operator}`, `unsupported operator "${operator}"; use one of ${[...FIELD_OPERATORS].join(', ')}`);
        const operand = (value as Record<string, unknown>)[operator];
        if ((operator === '$in' || operator === '$nin') && !Array.isArray(operand)) at(`${path}.${key}.${operator}`, 'must be a list');
      }
    } else if (Array.isArray(value)) {
      at(`${path}.${key}`, 'use { "$in": [...] } to match one of several values');
    }
  }
}
