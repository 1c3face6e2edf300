import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import { customCellSql, customFinishedCellSql, inlineParams, neutraliseSql, sqlLiteral } from './contacts-export.sql';
import { customValueToCell, neutraliseFormula } from './contacts.csv';
import { loadPGlite } from '../../database/testing/memory-database';

const PGlite = loadPGlite();

let db: PGliteClass;

beforeAll(async () => {
  db = await PGlite.create('memory://');
}, 60000);

afterAll(async () => {
  await db?.close();
});

/** The cells SQL computes for jsonb values given as JSON text, in order. */
async function sqlCells(json: string[], cell: (v: string) => string): Promise<Array<string | null>> {
  const { rows } = await db.query<{ cell: string | null }>(
    `SELECT ${cell('x.v')} AS cell FROM unnest($1::text[]) WITH ORDINALITY AS t (j, i), LATERAL (SELECT t.j::jsonb AS v) x ORDER BY t.i`,
    [json],
  );
  return rows.map((row) => row.cell);
}

describe('custom field cells in SQL', () => {
  const numbers = [
    0, -0, 1, -1, 5000, 0.1, 0.2 + 0.1, 1.5, -2.25, 1 / 3, 2 / 3, 123456789.123, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 60,
    1e20, 123456789012345680000, 1e21, 1.5e21, -1e21, 1.7976931348623157e308, 5e-324, 1e-6, 1.5e-6, 9.99e-7, 1e-7, -1.25e-7, 1.2345678901234567e-10, 0.000123,
  ];
  const values: unknown[] = [
    'text', '', '  spaced  ', 'first; value', 'Zoë 日本', 'line\nbreak', 'quote "q", comma', '=SUM(1)', '2024-01-31', 'https://example.com/a?b=c',
    true, false,
    ...numbers,
    [], ['gold'], ['silver', 'gold'], ['', ''], [null], [null, 'a'], [1, 'two', true, null, 2.5e-7], [{ a: 1 }], [['x', 'y'], ['z']], [[], [1, [2, 3]]],
    { a: 1 }, {},
  ];

  it('is customValueToCell for every kind of JSON value', async () => {
    const json = values.map((value) => JSON.stringify(value));
    const cells = (await sqlCells(json, customCellSql)).map((cell) => cell ?? '');
    expect(cells).toEqual(json.map((text) => customValueToCell(JSON.parse(text))));
  });

  it('is neutraliseFormula(customValueToCell) for the file, NULL when empty', async () => {
    const json = [...values, ['=a', 'b'], ['-x'], [-1], ["'=a"], ["''@b", 'c'], ["'x"], "'=x", "'", -1e-400, '-1e400', '\tx', '@'].map((value) => (value === -1e-400 ? '-1e-400' : JSON.stringify(value)));
    const expected = json.map((text) => neutraliseFormula(customValueToCell(JSON.parse(text))) || null);
    expect(await sqlCells(json, customFinishedCellSql)).toEqual(expected);
  });

  it('reads numbers as the doubles JavaScript would make of them, whatever their text in the database', async () => {
    const json = ['1.50', '100.000', '-12.3400', '123456789012345.0', '1234567890123456', '0.000001000', '1E+3', '0.30000000000000004441', '12345678901234567890', '1e400', '-1e400', '1e-400', '0.1e-5', '1e-320'];
    expect(await sqlCells(json, customCellSql)).toEqual(json.map((text) => String(JSON.parse(text))));
    expect(await sqlCells(json, customFinishedCellSql)).toEqual(json.map((text) => neutraliseFormula(String(JSON.parse(text)))));
  });

  it('is empty for a missing key and JSON null', async () => {
    for (const cell of [customCellSql, customFinishedCellSql]) {
      const { rows } = await db.query<{ missing: string | null; nil: string | null }>(`SELECT ${cell(`'{}'::jsonb -> 'gone'`)} AS missing, ${cell(`'{"k": null}'::jsonb -> 'k'`)} AS nil`);
      expect(rows[0]).toEqual({ missing: null, nil: null });
    }
  });
});

describe('formula neutralisation in SQL', () => {
  it('is neutraliseFormula, with NULL for an empty cell', async () => {
    const texts = ['=1', '+1', '-1', '@x', '\tx', '\rx', "'=1", "''-1", "'plain", "''", "'", ' =1', 'a=b', '', 'plain', '=', '\n=x', '＝1'];
    const { rows } = await db.query<{ cell: string | null }>(`SELECT ${neutraliseSql('t.v')} AS cell FROM unnest($1::text[]) WITH ORDINALITY AS t (v, i) ORDER BY t.i`, [texts]);
    expect(rows.map((row) => row.cell)).toEqual(texts.map((text) => neutraliseFormula(text) || null));
    const { rows: nulls } = await db.query<{ cell: string | null }>(`SELECT ${neutraliseSql('NULL::text')} AS cell`);
    expect(nulls[0]!.cell).toBeNull();
  });
});

describe('parameters as literals', () => {
  it('mean what the bound parameters mean', async () => {
    const params: unknown[] = ["O'Brien \\ back", ['a"b', 'c\\d', "e'f", null], 42, true, null, { k: ['v'] }];
    const sql = `SELECT $1::text AS a, $2::text[] AS b, $3::int AS c, $4::boolean AS d, $5::text AS e, $6::jsonb AS g, '$1' AS h`;
    const bound = (await db.query(sql, params)).rows[0];
    const inlined = (await db.query(inlineParams(sql, params))).rows[0];
    expect(inlined).toEqual(bound);
    expect(inlined).toMatchObject({ a: "O'Brien \\ back", h: '$1' });
  });

  it('leaves placeholders inside quoted literals and identifiers alone, and numbers them whole', () => {
    const params = Array.from({ length: 11 }, (_, i) => `p${i + 1}`);
    expect(inlineParams(`SELECT '$1''$2', "$3", $1, $11, $10`, params)).toBe(`SELECT '$1''$2', "$3", 'p1', 'p11', 'p10'`);
    expect(() => inlineParams('SELECT $2', ['only one'])).toThrow(/\$2/);
    expect(sqlLiteral(undefined)).toBe('NULL');
    expect(sqlLiteral(new Date('2024-05-06T07:08:09.123Z'))).toBe(`'2024-05-06T07:08:09.123Z'`);
  });
});
