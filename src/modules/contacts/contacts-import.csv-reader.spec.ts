import { parse } from 'csv-parse/sync';
import { CSV_OPTIONS, readCsv, RECORD_CHARS_MAX, RecordTooLongError } from './contacts-import.csv-reader';

/** What csv-parse makes of the whole text at once: the reference the reader must match. */
function reference(text: string, delimiter = ','): string[][] | 'error' {
  try {
    return parse(text, { ...CSV_OPTIONS, delimiter }) as string[][];
  } catch {
    return 'error';
  }
}

async function read(chunks: string[]): Promise<string[][] | 'error'> {
  const source = async function* () {
    for (const chunk of chunks) yield chunk;
  };
  const records: string[][] = [];
  try {
    for await (const batch of readCsv(source())) records.push(...batch);
    return records;
  } catch (error) {
    if (!(error as { code?: string }).code?.startsWith('CSV_')) throw error;
    return 'error';
  }
}

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function splitAt(text: string, next: () => number): string[] {
  const chunks: string[] = [];
  let pos = 0;
  while (pos < text.length) {
    const size = 1 + Math.floor(next() * 12);
    chunks.push(text.slice(pos, pos + size));
    pos += size;
  }
  return chunks;
}

describe('readCsv', () => {
  it.each([
    ['plain rows', 'a,b,c\n1,2,3\n4,5,6\n'],
    ['no final line ending', 'a,b\n1,2'],
    ['Windows line endings', 'a,b\r\n"x\r\ny",2\r\n3,4\r\n'],
    ['old Mac line endings', 'a,b\r1,2\r3,4'],
    ['quoted cells with commas, quotes and new lines', 'a,b\n"Acme, Inc.","He said ""hi""\nthen left"\n"",x\n'],
    ['stray quotes in unquoted cells', 'a,b\n=HYPERLINK("x"),1\nab"c,"d"\n'],
    ['empty lines and short rows', '\na,b,c\n\n1\n,\n\n2,3,4,5\n'],
    ['a byte order mark', '\ufeffName,Email\nA,a@example.com\n'],
    ['text after a closing quote', 'a,b\n"x"y,2\n3,4\n'],
    ['an unclosed quote', 'a,b\n"unclosed,quote\n'],
    ['a lone CR inside a LF file', 'a,b\n1\r2,3\n'],
    ['a lone LF inside a CRLF file', 'a,b\r\n1\n2,3\r\n'],
    ['accents and emoji', 'nom,ville\nJosé,São Paulo\n"Zoë 🎉",Kraków\n'],
  ])('reads %s as csv-parse does, however the text is cut', async (_name, text) => {
    const expected = reference(text);
    expect(await read([text])).toEqual(expected);
    for (let size = 1; size <= 4; size += 1) {
      const chunks = text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
      expect(await read(chunks)).toEqual(expected);
    }
  });

  it.each([
    ['semicolons', 'First Name;Last Name;Email\nSemi;Colon;semi@example.com\n"Acme; Inc.";"a,b";x\n', ';'],
    ['semicolons, Windows line endings and a quoted header', '\ufeff"Name; given";Email\r\nA;a@example.com\r\n', ';'],
    ['tabs', 'Name\tEmail\tCity\nA\ta@example.com\t"São\tPaulo"\n', '\t'],
    ['commas where a header also holds a semicolon', 'Name,Tags;Labels\nA,x;y\n', ','],
    ['semicolons falling back to csv-parse', 'a;b\n"x"y;2\n3;4\n', ';'],
  ])('reads a header separated by %s with that separator, however the text is cut', async (_name, text, separator) => {
    const expected = reference(text, separator);
    expect(expected).not.toBe('error');
    expect(await read([text])).toEqual(expected);
    for (let size = 1; size <= 4; size += 1) {
      const chunks = text.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g')) ?? [];
      expect(await read(chunks)).toEqual(expected);
    }
  });

  it('matches csv-parse on thousands of random texts', async () => {
    const next = random(20261121);
    const alphabet = ['a', 'b', 'é', ' ', ',', ',', '"', '"', '\n', '\n', '\r', '\r\n', '""'];
    for (let i = 0; i < 3000; i += 1) {
      let text = '';
      const length = Math.floor(next() * 40);
      for (let j = 0; j < length; j += 1) text += alphabet[Math.floor(next() * alphabet.length)];
      const expected = reference(text);
      const actual = await read(splitAt(text, next));
      if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`Differs from csv-parse on ${JSON.stringify(text)}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`);
    }
  });

  it('reads a large well-formed file in batches, without falling back', async () => {
    const lines = ['First Name,Email,Company'];
    for (let i = 0; i < 20_000; i += 1) lines.push(`P${i},p${i}@example.com,${i % 2 ? '"Acme, Inc."' : 'Initech'}`);
    const text = lines.join('\n') + '\n';
    const batches: number[] = [];
    const source = async function* () {
      for (let pos = 0; pos < text.length; pos += 65536) yield text.slice(pos, pos + 65536);
    };
    const records: string[][] = [];
    for await (const batch of readCsv(source())) {
      batches.push(batch.length);
      records.push(...batch);
    }
    expect(records).toEqual(reference(text));
    expect(batches.length).toBeGreaterThan(1);
    // csv-parse batches hold at most 1000 records: bigger ones come from the fast reader.
    expect(Math.max(...batches)).toBeGreaterThan(1000);
  });
});

describe('rows longer than RECORD_CHARS_MAX', () => {
  const CHUNK = 64 * 1024;
  /** The text in upload-sized pieces, as a multipart stream hands it over. */
  const pieces = (text: string) => Array.from({ length: Math.ceil(text.length / CHUNK) }, (_, i) => text.slice(i * CHUNK, (i + 1) * CHUNK));
  const failure = async (text: string) => {
    try {
      await read(pieces(text));
      return undefined;
    } catch (error) {
      return error;
    }
  };
  const long = 'x'.repeat(RECORD_CHARS_MAX + 1);

  it.each([
    ['an unquoted cell', `a,b\n1,2\n3,${long}\n5,6\n`, 3],
    ['a quoted cell', `a,b\n1,"${long}"\n`, 2],
    ['a row of many cells', `a,b\n${Array(3).fill('y'.repeat(RECORD_CHARS_MAX / 2)).join(',')}\n`, 2],
    ['the header', `${long},b\n1,2\n`, 1],
    ['the last row, unterminated', `a,b\n1,${long}`, 2],
    ['a file read by csv-parse (lone CR line ends)', `a,b\r1,2\r3,${long}\r`, 3],
  ])('fails on %s, naming the row, before reading it whole', async (_, text, row) => {
    const error = await failure(text);
    expect(error).toBeInstanceOf(RecordTooLongError);
    expect((error as RecordTooLongError).row).toBe(row);
  });

  it('reads a row just under the limit, and a long row stays linear to read', async () => {
    const cell = 'z'.repeat(RECORD_CHARS_MAX - 10);
    expect(await read(pieces(`a,b\n1,${cell}\n`))).toEqual([['a', 'b'], ['1', cell]]);
    expect(await read(pieces(`a,b\n1,"${cell}"\n`))).toEqual([['a', 'b'], ['1', cell]]);
  });
});
