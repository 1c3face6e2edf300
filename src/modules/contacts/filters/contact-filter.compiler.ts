import { readDateTime } from '../../../core/http/date-time';
import type { FieldErrorDto } from '../../../core/http/error-response.dto';
import { FILTER_OPERATORS, FilterCondition, FilterField, FilterNode, OPERATORS_BY_KIND } from './contact-filter.types';

export interface SqlFragment {
  sql: string;
  params: unknown[];
}

export interface FieldResolver {
  /** The field's definition, or undefined when unknown. A deleted custom field returns `deleted`. */
  resolve(name: string): FilterField | 'deleted' | undefined;
}

const MAX_DEPTH = 8;
const MAX_CONDITIONS = 100;
const MAX_VALUES = 1000;
/** Id lists compile to one `= ANY($n::uuid[])` parameter: a bulk selection of 10000 ids is one of them. */
const MAX_ID_VALUES = 10000;
/** Up to this many values, `hasAll` is one semi-join per value. */
const MAX_JOINED_VALUES = 8;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
/** Filters take a bare date (whole days), and date-times without an offset (UTC). */
const DATE_TIME_FORMS = { date: true, localTime: true };

/** A real calendar day: `Date.parse` would roll 2024-02-30 over to March, PostgreSQL refuses it. */
export function isCalendarDate(value: string): boolean {
  const day = value.slice(0, 10);
  const parsed = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === day;
}

/**
 * A year that PostgreSQL reads and JavaScript writes as four ISO digits: PostgreSQL has no
 * year 0 (0000-01-01 is error 22008), and past 9999 toISOString writes +010000. A stored value
 * outside it would break every filter and sort on its field.
 */
export function inYearRange(iso: string): boolean {
  const year = /^(\d{4})-/.exec(iso)?.[1];
  return year !== undefined && year >= '0001' && year <= '9999';
}

/** A date or date-time as the API reads them everywhere (see readDateTime): query parameters, filters and rules alike. */
export function isIsoDateTime(value: string): boolean {
  return 'value' in readDateTime(value, DATE_TIME_FORMS);
}

/** A date or date-time read as isIsoDateTime reads it, as handed to PostgreSQL (see sqlDateTime); undefined when it is none. */
export function readIsoDateTime(value: string): string | undefined {
  const read = readDateTime(value, DATE_TIME_FORMS);
  return 'value' in read ? read.value : undefined;
}

/** The value handed to PostgreSQL: UTC for one with an offset, cut to the microseconds it keeps. */
function sqlDateTime(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const read = readDateTime(value, DATE_TIME_FORMS);
  return 'value' in read ? read.value : value;
}

/** Where the parts of a tree built for the caller (from query parameters) came from. */
const origins = new WeakMap<object, { path: string; whole: boolean }>();

/**
 * Marks a node of a tree built from what the caller sent, so that validateFilter reports its
 * errors under `path`: with `whole`, every error in it is reported as `path` itself (a query
 * parameter that became a condition); otherwise paths continue from `path` (the caller's own
 * rule tree, wherever it ends up).
 */
export function reportAs<T extends FilterNode>(node: T, path: string, whole = false): T {
  origins.set(node, { path, whole });
  return node;
}

export interface ValidateOptions {
  /**
   * An empty `and` group is allowed and matches every contact: how a caller selects
   * everything on purpose (lists and bulk actions). Saved segment rules keep needing clauses.
   */
  emptyAnd?: boolean;
  /**
   * A clause on a deleted custom field is an error rather than a warning: for one-off changes
   * (bulk actions, exports), where a clause that now holds for no contact, or for every one,
   * must not act unseen.
   */
  refuseDeletedFields?: boolean;
}

/**
 * Checks a rule tree: known fields, operators that suit the field's type, values of the
 * right shape. Errors carry the path of the bad clause (`filter.and.1.op`).
 * Clauses on deleted custom fields are reported in `warnings`, not errors, so saved
 * segments keep working (see {@link goneFieldWarning} for what such a clause does).
 */
