import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { beforeMigration } from '../support/migrations';

/** Phones as people type them, and the odd ones: no digits, one group, extensions, leading zeros. */
const PHONES = ['+54 258 2517464', '+1 (555) 010-9999 x12', '(0)30-123 45', '0044 20 7946 0958', '2582517464', '12', ' 12 ', 'ext.5', '+', '--', '', '+49-(0)89/1234-5678', '٣٤٥ 12'];

/**
 * The phone terms function on PGlite (the embedded database; the e2e specs search through it on
 * PostgreSQL): its faster form gives every phone the same search vector as the one it replaces,
 * so vectors stored before it stay right, and down() brings the old form back.
 */
describe('migration: phone search terms in PL/pgSQL (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  const vectors = async (): Promise<string[]> =>
    (await db.query<{ vector: string }>(`SELECT to_tsvector('simple', coalesce(contact_phone_search_terms(p), ''))::text AS vector FROM unnest($1::text[]) WITH ORDINALITY AS t (p, n) ORDER BY n`, [PHONES])).rows.map(
      (row) => row.vector,
    );
  const language = async (): Promise<string[]> =>
    (await db.query<{ language: string }>(`SELECT l.lanname AS language FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.proname = 'contact_phone_search_terms'`)).rows.map((row) => row.language);
  const terms = async (phone: string): Promise<string> => (await db.query<{ terms: string }>('SELECT contact_phone_search_terms($1) AS terms', [phone])).rows[0]!.terms;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765140000000-PhoneSearchTermsInPlpgsql.ts'));
  });
  afterAll(() => db?.close());

  it('gives every phone the vector it had, and contacts stored before are still found by their groups', async () => {
    await db.query(`INSERT INTO contacts (first_name, phone) VALUES ('Stored', '+54 258 2517464')`);
    const before = await vectors();
    expect(await language()).toEqual(['sql']);
    await target.up(runner);
    expect(await language()).toEqual(['plpgsql']);
    expect(await vectors()).toEqual(before);
    expect(await terms('+54 258 2517464')).toBe('+542582517464 542582517464 2582517464 2517464');
    expect(await terms('(0)30-123 45')).toBe('03012345 03012345 3012345 12345 45');
    const found = await db.query<{ first_name: string }>(`SELECT first_name FROM contacts WHERE search @@ to_tsquery('simple', '2582517464:*')`);
    expect(found.rows).toEqual([{ first_name: 'Stored' }]);
    await db.query(`INSERT INTO contacts (first_name, phone) VALUES ('Written', '+54 258 2517465')`);
    const both = await db.query<{ first_name: string }>(`SELECT first_name FROM contacts WHERE search @@ to_tsquery('simple', '258251746:*') ORDER BY first_name`);
    expect(both.rows).toEqual([{ first_name: 'Stored' }, { first_name: 'Written' }]);
  });

  it('down() brings back the SQL form with the same vectors', async () => {
    const after = await vectors();
    await target.down(runner);
    expect(await language()).toEqual(['sql']);
    expect(await vectors()).toEqual(after);
  });
});
