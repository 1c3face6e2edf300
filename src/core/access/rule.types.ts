/** A CASL rule as stored on a role, with `${user.*}` placeholders left in place. */
export interface StoredRule {
  action: string | string[];
  subject: string | string[];
  conditions?: Record<string, unknown>;
  fields?: string[];
  inverted?: boolean;
  reason?: string;
}

export type FieldType = 'uuid' | 'string' | 'number' | 'boolean' | 'date' | 'uuid[]' | 'string[]';

export interface SubjectField {
  /** SQL expression for the field, written against the list query's main alias as `{alias}`. */
  column: string;
  type: FieldType;
  /** false: a field rules may list in `fields` but not test in `conditions` (no single value to compare). */
  conditions?: false;
}

export interface SubjectDefinition {
  name: string;
  description: string;
  /** Fields that rules may name in `conditions` and `fields`. */
  fields: Record<string, SubjectField>;
  /**
   * Actions only administrators (holders of `manage all`) may take on this subject, whatever
   * other rules say: granting them would let a role hand itself more rights. Custom rules may
   * not name them.
   */
  administratorActions?: string[];
  /** Actions whose rules may list `fields`: those the subject's service checks field by field. */
  fieldLimitedActions?: string[];
  /** Actions beyond create/read/update/delete/manage that make sense for this subject. */
  extraActions?: string[];
  /** Built-in rules for the system roles, which admins cannot remove. */
  systemRules?: Partial<Record<'staff' | 'client', StoredRule[]>>;
}

export const BASE_ACTIONS = ['manage', 'create', 'read', 'update', 'delete'] as const;

/** Values a rule may interpolate from the signed-in user. */
export const RULE_PLACEHOLDERS = ['user.id', 'user.contactId', 'user.email'] as const;