export function validateFilter(node: unknown, fields: FieldResolver, path = 'filter', options: ValidateOptions = {}): { errors: FieldErrorDto[]; warnings: string[] } {
  const errors: FieldErrorDto[] = [];
  const warnings: string[] = [];
  let count = 0;
  let wholeAt: string | undefined;
  const walk = (current: unknown, computed: string, depth: number, negated: boolean) => {
    const origin = current && typeof current === 'object' ? origins.get(current) : undefined;
    if (origin?.whole) {
      const before = wholeAt;
      wholeAt = origin.path;
      check(current, origin.path, depth, negated);
      wholeAt = before;
      return;
    }
    check(current, origin?.path ?? computed, depth, negated);
  };
  const fail = (field: string, message: string) => errors.push({ field: wholeAt ?? field, message });
  // `negated`: under an odd number of `not`, which turns what a clause on a deleted field does around.
  const check = (current: unknown, at: string, depth: number, negated: boolean) => {
    if (depth > MAX_DEPTH) return fail(at, `nests deeper than ${MAX_DEPTH} levels`);
    if (!current || typeof current !== 'object' || Array.isArray(current)) return fail(at, 'must be an object: {and}, {or}, {not} or {field, op, value}');
    const node = current as Record<string, unknown>;
    const keys = Object.keys(node);
    for (const group of ['and', 'or'] as const) {
      if (group in node) {
        if (keys.length !== 1) return fail(at, `a group has only the "${group}" key`);
        const children = node[group];
        const allowedEmpty = group === 'and' && options.emptyAnd === true;
        if (!Array.isArray(children) || (children.length === 0 && !allowedEmpty)) return fail(`${at}.${group}`, 'must be a non-empty list of rules');
        children.forEach((child, i) => walk(child, `${at}.${group}.${i}`, depth + 1, negated));
        return;
      }
    }
    if ('not' in node) {
      if (keys.length !== 1) return fail(at, 'a negation has only the "not" key');
      return walk(node.not, `${at}.not`, depth + 1, !negated);
    }
    count += 1;
    // Told once, at the first condition too many: a rule of thousands would otherwise answer with thousands of errors.
    if (count === MAX_CONDITIONS + 1) return fail(at, `more than ${MAX_CONDITIONS} conditions`);
    if (count > MAX_CONDITIONS) return;
    const unknownKeys = keys.filter((key) => !['field', 'op', 'value'].includes(key));
    if (unknownKeys.length) return fail(at, `unknown keys: ${unknownKeys.join(', ')}`);
    if (typeof node.field !== 'string') return fail(`${at}.field`, 'must be a field name');
    const field = fields.resolve(node.field);
    if (field === 'deleted' && options.refuseDeletedFields) return fail(`${at}.field`, `the custom field "${node.field}" was deleted`);
    if (field === 'deleted') return warnings.push(goneFieldWarning(wholeAt ?? at, node.field, 'was deleted', node.op, negated));
    if (!field) return fail(`${at}.field`, `unknown field "${node.field}"`);
    if (typeof node.op !== 'string' || !(FILTER_OPERATORS as readonly string[]).includes(node.op)) {
      return fail(`${at}.op`, `must be one of ${OPERATORS_BY_KIND[field.kind].join(', ')}`);
    }
    if (!OPERATORS_BY_KIND[field.kind].includes(node.op as never)) {
      return fail(`${at}.op`, `"${node.op}" does not apply to ${node.field}; use one of ${OPERATORS_BY_KIND[field.kind].join(', ')}`);
    }
    const problem = valueProblem(field, node as unknown as FilterCondition);
    if (problem) fail(`${at}.value`, wholeAt ? problem.replace(/ \(\w+\)$/, '') : problem);
  };
  walk(node, path, 0, false);
  return { errors, warnings };
}

/**
 * Operators that hold for a contact with no value for the field: each is the negation of
 * another one (isNot of is, empty of notEmpty, …), as it is for a live field.
 */
const HOLD_WITHOUT_A_VALUE: ReadonlySet<unknown> = new Set(['isNot', 'notIn', 'notContains', 'hasNone', 'notInLastDays', 'empty']);

/**
 * Whether a clause on a custom field that is gone (deleted, purged, or defined again with
 * another type) holds, for every contact, or else for none. No contact shows a value for such
 * a field, and a purged one holds none: the clause reads every contact as having no value, so
 * that `isNot` still says the same as `not` around `is`, as for tags and statuses that are gone.
 */
