import type { PoolClient } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { Readable, Transform, TransformCallback } from 'node:stream';
import { QueryFailedError } from 'typeorm';

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/**
 * PostgreSQL ends COPY records with LF; the file ends them with CRLF as RFC 4180 has it.
 * A LF inside a quoted cell is part of the cell and stays. Quotes are counted across chunks
 * (an escaped quote is two, so the count stays right).
 */
export class CrlfRecords extends Transform {
  private quoted = false;
  private readonly ends: number[] = [];

  constructor(first?: Buffer) {
    super();
    if (first) this.push(first);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const ends = this.ends;
    ends.length = 0;
    let quote = chunk.indexOf(QUOTE);
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lf + 1)) {
      while (quote !== -1 && quote < lf) {
        this.quoted = !this.quoted;
        quote = chunk.indexOf(QUOTE, quote + 1);
      }
      if (!this.quoted) ends.push(lf);
    }
    while (quote !== -1) {
      this.quoted = !this.quoted;
      quote = chunk.indexOf(QUOTE, quote + 1);
    }
    if (!ends.length) return callback(null, chunk);
    const out = Buffer.allocUnsafe(chunk.length + ends.length);
    let from = 0;
    let at = 0;
    for (const lf of ends) {
      at += chunk.copy(out, at, from, lf);
      out[at++] = CR;
      out[at++] = LF;
      from = lf + 1;
    }
    chunk.copy(out, at, from);
    callback(null, out);
  }
}

/**
 * Settings of the export's transaction: compiling the long cell expressions (JIT) costs more
 * than it saves; parallel workers would each rebuild the tag and service lists, on cores the
 * API shares; a nested loop over those lists is quadratic, and statistics that lag behind a
 * bulk import can make it look cheap; the sort of the whole file gets room; the digits of
 * custom number cells come from float8 text, which must be the shortest round trip.
 */
export const COPY_SETTINGS = ['jit = off', 'max_parallel_workers_per_gather = 0', 'enable_nestloop = off', "work_mem = '64MB'", 'extra_float_digits = 1'];

/**
 * Runs `COPY (select) TO STDOUT (FORMAT csv)` on a pooled connection and hands back the file:
 * `header`, then the records with CRLF ends. Resolves only once PostgreSQL has sent the first
 * record or finished, so a statement it refuses is a rejected promise (and a 4xx), never a cut
 * file. The connection goes back to the pool when the copy ends; if it fails later, or the
 * reader stops early (client gone), the connection is closed instead, which ends the COPY on
 * the server too.
 */
export async function copyCsv(client: PoolClient, release: (error?: Error | boolean) => void, select: string, header: Buffer): Promise<Readable> {
  const sql = `COPY (${select}) TO STDOUT (FORMAT csv)`;
  let released = false;
  const done = (error?: Error) => {
    if (released) return;
    released = true;
    release(error);
  };
  let copy;
  try {
    await client.query(`BEGIN READ ONLY; ${COPY_SETTINGS.map((setting) => `SET LOCAL ${setting};`).join(' ')}`);
    copy = client.query(copyTo(sql, { highWaterMark: 256 * 1024 }));
    await new Promise<void>((resolve, reject) => {
      const ready = () => {
        copy!.off('error', failed);
        resolve();
      };
      const failed = (error: Error) => {
        copy!.off('readable', ready);
        reject(error);
      };
      copy!.once('readable', ready);
      copy!.once('error', failed);
    });
  } catch (error) {
    // A refused statement leaves the connection usable once its transaction is rolled back.
    await client.query('ROLLBACK').then(
      () => done(),
      (rollback: Error) => done(rollback),
    );
    throw error instanceof Error && 'code' in error ? new QueryFailedError(sql, [], error) : error;
  }
  const out = new CrlfRecords(header);
  const fail = (error: Error) => {
    done(error);
    out.destroy(error);
  };
  // The file ends only once its transaction commits: a connection lost mid-COPY can look like
  // the end of the data, and a failed transaction answers COMMIT with ROLLBACK.
  copy.on('end', () => {
    client.query('COMMIT').then(
      (result: { command?: string }) => {
        if (result.command === 'ROLLBACK') return fail(new Error('The export failed before its end'));
        done();
        out.end();
      },
      (error: Error) => fail(error),
    );
  });
  copy.on('error', fail);
  out.on('close', () => {
    if (!copy.readableEnded) done(new Error('The export was stopped before its end'));
  });
  copy.pipe(out, { end: false });
  return out;
}
