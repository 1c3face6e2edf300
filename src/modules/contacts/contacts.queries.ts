import type { EntityManager } from 'typeorm';
import { holdUsers, type UserHold } from '../../core/identity/lock-order';
import { abilityToSql } from '../../core/access/ability-to-sql';
import type { AppAbility } from '../../core/access/app-ability';
import { RequestValidationError } from '../../core/http/validation';
import { CONTACT_RULE_FIELDS } from './contacts.subjects';
import { compileFilter, FieldResolver, readIsoDateTime, validateFilter } from './filters/contact-filter.compiler';
import type { FilterField, FilterNode } from './filters/contact-filter.types';
import { CONTACT_FILTER_FIELDS, customFilterField } from './filters/contact-fields';
import type { CustomField } from './entities/custom-field.entity';
import { stageOrderSql } from './entities/contact-status.entity';
import { LOOKUPS_EPOCH_COLUMN, type LookupReferences } from './contact-lookups';

/** Which contacts a query is about: live ones or the trash. */
export type ContactScope = 'live' | 'trash';

export interface ContactSelection {
  ability: AppAbility;
  /** The CASL action the caller needs on each row (read for lists, update for bulk changes…). */
  action: string;
  filter?: FilterNode;
  scope?: ContactScope;
  /**
   * An extra predicate over alias `c` from a module that keeps its own links to contacts
   * (a segment's members), so contacts never needs to know their tables. Its placeholders
   * are numbered from $1 and renumbered here.
   */
  restrict?: { sql: string; params: unknown[] };
  /** Refuse clauses on deleted custom fields (see ValidateOptions). */
  refuseDeletedFields?: boolean;
}

export interface CompiledSelection {
  where: string;
  params: unknown[];
  warnings: string[];
  /** Whether anything beyond the scope (live or trash) narrows it: a filter, the caller's rule conditions, a member list. */
  narrowed: boolean;
}

/** One expression, several compared in turn, or one per direction. */
type SortExpressions = string | string[] | { ascending: string; descending: string };

/**
 * The place of what `reference` names in an order of its table's rows, given by `ranked` (rows
 * of id and place): one map per statement, read for each contact, where a subquery per row
 * would look the referenced row up once per contact (seconds for a sort of a million).
 */
function rankOf(reference: string, ranked: string): string {
  return `((SELECT jsonb_object_agg(ranked.id, ranked.place) FROM (${ranked}) AS ranked(id, place)) ->> ${reference}::text)::int`;
}

/**
 * An assignee's place among the accounts contacts may be assigned to (those with a staff role),
 * by first then last name, equal names sharing it. Descending, the names' own descending order
 * (empty last names still last), negated so that the key sorts descending too.
 */
function assigneeRank(direction: 'ASC' | 'DESC'): string {
  return rankOf(
    'c.assigned_to_id',
    `SELECT ao.id, dense_rank() OVER (ORDER BY lower(ao.first_name) ${direction} NULLS LAST, lower(nullif(ao.last_name, '')) ${direction} NULLS LAST) FROM users ao
      WHERE EXISTS (SELECT 1 FROM user_roles aur JOIN roles ar ON ar.id = aur.role_id WHERE aur.user_id = ao.id AND ar.audience = 'staff')`,
  );
}

/**
 * Sortable fields and their SQL (one expression, or several compared in turn); the ones that
 * can be NULL sort their NULLs last. Text sorts case-insensitively. What a row shows by
 * reference sorts by what is shown: a status by the statuses' own order (position, then name),
 * a stage by the pipeline (lead, prospect, customer, other), an assignee by first then last
 * name, a traffic source by name.
 */