export function goneFieldHolds(op: unknown): boolean {
  return HOLD_WITHOUT_A_VALUE.has(op);
}

/**
 * What a clause on a custom field that is gone does where it stands (`negated`: under an odd
 * number of `not`), in the words used for tags and statuses that no longer exist. `how` says
 * how the field is gone ("was deleted", "no longer exists", …).
 */
export function goneFieldWarning(at: string, field: string, how: string, op: unknown, negated: boolean): string {
  const lost = `${at}: the custom field "${field}" ${how}`;
  const holds = goneFieldHolds(op);
  if (holds && negated) return `${lost}; this condition now holds for every contact, so the "not" around it holds for no contact`;
  if (!holds && !negated) return `${lost}; this condition holds for no contact`;
  const clause = negated ? 'the "not" around it' : 'this condition';
  return `${lost}; it excludes no contact, so ${clause} now holds for every contact, those it used to exclude included`;
}

function valueProblem(field: FilterField, condition: FilterCondition): string | undefined {
  const { op, value } = condition;
  if (op === 'empty' || op === 'notEmpty') return value === undefined ? undefined : 'takes no value';
  if (op === 'inLastDays' || op === 'notInLastDays') {
    return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 36500 ? undefined : 'must be a whole number of days';
  }
  const many = op === 'in' || op === 'notIn' || op === 'hasAny' || op === 'hasAll' || op === 'hasNone';
  const values = many ? value : [value];
  const max = field.kind === 'uuid' ? MAX_ID_VALUES : MAX_VALUES;
  if (!Array.isArray(values) || values.length === 0 || values.length > max) return many ? `must be a non-empty list (at most ${max} values)` : 'is required';
  for (const item of values) {
    const problem = scalarProblem(field, item, op);
    if (problem) return problem;
  }
  return undefined;
}

