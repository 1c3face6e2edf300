import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { stringify } from 'csv-stringify/sync';
import { Readable } from 'node:stream';
import { DataSource } from 'typeorm';
import type { AppAbility } from '../../core/access/app-ability';
import { compileSelection, contactOrder } from './contacts.queries';
import { CSV_CORE_COLUMNS, CsvCoreField, customColumnHeader, customValueToCell, LIST_SEPARATOR, neutraliseFormula } from './contacts.csv';
import { CustomFieldsService } from './custom-fields.service';
import type { CustomField } from './entities/custom-field.entity';
import type { FilterNode } from './filters/contact-filter.types';

export interface ContactExportRequest {
  filter?: FilterNode;
  sort?: string;
}

interface SortKey {
  expression: string;
  descending: boolean;
  /** Whether the key may be NULL (those rows sort last, whatever the direction). */
  nullable: boolean;
}

/** What the batches of one export share: the selection, the order and the columns. */
interface ExportPlan {
  where: string;
  params: unknown[];
  orderBy: string;
  keys: SortKey[];
  idDescending: boolean;
  customKeys: string[];
}

/**
 * A contact as the batch query returns it: the core cells in CSV_CORE_COLUMNS order (tags and
 * services as null placeholders), then custom_fields, id and the sort keys as exact text.
 */
type BatchRow = unknown[];

interface Batch {
  rows: BatchRow[];
  tags: Record<string, string[]> | null;
  services: Record<string, string[]> | null;
}

/** The SQL of each core column over `c` and its joins; lists are filled in from their own aggregates. */
const CORE_SQL: Record<CsvCoreField, string> = {
  firstName: 'c.first_name',
  lastName: 'c.last_name',
  email: 'c.email',
  phone: 'c.phone',
  company: 'c.company',
  jobTitle: 'c.job_title',
  addressLine1: 'c.address_line1',
  addressLine2: 'c.address_line2',
  city: 'c.city',
  region: 'c.region',
  postalCode: 'c.postal_code',
  country: 'c.country',
  status: 's.name',
  tags: 'NULL',
  services: 'NULL',
  trafficSource: 'ts.name',
  assignedTo: 'a.email',
};
const CORE_COUNT = CSV_CORE_COLUMNS.length;
const TAGS_INDEX = CSV_CORE_COLUMNS.findIndex((column) => column.field === 'tags');
const SERVICES_INDEX = CSV_CORE_COLUMNS.findIndex((column) => column.field === 'services');

// No BOM: the importer must read the first header as written. CRLF as RFC 4180 has it, and
// any bare CR or LF inside a cell is quoted as well, for readers that split lines on either.
const CSV_OPTIONS = { bom: false, record_delimiter: 'windows', quote_record_delimiter: true } as const;

/**
 * Streams contacts as CSV in the shape of contacts.csv.ts, so the file re-imports unchanged.
 * Rows are read in keyset batches in the requested order, so memory stays flat and, where an
 * index fits the order, every batch is an index range however deep into the selection it is.
 */
