import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import type { AuditService } from '../../core/audit/audit.service';
import { holdUsers, type UserHold } from '../../core/identity/lock-order';
import { DEFAULT_STATUS_ORDER } from './contacts.starter-data';
import { holdTagsNamed } from './held-tags';
import type { ImportMode } from './dto/import.dto';
import { ColumnMapping, ImportLookups, ImportRecord, newContactCustomError, readRow } from './import-mapping';

/** A row of contact_import_rows as a chunk reads it; cells as JSON text, parsed one row at a time. */
export interface StagedRow {
  row_number: number;
  cells: string;
  outcome: string | null;
  error: string | null;
  /** The email cell as stagedEmailSql makes it; null when no column maps to email. */
  email: string | null;
}

export interface ChunkSettings {
  id: string;
  mode: ImportMode;
  mapping: ColumnMapping[];
  headers: string[];
  /** Whom the rows are written as: who started the import (creator of its contacts and tags). */
  importer_id: string | null;
}

export type OutcomeKind = 'created' | 'updated' | 'skipped' | 'rejected';

export interface Decision {
  row: number;
  outcome: OutcomeKind;
  error?: string;
  contactId?: string;
  record?: ImportRecord;
  /** The outcome is already on the row (a repeated email, marked before the first chunk). */
  recorded?: boolean;
}

export type OutcomeCounts = Record<OutcomeKind, number>;

/** Loads the reference data row values resolve against: once per chunk, so renames mid-import apply. */
export async function loadLookups(manager: EntityManager, customFields: ImportLookups['customFields']): Promise<ImportLookups & { leadStatusId: string | null }> {
  // One round trip: chunks are small, so this runs a few hundred times in a million-row import.
  const rows: Array<{ kind: string; k: string; id: string }> = await manager.query(
    `SELECT 'status' AS kind, name_key AS k, id FROM contact_statuses
     UNION ALL SELECT 'service', name_key, id FROM services
     UNION ALL SELECT 'source', name_key, id FROM traffic_sources
     UNION ALL (SELECT DISTINCT 'staff', u.email_key, u.id FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id
                 WHERE u.is_active AND r.audience = 'staff')
     UNION ALL (SELECT 'lead', '', id FROM contact_statuses WHERE stage = 'lead' ORDER BY ${DEFAULT_STATUS_ORDER} LIMIT 1)`,
  );
  const of = (kind: string) => new Map(rows.filter((row) => row.kind === kind).map((row) => [row.k, row.id]));
  return {
    statuses: of('status'),
    services: of('service'),
    trafficSources: of('source'),
    staffByEmail: of('staff'),
    customFields,
    leadStatusId: rows.find((row) => row.kind === 'lead')?.id ?? null,
  };
}

/**
 * What happens to each row of a chunk: create, update, skip or reject. Nothing is written here;
 * the dry run and the job share it, so the dry run reports what the job does.
 * Rows repeating an email of the file are settled afterwards (see settleRepeats).
 */
export async function decideChunk(manager: EntityManager, settings: ChunkSettings, rows: StagedRow[], lookups: ImportLookups): Promise<Decision[]> {
  const read = rows.map((row): { row: number; record?: ImportRecord; error?: string; recorded?: boolean } => {
    if (row.outcome) return { row: row.row_number, error: row.error ?? 'already handled', recorded: true };
    // Parsed here and dropped at once: a chunk's cells never pile up in the worker's heap.
    return { row: row.row_number, ...readRow(JSON.parse(row.cells) as string[], settings.headers.length, settings.mapping, lookups, row.email) };
  });
  const emails = read.map((r) => r.record?.fields.email).filter((e): e is string => Boolean(e));
  // By the email as the row has it: PostgreSQL's lower() matches it to email_key, never JavaScript's.
  const existing = new Map<string, { id: string; deleted: boolean; administrator: boolean }>();
  if (emails.length) {
    // One index probe per email. Given the whole list at once (= ANY, or a join), the planner
    // reads all contacts instead, for every chunk: quadratic over a large import.
    const found: Array<{ email: string; id: string; deleted: boolean; account_role_ids: string[] | null }> = await manager.query(
      `SELECT e.email, c.id, c.deleted_at IS NOT NULL AS deleted,
              (SELECT array_agg(ur.role_id) FROM users u JOIN user_roles ur ON ur.user_id = u.id WHERE u.contact_id = c.id) AS account_role_ids
         FROM unnest($1::text[]) AS e(email)
         CROSS JOIN LATERAL (SELECT id, deleted_at FROM contacts WHERE email_key = lower(e.email) OFFSET 0) c`,
      [emails],
    );
    for (const contact of found) {
      const administrator = Boolean(lookups.administratorAccount && contact.account_role_ids && (await lookups.administratorAccount(contact.account_role_ids)));
      existing.set(contact.email, { id: contact.id, deleted: contact.deleted, administrator });
    }
  }
  const mode = settings.mode;
  return read.map((item): Decision => {
    if (!item.record) return { row: item.row, outcome: 'rejected', error: item.error ?? 'unreadable row', recorded: item.recorded };
    const record = item.record;
    const email = record.fields.email;
    const match = email ? existing.get(email) : undefined;
    if (match?.deleted) return { row: item.row, outcome: 'skipped', error: 'a contact with this email is in the trash' };
    if (match && mode === 'create') return { row: item.row, outcome: 'skipped', error: 'a contact with this email exists (mode create)' };
    // Its names would become the account's: only administrators change an administrator's account.
    if (match?.administrator) return { row: item.row, outcome: 'skipped', error: "the contact of an administrator's account: only administrators may change it" };
    if (match) return { row: item.row, outcome: 'updated', contactId: match.id, record };
    if (mode === 'update') return { row: item.row, outcome: 'skipped', error: email ? 'no contact with this email (mode update)' : 'no email to match (mode update)' };
    if (!record.fields.firstName) return { row: item.row, outcome: 'rejected', error: 'first name is required for a new contact' };
    const customError = newContactCustomError(record, lookups.customFields);
    if (customError) return { row: item.row, outcome: 'rejected', error: customError };
    return { row: item.row, outcome: 'created', contactId: randomUUID(), record };
  });
}

