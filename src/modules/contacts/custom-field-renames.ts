import { ConflictException, UnprocessableEntityException } from '@nestjs/common';
import type { FieldErrorDto } from '../../core/http/error-response.dto';
import { LIST_ITEM, listItemMessage } from './contacts.naming';
import { CHOICE_FIELD_TYPES, type CustomField } from './entities/custom-field.entity';
import type { FilterNode } from './filters/contact-filter.types';

export interface OptionRename {
  from: string;
  to: string;
}

/** Renames of a field's options as the stores of its values apply them, position for position. */
export interface RenamePlan {
  /** The options renamed, as stored (a rename that changes nothing is left out). */
  from: string[];
  /** What each becomes. */
  to: string[];
  /** The field's options once renamed, in their order. */
  options: string[];
}


/** Options are told apart ignoring case (filters compare them so), and so is `from`. */
const identity = (option: string) => option.toLowerCase();

/**
 * Checks renames against the field's options and, when the request also lists the field's new
 * options, against that list (it names options by their new names). All renames apply at once,
 * so options may swap names; a name may not be given to an option while another keeps it:
 * that would merge two options, which a rename does not do.
 */
export function planOptionRenames(field: Pick<CustomField, 'key' | 'type' | 'options'>, renames: OptionRename[], listed?: string[]): RenamePlan {
  if (!CHOICE_FIELD_TYPES.has(field.type)) {
    throw new UnprocessableEntityException({
      message: `Only select and multi_select fields have options to rename; "${field.key}" is a ${field.type} field`,
      code: 'options_not_allowed',
      details: [{ field: 'renameOptions', message: `${field.key} is a ${field.type} field, which has no options` }],
    });
  }
  const unknown: FieldErrorDto[] = [];
  const renamedAt = new Map<number, string>();
  renames.forEach(({ from, to }, i) => {
    const at = field.options.findIndex((option) => identity(option) === identity(from));
    if (at < 0) unknown.push({ field: `renameOptions.${i}.from`, message: `"${from}" is not an option of ${field.key} (its options: ${field.options.join(', ')})` });
    else if (renamedAt.has(at)) unknown.push({ field: `renameOptions.${i}.from`, message: `"${from}" is renamed twice in this edit` });
    else renamedAt.set(at, to);
  });
  if (unknown.length) throw new UnprocessableEntityException({ message: `Renames name options ${field.key} does not have`, code: 'unknown_option', details: unknown });

  const options = field.options.map((option, at) => renamedAt.get(at) ?? option);
  const invalid: FieldErrorDto[] = [];
  const taken: FieldErrorDto[] = [];
  renames.forEach(({ to }, i) => {
    const at = field.options.findIndex((option) => identity(option) === identity(renames[i]!.from));
    if (field.type === 'multi_select' && !LIST_ITEM.test(to)) invalid.push({ field: `renameOptions.${i}.to`, message: listItemMessage('the values of a multi-select field') });
    const clash = options.findIndex((option, other) => other !== at && identity(option) === identity(to));
    if (clash < 0) return;
    if (renamedAt.has(clash)) invalid.push({ field: `renameOptions.${i}.to`, message: `"${to}" is the new name of another option in this edit` });
    else taken.push({ field: `renameOptions.${i}.to`, message: `"${to}" is already an option of ${field.key}; renaming does not merge options` });
  });
  if (invalid.length) throw new UnprocessableEntityException({ message: `Renames of ${field.key}'s options are invalid`, code: 'invalid_options', details: invalid });
  if (taken.length) throw new ConflictException({ message: `${field.key} already has an option of that name`, code: 'option_name_taken', details: taken });

  // `options` sent with renames lists the new names: an old name left in it is a mistake (it would add that option anew).
  const newNames = new Set(options.map(identity));
  const stale = (listed ?? []).flatMap((option, i) => {
    const renamed = [...renamedAt].find(([at]) => identity(field.options[at]!) === identity(option));
    return renamed && !newNames.has(identity(option)) ? [{ field: `options.${i}`, message: `"${option}" is renamed to "${renamed[1]}" in this edit: list the new name` }] : [];
  });
  if (stale.length) throw new UnprocessableEntityException({ message: 'Options list old names of options this edit renames', code: 'invalid_options', details: stale });

  const changed = [...renamedAt].filter(([at, to]) => field.options[at] !== to).sort(([a], [b]) => a - b);
  return { from: changed.map(([at]) => field.options[at]!), to: changed.map(([, to]) => to), options };
}

const RENAMED_OPERATORS: Record<'select' | 'multi_select', ReadonlySet<string>> = {
  select: new Set(['is', 'isNot', 'in', 'notIn']),
  multi_select: new Set(['hasAny', 'hasAll', 'hasNone']),
};

/**
 * A rule with the field's renamed options renamed where it compares whole values (filters
 * compare ignoring case, so "gold" named "Gold" too), or undefined if it names none. Text
 * matches (contains, startsWith) are left as written: they are not option names.
 */
export function renameOptionsInRule(rule: FilterNode, field: Pick<CustomField, 'key' | 'type'>, plan: Pick<RenamePlan, 'from' | 'to'>): FilterNode | undefined {
  const operators = RENAMED_OPERATORS[field.type as 'select' | 'multi_select'];
  if (!operators) return undefined;
  const renamed = new Map(plan.from.map((from, i) => [identity(from), plan.to[i]!]));
  const name = `custom.${field.key}`;
  let changed = false;
  const rename = (value: unknown) => {
    const to = typeof value === 'string' ? renamed.get(identity(value)) : undefined;
    if (to === undefined || to === value) return value;
    changed = true;
    return to;
  };
  const walk = (node: FilterNode): FilterNode => {
    if ('and' in node) return { and: node.and.map(walk) };
    if ('or' in node) return { or: node.or.map(walk) };
    if ('not' in node) return { not: walk(node.not) };
    if (node.field !== name || !operators.has(node.op)) return node;
    if (!Array.isArray(node.value)) return { ...node, value: rename(node.value) };
    // Two values that now read the same (a case-only rename) are one.
    const seen = new Set<string>();
    const value = node.value.map(rename).filter((item) => typeof item !== 'string' || (!seen.has(identity(item)) && seen.add(identity(item))));
    return { ...node, value };
  };
  const result = walk(rule);
  return changed ? result : undefined;
}

/**
 * SQL for the value under key `$1` of the jsonb object `holder`, with options `$2` renamed to
 * `$3` (position for position). A multi-select keeps its order and never holds a name twice.
 */
export function renamedValueSql(holder: string, multi: boolean): string {
  const renamed = (value: string) => `coalesce(($3::text[])[array_position($2::text[], ${value})], ${value})`;
  if (!multi) return `to_jsonb(${renamed(`${holder} ->> $1::text`)})`;
  return `(SELECT jsonb_agg(name ORDER BY first) FROM (
            SELECT ${renamed('v')} AS name, min(i) AS first FROM jsonb_array_elements_text(${holder} -> $1::text) WITH ORDINALITY AS e (v, i) GROUP BY 1) renamed)`;
}

/** SQL: the jsonb object `holder` holds, under key `$1`, any of the options `$2`. */
export function holdsOptionsSql(type: string, holder: string): string {
  return type === 'multi_select'
    ? `(jsonb_typeof(${holder} -> $1::text) = 'array' AND ${holder} -> $1::text ?| $2::text[])`
    : `${holder} ->> $1::text = ANY($2::text[])`;
}
