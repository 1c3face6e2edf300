import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { unstorableText } from '../../core/http/validation';
import { PGlitePool } from '../../database/pglite/pglite-pool';
import { guardPoolClient } from '../../database/pool-client-errors';

/** Where parsed rows of an uploaded file go (contact_import_rows), in file order. */
export interface RowStager {
  /**
   * Buffers a row; `drain` writes out what is buffered once there is enough of it. A row with
   * text PostgreSQL cannot store is staged already rejected, with the column and the reason.
   */
  add(rowNumber: number, cells: string[]): void;
  drain(): Promise<void>;
  /** Everything added is stored. */
  finish(): Promise<void>;
  /** Nothing added is stored. */
  abort(error: Error): Promise<void>;
}

export function rowStager(dataSource: DataSource, importId: string, headers: string[]): RowStager {
  return (dataSource.driver as PostgresDriver).master instanceof PGlitePool ? new InsertStager(dataSource, importId, headers) : new CopyStager(dataSource, importId, headers);
}

/** A row as stored: its cells as jsonb text, and the reason it is rejected when it cannot be stored as it is. */
export interface StorableRow {
  json: string;
  error?: string;
}

const UNSTORABLE = /[\u0000\uD800-\uDFFF]/gu;

/**
 * A row's cells as jsonb text. NUL (and an unpaired surrogate) cannot be stored in jsonb: the
 * row is rejected naming the column, and kept with U+FFFD in place of that character so the
 * rejected-rows file still shows the rest of it and where the character was.
 */
export function storableRow(cells: string[], headers: string[]): StorableRow {
  const json = JSON.stringify(cells);
  // JSON writes those characters as \u escapes: rows without one (nearly all) need no closer look.
  if (!json.includes('\\u')) return { json };
  const unstorable = unstorableText(cells);
  if (!unstorable) return { json };
  const index = Number(unstorable.field);
  const column = headers[index] ? `"${headers[index]}"` : `column ${index + 1}`;
  return { json: JSON.stringify(cells.map((cell) => cell.replace(UNSTORABLE, '\ufffd'))), error: `${column} ${unstorable.message}` };
}

/** Text in COPY's text format: backslash, tab and line breaks escaped. */
function copyText(value: string): string {
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

const COPY_FLUSH_CHARS = 256 * 1024;

/**
 * COPY FROM STDIN on one pooled connection: an order of magnitude faster than INSERT batches.
 * COPY is all or nothing, so a file that turns out broken half-way leaves no rows behind.
 */
class CopyStager implements RowStager {
  private release?: (error?: Error) => void;
  private stream?: Writable;
  private failure?: Error;
  private buffer = '';
  private readonly prefix: string;

  constructor(
    private readonly dataSource: DataSource,
    importId: string,
    private readonly headers: string[],
  ) {
    this.prefix = `${importId}\t`;
  }

  add(rowNumber: number, cells: string[]): void {
    const { json, error } = storableRow(cells, this.headers);
    const outcome = error === undefined ? '\\N\t\\N' : `rejected\t${copyText(error)}`;
    // JSON escapes control characters, so only backslashes need escaping for COPY's text format.
    this.buffer += `${this.prefix}${rowNumber}\t${json.includes('\\') ? json.replace(/\\/g, '\\\\') : json}\t${outcome}\n`;
  }

  async drain(): Promise<void> {
    if (this.buffer.length >= COPY_FLUSH_CHARS) await this.flush();
  }

  async finish(): Promise<void> {
    await this.flush();
    if (!this.stream) return;
    const stream = this.stream;
    stream.end();
    try {
      await finished(stream);
      this.done();
    } catch (error) {
      this.done(error);
      throw error;
    }
  }

  async abort(error: Error): Promise<void> {
    if (!this.stream) return;
    const stream = this.stream;
    // Destroying the stream sends CopyFail: the server discards every row of this COPY.
    stream.destroy(error);
    await finished(stream).catch(() => undefined);
    this.done(error);
  }

  private async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.buffer) return;
    const stream = this.stream ?? (await this.open());
    const data = this.buffer;
    this.buffer = '';
    if (!stream.write(data)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => (stream.off('error', onError), resolve());
        const onError = (error: Error) => (stream.off('drain', onDrain), reject(error));
        stream.once('drain', onDrain).once('error', onError);
      });
    }
  }

  private async open(): Promise<Writable> {
    const [client, release] = (await (this.dataSource.driver as PostgresDriver).obtainMasterConnection()) as [PoolClient, (error?: unknown) => void];
    this.release = guardPoolClient(client, (error) => release(error));
    const stream = client.query(copyFrom('COPY contact_import_rows (import_id, row_number, cells, outcome, error) FROM STDIN'));
    stream.on('error', (error: Error) => (this.failure ??= error));
    this.stream = stream;
    return stream;
  }

  private done(error?: unknown): void {
    // A connection whose COPY failed is handed back broken, so the pool replaces it.
    this.release?.(error instanceof Error ? error : undefined);
    this.release = undefined;
    this.stream = undefined;
  }
}

const INSERT_BATCH = 1000;

/** The embedded database has no COPY through its pool: multi-row INSERTs, undone by the caller on failure. */
class InsertStager implements RowStager {
  private numbers: number[] = [];
  private cells: string[] = [];
  private errors: Array<string | null> = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly importId: string,
    private readonly headers: string[],
  ) {}

  add(rowNumber: number, cells: string[]): void {
    const { json, error } = storableRow(cells, this.headers);
    this.numbers.push(rowNumber);
    this.cells.push(json);
    this.errors.push(error ?? null);
  }

  async drain(): Promise<void> {
    while (this.numbers.length >= INSERT_BATCH) await this.flush();
  }

  async finish(): Promise<void> {
    while (this.numbers.length) await this.flush();
  }

  async abort(): Promise<void> {
    this.numbers = [];
    this.cells = [];
    this.errors = [];
    await this.dataSource.query('DELETE FROM contact_import_rows WHERE import_id = $1', [this.importId]);
  }

  private async flush(): Promise<void> {
    if (!this.numbers.length) return;
    const numbers = this.numbers.splice(0, INSERT_BATCH);
    const cells = this.cells.splice(0, INSERT_BATCH);
    const errors = this.errors.splice(0, INSERT_BATCH);
    await this.dataSource.query(
      `INSERT INTO contact_import_rows (import_id, row_number, cells, outcome, error)
       SELECT $1, n, c, CASE WHEN e IS NOT NULL THEN 'rejected' END, e FROM unnest($2::int[], $3::jsonb[], $4::text[]) AS t(n, c, e)`,
      [this.importId, numbers, cells, errors],
    );
  }
}