/**
 * The rows of the file that share an email, as groups, each named by its first row. Only rows
 * in a group are ever looked at again, a handful in most files.
 */
export class RepeatGroups {
  private readonly groupOf = new Map<number, number>();
  private readonly members = new Map<number, number[]>();

  /** `rows` in row order. */
  constructor(rows: Array<{ row: number; group: number }> = []) {
    for (const { row, group } of rows) {
      this.groupOf.set(row, group);
      const members = this.members.get(group);
      if (members) members.push(row);
      else this.members.set(group, [row]);
    }
  }

  of(row: number): number | undefined {
    return this.groupOf.get(row);
  }

  /** The rows before `from` of every group with a row in from..to: read per chunk, never the whole file. */
  earlierMembers(from: number, to: number): number[] {
    const groups = new Set<number>();
    for (let row = from; row <= to; row += 1) {
      const group = this.groupOf.get(row);
      if (group !== undefined && group < from) groups.add(group);
    }
    return [...groups].flatMap((group) => this.members.get(group)!.filter((row) => row < from));
  }
}

/**
 * Of the rows sharing an email, the first one that is written (created or updated) is the one
 * imported: later ones are rejected as its duplicates. A row rejected or skipped for its own
 * reasons does not hold the email, so a later row with it is imported instead. `written` holds,
 * per group, the row written so far (from earlier chunks), and is kept up to date.
 */
export function settleRepeats(decisions: Decision[], groups: RepeatGroups, written: Map<number, number>): Decision[] {
  return decisions.map((decision) => {
    const group = groups.of(decision.row);
    if (group === undefined || decision.recorded) return decision;
    const holder = written.get(group);
    if (holder !== undefined) return { row: decision.row, outcome: 'rejected', error: `duplicate email in the file (first at row ${holder})` };
    if (decision.outcome === 'created' || decision.outcome === 'updated') written.set(group, decision.row);
    return decision;
  });
}

export function countOutcomes(decisions: Decision[]): OutcomeCounts {
  const counts: OutcomeCounts = { created: 0, updated: 0, skipped: 0, rejected: 0 };
  for (const decision of decisions) counts[decision.outcome] += 1;
  return counts;
}

const RECORD_COLUMNS = `id uuid, first_name text, last_name text, email text, phone text, company text, job_title text, address_line1 text, address_line2 text,
  city text, region text, postal_code text, country text, status_id uuid, traffic_source_id uuid, assigned_to_id uuid, custom_fields jsonb`;

/** Why a row decided "update" left its contact alone when it was written. */
export const CONTACT_CHANGED = 'the contact was trashed, given another email or given an account while the import ran';

/** Why a row decided "create" found its email taken when it was written. */
export const EMAIL_TAKEN = 'another contact already has this email';

/**
 * Writes one chunk's decisions, set-based: contact inserts, before-images and updates, tags,
 * services, the ids of the contacts created (what a revert removes) and the reasons of skipped
 * and rejected rows. Created and updated rows are not rewritten: at a million rows, rewriting
 * every staged row would cost as much as the import itself.
 * Returns the decisions as written: a create whose email was taken by then is a rejection.
 */
