import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { stringify } from 'csv-stringify/sync';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import type { Pool, PoolClient } from 'pg';
import type { AppAbility } from '../../core/access/app-ability';
import { hasWholeRight } from '../../core/access/record-access';
import { PGlitePool } from '../../database/pglite/pglite-pool';
import { guardPoolClient } from '../../database/pool-client-errors';
import { copyCsv } from './contacts-export.copy';
import { coreCellSql, exportSelectSql, type ExportStatementPlan } from './contacts-export.sql';
import { compileSelection, contactOrder } from './contacts.queries';
import { CSV_CORE_COLUMNS, CsvCoreField, customColumnHeader, customValueToCell, LIST_SEPARATOR, neutraliseFormula } from './contacts.csv';
import { CustomFieldsService } from './custom-fields.service';
import type { CustomField } from './entities/custom-field.entity';
import type { FilterNode } from './filters/contact-filter.types';

export interface ContactExportRequest {
  filter?: FilterNode;
  sort?: string;
}

/** What the batches of one export share: the selection, the order and the columns. */
interface ExportPlan extends ExportStatementPlan {
  /** Rows per batch, for the whole export. */
  batchSize: number;
}

/** One database session: a cursor lives in the session that declared it. */
interface Session {
  query(sql: string, params?: unknown[]): Promise<PageRow[]>;
  release(): void;
}

/**
 * A contact of a batch: the core cells as `v<i>` in CSV_CORE_COLUMNS order (tags and services
 * come from their own query), custom_fields and id.
 */
type PageRow = Record<string, unknown> & { id: string; custom_fields: Record<string, unknown> | null };

/** Tags and services of a batch, "; "-joined by contact id. */
interface Lists {
  tags: Record<string, string>;
  services: Record<string, string>;
}

/** The core columns of a batch, but for the lists: those are read per batch. */
const LISTS: ReadonlySet<CsvCoreField> = new Set(['tags', 'services']);
const pageColumns = (plan: ExportPlan) => CSV_CORE_COLUMNS.flatMap((column, i) => (LISTS.has(column.field) ? [] : [`${coreCellSql(column.field, plan)} AS v${i}`]));

/** Lists come back as one JSON object per list (contact id → names): one parse per batch, not one per row. */
const LISTS_SQL = `
  SELECT (SELECT json_object_agg(l.contact_id, l.names) FROM (
            SELECT ct.contact_id, string_agg(t.name, $2 ORDER BY t.name_key) AS names
              FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id
             WHERE ct.contact_id = ANY($1::uuid[]) GROUP BY ct.contact_id) l) AS tags,
         (SELECT json_object_agg(l.contact_id, l.names) FROM (
            SELECT cs.contact_id, string_agg(sv.name, $2 ORDER BY sv.name_key) AS names
              FROM contact_services cs JOIN services sv ON sv.id = cs.service_id
             WHERE cs.contact_id = ANY($1::uuid[]) GROUP BY cs.contact_id) l) AS services`;

// No BOM: the importer must read the first header as written. CRLF as RFC 4180 has it, and
// any bare CR or LF inside a cell is quoted as well, for readers that split lines on either.
const CSV_OPTIONS = { bom: false, record_delimiter: 'windows', quote_record_delimiter: true } as const;

/** Observes a promise that may be abandoned (client gone), so its failure is no unhandled rejection. */
function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Streams contacts as CSV in the shape of contacts.csv.ts, so the file re-imports unchanged.
 * A selection of one batch is read by one statement; a larger one is written by the database
 * (COPY) on a PostgreSQL server, and otherwise read in batches from a cursor: either way the
 * file is one snapshot of the contacts, whatever is edited while it streams.
 */
@Injectable()
export class ContactsExportService {
  /**
   * Rows per query: large enough to amortise the round trip (and, for an order no index serves,
   * the scan each batch repeats), small enough to keep memory flat.
   */
  batchSize = 5000;

