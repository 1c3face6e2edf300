import type { EntityManager } from 'typeorm';
import { abilityToSql } from '../../core/access/ability-to-sql';
import type { AppAbility } from '../../core/access/app-ability';
import { RequestValidationError } from '../../core/http/validation';
import { CONTACT_RULE_FIELDS } from './contacts.subjects';
import { compileFilter, FieldResolver, validateFilter } from './filters/contact-filter.compiler';
import type { FilterField, FilterNode } from './filters/contact-filter.types';
import { CONTACT_FILTER_FIELDS, customFilterField } from './filters/contact-fields';
import type { CustomField } from './entities/custom-field.entity';

/** Which contacts a query is about: live ones or the trash. */
export type ContactScope = 'live' | 'trash';

export interface ContactSelection {
  ability: AppAbility;
  /** The CASL action the caller needs on each row (read for lists, update for bulk changes…). */
  action: string;
  filter?: FilterNode;
  scope?: ContactScope;
}

export interface CompiledSelection {
  where: string;
  params: unknown[];
  warnings: string[];
}

/** Sortable fields and their SQL; the ones that can be NULL sort their NULLs last. */
export const CONTACT_SORTS: Record<string, string> = {
  firstName: 'lower(c.first_name)',
  lastName: 'lower(c.last_name)',
  email: 'c.email_key',
  company: 'lower(c.company)',
  city: 'lower(c.city)',
  country: 'lower(c.country)',
  createdAt: 'c.created_at',
  updatedAt: 'c.updated_at',
  lastContactedAt: 'c.last_contacted_at',
  deletedAt: 'c.deleted_at',
};

/** NOT NULL sort columns take no NULLS clause, so the planner can walk their indexes. */
const NOT_NULL_SORTS = new Set(['lower(c.first_name)', 'lower(c.last_name)', 'c.created_at', 'c.updated_at']);

/** Resolves `custom.<key>` against the definitions (deleted ones resolve as deleted). */
export function fieldResolver(customFields: CustomField[]): FieldResolver {
  const custom = new Map(customFields.map((field) => [field.key, field]));
  return {
    resolve(name: string): FilterField | 'deleted' | undefined {
      if (name.startsWith('custom.')) {
        const definition = custom.get(name.slice('custom.'.length));
        if (!definition) return undefined;
        return definition.deletedAt ? 'deleted' : customFilterField(definition.key, definition.type);
      }
      return Object.hasOwn(CONTACT_FILTER_FIELDS, name) ? CONTACT_FILTER_FIELDS[name] : undefined;
    },
  };
}

/** Whether a filter mentions custom fields (only then are their definitions loaded). */
export function mentionsCustomFields(node: unknown): boolean {
  return JSON.stringify(node ?? null).includes('"custom.');
}

/**
 * The WHERE clause shared by list, count, export, bulk actions and segments: the scope,
 * the caller's CASL conditions for `action`, and the filter.
 */
export function compileSelection(selection: ContactSelection, customFields: CustomField[], firstParam = 1): CompiledSelection {
  const params: unknown[] = [];
  const parts: string[] = [selection.scope === 'trash' ? 'c.deleted_at IS NOT NULL' : 'c.deleted_at IS NULL'];
  const allowed = abilityToSql(selection.ability, selection.action, 'Contact', CONTACT_RULE_FIELDS, 'c', firstParam);
  params.push(...allowed.params);
  if (allowed.sql !== 'TRUE') parts.push(allowed.sql);
  let warnings: string[] = [];
  if (selection.filter) {
    const resolver = fieldResolver(customFields);
    const checked = validateFilter(selection.filter, resolver);
    if (checked.errors.length) throw new RequestValidationError(checked.errors);
    warnings = checked.warnings;
    const compiled = compileFilter(selection.filter, resolver, firstParam + params.length);
    params.push(...compiled.params);
    parts.push(compiled.sql);
  }
  return { where: parts.join(' AND '), params, warnings };
}