export const CONTACT_SORTS: Record<string, SortExpressions> = {
  firstName: 'lower(c.first_name)',
  // No last name is '': read as none ascending, where '' would come first; descending it is last anyway.
  lastName: { ascending: "lower(nullif(c.last_name, ''))", descending: 'lower(c.last_name)' },
  email: 'c.email_key',
  phone: 'c.phone',
  company: 'lower(c.company)',
  jobTitle: 'lower(c.job_title)',
  city: 'lower(c.city)',
  country: 'lower(c.country)',
  status: rankOf('c.status_id', 'SELECT so.id, row_number() OVER (ORDER BY so.position, so.name_key) FROM contact_statuses so'),
  stage: rankOf('c.status_id', `SELECT so.id, ${stageOrderSql('so.stage')} FROM contact_statuses so`),
  assignedTo: { ascending: assigneeRank('ASC'), descending: `-${assigneeRank('DESC')}` },
  trafficSource: rankOf('c.traffic_source_id', 'SELECT tso.id, row_number() OVER (ORDER BY tso.name_key) FROM traffic_sources tso'),
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
 * the caller's CASL conditions for `action`, the filter and the restriction.
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
    // `{"and": []}` is how a caller means every contact on purpose (documented for bulk actions).
    const checked = validateFilter(selection.filter, resolver, 'filter', { emptyAnd: true, refuseDeletedFields: selection.refuseDeletedFields });
    if (checked.errors.length) throw new RequestValidationError(checked.errors);
    warnings = checked.warnings;
    const compiled = compileFilter(selection.filter, resolver, firstParam + params.length);
    params.push(...compiled.params);
    if (compiled.sql !== 'TRUE') parts.push(compiled.sql);
  }
  if (selection.restrict) {
    const offset = firstParam + params.length - 1;
    parts.push(`(${selection.restrict.sql.replace(/\$(\d+)\b/g, (_, n: string) => `$${Number(n) + offset}`)})`);
    params.push(...selection.restrict.params);
  }
  return { where: parts.join(' AND '), params, warnings, narrowed: parts.length > 1 };
}

/** ORDER BY for a sort string; custom fields sort as `custom.<key>`. Always ends on c.id for a stable order. */
export function contactOrder(sort: string | undefined, customFields: CustomField[]): ContactOrder {
  const keys: Array<{ expression: string; descending: boolean }> = [];
  const parts = sort ? sort.split(',') : ['-createdAt'];
  for (const part of parts) {
    const descending = part.startsWith('-');
    const name = descending ? part.slice(1) : part;
    const sorts = Object.hasOwn(CONTACT_SORTS, name) ? CONTACT_SORTS[name] : undefined;
    let expressions = sorts && typeof sorts === 'object' && !Array.isArray(sorts) ? (descending ? sorts.descending : sorts.ascending) : sorts;
    if (!expressions && name.startsWith('custom.')) {
      const definition = customFields.find((field) => field.key === name.slice('custom.'.length) && !field.deletedAt);
      const field = definition ? customFilterField(definition.key, definition.type) : undefined;
      // Text values sort like the built-in text columns: case-insensitively.
      if (field?.sortable) expressions = field.kind === 'text' ? `lower(${field.sql})` : field.sql;
    }
    if (!expressions) {
      throw new RequestValidationError([{ field: 'sort', message: `cannot sort by "${name}"; sortable fields: ${Object.keys(CONTACT_SORTS).join(', ')}, custom.<key>` }]);
    }
    for (const expression of typeof expressions === 'string' ? [expressions] : expressions) keys.push({ expression, descending });
  }
  const direction = keys[keys.length - 1]?.descending ? 'DESC' : 'ASC';
  const sql = keys
    .map((key) => `${key.expression} ${key.descending ? 'DESC' : 'ASC'}${NOT_NULL_SORTS.has(key.expression) ? '' : ' NULLS LAST'}`)
    .concat(`c.id ${direction}`)
    .join(', ');
  return { sql, keys, walked: parts.length === 1 && WALKED_SORTS.has(parts[0]!) };
}

export interface ContactOrder {
  sql: string;
  keys: Array<{ expression: string; descending: boolean }>;
  /** Whether an index of live contacts holds this order, so its first page is read by walking it. */
  walked: boolean;
}

/** The orders an index of live contacts holds (contacts_live_created_idx, _live_updated_idx, _last_name_idx and _last_name_ascending_idx). */
const WALKED_SORTS = new Set(['createdAt', '-createdAt', 'updatedAt', '-updatedAt', 'lastName', '-lastName']);

export interface ContactCursor {
  value: string | null;
  id: string;
  /** The sort it was handed out for: a position in one order means nothing in another. */
  sort?: string;
}

