import { ConflictException, Injectable, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify';
import { randomUUID } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../../core/audit/audit.service';
import { RequestValidationError } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { JobsService } from '../../core/jobs/jobs.service';
import type { JobContext } from '../../core/jobs/job.types';
import { setChangeContext } from './contacts.change-context';
import { neutraliseFormula } from './contacts.csv';
import { CustomFieldsService } from './custom-fields.service';
import type { DryRunDto, ImportDto, ImportMode, ImportSettingsDto, RowReasonDto, SavedMappingDto } from './dto/import.dto';
import { ColumnMapping, ImportLookups, ImportRecord, proposeMapping, readRow } from './import-mapping';
import { LookupsService } from './lookups.service';

export const IMPORT_QUEUE = 'contacts.import';
const CHUNK_ROWS = 2000;
const INSERT_BATCH = 1000;

interface ImportRow {
  id: string;
  created_by_id: string | null;
  file_name: string;
  status: string;
  headers: string[];
  mapping: ColumnMapping[] | null;
  mode: ImportMode | null;
  total_rows: number;
  processed_rows: number;
  created_count: number;
  updated_count: number;
  skipped_count: number;
  failed_count: number;
  error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

type Outcome = { row: number; outcome: 'created' | 'updated' | 'skipped' | 'rejected'; error?: string; contactId?: string };

export class ImportFileError extends RequestValidationError {
  constructor(message: string) {
    super([{ field: 'file', message }]);
  }
}

/** Upload, map, dry-run, run (as a job, chunk by chunk with a checkpoint), report and revert CSV imports. */
@Injectable()
export class ContactsImportService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly customFields: CustomFieldsService,
    private readonly lookups: LookupsService,
    private readonly jobs: JobsService,
    private readonly audit: AuditService,
  ) {}

  /** Reads the file as a stream into the rows table: never whole in memory, reachable by any worker. */
  async upload(actor: AuthUser, fileName: string, file: Readable, savedMappingId?: string): Promise<ImportDto> {
    const id = randomUUID();
    // Stray quotes inside unquoted cells (="x") are kept as text, as spreadsheets write them.
    const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, relax_quotes: true });
    let headers: string[] | undefined;
    let batch: Array<[number, string[]]> = [];
    let rowNumber = 1;
    const flush = async () => {
      if (!batch.length) return;
      const rows = batch;
      batch = [];
      await this.dataSource.query(
        'INSERT INTO contact_import_rows (import_id, row_number, cells) SELECT $1, n, c FROM unnest($2::int[], $3::jsonb[]) AS t(n, c)',
        [id, rows.map(([n]) => n), rows.map(([, cells]) => JSON.stringify(cells))],
      );
    };
    try {
      // pipeline carries an error from any stage (bad UTF-8, broken CSV) to the loop below.
      const reading = pipeline(file, strictUtf8(), parser);
      reading.catch(() => undefined);
      for await (const record of parser as AsyncIterable<string[]>) {
        if (!headers) {
          headers = record.map((header) => header.trim());
          if (headers.every((header) => header === '')) throw new ImportFileError('the first row must hold the column headers');
          await this.dataSource.query(`INSERT INTO contact_imports (id, created_by_id, file_name, status, headers) VALUES ($1, $2, $3, 'uploaded', $4)`, [
            id,
            actor.id,
            fileName.slice(0, 255),
            JSON.stringify(headers),
          ]);
          continue;
        }
        rowNumber += 1;
        batch.push([rowNumber, record]);
        if (batch.length >= INSERT_BATCH) await flush();
      }
      await flush();
    } catch (error) {
      await this.dataSource.query('DELETE FROM contact_imports WHERE id = $1', [id]);
      if (error instanceof ImportFileError) throw error;
      const message = (error as Error).message;
      if ((error as { code?: string }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') throw new ImportFileError('is not UTF-8 text; save it as CSV UTF-8 and upload it again');
      if ((error as { code?: string }).code?.startsWith('CSV_')) throw new ImportFileError(`is not valid CSV: ${message}`);
      throw error;
    }
    if (!headers) throw new ImportFileError('is empty');
    if (rowNumber === 1) {
      await this.dataSource.query('DELETE FROM contact_imports WHERE id = $1', [id]);
      throw new ImportFileError('has a header row but no data rows');
    }
    const definitions = await this.customFields.all();
    const saved = savedMappingId ? await this.savedMapping(savedMappingId) : undefined;
    const mapping = saved ? this.fitMapping(saved.columns as ColumnMapping[], headers) : proposeMapping(headers, definitions);
    await this.dataSource.query('UPDATE contact_imports SET total_rows = $2, mapping = $3, updated_at = now() WHERE id = $1', [id, rowNumber - 1, JSON.stringify(mapping)]);
    await this.audit.record({ actorId: actor.id, action: 'contact-import.upload', subjectType: 'ContactImport', subjectId: id, after: { fileName, rows: rowNumber - 1 } });
    return this.get(id);
  }

  async get(id: string): Promise<ImportDto> {
    const row = await this.load(this.dataSource.manager, id);
    const sample: Array<{ cells: string[] }> = await this.dataSource.query('SELECT cells FROM contact_import_rows WHERE import_id = $1 ORDER BY row_number LIMIT 5', [id]);
    return toDto(row, sample.map((s) => s.cells));
  }

  async list(page: number, limit: number): Promise<{ data: ImportDto[]; total: number }> {
    const rows: ImportRow[] = await this.dataSource.query('SELECT * FROM contact_imports ORDER BY created_at DESC, id LIMIT $1 OFFSET $2', [limit, (page - 1) * limit]);
    const [{ total }] = (await this.dataSource.query('SELECT count(*)::int AS total FROM contact_imports')) as Array<{ total: number }>;
    return { data: rows.map((row) => toDto(row, [])), total };
  }

  async configure(actor: AuthUser, id: string, settings: ImportSettingsDto): Promise<ImportDto> {
    const row = await this.load(this.dataSource.manager, id);
    if (row.status !== 'uploaded') throw new ConflictException({ message: `The import is ${row.status}; its settings can no longer change`, code: 'import_started' });
    const mapping = await this.checkMapping(row.headers, settings.columns as ColumnMapping[], settings.mode);
    await this.dataSource.query('UPDATE contact_imports SET mapping = $2, mode = $3, updated_at = now() WHERE id = $1', [id, JSON.stringify(mapping), settings.mode]);
    await this.audit.record({ actorId: actor.id, action: 'contact-import.configure', subjectType: 'ContactImport', subjectId: id, after: settings });
    return this.get(id);
  }

  /** Reports what the import would do, writing nothing. */
  async dryRun(id: string): Promise<DryRunDto> {
    const row = await this.load(this.dataSource.manager, id);
    if (!row.mode || !row.mapping) throw new ConflictException({ message: 'Set the mapping and mode first', code: 'import_not_configured' });
    const counts = { created: 0, updated: 0, skipped: 0, failed: 0 };
    const samples: RowReasonDto[] = [];
    const firstRowOfEmail = new Map<string, number>();
    let duplicates = 0;
    const lookups = await this.loadLookups(this.dataSource.manager);
    for (let start = 1; start <= row.total_rows + 1; start += CHUNK_ROWS) {
      const rows = await this.chunk(this.dataSource.manager, id, start, start + CHUNK_ROWS - 1);
      const outcomes = await this.decide(this.dataSource.manager, row, rows, lookups, (email, rowNumber) => {
        const first = firstRowOfEmail.get(email);
        if (first !== undefined) return first;
        firstRowOfEmail.set(email, rowNumber);
        return undefined;
      });
      for (const outcome of outcomes.outcomes) {
        counts[outcome.outcome === 'rejected' ? 'failed' : outcome.outcome] += 1;
        if (outcome.error?.startsWith('duplicate')) duplicates += 1;
        if (outcome.error && samples.length < 20) samples.push({ row: outcome.row, reason: outcome.error });
      }
    }
    return { counts, duplicates, samples };
  }

  async start(actor: AuthUser, id: string): Promise<ImportDto> {
    const row = await this.load(this.dataSource.manager, id);
    if (!row.mode || !row.mapping) throw new ConflictException({ message: 'Set the mapping and mode first', code: 'import_not_configured' });
    if (row.status !== 'uploaded') throw new ConflictException({ message: `The import is already ${row.status}`, code: 'import_started' });
    await this.dataSource.query(`UPDATE contact_imports SET status = 'queued', updated_at = now() WHERE id = $1`, [id]);
    // The import id is the job id: starting twice never runs it twice.
    await this.jobs.enqueue(IMPORT_QUEUE, { importId: id }, { jobId: `import-${id}` });
    await this.audit.record({ actorId: actor.id, action: 'contact-import.start', subjectType: 'ContactImport', subjectId: id });
    return this.get(id);
  }

  /**
   * The job: chunk after chunk from the checkpoint, each chunk and its checkpoint in one
   * transaction, so a killed worker or a lost connection resumes without doubling a row.
   */
  async process(importId: string, context: JobContext): Promise<void> {
    let row = await this.load(this.dataSource.manager, importId);
    if (['completed', 'reverting', 'reverted'].includes(row.status)) return;
    await this.dataSource.query(`UPDATE contact_imports SET status = 'running', started_at = coalesce(started_at, now()), error = NULL, updated_at = now() WHERE id = $1`, [importId]);
    try {
      await this.markDuplicates(row);
      while (row.processed_rows < row.total_rows) {
        const from = row.processed_rows + 2; // data rows start at row 2 (the header is row 1)
        const to = from + CHUNK_ROWS - 1;
        await this.dataSource.transaction(async (manager) => {
          await setChangeContext(manager, row.created_by_id, 'import');
          const locked = await this.load(manager, importId, true);
          if (locked.processed_rows !== row.processed_rows) return; // another worker got here first
          const rows = await this.chunk(manager, importId, from, to);
          const lookups = await this.loadLookups(manager);
          const { outcomes, creates, updates } = await this.decide(manager, locked, rows, lookups);
          await this.write(manager, locked, creates, updates);
          await this.recordOutcomes(manager, importId, outcomes);
          const count = (kind: Outcome['outcome']) => outcomes.filter((o) => o.outcome === kind).length;
          await manager.query(
            `UPDATE contact_imports SET processed_rows = $2, created_count = created_count + $3, updated_count = updated_count + $4,
                    skipped_count = skipped_count + $5, failed_count = failed_count + $6, updated_at = now() WHERE id = $1`,
            [importId, Math.min(locked.processed_rows + CHUNK_ROWS, locked.total_rows), count('created'), count('updated'), count('skipped'), count('rejected')],
          );
        });
        row = await this.load(this.dataSource.manager, importId);
        await context.progress({ processed: row.processed_rows, total: row.total_rows });
      }
      await this.dataSource.query(`UPDATE contact_imports SET status = 'completed', finished_at = now(), updated_at = now() WHERE id = $1`, [importId]);
    } catch (error) {
      // The job retries; the status says what happened meanwhile.
      await this.dataSource.query(`UPDATE contact_imports SET status = 'failed', error = $2, updated_at = now() WHERE id = $1 AND status = 'running'`, [importId, (error as Error).message.slice(0, 1000)]);
      throw error;
    }
  }

  /** Rejected rows as CSV: the original cells plus the reason, safe to open in a spreadsheet. */
  async rejectedCsv(id: string): Promise<Readable> {
    const row = await this.load(this.dataSource.manager, id);
    const output = stringify({ header: true, columns: [...row.headers.map((header, i) => ({ key: String(i), header })), { key: 'error', header: 'Error' }] });
    void (async () => {
      let after = 0;
      for (;;) {
        const rows: Array<{ row_number: number; cells: string[]; error: string }> = await this.dataSource.query(
          `SELECT row_number, cells, error FROM contact_import_rows WHERE import_id = $1 AND outcome = 'rejected' AND row_number > $2 ORDER BY row_number LIMIT 5000`,
          [id, after],
        );
        if (!rows.length) break;
        for (const rejected of rows) {
          const record: Record<string, string> = { error: neutraliseFormula(`row ${rejected.row_number}: ${rejected.error}`) };
          rejected.cells.forEach((cell, i) => (record[String(i)] = neutraliseFormula(cell)));
          if (!output.write(record)) await new Promise((resolve) => output.once('drain', resolve));
        }
        after = rows[rows.length - 1]!.row_number;
      }
      output.end();
    })().catch((error: Error) => output.destroy(error));
    return output;
  }

  /** Removes the contacts the import created and puts back what it changed on the others. */
  async revert(actor: AuthUser, id: string): Promise<ImportDto> {
    await this.dataSource.transaction(async (manager) => {
      await setChangeContext(manager, actor.id, 'import');
      const row = await this.load(manager, id, true);
      if (row.status !== 'completed' && row.status !== 'failed') throw new ConflictException({ message: `An import that is ${row.status} cannot be reverted`, code: 'import_not_revertible' });
      // Contacts that since got a user account stay: an account needs its contact.
      await manager.query(
        `DELETE FROM contacts c USING contact_import_rows r
          WHERE r.import_id = $1 AND r.outcome = 'created' AND c.id = r.contact_id
            AND NOT EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id)`,
        [id],
      );
      await manager.query(
        `UPDATE contacts c SET
            first_name = b.before->>'first_name', last_name = b.before->>'last_name', email = b.before->>'email', phone = b.before->>'phone',
            company = b.before->>'company', job_title = b.before->>'job_title', address_line1 = b.before->>'address_line1', address_line2 = b.before->>'address_line2',
            city = b.before->>'city', region = b.before->>'region', postal_code = b.before->>'postal_code', country = b.before->>'country',
            status_id = (b.before->>'status_id')::uuid, traffic_source_id = (b.before->>'traffic_source_id')::uuid, assigned_to_id = (b.before->>'assigned_to_id')::uuid,
            custom_fields = b.before->'custom_fields', version = c.version + 1, updated_at = now()
          FROM contact_import_changes b WHERE b.import_id = $1 AND c.id = b.contact_id`,
        [id],
      );
      for (const [table, column, key] of [
        ['contact_tags', 'tag_id', 'tag_ids'],
        ['contact_services', 'service_id', 'service_ids'],
      ] as const) {
        await manager.query(`DELETE FROM ${table} t USING contact_import_changes b WHERE b.import_id = $1 AND t.contact_id = b.contact_id`, [id]);
        await manager.query(
          `INSERT INTO ${table} (contact_id, ${column})
           SELECT b.contact_id, x::uuid FROM contact_import_changes b CROSS JOIN jsonb_array_elements_text(b.before->'${key}') x
            WHERE b.import_id = $1 ON CONFLICT DO NOTHING`,
          [id],
        );
      }
      await manager.query(`UPDATE contact_imports SET status = 'reverted', updated_at = now() WHERE id = $1`, [id]);
      await this.audit.record({ actorId: actor.id, action: 'contact-import.revert', subjectType: 'ContactImport', subjectId: id }, manager);
    });
    return this.get(id);
  }

  async saveMapping(actor: AuthUser, name: string, columns: ColumnMapping[]): Promise<SavedMappingDto> {
    const taken: unknown[] = await this.dataSource.query('SELECT 1 FROM contact_import_mappings WHERE name_key = lower($1)', [name]);
    if (taken.length) throw new ConflictException({ message: 'A saved mapping has this name', code: 'mapping_name_taken', details: [{ field: 'name', message: 'is already in use' }] });
    const [row] = (await this.dataSource.query('INSERT INTO contact_import_mappings (name, mapping, created_by_id) VALUES ($1, $2, $3) RETURNING id, name, mapping, created_at', [
      name,
      JSON.stringify(columns),
      actor.id,
    ])) as Array<{ id: string; name: string; mapping: ColumnMapping[]; created_at: Date }>;
    return { id: row!.id, name: row!.name, columns: row!.mapping, createdAt: row!.created_at };
  }

  async savedMappings(): Promise<SavedMappingDto[]> {
    const rows: Array<{ id: string; name: string; mapping: ColumnMapping[]; created_at: Date }> = await this.dataSource.query(
      'SELECT id, name, mapping, created_at FROM contact_import_mappings ORDER BY name_key',
    );
    return rows.map((row) => ({ id: row.id, name: row.name, columns: row.mapping, createdAt: row.created_at }));
  }

  async deleteMapping(id: string): Promise<void> {
    const [, count] = (await this.dataSource.query('DELETE FROM contact_import_mappings WHERE id = $1', [id])) as [unknown, number];
    if (!count) throw new NotFoundException({ message: 'Saved mapping not found', code: 'mapping_not_found' });
  }

  // --- internals ----------------------------------------------------------------------------

  private async savedMapping(id: string): Promise<SavedMappingDto> {
    const found = (await this.savedMappings()).find((mapping) => mapping.id === id);
    if (!found) throw new UnprocessableEntityException({ message: 'Unknown saved mapping', code: 'unknown_mapping', details: [{ field: 'mappingId', message: 'does not name a saved mapping' }] });
    return found;
  }

  /** A saved mapping applies by header name, whatever the column order of the new file. */
  private fitMapping(saved: ColumnMapping[], headers: string[]): ColumnMapping[] {
    return headers.map((header, index) => ({ index, header, target: saved.find((column) => column.header.toLowerCase() === header.toLowerCase())?.target ?? 'ignore' }));
  }

  private async checkMapping(headers: string[], columns: ColumnMapping[], mode: ImportMode): Promise<ColumnMapping[]> {
    const errors: Array<{ field: string; message: string }> = [];
    const definitions = await this.customFields.all();
    const seen = new Set<string>();
    columns.forEach((column, i) => {
      if (column.index >= headers.length) errors.push({ field: `columns.${i}.index`, message: `the file has ${headers.length} columns` });
      if (column.target === 'ignore') return;
      if (seen.has(column.target)) errors.push({ field: `columns.${i}.target`, message: `"${column.target}" is mapped twice` });
      seen.add(column.target);
      if (column.target.startsWith('custom.') && !definitions.some((d) => !d.deletedAt && `custom.${d.key}` === column.target)) {
        errors.push({ field: `columns.${i}.target`, message: `there is no custom field "${column.target.slice(7)}"` });
      }
    });
    if (mode !== 'create' && !seen.has('email')) errors.push({ field: 'columns', message: `mode "${mode}" matches contacts by email: map a column to email` });
    if (mode !== 'update' && !seen.has('firstName')) errors.push({ field: 'columns', message: 'map a column to firstName: new contacts need one' });
    if (errors.length) throw new RequestValidationError(errors);
    return headers.map((header, index) => ({ index, header, target: (columns.find((c) => c.index === index)?.target ?? 'ignore') as ColumnMapping['target'] }));
  }

  private async load(manager: EntityManager, id: string, lock = false): Promise<ImportRow> {
    const rows: ImportRow[] = await manager.query(`SELECT * FROM contact_imports WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
    if (!rows[0]) throw new NotFoundException({ message: 'Import not found', code: 'import_not_found' });
    return rows[0];
  }

  private chunk(manager: EntityManager, id: string, from: number, to: number): Promise<Array<{ row_number: number; cells: string[]; outcome: string | null; error: string | null }>> {
    return manager.query('SELECT row_number, cells, outcome, error FROM contact_import_rows WHERE import_id = $1 AND row_number BETWEEN $2 AND $3 ORDER BY row_number', [id, from, to]);
  }

  /** Later rows repeating an earlier row's email are rejected up front, once, before any chunk. */
  private async markDuplicates(row: ImportRow): Promise<void> {
    const email = row.mapping?.find((column) => column.target === 'email');
    if (!email) return;
    // Only the repeats leave the CTE, so the update joins a handful of rows, not the whole file.
    await this.dataSource.query(
      `WITH repeats AS MATERIALIZED (
         SELECT row_number, first_row FROM (
           SELECT row_number, min(row_number) OVER (PARTITION BY lower(trim(cells->>($2::int)))) AS first_row
             FROM contact_import_rows WHERE import_id = $1 AND trim(coalesce(cells->>($2::int), '')) <> '') all_rows
          WHERE row_number <> first_row)
       UPDATE contact_import_rows r SET outcome = 'rejected', error = 'duplicate email in the file (first at row ' || d.first_row || ')'
         FROM repeats d
        WHERE r.import_id = $1 AND r.row_number = d.row_number AND r.outcome IS NULL`,
      [row.id, email.index],
    );
  }

  private async loadLookups(manager: EntityManager): Promise<ImportLookups> {
    const pairs = async (sql: string) => new Map(((await manager.query(sql)) as Array<{ k: string; id: string }>).map((r) => [r.k, r.id]));
    return {
      statuses: await pairs('SELECT name_key AS k, id FROM contact_statuses'),
      services: await pairs('SELECT name_key AS k, id FROM services'),
      trafficSources: await pairs('SELECT name_key AS k, id FROM traffic_sources'),
      staffByEmail: await pairs(`SELECT DISTINCT u.email_key AS k, u.id FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id WHERE u.is_active AND r.audience = 'staff'`),
      customFields: await this.customFields.all(),
    };
  }

  /** What happens to each row of a chunk: create, update, skip or reject (nothing is written here). */
  private async decide(
    manager: EntityManager,
    importRow: ImportRow,
    rows: Array<{ row_number: number; cells: string[]; outcome: string | null; error: string | null }>,
    lookups: ImportLookups,
    duplicateOf?: (email: string, row: number) => number | undefined,
  ): Promise<{ outcomes: Outcome[]; creates: Array<{ id: string; row: number; record: ImportRecord }>; updates: Array<{ id: string; row: number; record: ImportRecord }> }> {
    const mode = importRow.mode!;
    const read = rows.map((row) => {
      if (row.outcome) return { row, error: row.error ?? 'already handled' };
      const result = readRow(row.cells, importRow.headers.length, importRow.mapping!, lookups);
      const email = result.record?.fields.email?.toLowerCase();
      const first = email && duplicateOf ? duplicateOf(email, row.row_number) : undefined;
      if (first !== undefined) return { row, error: `duplicate email in the file (first at row ${first})` };
      return { row, ...result };
    });
    const emails = read.map((r) => r.record?.fields.email?.toLowerCase()).filter((e): e is string => Boolean(e));
    const existing = new Map<string, { id: string; deleted: boolean }>();
    if (emails.length) {
      const found: Array<{ id: string; email_key: string; deleted: boolean }> = await manager.query('SELECT id, email_key, deleted_at IS NOT NULL AS deleted FROM contacts WHERE email_key = ANY($1::text[])', [emails]);
      for (const contact of found) existing.set(contact.email_key, { id: contact.id, deleted: contact.deleted });
    }
    const outcomes: Outcome[] = [];
    const creates: Array<{ id: string; row: number; record: ImportRecord }> = [];
    const updates: Array<{ id: string; row: number; record: ImportRecord }> = [];
    for (const item of read) {
      const rowNumber = item.row.row_number;
      if ('error' in item && item.error) {
        outcomes.push({ row: rowNumber, outcome: 'rejected', error: item.error });
        continue;
      }
      const record = (item as { record: ImportRecord }).record;
      const email = record.fields.email?.toLowerCase();
      const match = email ? existing.get(email) : undefined;
      if (match?.deleted) {
        outcomes.push({ row: rowNumber, outcome: 'skipped', error: 'a contact with this email is in the trash' });
      } else if (match && mode === 'create') {
        outcomes.push({ row: rowNumber, outcome: 'skipped', error: 'a contact with this email exists (mode create)' });
      } else if (match) {
        updates.push({ id: match.id, row: rowNumber, record });
        outcomes.push({ row: rowNumber, outcome: 'updated', contactId: match.id });
      } else if (mode === 'update') {
        outcomes.push({ row: rowNumber, outcome: 'skipped', error: email ? 'no contact with this email (mode update)' : 'no email to match (mode update)' });
      } else if (!record.fields.firstName) {
        outcomes.push({ row: rowNumber, outcome: 'rejected', error: 'first name is required for a new contact' });
      } else {
        const id = randomUUID();
        creates.push({ id, row: rowNumber, record });
        outcomes.push({ row: rowNumber, outcome: 'created', contactId: id });
      }
    }
    return { outcomes, creates, updates };
  }

  /** Set-based writes of one chunk: inserts, before-images, updates, then tags and services. */
  private async write(manager: EntityManager, importRow: ImportRow, creates: Array<{ id: string; record: ImportRecord }>, updates: Array<{ id: string; record: ImportRecord }>): Promise<void> {
    const [lead] = (await manager.query(`SELECT id FROM contact_statuses WHERE stage = 'lead' ORDER BY (name_key = 'lead') DESC, position, created_at LIMIT 1`)) as Array<{ id: string }>;
    const flat = (item: { id: string; record: ImportRecord }, creating: boolean) => ({
      id: item.id,
      first_name: item.record.fields.firstName ?? null,
      last_name: item.record.fields.lastName ?? null,
      email: item.record.fields.email ?? null,
      phone: item.record.fields.phone ?? null,
      company: item.record.fields.company ?? null,
      job_title: item.record.fields.jobTitle ?? null,
      address_line1: item.record.fields.addressLine1 ?? null,
      address_line2: item.record.fields.addressLine2 ?? null,
      city: item.record.fields.city ?? null,
      region: item.record.fields.region ?? null,
      postal_code: item.record.fields.postalCode ?? null,
      country: item.record.fields.country ?? null,
      status_id: item.record.statusId ?? (creating ? (lead?.id ?? null) : null),
      traffic_source_id: item.record.trafficSourceId ?? null,
      assigned_to_id: item.record.assignedToId ?? null,
      custom_fields: item.record.customFields ?? null,
    });
    const columns = `id uuid, first_name text, last_name text, email text, phone text, company text, job_title text, address_line1 text, address_line2 text,
      city text, region text, postal_code text, country text, status_id uuid, traffic_source_id uuid, assigned_to_id uuid, custom_fields jsonb`;
    if (creates.length) {
      await manager.query(
        `INSERT INTO contacts (id, first_name, last_name, email, phone, company, job_title, address_line1, address_line2, city, region, postal_code, country,
                               status_id, traffic_source_id, assigned_to_id, custom_fields, created_by_id)
         SELECT r.id, r.first_name, coalesce(r.last_name, ''), r.email, r.phone, r.company, r.job_title, r.address_line1, r.address_line2, r.city, r.region,
                r.postal_code, r.country, r.status_id, r.traffic_source_id, r.assigned_to_id, coalesce(r.custom_fields, '{}'::jsonb), $2
           FROM jsonb_to_recordset($1::jsonb) AS r(${columns})`,
        [JSON.stringify(creates.map((item) => flat(item, true))), importRow.created_by_id],
      );
    }
    if (updates.length) {
      const ids = updates.map((item) => item.id);
      // The first image wins: a re-run chunk never overwrites what the contact was before the import.
      await manager.query(
        `INSERT INTO contact_import_changes (import_id, contact_id, before)
         SELECT $1, c.id, to_jsonb(c) - 'search' || jsonb_build_object(
                  'tag_ids', (SELECT coalesce(jsonb_agg(tag_id), '[]'::jsonb) FROM contact_tags WHERE contact_id = c.id),
                  'service_ids', (SELECT coalesce(jsonb_agg(service_id), '[]'::jsonb) FROM contact_services WHERE contact_id = c.id))
           FROM contacts c WHERE c.id = ANY($2::uuid[])
         ON CONFLICT DO NOTHING`,
        [importRow.id, ids],
      );
      await manager.query(
        `UPDATE contacts c SET
            first_name = coalesce(r.first_name, c.first_name), last_name = coalesce(r.last_name, c.last_name), phone = coalesce(r.phone, c.phone),
            company = coalesce(r.company, c.company), job_title = coalesce(r.job_title, c.job_title), address_line1 = coalesce(r.address_line1, c.address_line1),
            address_line2 = coalesce(r.address_line2, c.address_line2), city = coalesce(r.city, c.city), region = coalesce(r.region, c.region),
            postal_code = coalesce(r.postal_code, c.postal_code), country = coalesce(r.country, c.country), status_id = coalesce(r.status_id, c.status_id),
            traffic_source_id = coalesce(r.traffic_source_id, c.traffic_source_id), assigned_to_id = coalesce(r.assigned_to_id, c.assigned_to_id),
            custom_fields = c.custom_fields || coalesce(r.custom_fields, '{}'::jsonb), version = c.version + 1, updated_at = now()
           FROM jsonb_to_recordset($1::jsonb) AS r(${columns}) WHERE c.id = r.id`,
        [JSON.stringify(updates.map((item) => flat(item, false)))],
      );
    }
    const all = [...creates, ...updates];
    const tagNames = [...new Set(all.flatMap((item) => item.record.tagNames ?? []))];
    if (tagNames.length) {
      const ids = await this.lookups.ensureTags(manager, tagNames, importRow.created_by_id ?? undefined);
      const byName = new Map(tagNames.map((name, i) => [name.toLowerCase(), ids[i]!]));
      const pairs = all.flatMap((item) => (item.record.tagNames ?? []).map((name) => [item.id, byName.get(name.toLowerCase())!]));
      await manager.query('INSERT INTO contact_tags (contact_id, tag_id) SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING', [pairs.map((p) => p[0]), pairs.map((p) => p[1])]);
    }
    const servicePairs = all.flatMap((item) => (item.record.serviceIds ?? []).map((serviceId) => [item.id, serviceId]));
    if (servicePairs.length) {
      await manager.query('INSERT INTO contact_services (contact_id, service_id) SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING', [
        servicePairs.map((p) => p[0]),
        servicePairs.map((p) => p[1]),
      ]);
    }
  }

  private async recordOutcomes(manager: EntityManager, importId: string, outcomes: Outcome[]): Promise<void> {
    if (!outcomes.length) return;
    await manager.query(
      `UPDATE contact_import_rows r SET outcome = x.outcome, error = x.error, contact_id = x.contact_id
         FROM jsonb_to_recordset($2::jsonb) AS x(row_number int, outcome text, error text, contact_id uuid)
        WHERE r.import_id = $1 AND r.row_number = x.row_number`,
      [importId, JSON.stringify(outcomes.map((o) => ({ row_number: o.row, outcome: o.outcome, error: o.error ?? null, contact_id: o.contactId ?? null })))],
    );
  }
}

function toDto(row: ImportRow, sample: string[][]): ImportDto {
  return {
    id: row.id,
    fileName: row.file_name,
    status: row.status,
    headers: row.headers,
    columns: row.mapping ?? [],
    mode: row.mode,
    totalRows: row.total_rows,
    processedRows: row.processed_rows,
    counts: { created: row.created_count, updated: row.updated_count, skipped: row.skipped_count, failed: row.failed_count },
    sample,
    error: row.error,
    createdAt: row.created_at,
    finishedAt: row.finished_at,
  };
}

/** Passes bytes through, failing on anything that is not valid UTF-8. */
function strictUtf8(): Transform {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      try {
        callback(null, decoder.decode(chunk, { stream: true }));
      } catch {
        callback(Object.assign(new Error('invalid UTF-8'), { code: 'ERR_ENCODING_INVALID_ENCODED_DATA' }));
      }
    },
    flush(callback) {
      try {
        callback(null, decoder.decode());
      } catch {
        callback(Object.assign(new Error('invalid UTF-8'), { code: 'ERR_ENCODING_INVALID_ENCODED_DATA' }));
      }
    },
  });
}