  /**
   * On a PostgreSQL server a selection larger than one batch is written by the database itself
   * (COPY), several times faster than building it here. COPY lists the tags and services of
   * every contact in one pass, which a selection of one batch does not repay: that one, and
   * everything on the embedded database, is read in batches.
   */
  copyEnabled = true;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly customFields: CustomFieldsService,
  ) {}

  /**
   * The CSV of the contacts the caller may both read and export, filtered and sorted like the
   * list. Everything that can be refused (sort, filter, a value the database rejects) is refused
   * before the stream is handed out, so errors still get a proper status instead of a cut file.
   */
  async export(ability: AppAbility, request: ContactExportRequest): Promise<Readable> {
    const definitions = await this.customFields.all();
    const plan = this.plan(ability, request, definitions);
    const first = (await this.dataSource.query(`${this.selectSql(plan)} LIMIT ${plan.batchSize}`, plan.params)) as PageRow[];
    if (first.length < plan.batchSize) return Readable.from(this.chunks(plan, first), { objectMode: false });
    const pool = this.serverPool();
    if (pool && this.copyEnabled) return this.copy(pool, plan);
    return this.fromCursor(plan, pool);
  }

  /** The server's connection pool, on PostgreSQL (the embedded database has one session). */
  private serverPool(): Pool | undefined {
    const master = (this.dataSource.driver as PostgresDriver).master as unknown;
    return master && !(master instanceof PGlitePool) && typeof (master as Pool).connect === 'function' ? (master as Pool) : undefined;
  }

  /**
   * Batches read from a cursor over the whole selection: WITH HOLD keeps its result once the
   * statement is done (one snapshot), so other requests use the database between batches and
   * their edits neither drop nor repeat a contact. The statement runs before anything is sent:
   * an error is still an answer with a status.
   */
  private async fromCursor(plan: ExportPlan, pool: Pool | undefined): Promise<Readable> {
    const session = await this.session(pool);
    const cursor = `contacts_export_${randomUUID().replace(/-/g, '')}`;
    const close = async () => {
      await session.query(`CLOSE ${cursor}`).catch(() => undefined);
      session.release();
    };
    const fetch = () => session.query(`FETCH FORWARD ${plan.batchSize} FROM ${cursor}`);
    let first: PageRow[];
    try {
      await session.query(`DECLARE ${cursor} NO SCROLL CURSOR WITH HOLD FOR ${this.selectSql(plan)}`, plan.params);
      first = await fetch();
    } catch (error) {
      await close();
      throw error;
    }
    const chunks = this.chunks(plan, first, fetch);
    // A failing later batch errors the stream, which aborts the response: a cut file never looks complete.
    return Readable.from(
      (async function* closingCursor() {
        try {
          yield* chunks;
        } finally {
          await close();
        }
      })(),
      { objectMode: false },
    );
  }

  private async session(pool: Pool | undefined): Promise<Session> {
    if (!pool) return { query: (sql, params) => this.dataSource.query(sql, params) as Promise<PageRow[]>, release: () => undefined };
    const client: PoolClient = await pool.connect();
    let broken: Error | undefined;
    return {
      query: (sql, params) =>
        client.query(sql, params).then(
          (result) => result.rows as PageRow[],
          (error: Error) => {
            broken = error;
            throw error;
          },
        ),
      // A connection whose statement failed is not handed to anyone else.
      release: () => client.release(broken),
    };
  }

  private async copy(pool: Pool, plan: ExportPlan): Promise<Readable> {
    const select = exportSelectSql(plan);
    const header = Buffer.from(this.header(plan));
    const client = await pool.connect();
    return copyCsv(client, guardPoolClient(client, (error) => client.release(error)), select, header);
  }

  private header(plan: ExportPlan): string {
    return stringify([[...CSV_CORE_COLUMNS.map((column) => column.header), ...plan.customKeys.map(customColumnHeader)]], CSV_OPTIONS);
  }

  private plan(ability: AppAbility, request: ContactExportRequest, definitions: CustomField[]): ExportPlan {
    const exportable = compileSelection({ ability, action: 'export', filter: request.filter, refuseDeletedFields: true }, definitions);
    // Exporting shows the rows, so the caller must be allowed to read them as well.
    const readable = compileSelection({ ability, action: 'read' }, definitions, exportable.params.length + 1);
    const order = contactOrder(request.sort, definitions);
    return {
      where: `${exportable.where} AND ${readable.where}`,
      params: [...exportable.params, ...readable.params],
      orderBy: order.sql,
      // all() lists definitions by position, then key: the column order.
      customKeys: definitions.filter((definition) => !definition.deletedAt).map((definition) => definition.key),
      // Users' emails are theirs to read who may read users; the rest see the name, as in lists.
      assignee: hasWholeRight(ability, 'read', 'User') ? 'email' : 'name',
      batchSize: this.batchSize,
    };
  }

  /**
   * The file as one CSV chunk per batch. The next batch is read (`next`) while the lists of
   * this one are (on PostgreSQL on another connection) and while this batch is written.
   */
  private async *chunks(plan: ExportPlan, first: PageRow[], next?: () => Promise<PageRow[]>): AsyncGenerator<string> {
    yield this.header(plan);
    let rows = first;
    while (rows.length) {
      const lists = observed(this.lists(rows));
      const following = next && rows.length === plan.batchSize ? observed(next()) : undefined;
      const { tags, services } = await lists;
      yield stringify(
        rows.map((row) => this.cells(row, tags[row.id], services[row.id], plan.customKeys)),
        CSV_OPTIONS,
      );
      if (!following) return;
      rows = await following;
    }
  }

  /** The contacts of the export in its order, with status, traffic source and assignee resolved. */
  private selectSql(plan: ExportPlan): string {
    return `SELECT c.id, c.custom_fields, ${pageColumns(plan).join(', ')}
         FROM contacts c
         LEFT JOIN contact_statuses s ON s.id = c.status_id
         LEFT JOIN traffic_sources ts ON ts.id = c.traffic_source_id
         LEFT JOIN users a ON a.id = c.assigned_to_id
        WHERE ${plan.where}
        ORDER BY ${plan.orderBy}`;
  }

  /** Tags and services of a whole batch in one set-based query, names sorted and joined. */
  private async lists(rows: PageRow[]): Promise<Lists> {
    const [found] = (await this.dataSource.query(LISTS_SQL, [rows.map((row) => row.id), LIST_SEPARATOR])) as Array<{ tags: Lists['tags'] | null; services: Lists['services'] | null }>;
    return { tags: found?.tags ?? {}, services: found?.services ?? {} };
  }

  private cells(row: PageRow, tags: string | undefined, services: string | undefined, customKeys: string[]): string[] {
    const cells = CSV_CORE_COLUMNS.map((column, i) => {
      const value = column.field === 'tags' ? tags : column.field === 'services' ? services : (row[`v${i}`] as string | null);
      return neutraliseFormula(value ?? '');
    });
    const custom = row.custom_fields ?? {};
    for (const key of customKeys) cells.push(neutraliseFormula(customValueToCell(custom[key])));
    return cells;
  }
}
