import { parse, type Options } from 'csv-parse';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** How uploads are read; the fallback parser runs with exactly these options. */
export const CSV_OPTIONS: Options = {
  bom: true,
  relax_column_count: true,
  skip_empty_lines: true,
  // Stray quotes inside unquoted cells (="x") are kept as text, as spreadsheets write them.
  relax_quotes: true,
};

/**
 * The longest row a file may hold, in characters: far past any contact (a row of every field at
 * its limit is a few hundred kilobytes). A longer one fails the upload before it is read whole,
 * so neither the reader nor a chunk of the import ever holds more than this of one row.
 */
export const RECORD_CHARS_MAX = 1024 * 1024;

export class RecordTooLongError extends Error {
  constructor(readonly row: number) {
    super(`row ${row} is longer than ${RECORD_CHARS_MAX} characters; no contact needs that much`);
  }
}

/** A record and where the next one starts (null: an empty line, skipped), or why there is none yet. */
type Step = { record: string[] | null; next: number } | 'incomplete' | 'unusual';

/**
 * Reads CSV text into records, in batches. Well-formed files (the usual case) are read by a
 * small parser built on indexOf/split, several times faster than csv-parse; at the first
 * record it does not read the way csv-parse would (a lone CR line ending, text after a
 * closing quote, an unclosed quote…), everything from that record on goes through csv-parse
 * with CSV_OPTIONS, which then also raises the errors. The records are the same either way.
 * Cells are separated as the header line separates them: by commas, or by the semicolons or
 * tabs spreadsheets write in many locales.
 */
export async function* readCsv(text: AsyncIterable<string>): AsyncGenerator<string[][]> {
  const input = text[Symbol.asyncIterator]();
  const reader = new WellFormedCsv();
  for (;;) {
    const next = await input.next();
    const { records, rest, delimiter, separator } = reader.push(next.done ? '' : next.value, next.done === true);
    if (records.length) yield records;
    if (rest !== undefined) {
      const remaining = async function* () {
        if (rest) yield rest;
        if (next.done) return;
        for (let more = await input.next(); !more.done; more = await input.next()) yield more.value;
      };
      // The rest of the file keeps the line ending found so far, as it would in one csv-parse run.
      const parser = parse({ ...CSV_OPTIONS, max_record_size: RECORD_CHARS_MAX, delimiter: separator, ...(delimiter ? { record_delimiter: delimiter } : {}) });
      const feeding = pipeline(Readable.from(remaining(), { objectMode: false }), parser);
      feeding.catch(() => undefined); // the iteration below throws the same error
      let batch: string[][] = [];
      try {
        for await (const record of parser as AsyncIterable<string[]>) {
          batch.push(record);
          if (batch.length >= 1000) {
            yield batch;
            batch = [];
          }
        }
        await feeding;
      } catch (error) {
        // csv-parse counts the records it had read before the one too long.
        const { code, records } = error as { code?: string; records?: number };
        throw code === 'CSV_MAX_RECORD_SIZE' ? new RecordTooLongError(reader.records + (records ?? 0) + 1) : error;
      }
      if (batch.length) yield batch;
      return;
    }
    if (next.done) return;
  }
}

/** Separators a header line may use, the first preferred when as many of each are found. */
const SEPARATORS = [',', ';', '\t'] as const;

/** The separator of a header line: the one it holds most of outside quotes (a comma when none). */
export function separatorOf(headerLine: string): string {
  const counts = new Map<string, number>(SEPARATORS.map((separator) => [separator, 0]));
  let quoted = false;
  for (const character of headerLine) {
    if (character === '"') quoted = !quoted;
    else if (!quoted && counts.has(character)) counts.set(character, counts.get(character)! + 1);
  }
  return SEPARATORS.reduce((best, separator) => (counts.get(separator)! > counts.get(best)! ? separator : best));
}

class WellFormedCsv {
  private pending = '';
  /** Records read so far (empty lines are none), the header first: the next one is row `records + 1`. */
  records = 0;
  private started = false;
  /** The record delimiter, found at the end of the first record as csv-parse finds it. */
  private delimiter: '\n' | '\r\n' | undefined;
  /** The cell separator, found on the header line before any record is read. */
  private separator: string | undefined;
  private separatorCode = 0x2c;

