import { ConflictException, Injectable, Logger, NotFoundException, PayloadTooLargeException, ServiceUnavailableException, UnprocessableEntityException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { stringify } from 'csv-stringify';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { AbilityFactory } from '../../core/access/ability.factory';
import { AuditService } from '../../core/audit/audit.service';
import { IdentityService } from '../../core/identity/identity.service';
import { holdUsers, type UserHold } from '../../core/identity/lock-order';
import { RequestValidationError, unstorableText } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { JobsService } from '../../core/jobs/jobs.service';
import type { JobContext } from '../../core/jobs/job.types';
import { setChangeContext } from './contacts.change-context';
import { neutraliseFormula } from './contacts.csv';
import { CustomFieldsService } from './custom-fields.service';
import type { CustomField } from './entities/custom-field.entity';
import { IMPORT_COLUMNS_MAX, IMPORT_HEADER_MAX, type DryRunDto, type ImportDto, type ImportMode, type ImportSettingsDto, type RowReasonDto, type SavedMappingDto } from './dto/import.dto';
import { ContactReferences } from './contact-references';
import { readCsv, RecordTooLongError } from './contacts-import.csv-reader';
import { RowStager, rowStager } from './contacts-import.staging';
import { ChunkSettings, countOutcomes, decideChunk, loadLookups, RepeatGroups, settleRepeats, StagedRow, writeChunk } from './contacts-import.writer';
import { ColumnMapping, EMAIL_PADDING, type ImportLookups, proposeMapping, stagedEmailSql } from './import-mapping';
import { ContactListTotals } from './list-totals';
import { activeStaffSql } from './contacts.queries';
import { LookupsService } from './lookups.service';

export const IMPORT_QUEUE = 'contacts.import';

/** The characters of each cell an import's preview shows. */
const SAMPLE_CELL_MAX = 1_000;
/** The most cell text a chunk holds, however long its rows: the worker's heap stays small. */
const CHUNK_TEXT_BYTES = 8 * 1024 * 1024;

/**
 * Rows per chunk (one transaction and checkpoint each). A few thousand rows: the per-chunk
 * round trips stay around 1-2% of the time, a chunk's data is a few MB in the worker, and a
 * takeover redoes little.
 */
export function chunkRows(totalRows: number): number {
  return Math.min(5_000, Math.max(2_000, Math.ceil(totalRows / 20)));
}

/**
 * The last row of the chunk that starts at `from`: `size` rows, fewer when their cells hold more
 * than `textBytes`, never none. Rows of long notes or HTML would otherwise fill the worker's heap
 * a chunk at a time.
 */
export async function stagedChunkEnd(manager: EntityManager, importId: string, from: number, size: number, textBytes = CHUNK_TEXT_BYTES): Promise<number> {
  const [{ last }] = (await manager.query(
    `SELECT coalesce(max(row_number) FILTER (WHERE text_bytes <= $4 OR row_number = $2), $2 + $3 - 1)::int AS last FROM (
       SELECT row_number, sum(octet_length(cells::text)) OVER (ORDER BY row_number) AS text_bytes
         FROM contact_import_rows WHERE import_id = $1 AND row_number BETWEEN $2 AND $2 + $3 - 1) chunk`,
    [importId, from, size, textBytes],
  )) as Array<{ last: number }>;
  return last;
}

interface ImportRow {
  id: string;
  created_by_id: string | null;
  started_by_id: string | null;
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

export class ImportFileError extends RequestValidationError {
  constructor(message: string) {
    super([{ field: 'file', message }]);
  }
}

export class ImportFileTooLargeError extends PayloadTooLargeException {
  constructor(maxBytes: number) {
    super({ message: `The file is larger than the import limit of ${maxBytes} bytes`, code: 'file_too_large', details: [{ field: 'file', message: `is larger than ${maxBytes} bytes` }] });
  }
}

/** An uploaded file; a multipart size limit cuts it short and sets `truncated`. */
export type UploadedFile = Readable & { truncated?: boolean };

/** An import in one of these is done with: no job may (re)start or go on writing it. */
const FINAL_STATUSES = ['completed', 'cancelled', 'reverting', 'reverted'];
/** An import in one of these can be cancelled: it has not run, or has not run to the end. */
const CANCELLABLE_STATUSES = ['uploaded', 'queued', 'running', 'failed'];
/**
 * The ids of the contacts an import ($1) created, as column `id`: kept per chunk; imports run
 * before that kept them on their rows.
 */
const CREATED_BY_IMPORT = `SELECT unnest(created_ids) AS id FROM contact_import_batches WHERE import_id = $1
  UNION ALL SELECT contact_id FROM contact_import_rows WHERE import_id = $1 AND outcome = 'created'`;

/** An import in one of these can be reverted: no chunk of it is being written. */
const REVERTIBLE_STATUSES = ['completed', 'failed', 'cancelled'];

/** Upload, map, dry-run, run (as a job, chunk by chunk with a checkpoint), report and revert CSV imports. */
@Injectable()
export class ContactsImportService {
  private readonly logger = new Logger(ContactsImportService.name);

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly customFields: CustomFieldsService,
    private readonly jobs: JobsService,
    private readonly audit: AuditService,
    private readonly config: AppConfig,
    private readonly listTotals: ContactListTotals,
    private readonly abilities: AbilityFactory,
    private readonly identity: IdentityService,
    private readonly lookups: LookupsService,
    private readonly references: ContactReferences,
  ) {}

  /**
   * Reads the file as a stream into the rows table: never whole in memory, reachable by any worker.
   * A file cut short by the size limit fails the upload like a broken one: nothing of it stays.
   */
  async upload(actor: AuthUser, fileName: string, file: UploadedFile, savedMappingId?: string): Promise<ImportDto> {
    const id = randomUUID();
    // PostgreSQL text (and jsonb) holds no NUL; the name is only shown back.
    const storedName = fileName.replace(/\u0000/g, '').slice(0, 255);
    // Before a byte is staged: a refused upload leaves nothing behind.
    const saved = savedMappingId ? await this.savedMapping(savedMappingId) : undefined;
    let headers: string[] | undefined;
    let rowNumber = 1;
    let stager: RowStager | undefined;
    try {
      // Errors from any stage (bad UTF-8, broken CSV, the upload itself, its size) end this loop.
      for await (const records of readCsv(strictUtf8(file, () => new ImportFileTooLargeError(this.config.imports.maxBytes)))) {
        let first = 0;
        if (!headers) {
          headers = records[0]!.map((header) => header.trim());
          first = 1;
          if (headers.every((header) => header === '')) throw new ImportFileError('the first row must hold the column headers');
          if (headers.length > IMPORT_COLUMNS_MAX) throw new ImportFileError(`has ${headers.length} columns; at most ${IMPORT_COLUMNS_MAX} can be mapped`);
          const long = headers.findIndex((header) => header.length > IMPORT_HEADER_MAX);
          if (long !== -1) throw new ImportFileError(`header ${long + 1} is longer than ${IMPORT_HEADER_MAX} characters`);
          const unstorable = unstorableText(headers);
          if (unstorable) throw new ImportFileError(`header ${Number(unstorable.field) + 1} ${unstorable.message}; save the file as CSV UTF-8 and upload it again`);
          // 'uploading' until every row is staged: an upload cut short is never offered for a run.
          await this.dataSource.query(`INSERT INTO contact_imports (id, created_by_id, file_name, status, headers) VALUES ($1, $2, $3, 'uploading', $4)`, [
            id,
            actor.id,
            storedName,
            JSON.stringify(headers),
          ]);
          stager = rowStager(this.dataSource, id, headers);
        }
        for (let i = first; i < records.length; i += 1) {
          rowNumber += 1;
          stager!.add(rowNumber, records[i]!);
        }
        await stager!.drain();
      }
      await stager?.finish();
    } catch (error) {
      await stager?.abort(error as Error);
      await this.dataSource.query('DELETE FROM contact_imports WHERE id = $1', [id]);
      if (error instanceof ImportFileError) throw error;
      if (error instanceof RecordTooLongError) throw new ImportFileError(error.message);
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
    const mapping = saved ? this.fitMapping(saved.columns as ColumnMapping[], headers) : proposeMapping(headers, definitions);
    await this.dataSource.query(`UPDATE contact_imports SET status = 'uploaded', total_rows = $2, mapping = $3, updated_at = now() WHERE id = $1`, [
      id,
      rowNumber - 1,
      JSON.stringify(mapping),
    ]);
    await this.audit.record({ actorId: actor.id, action: 'contact-import.upload', subjectType: 'ContactImport', subjectId: id, after: { fileName: storedName, rows: rowNumber - 1 } });
    return this.get(id);
  }

  async get(id: string): Promise<ImportDto> {
    const row = await this.load(this.dataSource.manager, id);
    // Cells cut to what a preview shows: a progress poll must not carry whole long cells each time.
    const sample: Array<{ cells: string[] }> = await this.dataSource.query(
      `SELECT (SELECT coalesce(jsonb_agg(left(cell, $2) ORDER BY n), '[]'::jsonb) FROM jsonb_array_elements_text(cells) WITH ORDINALITY AS e(cell, n)) AS cells
         FROM contact_import_rows WHERE import_id = $1 ORDER BY row_number LIMIT 5`,
      [id, SAMPLE_CELL_MAX],
    );
    return toDto(row, sample.map((s) => s.cells));
  }

  async list(page: number, limit: number): Promise<{ data: ImportDto[]; total: number }> {
    const rows: ImportRow[] = await this.dataSource.query('SELECT * FROM contact_imports ORDER BY created_at DESC, id LIMIT $1 OFFSET $2', [limit, (page - 1) * limit]);
    const [{ total }] = (await this.dataSource.query('SELECT count(*)::int AS total FROM contact_imports')) as Array<{ total: number }>;
    return { data: rows.map((row) => toDto(row, [])), total };
  }

  async configure(actor: AuthUser, id: string, settings: ImportSettingsDto): Promise<ImportDto> {
    const row = await this.load(this.dataSource.manager, id);
    assertUploaded(row);
    if (row.status !== 'uploaded') throw new ConflictException({ message: `The import is ${row.status}; its settings can no longer change`, code: 'import_started' });
    const mapping = await this.checkMapping(row.headers, settings.columns as ColumnMapping[], settings.mode);
    await this.dataSource.query('UPDATE contact_imports SET mapping = $2, mode = $3, updated_at = now() WHERE id = $1', [id, JSON.stringify(mapping), settings.mode]);
    await this.audit.record({ actorId: actor.id, action: 'contact-import.configure', subjectType: 'ContactImport', subjectId: id, after: settings });
    return this.get(id);
  }

  /**
   * Tells administrators' accounts apart when the importer is not one: their contacts' names are
   * the accounts', which only administrators change. The importer is whoever starts the import
   * (or asks for its dry run), whoever uploaded the file.
   */
  private async accountGuardOf(importerId: string | null): Promise<ImportLookups['administratorAccount']> {
    const [importer] = (await this.dataSource.query('SELECT array(SELECT role_id FROM user_roles WHERE user_id = $1) AS role_ids', [importerId])) as Array<{ role_ids: string[] }>;
    if (importerId && (await this.abilities.isAdministratorAccount(importer!.role_ids))) return undefined;
    return (roleIds) => this.abilities.isAdministratorAccount(roleIds);
  }

  /** Reports what the import would do, writing nothing. */
  async dryRun(actor: AuthUser, id: string): Promise<DryRunDto> {
    const row = await this.load(this.dataSource.manager, id);
    assertUploaded(row);
    if (!row.mode || !row.mapping) throw new ConflictException({ message: 'Set the mapping and mode first', code: 'import_not_configured' });
    const counts = { created: 0, updated: 0, skipped: 0, failed: 0 };
    const samples: RowReasonDto[] = [];
    let duplicates = 0;
    const groups = await this.repeatGroups(row);
    const written = new Map<number, number>();
    const lookups = { ...(await loadLookups(this.dataSource.manager, await this.customFields.all())), administratorAccount: await this.accountGuardOf(actor.id) };
    const size = chunkRows(row.total_rows);
    for (let from = 2, to = 0; from <= row.total_rows + 1; from = to + 1) {
      to = await stagedChunkEnd(this.dataSource.manager, row.id, from, size);
      const rows = await this.chunk(this.dataSource.manager, row, from, to);
      const decided = await decideChunk(this.dataSource.manager, { ...settingsOf(row), importer_id: actor.id }, rows, lookups);
      for (const decision of settleRepeats(decided, groups, written)) {
        counts[decision.outcome === 'rejected' ? 'failed' : decision.outcome] += 1;
        if (decision.error?.startsWith('duplicate')) duplicates += 1;
        if (decision.error && samples.length < 20) samples.push({ row: decision.row, reason: decision.error });
      }
    }
    return { counts, duplicates, samples };
  }

  async start(actor: AuthUser, id: string): Promise<ImportDto> {
    const row = await this.load(this.dataSource.manager, id);
    assertUploaded(row);
    if (!row.mode || !row.mapping) throw new ConflictException({ message: 'Set the mapping and mode first', code: 'import_not_configured' });
    if (row.status !== 'uploaded') throw new ConflictException({ message: `The import is already ${row.status}`, code: 'import_started' });
    // Its rows are written as the one who starts it: the rights it is judged by are theirs.
    const [, started] = (await this.dataSource.query(`UPDATE contact_imports SET status = 'queued', started_by_id = $2, updated_at = now() WHERE id = $1 AND status = 'uploaded'`, [id, actor.id])) as [unknown, number];
    if (!started) throw new ConflictException({ message: 'The import has already been started', code: 'import_started' });
    // The import id is the job id: starting twice never runs it twice. The queued row is what
    // counts: a queue that does not answer now gets the job from ContactsImportRecovery once it does.
    await this.jobs.enqueue(IMPORT_QUEUE, { importId: id }, { jobId: `import-${id}` }).catch((error: unknown) => {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      this.logger.warn(`Import ${id} stays queued until the job queue answers: ${error.message}`);
    });
    await this.audit.record({ actorId: actor.id, action: 'contact-import.start', subjectType: 'ContactImport', subjectId: id });
    return this.get(id);
  }

  /**
   * The job: chunk after chunk from the checkpoint, each chunk and its checkpoint in one
   * transaction, so a killed worker or a lost connection resumes without doubling a row.
   */
  async process(importId: string, context: JobContext): Promise<void> {
    let row = await this.load(this.dataSource.manager, importId);
    if (FINAL_STATUSES.includes(row.status)) return;
    // Only an import still to be done starts: a revert may have come in since the job was queued.
    const [, started] = (await this.dataSource.query(
      `UPDATE contact_imports SET status = 'running', started_at = coalesce(started_at, now()), error = NULL, updated_at = now()
        WHERE id = $1 AND status <> ALL($2::text[])`,
      [importId, FINAL_STATUSES],
    )) as [unknown, number];
    if (!started) return;
    let wrote = false;
    try {
      const groups = await this.repeatGroups(row);
      const administratorAccount = await this.accountGuardOf(importerOf(row));
      const size = chunkRows(row.total_rows);
      while (row.processed_rows < row.total_rows) {
        const from = row.processed_rows + 2; // data rows start at row 2 (the header is row 1)
        // Read before the transaction: on the embedded database it holds the only session.
        const to = await stagedChunkEnd(this.dataSource.manager, importId, from, size);
        const customFields = await this.customFields.all();
        let updated = 0;
        await this.dataSource.transaction(async (manager) => {
          const locked = await this.load(manager, importId, true);
          // Another worker got here first, or the import was reverted meanwhile (its row lock orders the two).
          if (locked.processed_rows !== row.processed_rows || FINAL_STATUSES.includes(locked.status)) return;
          // As locked: an importer whose account was deleted meanwhile is named by nothing it writes.
          await setChangeContext(manager, importerOf(locked), 'import', importId);
          // Held until the chunk commits, so a purge of a mapped field waits and then clears what it
          // wrote; rows are judged by the options held, which no edit can take away meanwhile. Once
          // per chunk, before any user or contact is locked (core/identity/lock-order).
          const held = await this.customFields.hold(manager, mappedCustomKeys(locked.mapping!, customFields));
          const asHeld = customFields.map((field) => {
            // A field defined again meanwhile is judged as it is now defined.
            const live = held.find((row) => row.key === field.key);
            return live ? { ...field, id: live.id, type: live.type as CustomField['type'], options: live.options } : field;
          });
          // The staff an owner column can name are held first, so none stops being staff before the chunk commits.
          if (locked.mapping!.some((column) => column.target === 'assignedTo')) {
            await manager.query(`SELECT staff.id FROM users staff WHERE ${activeStaffSql('staff.id')} ORDER BY staff.id FOR KEY SHARE OF staff`);
          }
          const lookups = { ...(await loadLookups(manager, asHeld)), administratorAccount };
          // Decided and written at once: rows and decisions die young, which keeps the worker's memory flat.
          const decided = await decideChunk(manager, settingsOf(locked), await this.chunk(manager, locked, from, to), lookups);
          const decisions = settleRepeats(decided, groups, await writtenRepeats(manager, importId, groups, from, to));
          const count = countOutcomes(await writeChunk(manager, this.audit, settingsOf(locked), from, decisions, lookups.leadStatusId));
          await manager.query(
            `UPDATE contact_imports SET processed_rows = $2, created_count = created_count + $3, updated_count = updated_count + $4,
                    skipped_count = skipped_count + $5, failed_count = failed_count + $6, updated_at = now() WHERE id = $1`,
            [importId, Math.min(to - 1, locked.total_rows), count.created, count.updated, count.skipped, count.rejected],
          );
          updated = count.updated;
        });
        wrote = true;
        // Updated contacts' names are their accounts' too: kept copies of accounts go.
        if (updated) await this.identity.changedAll();
        row = await this.load(this.dataSource.manager, importId);
        if (FINAL_STATUSES.includes(row.status)) return;
        await context.progress({ processed: row.processed_rows, total: row.total_rows });
      }
      await this.dataSource.query(`UPDATE contact_imports SET status = 'completed', finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'running'`, [importId]);
    } catch (error) {
      // The job retries; the status says what happened meanwhile.
      await this.dataSource.query(`UPDATE contact_imports SET status = 'failed', error = $2, updated_at = now() WHERE id = $1 AND status = 'running'`, [importId, (error as Error).message.slice(0, 1000)]);
      throw error;
    } finally {
      // Once per run, not per chunk: lists keep their totals while an import is writing (they
      // expire as usual) rather than counting again after every few thousand rows.
      if (wrote) await this.listTotals.changedEverywhere();
    }
  }

  /** Rejected rows as CSV: the original cells plus the reason, safe to open in a spreadsheet. */
  async rejectedCsv(id: string): Promise<Readable> {
    const row = await this.load(this.dataSource.manager, id);
    // Rows rejected for holding more cells than the header keep them all, under blank headers.
    const [{ widest }] = (await this.dataSource.query(
      `SELECT coalesce(max(jsonb_array_length(cells)), 0)::int AS widest FROM contact_import_rows WHERE import_id = $1 AND outcome = 'rejected'`,
      [id],
    )) as Array<{ widest: number }>;
    const headers = [...row.headers, ...Array.from({ length: Math.max(0, widest - row.headers.length) }, () => '')];
    // Headers are the file's cells too: a formula in one is neutralised like any other.
    const output = stringify({ header: true, columns: [...headers.map((header, i) => ({ key: String(i), header: neutraliseFormula(header) })), { key: 'error', header: 'Error' }] });
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

  /**
   * Stops the import for good. A chunk being written holds the import's row, so the cancel waits
   * for it to commit and takes effect before the next one: what was written stays, whole chunks
   * only, and a revert undoes it. Its job, wherever it is (waiting, retrying after an error,
   * crashing its worker), finds the import done with and ends without writing.
   */
  async cancel(actor: AuthUser, id: string): Promise<ImportDto> {
    await this.dataSource.transaction(async (manager) => {
      const row = await this.load(manager, id, true);
      assertUploaded(row);
      if (!CANCELLABLE_STATUSES.includes(row.status)) {
        throw new ConflictException({ message: `An import that is ${row.status} cannot be cancelled`, code: 'import_not_cancellable' });
      }
      await manager.query(`UPDATE contact_imports SET status = 'cancelled', finished_at = now(), updated_at = now() WHERE id = $1`, [id]);
      await this.audit.record(
        { actorId: actor.id, action: 'contact-import.cancel', subjectType: 'ContactImport', subjectId: id, before: { status: row.status }, after: { processedRows: row.processed_rows } },
        manager,
      );
    });
    return this.get(id);
  }

  /** Removes the contacts the import created and puts back what it changed on the others. */
  async revert(actor: AuthUser, id: string): Promise<ImportDto> {
    let reverted: { removed: number; restored: number; keptUpdated: number; keptCurrent: Record<string, number>; tagsRemoved: number; keptAdministrators: number } | undefined;
    let removedTags: string[] = [];
    // Names and email of an administrator's account are an administrator's to change (they are the
    // account's). Read before the transaction: on the embedded database it holds the only session.
    const administratorAccount = await this.accountGuardOf(actor.id);
    await this.dataSource.transaction(async (manager) => {
      await setChangeContext(manager, actor.id, 'revert');
      const row = await this.load(manager, id, true);
      if (!REVERTIBLE_STATUSES.includes(row.status)) throw new ConflictException({ message: `An import that is ${row.status} cannot be reverted`, code: 'import_not_revertible' });
      // Field definitions first (core/identity/lock-order): the values put back are checked against
      // their options, which an option rename or removal would otherwise change mid-statement.
      await this.customFields.holdEvery(manager);
      // Users before contacts (core/identity/lock-order): the actor the status history names, the
      // assignees put back, and the accounts whose names and email follow their contacts'. An
      // account opened since gave its contact a new version, which is then not put back.
      const users = (await manager.query(
        // One row per user, not per contact: an import may have changed a million contacts.
        `SELECT id, CASE WHEN bool_or(hold = 'update') THEN 'update' ELSE 'key share' END AS hold FROM (
           SELECT u.id, 'update' AS hold FROM contact_import_changes b JOIN users u ON u.contact_id = b.contact_id WHERE b.import_id = $1
           UNION ALL SELECT (b.before->>'assigned_to_id')::uuid, 'key share' FROM contact_import_changes b WHERE b.import_id = $1 AND b.before->>'assigned_to_id' IS NOT NULL) held
          GROUP BY id`,
        [id],
      )) as Array<{ id: string; hold: UserHold }>;
      await holdUsers(manager, [[actor.id, 'key share'], ...users.map((user): [string, UserHold] => [user.id, user.hold])]);
      // Then every contact it may delete or put back, in id order: the statements below take them
      // in join order, which a writer of two of them locking in id order would meet crosswise.
      // Counted in the database: a revert may lock a million contacts.
      await manager.query(
        `SELECT count(*) FROM (
           SELECT c.id FROM contacts c
            WHERE c.id IN (${CREATED_BY_IMPORT} UNION ALL SELECT contact_id FROM contact_import_changes WHERE import_id = $1)
            ORDER BY c.id FOR UPDATE OF c) touched`,
        [id],
      );
      // Only what is still as the import left it is undone: a contact edited since keeps the
      // edit (and a created one edited, given activities or an account since, or kept by another
      // module, such as a static segment's members, stays).
      const [, removed] = (await manager.query(
        `DELETE FROM contacts c USING (${CREATED_BY_IMPORT}) x
          WHERE c.id = x.id AND c.version = 1
            AND NOT EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id)
            AND NOT EXISTS (SELECT 1 FROM activities a WHERE a.contact_id = c.id)
            AND NOT ${this.references.keptSql('c.id')}`,
        [id],
      )) as [unknown, number];
      const administrators: string[] = [];
      if (administratorAccount) {
        const accounts = (await manager.query(
          `SELECT b.contact_id, array(SELECT role_id FROM user_roles ur WHERE ur.user_id = u.id) AS role_ids
             FROM contact_import_changes b JOIN users u ON u.contact_id = b.contact_id WHERE b.import_id = $1`,
          [id],
        )) as Array<{ contact_id: string; role_ids: string[] }>;
        for (const account of accounts) if (await administratorAccount(account.role_ids)) administrators.push(account.contact_id);
      }
      // The import bumped each contact it updated by one version. A status, traffic source or
      // assignee deleted since is not put back as nothing: the contact keeps the one it has now
      // (a deletion's replaceWith or detach decided for the contacts that used it then). Nor is
      // one no longer allowed put back: an assignee who is no longer active staff, a choice whose
      // option was removed since (the contact keeps its current value of that field).
      const [restored] = (await manager.query(
        `UPDATE contacts c SET
            first_name = b.before->>'first_name', last_name = b.before->>'last_name', email = b.before->>'email', phone = b.before->>'phone',
            company = b.before->>'company', job_title = b.before->>'job_title', address_line1 = b.before->>'address_line1', address_line2 = b.before->>'address_line2',
            city = b.before->>'city', region = b.before->>'region', postal_code = b.before->>'postal_code', country = b.before->>'country',
            status_id = CASE WHEN gone.status THEN c.status_id ELSE (b.before->>'status_id')::uuid END,
            traffic_source_id = CASE WHEN gone.traffic_source THEN c.traffic_source_id ELSE (b.before->>'traffic_source_id')::uuid END,
            assigned_to_id = CASE WHEN gone.assignee THEN c.assigned_to_id ELSE (b.before->>'assigned_to_id')::uuid END,
            custom_fields = (
              SELECT coalesce(jsonb_object_agg(kept.key, kept.value), '{}'::jsonb) FROM (
                SELECT e.key, CASE WHEN f.type IS DISTINCT FROM 'select' AND f.type IS DISTINCT FROM 'multi_select'
                                     OR (f.type = 'select' AND f.options ? (e.value #>> '{}'))
                                     OR (f.type = 'multi_select' AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(e.value) v WHERE NOT f.options ? v))
                                   THEN e.value ELSE c.custom_fields -> e.key END AS value
                  FROM jsonb_each(b.before->'custom_fields') e LEFT JOIN custom_fields f ON f.key = e.key) kept
               WHERE kept.value IS NOT NULL),
            version = c.version + 1, updated_at = now()
          FROM contact_import_changes b
          CROSS JOIN LATERAL (SELECT
              NOT EXISTS (SELECT 1 FROM contact_statuses s WHERE s.id = (b.before->>'status_id')::uuid) AND b.before->>'status_id' IS NOT NULL AS status,
              NOT EXISTS (SELECT 1 FROM traffic_sources ts WHERE ts.id = (b.before->>'traffic_source_id')::uuid) AND b.before->>'traffic_source_id' IS NOT NULL AS traffic_source,
              NOT ${activeStaffSql("(b.before->>'assigned_to_id')::uuid")} AND b.before->>'assigned_to_id' IS NOT NULL AS assignee) gone
         WHERE b.import_id = $1 AND c.id = b.contact_id AND c.version = (b.before->>'version')::int + 1 AND c.id <> ALL($2::uuid[])
        RETURNING c.id, gone.status, gone.traffic_source, gone.assignee`,
        [id, administrators],
      )) as [Array<{ id: string; status: boolean; traffic_source: boolean; assignee: boolean }>, number];
      const restoredIds = restored.map((contact) => contact.id);
      // The import's status changes put back are undone: they convert nobody.
      await manager.query(
        `UPDATE contact_status_history SET undone = true WHERE import_id = $1 AND source = 'import' AND contact_id = ANY($2::uuid[])`,
        [id, restored.filter((contact) => !contact.status).map((contact) => contact.id)],
      );
      const keptCurrent: Record<string, number> = {
        status: restored.filter((contact) => contact.status).length,
        trafficSource: restored.filter((contact) => contact.traffic_source).length,
        assignedTo: restored.filter((contact) => contact.assignee).length,
      };
      for (const [table, column, key, lookup, field] of [
        ['contact_tags', 'tag_id', 'tag_ids', 'tags', 'tags'],
        ['contact_services', 'service_id', 'service_ids', 'services', 'services'],
      ] as const) {
        // Only contacts whose earlier entries all still exist get them back; the others keep theirs.
        const whole: Array<{ contact_id: string }> = await manager.query(
          `SELECT b.contact_id FROM contact_import_changes b
            WHERE b.import_id = $1 AND b.contact_id = ANY($2::uuid[])
              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements_text(b.before->'${key}') x WHERE NOT EXISTS (SELECT 1 FROM ${lookup} l WHERE l.id = x::uuid))`,
          [id, restoredIds],
        );
        const contactIds = whole.map((row) => row.contact_id);
        keptCurrent[field] = restoredIds.length - contactIds.length;
        await manager.query(`DELETE FROM ${table} t WHERE t.contact_id = ANY($1::uuid[])`, [contactIds]);
        await manager.query(
          `INSERT INTO ${table} (contact_id, ${column})
           SELECT b.contact_id, l.id FROM contact_import_changes b CROSS JOIN jsonb_array_elements_text(b.before->'${key}') x JOIN ${lookup} l ON l.id = x::uuid
            WHERE b.import_id = $1 AND b.contact_id = ANY($2::uuid[]) ON CONFLICT DO NOTHING`,
          [id, contactIds],
        );
      }
      const [{ kept }] = (await manager.query(
        `SELECT (SELECT count(*)::int FROM contact_import_changes WHERE import_id = $1) - $2::int AS kept`,
        [id, restoredIds.length],
      )) as Array<{ kept: number }>;
      // Tags it created go too, unless some contact uses them now; so do those of imports reverted
      // before it that were left because this one used them.
      const createdTags: Array<{ tag_id: string }> = await manager.query(
        `SELECT it.tag_id FROM contact_import_tags it JOIN contact_imports i ON i.id = it.import_id WHERE it.import_id = $1 OR i.status = 'reverted'`,
        [id],
      );
      removedTags = await this.lookups.deleteUnusedTags(manager, actor.id, createdTags.map((tag) => tag.tag_id), { importReverted: id });
      reverted = { removed, restored: restoredIds.length, keptUpdated: kept, keptCurrent, tagsRemoved: removedTags.length, keptAdministrators: administrators.length };
      await manager.query(`UPDATE contact_imports SET status = 'reverted', updated_at = now() WHERE id = $1`, [id]);
      await this.audit.record({ actorId: actor.id, action: 'contact-import.revert', subjectType: 'ContactImport', subjectId: id, after: reverted }, manager);
    });
    await this.listTotals.changedEverywhere();
    if (reverted?.restored) await this.identity.changedAll();
    await this.lookups.announceDeleted('tag', removedTags);
    return this.get(id);
  }

  /** Forgets an upload that was never configured or started, with its staged rows. */
  async discardUploaded(id: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM contact_imports WHERE id = $1 AND status = 'uploaded'`, [id]);
  }

  async saveMapping(actor: AuthUser, name: string, columns: ColumnMapping[]): Promise<SavedMappingDto> {
    const taken: unknown[] = await this.dataSource.query('SELECT 1 FROM contact_import_mappings WHERE name_key = lower($1)', [name]);
    if (taken.length) throw new ConflictException({ message: 'A saved mapping has this name', code: 'mapping_name_taken', details: [{ field: 'name', message: 'is already in use' }] });
    const errors = await this.targetErrors(columns);
    if (errors.length) throw new RequestValidationError(errors);
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
    const errors = await this.targetErrors(columns);
    columns.forEach((column, i) => {
      if (column.index >= headers.length) errors.push({ field: `columns.${i}.index`, message: `the file has ${headers.length} columns` });
    });
    const seen = new Set(columns.map((column) => column.target));
    if (mode !== 'create' && !seen.has('email')) errors.push({ field: 'columns', message: `mode "${mode}" matches contacts by email: map a column to email` });
    if (mode !== 'update' && !seen.has('firstName')) errors.push({ field: 'columns', message: 'map a column to firstName: new contacts need one' });
    if (errors.length) throw new RequestValidationError(errors);
    return headers.map((header, index) => ({ index, header, target: (columns.find((c) => c.index === index)?.target ?? 'ignore') as ColumnMapping['target'] }));
  }

  /**
   * What is wrong with a mapping whatever the file: a column given twice (one of its targets
   * would be dropped), a target mapped twice, a custom field that is not there.
   */
  private async targetErrors(columns: ColumnMapping[]): Promise<Array<{ field: string; message: string }>> {
    const errors: Array<{ field: string; message: string }> = [];
    const definitions = await this.customFields.all();
    const seen = new Set<string>();
    const indexes = new Set<number>();
    columns.forEach((column, i) => {
      if (indexes.has(column.index)) errors.push({ field: `columns.${i}.index`, message: `column ${column.index} is given twice` });
      indexes.add(column.index);
    });
    columns.forEach((column, i) => {
      if (column.target === 'ignore') return;
      if (seen.has(column.target)) errors.push({ field: `columns.${i}.target`, message: `"${column.target}" is mapped twice` });
      seen.add(column.target);
      if (column.target.startsWith('custom.') && !definitions.some((d) => !d.deletedAt && `custom.${d.key}` === column.target)) {
        errors.push({ field: `columns.${i}.target`, message: `there is no custom field "${column.target.slice(7)}"` });
      }
    });
    return errors;
  }

  private async load(manager: EntityManager, id: string, lock = false): Promise<ImportRow> {
    const rows: ImportRow[] = await manager.query(`SELECT * FROM contact_imports WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
    if (!rows[0]) throw new NotFoundException({ message: 'Import not found', code: 'import_not_found' });
    return rows[0];
  }

  private chunk(manager: EntityManager, row: ImportRow, from: number, to: number): Promise<StagedRow[]> {
    const email = row.mapping?.find((column) => column.target === 'email');
    return manager.query(
      `SELECT row_number, cells::text AS cells, outcome, error, ${stagedEmailSql('$4', '$5')} AS email
         FROM contact_import_rows WHERE import_id = $1 AND row_number BETWEEN $2 AND $3 ORDER BY row_number`,
      [row.id, from, to, email?.index ?? null, EMAIL_PADDING],
    );
  }

  /**
   * The rows whose email another row of the file has, grouped (see RepeatGroups). Only those rows
   * leave the database: a handful, not the whole file.
   */
  private async repeatGroups(row: ImportRow): Promise<RepeatGroups> {
    const email = row.mapping?.find((column) => column.target === 'email');
    if (!email) return new RepeatGroups();
    const repeats = await this.dataSource.transaction(async (manager) => {
      // One sort of the whole file: enough memory for it to stay out of temporary files.
      await manager.query(`SELECT set_config('work_mem', '128MB', true)`);
      // Keyed as contacts.email_key keys the email a row would store: what the chunks decide on.
      return (await manager.query(
        `SELECT row_number AS "row", first_row AS "group" FROM (
           SELECT row_number, min(row_number) OVER (PARTITION BY lower(email)) AS first_row, count(*) OVER (PARTITION BY lower(email)) AS rows
             FROM (SELECT row_number, ${stagedEmailSql('$2', '$3')} AS email FROM contact_import_rows WHERE import_id = $1 OFFSET 0) staged
            WHERE email <> '') all_rows
          WHERE rows > 1
          ORDER BY row_number`,
        [row.id, email.index, EMAIL_PADDING],
      )) as Array<{ row: number; group: number }>;
    });
    return new RepeatGroups(repeats);
  }
}

/**
 * Per group with a row in rows from..to, the row of it an earlier chunk wrote: rows before the
 * chunk are all handled, and only those skipped or rejected carry an outcome.
 */
async function writtenRepeats(manager: EntityManager, importId: string, groups: RepeatGroups, from: number, to: number): Promise<Map<number, number>> {
  const earlier = groups.earlierMembers(from, to);
  const written = new Map<number, number>();
  if (!earlier.length) return written;
  const rows: Array<{ row_number: number }> = await manager.query(
    `SELECT row_number FROM contact_import_rows WHERE import_id = $1 AND row_number = ANY($2::int[]) AND outcome IS NULL ORDER BY row_number`,
    [importId, earlier],
  );
  for (const { row_number: row } of rows) if (!written.has(groups.of(row)!)) written.set(groups.of(row)!, row);
  return written;
}

/** Settings, dry runs and runs wait for the whole file. */
function assertUploaded(row: ImportRow): void {
  if (row.status === 'uploading') throw new ConflictException({ message: 'The file is still being uploaded', code: 'import_uploading' });
}

/** The live custom fields the mapping writes values to. */
function mappedCustomKeys(mapping: ColumnMapping[], customFields: CustomField[]): string[] {
  const keys = mapping.filter((column) => column.target.startsWith('custom.')).map((column) => column.target.slice('custom.'.length));
  return keys.filter((key) => customFields.some((field) => field.key === key && !field.deletedAt));
}

/** Who the import runs as: who started it, or nobody once that account is deleted (never its uploader, whose rights may be wider). */
function importerOf(row: ImportRow): string | null {
  return row.started_by_id;
}

function settingsOf(row: ImportRow): ChunkSettings {
  return { id: row.id, mode: row.mode!, mapping: row.mapping!, headers: row.headers, importer_id: importerOf(row) };
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

/** The upload as text, failing on anything that is not valid UTF-8, and on a file the size limit cut short. */
async function* strictUtf8(file: UploadedFile, tooLarge: () => Error): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const invalid = () => Object.assign(new Error('invalid UTF-8'), { code: 'ERR_ENCODING_INVALID_ENCODED_DATA' });
  for await (const chunk of file) {
    // The rest of the request is still read (and dropped), so the answer goes out on a whole request.
    if (file.truncated) continue;
    let text: string;
    try {
      text = decoder.decode(chunk, { stream: true });
    } catch {
      throw invalid();
    }
    if (text) yield text;
  }
  if (file.truncated) throw tooLarge();
  let rest: string;
  try {
    rest = decoder.decode();
  } catch {
    throw invalid();
  }
  if (rest) yield rest;
}