export async function writeChunk(
  manager: EntityManager,
  audit: AuditService,
  settings: ChunkSettings,
  firstRow: number,
  decided: Decision[],
  leadStatusId: string | null,
): Promise<Decision[]> {
  let decisions = decided;
  let creates = decisions.filter((d) => d.outcome === 'created');
  let updates = decisions.filter((d) => d.outcome === 'updated');
  if (updates.length) {
    // Users before contacts (core/identity/lock-order): the accounts whose names follow their
    // contacts' through a trigger, and the importer the status history names.
    const accounts: Array<{ id: string }> = await manager.query('SELECT id FROM users WHERE contact_id = ANY($1::uuid[])', [updates.map((d) => d.contactId)]);
    await holdUsers(manager, [[settings.importer_id, 'key share'], ...accounts.map((account): [string, UserHold] => [account.id, 'no key update'])]);
    // Decided on an unlocked read: the contacts are locked now (in id order, as every writer of
    // several contacts locks them), and one trashed, given another email or an account since is left alone.
    const locked: Array<{ id: string }> = await manager.query(
      `SELECT c.id FROM contacts c JOIN unnest($1::uuid[], $2::text[]) AS m(id, email) ON c.id = m.id
        WHERE c.deleted_at IS NULL AND c.email_key = lower(m.email) ORDER BY c.id FOR UPDATE OF c`,
      [updates.map((d) => d.contactId), updates.map((d) => d.record!.fields.email)],
    );
    // Read after the lock, so an account opened while it waited is seen: it would be written unheld.
    const opened: Array<{ contact_id: string }> = await manager.query('SELECT contact_id FROM users WHERE contact_id = ANY($1::uuid[]) AND id <> ALL($2::uuid[])', [
      locked.map((contact) => contact.id),
      accounts.map((account) => account.id),
    ]);
    const unheld = new Set(opened.map((account) => account.contact_id));
    const kept = locked.filter((contact) => !unheld.has(contact.id));
    if (kept.length < updates.length) {
      const live = new Set(kept.map((row) => row.id));
      decisions = decisions.map((d) => (d.outcome === 'updated' && !live.has(d.contactId!) ? { row: d.row, outcome: 'skipped', error: CONTACT_CHANGED } : d));
      updates = decisions.filter((d) => d.outcome === 'updated');
    }
  }
  if (creates.length) {
    // A conflict rejects its row instead of failing the chunk: a failed chunk fails again on
    // every retry, and the rest of the file would never be imported.
    const inserted: Array<{ id: string }> = await manager.query(
      `INSERT INTO contacts (id, first_name, last_name, email, phone, company, job_title, address_line1, address_line2, city, region, postal_code, country,
                             status_id, traffic_source_id, assigned_to_id, custom_fields, created_by_id)
       SELECT r.id, r.first_name, coalesce(r.last_name, ''), r.email, r.phone, r.company, r.job_title, r.address_line1, r.address_line2, r.city, r.region,
              r.postal_code, r.country, coalesce(r.status_id, $2), r.traffic_source_id, r.assigned_to_id, coalesce(r.custom_fields, '{}'::jsonb), $3
         FROM jsonb_to_recordset($1::jsonb) AS r(${RECORD_COLUMNS})
       ON CONFLICT (email_key) DO NOTHING
       RETURNING id`,
      [recordsJson(creates), leadStatusId, settings.importer_id],
    );
    if (inserted.length < creates.length) {
      const ids = new Set(inserted.map((contact) => contact.id));
      decisions = decisions.map((d) => (d.outcome === 'created' && !ids.has(d.contactId!) ? { row: d.row, outcome: 'rejected', error: EMAIL_TAKEN } : d));
      creates = decisions.filter((d) => d.outcome === 'created');
    }
  }
  if (updates.length) {
    // The first image wins: a re-run chunk never overwrites what the contact was before the import.
    await manager.query(
      `INSERT INTO contact_import_changes (import_id, contact_id, before)
       SELECT $1, c.id, to_jsonb(c) - 'search' || jsonb_build_object(
                'tag_ids', (SELECT coalesce(jsonb_agg(tag_id), '[]'::jsonb) FROM contact_tags WHERE contact_id = c.id),
                'service_ids', (SELECT coalesce(jsonb_agg(service_id), '[]'::jsonb) FROM contact_services WHERE contact_id = c.id))
         FROM unnest($2::uuid[]) AS u(id) CROSS JOIN LATERAL (SELECT * FROM contacts WHERE id = u.id OFFSET 0) c
       ON CONFLICT DO NOTHING`,
      [settings.id, updates.map((d) => d.contactId)],
    );
    await manager.query(
      `UPDATE contacts c SET
          first_name = coalesce(r.first_name, c.first_name), last_name = coalesce(r.last_name, c.last_name), phone = coalesce(r.phone, c.phone),
          company = coalesce(r.company, c.company), job_title = coalesce(r.job_title, c.job_title), address_line1 = coalesce(r.address_line1, c.address_line1),
          address_line2 = coalesce(r.address_line2, c.address_line2), city = coalesce(r.city, c.city), region = coalesce(r.region, c.region),
          postal_code = coalesce(r.postal_code, c.postal_code), country = coalesce(r.country, c.country), status_id = coalesce(r.status_id, c.status_id),
          traffic_source_id = coalesce(r.traffic_source_id, c.traffic_source_id), assigned_to_id = coalesce(r.assigned_to_id, c.assigned_to_id),
          custom_fields = c.custom_fields || coalesce(r.custom_fields, '{}'::jsonb), version = c.version + 1, updated_at = now()
         FROM jsonb_to_recordset($1::jsonb) AS r(${RECORD_COLUMNS}) WHERE c.id = r.id`,
      [recordsJson(updates)],
    );
  }
  await linkTags(manager, audit, settings, creates, updates);
  const services = { contacts: [] as string[], ids: [] as string[] };
  for (const decision of [...creates, ...updates]) {
    for (const serviceId of decision.record!.serviceIds ?? []) {
      services.contacts.push(decision.contactId!);
      services.ids.push(serviceId);
    }
  }
  if (services.ids.length) {
    await manager.query('INSERT INTO contact_services (contact_id, service_id) SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING', [services.contacts, services.ids]);
  }
  if (creates.length) {
    await manager.query('INSERT INTO contact_import_batches (import_id, first_row, created_ids) VALUES ($1, $2, $3::uuid[])', [settings.id, firstRow, creates.map((d) => d.contactId)]);
  }
  const reasons = decisions.filter((d) => (d.outcome === 'skipped' || d.outcome === 'rejected') && !d.recorded);
  if (reasons.length) {
    await manager.query(
      // Bounded to the chunk's rows, so no plan reads the rest of the file.
      `UPDATE contact_import_rows r SET outcome = x.outcome, error = x.error
         FROM unnest($2::int[], $3::text[], $4::text[]) AS x(row_number, outcome, error)
        WHERE r.import_id = $1 AND r.row_number = x.row_number AND r.row_number BETWEEN $5 AND $6`,
      [settings.id, reasons.map((d) => d.row), reasons.map((d) => d.outcome), reasons.map((d) => d.error ?? null), reasons[0]!.row, reasons[reasons.length - 1]!.row],
    );
  }
  return decisions;
}