  push(chunk: string, final: boolean): { records: string[][]; rest?: string; delimiter?: string; separator?: string } {
    let text = this.pending + chunk;
    if (!this.started && (text.length || final)) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    if (this.separator === undefined) {
      const lineEnd = text.search(/[\r\n]/);
      if (lineEnd === -1 && !final) {
        if (text.length > RECORD_CHARS_MAX) throw new RecordTooLongError(1);
        this.pending = text;
        return { records: [] };
      }
      this.separator = separatorOf(lineEnd === -1 ? text : text.slice(0, lineEnd));
      this.separatorCode = this.separator.charCodeAt(0);
    }
    const separator = this.separator;
    const records: string[][] = [];
    let pos = 0;
    while (pos < text.length) {
      const delimiter = this.delimiter;
      if (delimiter) {
        const end = text.indexOf(delimiter, pos);
        if (end === -1 && !final) break;
        const line = end === -1 ? text.slice(pos) : text.slice(pos, end);
        if (line.indexOf('"') === -1) {
          if (line.length) this.add(records, line.split(separator));
          pos = end === -1 ? text.length : end + delimiter.length;
          continue;
        }
      }
      const step = this.record(text, pos, final);
      if (step === 'incomplete') break;
      if (step === 'unusual') {
        this.pending = '';
        return { records, rest: text.slice(pos), delimiter: this.delimiter, separator };
      }
      if (step.record) this.add(records, step.record);
      pos = step.next;
    }
    if (text.length - pos > RECORD_CHARS_MAX) throw new RecordTooLongError(this.records + 1);
    this.pending = text.slice(pos);
    return { records };
  }

  private add(records: string[][], record: string[]): void {
    this.records += 1;
    if (record.reduce((length, cell) => length + cell.length, 0) > RECORD_CHARS_MAX) throw new RecordTooLongError(this.records);
    records.push(record);
  }

  /** One record from `pos`, character by character: quoted cells, and the first record (which sets the delimiter). */
  private record(text: string, start: number, final: boolean): Step {
    const record: string[] = [];
    let pos = start;
    for (;;) {
      let value: string;
      let after: number;
      if (text.charCodeAt(pos) === 0x22) {
        value = '';
        let from = pos + 1;
        for (;;) {
          const quote = text.indexOf('"', from);
          if (quote === -1) return final ? 'unusual' : 'incomplete';
          if (quote + 1 === text.length && !final) return 'incomplete';
          if (text.charCodeAt(quote + 1) === 0x22) {
            value += text.slice(from, quote + 1);
            from = quote + 2;
            continue;
          }
          value += text.slice(from, quote);
          after = quote + 1;
          break;
        }
      } else {
        after = pos;
        while (after < text.length) {
          const code = text.charCodeAt(after);
          if (code === this.separatorCode || code === 0x0a || code === 0x0d) break;
          after += 1;
        }
        value = text.slice(pos, after);
      }
      if (after === text.length) {
        if (!final) return 'incomplete';
        record.push(value);
        return { record: isEmptyLine(record, text, pos) ? null : record, next: after };
      }
      const code = text.charCodeAt(after);
      if (code === this.separatorCode) {
        record.push(value);
        pos = after + 1;
        continue;
      }
      const ending = this.ending(text, after, final);
      if (ending === 'incomplete' || ending === 'unusual') return ending;
      if (ending === 0) {
        // A quote, CR or LF that does not end the record here: csv-parse's territory.
        if (!this.delimiter || text.charCodeAt(pos) === 0x22) return 'unusual';
        after += 1;
        while (after < text.length && text.charCodeAt(after) !== this.separatorCode && !text.startsWith(this.delimiter, after)) after += 1;
        if (after === text.length && !final) return 'incomplete';
        value = text.slice(pos, after);
        if (after < text.length && text.charCodeAt(after) === this.separatorCode) {
          record.push(value);
          pos = after + 1;
          continue;
        }
        record.push(value);
        return { record, next: after === text.length ? after : after + this.delimiter.length };
      }
      record.push(value);
      return { record: isEmptyLine(record, text, pos) ? null : record, next: after + ending };
    }
  }

  /** The length of the record delimiter at `at` (0 when there is none), discovering it on the first record. */
  private ending(text: string, at: number, final: boolean): number | 'incomplete' | 'unusual' {
    if (this.delimiter) return text.startsWith(this.delimiter, at) ? this.delimiter.length : this.delimiter === '\r\n' && at + 1 === text.length && !final ? 'incomplete' : 0;
    const code = text.charCodeAt(at);
    if (code === 0x0a) {
      this.delimiter = '\n';
      return 1;
    }
    if (code === 0x0d) {
      if (at + 1 === text.length && !final) return 'incomplete';
      if (text.charCodeAt(at + 1) === 0x0a) {
        this.delimiter = '\r\n';
        return 2;
      }
      return 'unusual'; // a lone CR ends lines: old Mac files
    }
    return 0;
  }
}

/** A line with nothing on it (not even a quoted empty cell): csv-parse's skip_empty_lines. */
function isEmptyLine(record: string[], text: string, start: number): boolean {
  return record.length === 1 && record[0] === '' && text.charCodeAt(start) !== 0x22;
}
