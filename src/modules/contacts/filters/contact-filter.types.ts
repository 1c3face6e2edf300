/**
 * The one rule language for contacts: list filters, counts, exports and dynamic segments
 * all compile through it.
 */
export const FILTER_OPERATORS = [
  'is',
  'isNot',
  'contains',
  'notContains',
  'startsWith',
  'in',
  'notIn',
  'empty',
  'notEmpty',
  'gt',
  'gte',
  'lt',
  'lte',
  'before',
  'after',
  'inLastDays',
  'notInLastDays',
  'hasAny',
  'hasAll',
  'hasNone',
  'matches',
] as const;

export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export interface FilterCondition {
  field: string;
  op: FilterOperator;
  value?: unknown;
}

export type FilterNode = { and: FilterNode[] } | { or: FilterNode[] } | { not: FilterNode } | FilterCondition;

export type FilterFieldKind = 'text' | 'uuid' | 'enum' | 'number' | 'boolean' | 'date' | 'datetime' | 'uuidSet' | 'textSet' | 'search';

export interface FilterField {
  kind: FilterFieldKind;
  /** SQL for scalar fields, against the contacts alias `c`. */
  sql?: string;
  /** For sets (tags, services): the link table and its column. */
  link?: { table: string; column: string };
  /**
   * For a value held by a row another table keeps (a status's stage): the contact's column
   * pointing at it, that table, its key and the column holding the value (NOT NULL).
   * Compiled as `column = ANY(ARRAY(SELECT key …))`: the keys are found once and the
   * column can be matched through its index, rather than a subquery per contact.
   */
  lookup?: { column: string; table: string; key: string; value: string };
  /** For text: an indexed column holding lower(sql), so case-insensitive equality can use it. */
  lowerKey?: string;
  /** For text stored in a normal form (custom URLs, emails, phones): what a whole value compared with it is written as first. */
  normalise?: (value: string) => string;
  /** For booleans: the SQL is a predicate that is never NULL (an EXISTS), usable as is. */
  predicate?: boolean;
  /** Allowed values for enum fields. */
  values?: readonly string[];
  /** Whether the field can be sorted by. */
  sortable?: boolean;
}

export const OPERATORS_BY_KIND: Record<FilterFieldKind, readonly FilterOperator[]> = {
  text: ['is', 'isNot', 'contains', 'notContains', 'startsWith', 'in', 'notIn', 'empty', 'notEmpty'],
  uuid: ['is', 'isNot', 'in', 'notIn', 'empty', 'notEmpty'],
  enum: ['is', 'isNot', 'in', 'notIn', 'empty', 'notEmpty'],
  number: ['is', 'isNot', 'gt', 'gte', 'lt', 'lte', 'in', 'notIn', 'empty', 'notEmpty'],
  boolean: ['is', 'isNot', 'empty', 'notEmpty'],
  date: ['is', 'before', 'after', 'gt', 'gte', 'lt', 'lte', 'inLastDays', 'notInLastDays', 'empty', 'notEmpty'],
  datetime: ['before', 'after', 'gt', 'gte', 'lt', 'lte', 'inLastDays', 'notInLastDays', 'empty', 'notEmpty'],
  uuidSet: ['hasAny', 'hasAll', 'hasNone', 'empty', 'notEmpty'],
  textSet: ['hasAny', 'hasAll', 'hasNone', 'empty', 'notEmpty'],
  search: ['matches'],
};