/**
 * Tags by name: missing ones created (and audited, as any new tag is), held against deletion
 * until the chunk commits, then linked in one statement. A tag deleted between the insert and
 * the hold is created anew, as the API does, rather than silently left off.
 */
async function linkTags(manager: EntityManager, audit: AuditService, settings: ChunkSettings, creates: Decision[], updates: Decision[]): Promise<void> {
  const contacts: string[] = [];
  const names: string[] = [];
  for (const decision of [...creates, ...updates]) {
    for (const name of decision.record!.tagNames ?? []) {
      contacts.push(decision.contactId!);
      names.push(name);
    }
  }
  if (!names.length) return;
  const tags = await holdTagsNamed(manager, names);
  // The chunk rolls back and the job runs it again, as after any other failure.
  if (!tags) throw new Error('Tags named by the chunk kept being deleted while it ran');
  const { held, created } = tags;
  for (const tag of created) {
    await audit.record({ actorId: settings.importer_id, action: 'tag.create', subjectType: 'Tag', subjectId: tag.id, after: { name: tag.name, color: null } }, manager);
  }
  if (created.length) {
    // What a revert may remove again.
    await manager.query('INSERT INTO contact_import_tags (import_id, tag_id) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING', [settings.id, created.map((tag) => tag.id)]);
  }
  await manager.query(
    `INSERT INTO contact_tags (contact_id, tag_id)
     SELECT p.contact_id, t.id FROM unnest($1::uuid[], $2::text[]) AS p(contact_id, name) JOIN unnest($3::uuid[], $4::text[]) AS t(id, name_key) ON t.name_key = lower(p.name)
     ON CONFLICT DO NOTHING`,
    [contacts, names, held.map((tag) => tag.id), held.map((tag) => tag.name_key)],
  );
}

function recordsJson(decisions: Decision[]): string {
  return JSON.stringify(
    decisions.map(({ contactId, record }) => ({
      id: contactId,
      first_name: record!.fields.firstName,
      last_name: record!.fields.lastName,
      email: record!.fields.email,
      phone: record!.fields.phone,
      company: record!.fields.company,
      job_title: record!.fields.jobTitle,
      address_line1: record!.fields.addressLine1,
      address_line2: record!.fields.addressLine2,
      city: record!.fields.city,
      region: record!.fields.region,
      postal_code: record!.fields.postalCode,
      country: record!.fields.country,
      status_id: record!.statusId,
      traffic_source_id: record!.trafficSourceId,
      assigned_to_id: record!.assignedToId,
      custom_fields: record!.customFields,
    })),
  );
}