function scalarProblem(field: FilterField, value: unknown, op: string): string | undefined {
  switch (field.kind) {
    case 'search':
      return typeof value === 'string' && value.trim().length > 0 && value.length <= 200 ? undefined : 'must be non-empty text of at most 200 characters';
    case 'text':
    case 'textSet':
      return typeof value === 'string' && value.length <= 500 ? undefined : 'must be text of at most 500 characters';
    case 'uuid':
    case 'uuidSet':
      return typeof value === 'string' && UUID.test(value) ? undefined : 'must be a UUID';
    case 'enum':
      return typeof value === 'string' && field.values?.includes(value) ? undefined : `must be one of ${field.values?.join(', ')}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'must be a number';
    case 'boolean':
      return typeof value === 'boolean' ? undefined : 'must be true or false';
    case 'date':
      return typeof value === 'string' && ISO_DATE.test(value) && isCalendarDate(value) && inYearRange(value) ? undefined : 'must be a date (YYYY-MM-DD) in the years 0001 to 9999';
    case 'datetime':
      return typeof value === 'string' && isIsoDateTime(value) ? undefined : `must be an ISO 8601 date or date-time (${op})`;
  }
}

/**
 * Compiles a validated rule tree to a SQL predicate over the contacts alias `c`.
 * Parameters are numbered from `firstParam`.
 */
export function compileFilter(node: FilterNode, fields: FieldResolver, firstParam = 1): SqlFragment {
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return `$${firstParam + params.length - 1}`;
  };
  const walk = (current: FilterNode): string => {
    if ('and' in current) return current.and.length ? `(${current.and.map(walk).join(' AND ')})` : 'TRUE';
    if ('or' in current) return `(${current.or.map(walk).join(' OR ')})`;
    if ('not' in current) return `NOT COALESCE(${walk(current.not)}, FALSE)`;
    const field = fields.resolve(current.field);
    if (field === 'deleted') return goneFieldHolds(current.op) ? 'TRUE' : 'FALSE';
    if (!field) return 'FALSE';
    return condition(field, current, p);
  };
  return { sql: walk(node), params };
}

function condition(field: FilterField, { op, value }: FilterCondition, p: (value: unknown) => string): string {
  if (field.kind === 'search') return searchCondition(String(value), p);
  // Finer than PostgreSQL keeps: cut, so the end of 9999 cannot round into a year it refuses;
  // offsets as UTC, so PostgreSQL never meets one past the ±15:59 it takes.
  if (field.kind === 'datetime') value = Array.isArray(value) ? value.map(sqlDateTime) : sqlDateTime(value);
  // Stored normalised (https://Example.com is kept as https://example.com/): a whole value is compared in that form.
  const normalise = field.normalise;
  if (normalise && (op === 'is' || op === 'isNot' || op === 'in' || op === 'notIn')) value = Array.isArray(value) ? value.map((v) => normalise(String(v))) : normalise(String(value));
  if (field.link) {
    const { table, column } = field.link;
    const exists = (extra = '') => `EXISTS (SELECT 1 FROM ${table} l WHERE l.contact_id = c.id${extra})`;
    switch (op) {
      case 'hasAny':
        return exists(` AND l.${column} = ANY(${p(value)}::uuid[])`);
      case 'hasAll': {
        const wanted = [...new Set((value as string[]).map((id) => id.toLowerCase()))];
        // One semi-join per value: the planner can drive them from the link index or probe
        // them per contact. A long list is grouped once instead (a plan with hundreds of joins costs more).
        if (wanted.length <= MAX_JOINED_VALUES) return `(${wanted.map((id) => exists(` AND l.${column} = ${p(id)}::uuid`)).join(' AND ')})`;
        return `c.id IN (SELECT l.contact_id FROM ${table} l WHERE l.${column} = ANY(${p(wanted)}::uuid[]) GROUP BY l.contact_id HAVING count(DISTINCT l.${column}) = ${wanted.length})`;
      }
      case 'hasNone':
        return `NOT ${exists(` AND l.${column} = ANY(${p(value)}::uuid[])`)}`;
      case 'empty':
        return `NOT ${exists()}`;
      case 'notEmpty':
        return exists();
    }
  }
  if (field.lookup) {
    // The contact's column against the keys of the rows holding the value, collected once
    // (an InitPlan): an indexable `column = ANY(…)` instead of a lookup per contact, and
    // cheaper to plan than a semi-join. The value column is NOT NULL and the column a
    // foreign key, so "no row" and "NULL column" are the same thing.
    const { column, table, key, value: held } = field.lookup;
    const keys = (predicate: string) => `ARRAY(SELECT x.${key} FROM ${table} x WHERE ${predicate})`;
    switch (op) {
      case 'is':
        return `${column} = ANY(${keys(`x.${held} = ${p(value)}::text`)})`;
      case 'isNot':
        return `(${column} IS NULL OR ${column} <> ALL(${keys(`x.${held} = ${p(value)}::text`)}))`;
      case 'in':
        return `${column} = ANY(${keys(`x.${held} = ANY(${p(value)}::text[])`)})`;
      case 'notIn':
        return `(${column} IS NULL OR ${column} <> ALL(${keys(`x.${held} = ANY(${p(value)}::text[])`)}))`;
      case 'empty':
        return `${column} IS NULL`;
      case 'notEmpty':
        return `${column} IS NOT NULL`;
      default:
        return 'FALSE';
    }
  }
  const sql = field.sql!;
  if (field.kind === 'textSet') {
    // Compared ignoring case, as every other text filter compares (a missing list holds nothing).
    const held = `(SELECT coalesce(jsonb_agg(lower(v)), '[]'::jsonb) FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(${sql}) = 'array' THEN ${sql} END) v)`;
    const wanted = () => `ARRAY(SELECT lower(w) FROM unnest(${p(value)}::text[]) w)`;
    switch (op) {
      case 'hasAny':
        return `${held} ?| ${wanted()}`;
      case 'hasAll':
        return `${held} ?& ${wanted()}`;
      case 'hasNone':
        return `NOT (${held} ?| ${wanted()})`;
      case 'empty':
        return `(${sql} IS NULL OR jsonb_array_length(${sql}) = 0)`;
      case 'notEmpty':
        return `jsonb_array_length(${sql}) > 0`;
    }
  }
  if (field.kind === 'boolean' && field.predicate) {
    // Never NULL: `EXISTS (…) = true` would hide the EXISTS from the planner.
    switch (op) {
      case 'is':
        return value === true ? sql : `NOT ${sql}`;
      case 'isNot':
        return value === true ? `NOT ${sql}` : sql;
      case 'empty':
        return 'FALSE';
      case 'notEmpty':
        return 'TRUE';
    }
  }
  if (field.kind === 'text' && field.lowerKey) {
    // The stored lower-cased copy is indexed; lower(column) would not be.
    const key = field.lowerKey;
    switch (op) {
      case 'is':
        return `${key} = lower(${p(value)})`;
      case 'isNot':
        return `${key} IS DISTINCT FROM lower(${p(value)})`;
      case 'in':
        return `${key} = ANY(${p((value as string[]).map((v) => v.toLowerCase()))}::text[])`;
      case 'notIn':
        return `NOT COALESCE(${key} = ANY(${p((value as string[]).map((v) => v.toLowerCase()))}::text[]), FALSE)`;
    }
  }
  const cast = { text: '::text', uuid: '::uuid', enum: '::text', number: '::numeric', boolean: '::boolean', date: '::date', datetime: '::timestamptz' }[field.kind as 'text'] ?? '';
  const textual = field.kind === 'text';
  switch (op) {
    case 'is':
      return textual ? `lower(${sql}) = lower(${p(value)})` : `${sql} = ${p(value)}${cast}`;
    case 'isNot':
      return textual ? `lower(${sql}) IS DISTINCT FROM lower(${p(value)})` : `${sql} IS DISTINCT FROM ${p(value)}${cast}`;
    case 'contains':
      return `${sql} ILIKE ${p(`%${escapeLike(String(value))}%`)}`;
    case 'notContains':
      return `NOT COALESCE(${sql} ILIKE ${p(`%${escapeLike(String(value))}%`)}, FALSE)`;
    case 'startsWith':
      return `${sql} ILIKE ${p(`${escapeLike(String(value))}%`)}`;
    case 'in':
      // One value is an equality: the planner can then read an index on (column, sort key) in order.
      if ((value as unknown[]).length === 1) return textual ? `lower(${sql}) = lower(${p((value as unknown[])[0])})` : `${sql} = ${p((value as unknown[])[0])}${cast}`;
      return textual ? `lower(${sql}) = ANY(${p((value as string[]).map((v) => v.toLowerCase()))}::text[])` : `${sql} = ANY(${p(value)}${cast}[])`;
    case 'notIn':
      return textual
        ? `NOT COALESCE(lower(${sql}) = ANY(${p((value as string[]).map((v) => v.toLowerCase()))}::text[]), FALSE)`
        : `NOT COALESCE(${sql} = ANY(${p(value)}${cast}[]), FALSE)`;
    case 'empty':
      return textual ? `(${sql} IS NULL OR ${sql} = '')` : `${sql} IS NULL`;
    case 'notEmpty':
      return textual ? `(${sql} IS NOT NULL AND ${sql} <> '')` : `${sql} IS NOT NULL`;
    case 'gt':
    case 'after':
      // A date-only value against a date-time is that whole (UTC) day: "after" it is from the next day on.
      if (wholeDay(field, value)) return `${sql} >= (${p(value)}::date + 1)${cast}`;
      return wholeMillisecond(field, value) ? `${sql} >= ${p(value)}${cast} + interval '1 millisecond'` : `${sql} > ${p(value)}${cast}`;
    case 'gte':
      return `${sql} >= ${p(value)}${cast}`;
    case 'lt':
    case 'before':
      return `${sql} < ${p(value)}${cast}`;
    case 'lte':
      if (wholeDay(field, value)) return `${sql} < (${p(value)}::date + 1)${cast}`;
      return wholeMillisecond(field, value) ? `${sql} < ${p(value)}${cast} + interval '1 millisecond'` : `${sql} <= ${p(value)}${cast}`;
    // "In the last N days" ends now: future values are not in it. Dates count whole days.
    case 'inLastDays':
      return field.kind === 'date'
        ? `(${sql} >= current_date - ${p(value)}::int AND ${sql} <= current_date)`
        : `(${sql} >= now() - make_interval(days => ${p(value)}::int) AND ${sql} <= now())`;
    case 'notInLastDays':
      return field.kind === 'date'
        ? `(${sql} IS NULL OR ${sql} < current_date - ${p(value)}::int)`
        : `(${sql} IS NULL OR ${sql} < now() - make_interval(days => ${p(value)}::int))`;
    default:
      return 'FALSE';
  }
}

/** A date-only value for a date-time field: it stands for the whole day, from its midnight to the next. */
function wholeDay(field: FilterField, value: unknown): boolean {
  return field.kind === 'datetime' && typeof value === 'string' && ISO_DATE.test(value);
}

/**
 * A date-time written to the millisecond, as the API writes every time it shows, stands for
 * that whole millisecond: PostgreSQL keeps microseconds, so "on or before" a time read off a
 * contact must take the contact it was read from. Finer values are compared as they are.
 */
function wholeMillisecond(field: FilterField, value: unknown): boolean {
  return field.kind === 'datetime' && typeof value === 'string' && !/\.\d{4}/.test(value);
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}

/** Text that reads as a phone number: digits, maybe a leading +, and the usual separators. */
const PHONE_QUERY = /^\+?[\d\s().\/-]*\d[\d\s().\/-]*$/;

/**
 * `ada love` → `'ada':* & 'love':*`. Words split where the index splits them (so "O'Neil" looks
 * for o and neil); tsquery syntax never gets through. Empty when nothing searchable is left.
 *
 * A phone number however it is written (`+54 258 251-7464`, `(258) 2517464`) is also looked
 * for as its digits: the search column holds a phone's digits from the start of each of its
 * groups, so the whole number, the number without its country code and its trailing groups
 * are all found.
 */
export function toPrefixQuery(text: string): string {
  const words = searchWords(text);
  const query = words.map((word) => `'${word}':*`).join(' & ');
  const alternatives = phoneForms(text).filter((form) => query !== `'${form}':*`);
  return alternatives.length ? [`(${query})`, ...alternatives.map((form) => `'${form}':*`)].join(' | ') : query;
}

/**
 * A number typed with its country code set apart (`+1 555 010 0004`) is also looked for
 * without it, as numbers stored without one hold it: the digits after the first group.
 */
function nationalDigits(text: string): string | undefined {
  const parts = /^\+\d{1,3}[\s().\/-]+(\d[\d\s().\/-]*)$/.exec(text.trim());
  return parts ? parts[1]!.replace(/\D/g, '') : undefined;
}

/** The words of a search, as toPrefixQuery reads them: only characters tsquery takes inside quotes. */
function searchWords(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^\p{L}\p{N}@.+_-]+/u)
    .filter(Boolean)
    .slice(0, 10);
}

/** What a search typed as a phone number is also looked for as: its digits, and those after a country code set apart. */
function phoneForms(text: string): string[] {
  const trimmed = text.trim();
  if (!PHONE_QUERY.test(trimmed)) return [];
  const national = nationalDigits(text);
  return national ? [trimmed.replace(/\D/g, ''), national] : [trimmed.replace(/\D/g, '')];
}

/**
 * A word joined by _, -, . or @ (first_last, mary-ann, john.smith2@acme): the start of an
 * email, which the index keeps whole.
 */
const JOINED_WORD = /[\p{L}\p{N}][_.@-][\p{L}\p{N}]/u;

/**
 * Every word must match the start of a token of name, email, phone or company. to_tsquery
 * splits a joined word into a phrase of its parts, which an email the index keeps whole never
 * matches ("first_last" in first_last@corp.example, "john.smith2@acme" typed on the way to
 * john.smith2@acme.example): such a word is also looked for as typed.
 */
function searchCondition(text: string, p: (value: unknown) => string): string {
  const query = toPrefixQuery(text);
  if (!query) return 'FALSE';
  const words = searchWords(text);
  // Words with letters only: a phone number's groups are found through its digits.
  const joined = (word: string) => JOINED_WORD.test(word) && /\p{L}/u.test(word);
  if (!words.some(joined)) return `c.search @@ to_tsquery('simple', ${p(query)})`;
  const terms = words.map((word) => {
    const parsed = `to_tsquery('simple', ${p(`'${word}':*`)})`;
    if (!joined(word)) return parsed;
    return `(${parsed} || ${p(`'${word.replace(/^[._+-]+|[._+-]+$/g, '')}':*`)}::tsquery)`;
  });
  const phone = phoneForms(text)
    .map((digits) => ` || to_tsquery('simple', ${p(`'${digits}':*`)})`)
    .join('');
  return `c.search @@ (${terms.join(' && ')}${phone})`;
}
