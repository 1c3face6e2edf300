import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { beforeMigration } from '../support/migrations';

/** Blank custom text stored before is removed; other values and other types' blanks stay. */
describe('migration: blank custom text is no value (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765150000000-BlankCustomTextIsNoValue.ts'));
  });
  afterAll(() => db?.close());

  it('removes "" from text fields only', async () => {
    await db.query(`INSERT INTO custom_fields (key, label, type) VALUES ('remark', 'Remark', 'text'), ('note', 'Note', 'text'), ('plan', 'Plan', 'select')`);
    await db.query(`INSERT INTO contacts (first_name, custom_fields) VALUES
      ('Blank', '{"remark": "", "note": "kept", "plan": ""}'), ('Filled', '{"remark": "yes"}'), ('Both', '{"remark": "", "note": ""}')`);
    await target.up(runner);
    const rows = (await db.query<{ first_name: string; custom_fields: unknown }>('SELECT first_name, custom_fields FROM contacts ORDER BY first_name')).rows;
    expect(rows).toEqual([
      { first_name: 'Blank', custom_fields: { note: 'kept', plan: '' } },
      { first_name: 'Both', custom_fields: {} },
      { first_name: 'Filled', custom_fields: { remark: 'yes' } },
    ]);
  });
});
