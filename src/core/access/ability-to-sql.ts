import { rulesToAST, rulesToCondition } from '@casl/ability/extra';
import { buildAnd, buildOr, CompoundCondition, type Condition } from '@ucast/mongo2js';
import type { AppAbility } from './app-ability';
import type { SubjectField } from './rule.types';

export interface SqlCondition {
  sql: string;
  params: unknown[];
}

interface AstNode {
  operator: string;
  field?: string;
  value: unknown;
}

export class UntranslatableRuleError extends Error {}

/**
 * As rulesToAST, over the rules that cover one field: without a field CASL counts a rule
 * limited to other fields as granting the action, which is right for "may change something"
 * and wrong for a change known to touch `field`.
 */
function fieldRulesToAst(ability: AppAbility, action: string, subject: string, field: string): Condition | null {
  // Only rules with conditions are converted, and those have an AST.
  const convert = (rule: ReturnType<AppAbility['rulesFor']>[number]) => (rule.inverted ? new CompoundCondition('not', [rule.ast!]) : rule.ast!);
  return rulesToCondition(ability.rulesFor(action, subject, field), convert, { and: buildAnd, or: buildOr, empty: () => buildAnd([]) });
}

/**
 * Turns what an ability allows on a subject type into a SQL predicate for list queries,
 * so a restricted user's list, count and export contain exactly the rows they may see.
 * Placeholders are numbered from `firstParam` (`$n`) so the predicate can be appended to
 * a query that already has parameters. Fields are mapped through the subject's whitelist.
 * With `field`, only rules that cover that field count (a change known to touch it).
 */
export function abilityToSql(
  ability: AppAbility,
  action: string,
  subject: string,
  fields: Record<string, SubjectField>,
  alias: string,
  firstParam = 1,
  field?: string,
): SqlCondition {
  const ast = (field === undefined ? rulesToAST(ability, action, subject) : fieldRulesToAst(ability, action, subject, field)) as AstNode | null;
  if (!ast) return { sql: 'FALSE', params: [] };
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${firstParam + params.length - 1}`;
  };
  const column = (field: string | undefined) => {
    const definition = field ? fields[field] : undefined;
    if (!definition) throw new UntranslatableRuleError(`Rules for ${subject} name an unknown field "${field}"`);
    return { sql: definition.column.replaceAll('{alias}', alias), type: definition.type };
  };
  const cast = (type: SubjectField['type']) =>
    ({ uuid: '::uuid', string: '::text', number: '::numeric', boolean: '::boolean', date: '::timestamptz', 'uuid[]': '::uuid', 'string[]': '::text' })[type];

  const translate = (node: AstNode): string => {
    const children = () => (node.value as AstNode[]).map(translate);
    switch (node.operator) {
      case 'and': {
        const parts = children();
        return parts.length ? `(${parts.join(' AND ')})` : 'TRUE';
      }
      case 'or': {
        const parts = children();
        return parts.length ? `(${parts.join(' OR ')})` : 'FALSE';
      }
      case 'not':
      case 'nor': {
        const parts = children();
        // COALESCE: in CASL a missing value simply does not match; in SQL NULL would swallow the NOT.
        return `NOT COALESCE(${parts.length > 1 ? `(${parts.join(' OR ')})` : (parts[0] ?? 'FALSE')}, FALSE)`;
      }
    }
    const { sql, type } = column(node.field);
    const isArray = type.endsWith('[]');
    switch (node.operator) {
      case 'eq':
        if (node.value === null) return `${sql} IS NULL`;
        return isArray ? `${param(node.value)}${cast(type)} = ANY(${sql})` : `${sql} = ${param(node.value)}${cast(type)}`;
      case 'ne':
        if (node.value === null) return `${sql} IS NOT NULL`;
        return isArray
          ? `NOT (${param(node.value)}${cast(type)} = ANY(COALESCE(${sql}, '{}')))`
          : `${sql} IS DISTINCT FROM ${param(node.value)}${cast(type)}`;
      case 'in':
        return isArray ? `${sql} && ${param(node.value)}${cast(type)}[]` : `${sql} = ANY(${param(node.value)}${cast(type)}[])`;
      case 'nin':
        return isArray
          ? `NOT (COALESCE(${sql}, '{}') && ${param(node.value)}${cast(type)}[])`
          : `NOT COALESCE(${sql} = ANY(${param(node.value)}${cast(type)}[]), FALSE)`;
      case 'lt':
        return `${sql} < ${param(node.value)}${cast(type)}`;
      case 'lte':
        return `${sql} <= ${param(node.value)}${cast(type)}`;
      case 'gt':
        return `${sql} > ${param(node.value)}${cast(type)}`;
      case 'gte':
        return `${sql} >= ${param(node.value)}${cast(type)}`;
      case 'exists':
        return node.value ? `${sql} IS NOT NULL` : `${sql} IS NULL`;
      default:
        throw new UntranslatableRuleError(`The "${node.operator}" operator cannot be used in rules`);
    }
  };

  return { sql: translate(ast), params };
}