/** ORDER BY for a sort string; custom fields sort as `custom.<key>`. Always ends on c.id for a stable order. */
export function contactOrder(sort: string | undefined, customFields: CustomField[]): { sql: string; keys: Array<{ expression: string; descending: boolean }> } {
  const keys: Array<{ expression: string; descending: boolean }> = [];
  const parts = sort ? sort.split(',') : ['-createdAt'];
  for (const part of parts) {
    const descending = part.startsWith('-');
    const name = descending ? part.slice(1) : part;
    let expression: string | undefined = Object.hasOwn(CONTACT_SORTS, name) ? CONTACT_SORTS[name] : undefined;
    if (!expression && name.startsWith('custom.')) {
      const definition = customFields.find((field) => field.key === name.slice('custom.'.length) && !field.deletedAt);
      const field = definition ? customFilterField(definition.key, definition.type) : undefined;
      if (field?.sortable) expression = field.sql;
    }
    if (!expression) {
      throw new RequestValidationError([{ field: 'sort', message: `cannot sort by "${name}"; sortable fields: ${Object.keys(CONTACT_SORTS).join(', ')}, custom.<key>` }]);
    }
    keys.push({ expression, descending });
  }
  const direction = keys[keys.length - 1]?.descending ? 'DESC' : 'ASC';
  const sql = keys
    .map((key) => `${key.expression} ${key.descending ? 'DESC' : 'ASC'}${NOT_NULL_SORTS.has(key.expression) ? '' : ' NULLS LAST'}`)
    .concat(`c.id ${direction}`)
    .join(', ');
  return { sql, keys };
}

export interface ContactCursor {
  value: string | null;
  id: string;
}

/** Keyset paging works on the not-null timestamps; deep offsets cost a scan, cursors do not. */
export const CURSOR_SORTS = new Set(['createdAt', '-createdAt', 'updatedAt', '-updatedAt']);

export function encodeCursor(cursor: ContactCursor): string {
  return Buffer.from(JSON.stringify([cursor.value, cursor.id])).toString('base64url');
}

export function decodeCursor(raw: string): ContactCursor {
  try {
    const [value, id] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as [unknown, unknown];
    if (typeof value === 'string' && !Number.isNaN(Date.parse(value)) && typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) return { value, id };
  } catch {
    /* reported below */
  }
  throw new RequestValidationError([{ field: 'cursor', message: 'is not a cursor this API handed out' }]);
}

/** The columns a contact row carries in lists and exports. */
export const CONTACT_LIST_COLUMNS = `
  c.id, c.first_name, c.last_name, c.email, c.phone, c.company, c.job_title, c.city, c.country,
  c.status_id, s.name AS status_name, s.stage AS status_stage,
  c.assigned_to_id, a.first_name AS assignee_first_name, a.last_name AS assignee_last_name,
  c.traffic_source_id, ts.name AS traffic_source_name,
  c.custom_fields, c.last_contacted_at, c.created_at, c.updated_at, c.deleted_at, c.version,
  EXISTS (SELECT 1 FROM users ua WHERE ua.contact_id = c.id) AS has_account`;

export const CONTACT_LIST_JOINS = `
  LEFT JOIN contact_statuses s ON s.id = c.status_id
  LEFT JOIN users a ON a.id = c.assigned_to_id
  LEFT JOIN traffic_sources ts ON ts.id = c.traffic_source_id`;

export interface ContactListRow {
  id: string;
  first_name: string;
  last_name: string;
  email: string | null;
  phone: string | null;
  company: string | null;
  job_title: string | null;
  city: string | null;
  country: string | null;
  status_id: string | null;
  status_name: string | null;
  status_stage: string | null;
  assigned_to_id: string | null;
  assignee_first_name: string | null;
  assignee_last_name: string | null;
  traffic_source_id: string | null;
  traffic_source_name: string | null;
  custom_fields: Record<string, unknown>;
  last_contacted_at: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  version: number;
  has_account: boolean;
}

/** Tags of many contacts in one query. */
export async function tagsOf(manager: EntityManager, contactIds: string[]): Promise<Map<string, Array<{ id: string; name: string; color: string | null }>>> {
  const byContact = new Map<string, Array<{ id: string; name: string; color: string | null }>>();
  if (!contactIds.length) return byContact;
  const rows: Array<{ contact_id: string; id: string; name: string; color: string | null }> = await manager.query(
    `SELECT ct.contact_id, t.id, t.name, t.color FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id
      WHERE ct.contact_id = ANY($1::uuid[]) ORDER BY t.name_key`,
    [contactIds],
  );
  for (const row of rows) {
    const list = byContact.get(row.contact_id) ?? [];
    list.push({ id: row.id, name: row.name, color: row.color });
    byContact.set(row.contact_id, list);
  }
  return byContact;
}