/** Keyset paging works on the not-null timestamps; deep offsets cost a scan, cursors do not. */
export const CURSOR_SORTS = new Set(['createdAt', '-createdAt', 'updatedAt', '-updatedAt']);

export function encodeCursor(cursor: ContactCursor): string {
  return Buffer.from(JSON.stringify(cursor.sort === undefined ? [cursor.value, cursor.id] : [cursor.value, cursor.id, cursor.sort])).toString('base64url');
}

export function decodeCursor(raw: string): ContactCursor {
  try {
    const [written, id, sort] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as [unknown, unknown, unknown];
    // Handed on as read: an offset PostgreSQL refuses (past ±15:59) is turned into the UTC instant it names.
    const value = typeof written === 'string' ? readIsoDateTime(written) : undefined;
    if (value !== undefined && typeof id === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
      if (sort === undefined) return { value, id };
      if (typeof sort === 'string' && CURSOR_SORTS.has(sort)) return { value, id, sort };
    }
  } catch {
    /* reported below */
  }
  throw new RequestValidationError([{ field: 'cursor', message: 'is not a cursor this API handed out' }]);
}

/**
 * The users a contact write holds before it locks contacts, in the order of
 * core/identity/lock-order: the assignee it gives, the actor its rows name (a status change's
 * history, an activity's author) and the account whose names or email it writes. An assignee is
 * key-shared: its roles, activity and account cannot change until the write commits (those
 * edits lock the user for update, then its contacts), so an assignment checked against them is
 * still true when it commits, while their sign-ins, which only stamp the row, do not wait.
 */
export async function holdContactWriteUsers(
  manager: EntityManager,
  users: { assigneeId?: string | null; actorId?: string | null; account?: { id: string; hold: UserHold } },
): Promise<void> {
  await holdUsers(manager, [
    [users.assigneeId, 'key share'],
    [users.actorId, 'key share'],
    [users.account?.id, users.account?.hold ?? 'key share'],
  ]);
}

/** Whether the user `userId` (an SQL expression) is an active staff account: what contacts may be assigned to. */
export const activeStaffSql = (userId: string): string =>
  `EXISTS (SELECT 1 FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id WHERE u.id = ${userId} AND u.is_active AND r.audience = 'staff')`;