@Injectable()
export class ContactsExportService {
  /** Rows per query: large enough to amortise the round trip, small enough to keep memory flat. */
  batchSize = 5000;

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
    const first = await this.batch(plan, null);
    // A failing later batch errors the stream, which aborts the response: a cut file never looks complete.
    return Readable.from(this.chunks(plan, first), { objectMode: false });
  }

  private plan(ability: AppAbility, request: ContactExportRequest, definitions: CustomField[]): ExportPlan {
    const exportable = compileSelection({ ability, action: 'export', filter: request.filter }, definitions);
    // Exporting shows the rows, so the caller must be allowed to read them as well.
    const readable = compileSelection({ ability, action: 'read' }, definitions, exportable.params.length + 1);
    const order = contactOrder(request.sort, definitions);
    const keys = order.keys.map((key) => ({
      ...key,
      nullable: order.sql.includes(`${key.expression} ${key.descending ? 'DESC' : 'ASC'} NULLS LAST`),
    }));
    return {
      where: `${exportable.where} AND ${readable.where}`,
      params: [...exportable.params, ...readable.params],
      orderBy: order.sql,
      keys,
      idDescending: order.keys[order.keys.length - 1]?.descending ?? false,
      // all() lists definitions by position, then key: the column order.
      customKeys: definitions.filter((definition) => !definition.deletedAt).map((definition) => definition.key),
    };
  }

  /** The file as one CSV chunk per batch; the next batch is read while this one is sent. */
  private async *chunks(plan: ExportPlan, first: Batch): AsyncGenerator<string> {
    yield stringify([[...CSV_CORE_COLUMNS.map((column) => column.header), ...plan.customKeys.map(customColumnHeader)]], CSV_OPTIONS);
    let batch = first;
    while (batch.rows.length) {
      const last = batch.rows[batch.rows.length - 1]!;
      const next = batch.rows.length === this.batchSize ? this.batch(plan, last) : undefined;
      // Observed now so an abandoned download (client gone) leaves no unhandled rejection.
      next?.catch(() => undefined);
      yield stringify(
        batch.rows.map((row) => this.cells(row, batch, plan.customKeys)),
        CSV_OPTIONS,
      );
      if (!next) return;
      batch = await next;
    }
  }

  /**
   * One batch, the rows after `after` in the export order, in one statement. The rows come back
   * as a single JSON array (one native parse instead of one driver parse per cell), and tags
   * and services are aggregated for the whole batch at once.
   */
  private async batch(plan: ExportPlan, after: BatchRow | null): Promise<Batch> {
    const params = [...plan.params];
    const where = after ? `${plan.where} AND ${this.after(plan, after, params)}` : plan.where;
    const columns = [
      ...CSV_CORE_COLUMNS.map((column, i) => `${CORE_SQL[column.field]} AS v${i}`),
      ...plan.keys.map((key, i) => `(${key.expression})::text AS sort_${i}`),
    ];
    const cells = [...CSV_CORE_COLUMNS.map((_, i) => `p.v${i}`), 'p.custom_fields', 'p.id', ...plan.keys.map((_, i) => `p.sort_${i}`)];
    const [result] = (await this.dataSource.query(
      // The JSON is built over the page alone: under a sort node it would be built for every candidate row.
      `WITH page AS MATERIALIZED (
         SELECT c.id, c.custom_fields, ${columns.join(', ')}, row_number() OVER (ORDER BY ${plan.orderBy}) AS n
           FROM contacts c
           LEFT JOIN contact_statuses s ON s.id = c.status_id
           LEFT JOIN traffic_sources ts ON ts.id = c.traffic_source_id
           LEFT JOIN users a ON a.id = c.assigned_to_id
          WHERE ${where}
          ORDER BY ${plan.orderBy}
          LIMIT ${this.batchSize}
       )
       SELECT (SELECT json_agg(json_build_array(${cells.join(', ')}) ORDER BY p.n) FROM page p) AS rows,
              (SELECT json_object_agg(l.contact_id, l.names) FROM (
                 SELECT ct.contact_id, array_agg(t.name ORDER BY t.name_key) AS names
                   FROM page p JOIN contact_tags ct ON ct.contact_id = p.id JOIN tags t ON t.id = ct.tag_id
                  GROUP BY ct.contact_id) l) AS tags,
              (SELECT json_object_agg(l.contact_id, l.names) FROM (
                 SELECT cs.contact_id, array_agg(sv.name ORDER BY sv.name_key) AS names
                   FROM page p JOIN contact_services cs ON cs.contact_id = p.id JOIN services sv ON sv.id = cs.service_id
                  GROUP BY cs.contact_id) l) AS services`,
      params,
    )) as Array<{ rows: BatchRow[] | null; tags: Batch['tags']; services: Batch['services'] }>;
    return { rows: result?.rows ?? [], tags: result?.tags ?? null, services: result?.services ?? null };
  }

  /**
   * "Comes after this row" in the export order: later on the first key, or equal on it and
   * later on the next, down to the id. NULLs sort last on every nullable key. The leading
   * bound repeats the first key alone, so the planner can start an index scan there.
   */
  private after(plan: ExportPlan, row: BatchRow, params: unknown[]): string {
    const p = (value: unknown) => `$${params.push(value)}`;
    const id = row[CORE_COUNT + 1] as string;
    const refs = plan.keys.map((_, i) => {
      const value = row[CORE_COUNT + 2 + i] as string | null;
      return value === null ? null : p(value);
    });
    let clause = `c.id ${plan.idDescending ? '<' : '>'} ${p(id)}::uuid`;
    for (let i = plan.keys.length - 1; i >= 0; i -= 1) {
      const { expression, descending, nullable } = plan.keys[i]!;
      const ref = refs[i];
      if (!ref) {
        clause = `(${expression} IS NULL AND ${clause})`;
        continue;
      }
      const beyond = `${expression} ${descending ? '<' : '>'} ${ref}${nullable ? ` OR ${expression} IS NULL` : ''}`;
      clause = `(${beyond} OR (${expression} = ${ref} AND ${clause}))`;
    }
    const lead = plan.keys[0]!;
    const leadRef = refs[0];
    if (leadRef && !lead.nullable) clause = `${lead.expression} ${lead.descending ? '<=' : '>='} ${leadRef} AND ${clause}`;
    return clause;
  }

  private cells(row: BatchRow, batch: Batch, customKeys: string[]): string[] {
    const id = row[CORE_COUNT + 1] as string;
    const custom = (row[CORE_COUNT] ?? {}) as Record<string, unknown>;
    const cells: string[] = [];
    for (let i = 0; i < CORE_COUNT; i += 1) {
      const value =
        i === TAGS_INDEX ? batch.tags?.[id]?.join(LIST_SEPARATOR) : i === SERVICES_INDEX ? batch.services?.[id]?.join(LIST_SEPARATOR) : (row[i] as string | null);
      cells.push(neutraliseFormula(value ?? ''));
    }
    for (const key of customKeys) cells.push(neutraliseFormula(customValueToCell(custom[key])));
    return cells;
  }
}
