import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { beforeMigration } from '../support/migrations';

/** Empty lists stored before under multi-select fields are removed; chosen values and other fields stay. */
describe('migration: an empty multi-select is no value (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765170000000-EmptyMultiSelectIsNoValue.ts'));
  });
  afterAll(() => db?.close());

  it('removes [] from multi-select fields only', async () => {
    await db.query(`INSERT INTO custom_fields (key, label, type, options) VALUES
      ('langs', 'Languages', 'multi_select', '["en", "fr"]'), ('sizes', 'Sizes', 'multi_select', '["s", "m"]'), ('note', 'Note', 'text', '[]')`);
    await db.query(`INSERT INTO contacts (first_name, custom_fields) VALUES
      ('Empty', '{"langs": [], "sizes": ["m"], "note": "kept"}'), ('Chosen', '{"langs": ["fr"]}'), ('Both', '{"langs": [], "sizes": []}')`);
    await target.up(runner);
    const rows = (await db.query<{ first_name: string; custom_fields: unknown }>('SELECT first_name, custom_fields FROM contacts ORDER BY first_name')).rows;
    expect(rows).toEqual([
      { first_name: 'Both', custom_fields: {} },
      { first_name: 'Chosen', custom_fields: { langs: ['fr'] } },
      { first_name: 'Empty', custom_fields: { sizes: ['m'], note: 'kept' } },
    ]);
  });
});