/** A timestamp column as UTC ISO text to the microsecond: keyset cursors and rule checks need its full precision. */
export const utcMicrosecondText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * The columns a contact row carries in lists and profiles. Statuses, traffic sources and
 * tags come as ids, named from the {@link ContactLookupDirectory} (with the lookup epoch
 * that keeps it fresh): resolved per row in SQL they cost PostgreSQL two to three times the
 * CPU of finding the page's rows. The assignee's names stay here: users are renamed through
 * many paths (a contact's own name change among them), none of which moves the epoch.
 * Past the first page {@link listStatements} picks the rows before these are computed.
 */
export const CONTACT_LIST_COLUMNS = `
  c.id, c.first_name, c.last_name, c.email, c.phone, c.company, c.job_title, c.city, c.country,
  c.status_id, c.traffic_source_id, c.assigned_to_id,
  (SELECT a.first_name FROM users a WHERE a.id = c.assigned_to_id) AS assignee_first_name,
  (SELECT a.last_name FROM users a WHERE a.id = c.assigned_to_id) AS assignee_last_name,
  c.custom_fields, c.last_contacted_at, c.created_at, c.updated_at, c.deleted_at, c.version,
  ${utcMicrosecondText('c.created_at')} AS created_key,
  ${utcMicrosecondText('c.updated_at')} AS updated_key,
  EXISTS (SELECT 1 FROM users ua WHERE ua.contact_id = c.id) AS has_account,
  ARRAY(SELECT ct.tag_id FROM contact_tags ct WHERE ct.contact_id = c.id) AS tag_ids,
  ${LOOKUPS_EPOCH_COLUMN}`;

export interface ContactListRow extends LookupReferences {
  id: string;
  first_name: string;
  last_name: string;
  email: string | null;
  phone: string | null;
  company: string | null;
  job_title: string | null;
  city: string | null;
  country: string | null;
  assigned_to_id: string | null;
  assignee_first_name: string | null;
  assignee_last_name: string | null;
  custom_fields: Record<string, unknown>;
  last_contacted_at: Date | null;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  version: number;
  has_account: boolean;
  /** The timestamps to the microsecond, for keyset cursors (a JS Date keeps milliseconds only). */
  created_key: string;
  updated_key: string;
}

export interface SqlStatement {
  sql: string;
  params: unknown[];
}

/**
 * At most this many matches, a filtered page may be read from the matches themselves (found
 * through the filter's own indexes, then sorted) rather than by walking the sort order's
 * index and testing each row: for a rare match that walk reads most of the table.
 */
export const SPARSE_SELECTION_ROWS = 5000;
/** Reading the matches costs about what counting them did; this much is always worth it. */
const SPARSE_COUNT_MS = 25;
/** What the walk spends on a row it tests, roughly (an index entry, a heap tuple, the filter). */
const WALK_ROW_MS = 0.002;

/** How a page is read: walking the order's index, or sorting the (few) matches. */
export type ListPlan = 'walk' | 'sparse';

/**
 * The cheaper way to read a filtered page: the walk tests about (offset + limit) × table /
 * matches rows before its page is full; the sparse read costs about what the count took.
 * A few matches that were slow to count (a filter no index narrows) are walked.
 */
export function listPlan(filtered: boolean, matches: { total: number; countMs: number }, tableRows: number, rowsToPage: number): ListPlan {
  if (!filtered || matches.total > SPARSE_SELECTION_ROWS) return 'walk';
  return matches.countMs <= Math.max(SPARSE_COUNT_MS, walkEstimateMs(matches.total, tableRows, rowsToPage)) ? 'sparse' : 'walk';
}

/** What walking to a page costs if the walk tests rows spread evenly over the whole table. */
export function walkEstimateMs(matches: number, tableRows: number, rowsToPage: number): number {
  return ((rowsToPage * tableRows) / Math.max(matches, 1)) * WALK_ROW_MS;
}

/**
 * Whether a page's rows statement keeps one good plan whatever its values, so a session may
 * prepare it once and skip planning, which costs PostgreSQL about as much as reading a page
 * (a filtered page: ~0.5 of ~1.3 ms). A walked page qualifies: its plan walks the order's
 * index and tests each row, and its values only change how far it goes (the walk was chosen
 * for them: many matches, or few that no index finds faster). A sparse page does not (which of
 * its filters is rarest decides its best plan; PostgreSQL's one generic plan could read the
 * commonest instead), nor a member list's. Only first and cursor pages: an offset is written
 * into the text, and each offset would be a statement of its own.
 */
export function preparable(request: { restrict?: unknown }, window: { offset: number }, plan: ListPlan): boolean {
  return plan === 'walk' && request.restrict === undefined && window.offset === 0;
}

/**
 * The two statements of a list page: the rows (offset or keyset) and the total. Shared by
 * the service and the benchmark's bare baseline, so both run exactly the same SQL.
 */
export function listStatements(
  selection: CompiledSelection,
  order: ContactOrder,
  window: { limit: number; offset: number; cursor?: ContactCursor },
  plan: ListPlan = 'walk',
): { rows: SqlStatement; total: SqlStatement } {
  const params = [...selection.params];
  let after = '';
  if (window.cursor) {
    const key = order.keys[0]!;
    params.push(window.cursor.value, window.cursor.id);
    after = `(${key.expression}, c.id) ${key.descending ? '<' : '>'} ($${params.length - 1}::timestamptz, $${params.length}::uuid)`;
  }
  const offset = window.cursor ? 0 : window.offset;
  const page = `ORDER BY ${order.sql} LIMIT ${window.limit} OFFSET ${offset}`;
  // OFFSET 0 keeps the planner from folding the matches back into an ordered index walk:
  // they are found through the filter's indexes, then only the page is sorted out of them.
  const matches =
    plan === 'sparse'
      ? `(SELECT c.* FROM contacts c WHERE ${selection.where} OFFSET 0) c${after ? ` WHERE ${after}` : ''}`
      : `contacts c WHERE ${selection.where}${after ? ` AND ${after}` : ''}`;
  // A walk that passes over rows (a narrowed selection tests many for each it keeps, an offset
  // skips them) picks the page's ids first, from index entries alone where the indexes hold
  // every column it tests or sorts on, and reads and dresses (names, tags, account) only the
  // page's rows. So does an order no index holds: every live contact is sorted for it, and
  // dressing them all first cost seconds at a million. The sparse read has its few matches in
  // hand and dresses the page's only.
  let rows: string;
  if (plan === 'walk' && (selection.narrowed || offset > 0 || !order.walked)) {
    rows = `SELECT ${CONTACT_LIST_COLUMNS} FROM (SELECT c.id FROM ${matches} ${page}) page JOIN contacts c ON c.id = page.id ORDER BY ${order.sql}`;
  } else if (offset > 0) {
    rows = `SELECT ${CONTACT_LIST_COLUMNS} FROM (SELECT c.* FROM ${matches} ${page}) c ORDER BY ${order.sql}`;
  } else {
    rows = `SELECT ${CONTACT_LIST_COLUMNS} FROM ${matches} ${page}`;
  }
  return {
    rows: { sql: rows, params },
    total: { sql: `SELECT count(*)::int AS total FROM contacts c WHERE ${selection.where}`, params: selection.params },
  };
}

/**
 * A profile's recent activities; with `visible` (a condition over activities `a`, placeholders
 * from $2) only those it allows, for callers whose Activity rules have conditions.
 */
export function profileActivitiesStatement(id: string, visible?: { sql: string; params: unknown[] }): SqlStatement {
  return {
    sql: `SELECT a.id, a.type, a.subject, a.occurred_at, u.id AS author_id, u.first_name AS author_first_name, u.last_name AS author_last_name
            FROM activities a LEFT JOIN users u ON u.id = a.author_id WHERE a.contact_id = $1${visible ? ` AND ${visible.sql}` : ''} ORDER BY a.occurred_at DESC LIMIT 10`,
    params: [id, ...(visible?.params ?? [])],
  };
}

/** The statements of a contact profile, run side by side. */
export function profileStatements(id: string): Record<'contact' | 'services' | 'account' | 'activities' | 'history', SqlStatement> {
  return {
    contact: {
      // With created_by_id, the row holds every field of CONTACT_RULE_FIELDS (with the services' ids): rights are checked on it.
      sql: `SELECT ${CONTACT_LIST_COLUMNS}, c.address_line1, c.address_line2, c.region, c.postal_code, c.created_by_id, c.preferences FROM contacts c WHERE c.id = $1`,
      params: [id],
    },
    services: { sql: 'SELECT s.id, s.name FROM contact_services cs JOIN services s ON s.id = cs.service_id WHERE cs.contact_id = $1 ORDER BY s.name_key', params: [id] },
    account: {
      sql: `SELECT u.id, u.email, u.is_active, bool_or(r.audience = 'staff') AS staff
              FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id LEFT JOIN roles r ON r.id = ur.role_id
             WHERE u.contact_id = $1 GROUP BY u.id`,
      params: [id],
    },
    activities: profileActivitiesStatement(id),
    history: {
      sql: `SELECT h.id, h.changed_at, h.source, f.id AS from_id, coalesce(f.name, h.from_status_name) AS from_name, coalesce(h.from_status_stage, f.stage) AS from_stage,
                   t.id AS to_id, coalesce(t.name, h.to_status_name) AS to_name, coalesce(h.to_status_stage, t.stage) AS to_stage,
                   u.id AS by_id, u.first_name AS by_first_name, u.last_name AS by_last_name
              FROM contact_status_history h
              LEFT JOIN contact_statuses f ON f.id = h.from_status_id
              LEFT JOIN contact_statuses t ON t.id = h.to_status_id
              LEFT JOIN users u ON u.id = h.changed_by_id
             WHERE h.contact_id = $1 ORDER BY h.changed_at DESC, h.id LIMIT 20`,
      params: [id],
    },
  };
}

/** A change to what a contact shows that its own columns do not hold (its account): a new version. */
export async function newContactVersion(manager: EntityManager, contactId: string): Promise<void> {
  await manager.query('UPDATE contacts SET version = version + 1, updated_at = now() WHERE id = $1', [contactId]);
}
