import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { VISIBLE_TEXT } from '../../src/core/http/formats';
import { beforeMigration } from '../support/migrations';

/** Role names stored before the API refused control and invisible characters are written as it accepts them now. */
describe('migration: role names without control or invisible characters (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765315000000-RoleNamesWithoutInvisibleCharacters.ts'));
  });
  afterAll(() => db?.close());

  it('drops the hidden characters, keeping white space and leaving a name that would be empty or equal another', async () => {
    await db.query(`
      INSERT INTO roles (name, audience) VALUES
        ('Sales\u200b', 'staff'), ('\u202eSupport\u0007', 'staff'), ('Two\nlines', 'staff'),
        ('Billing', 'staff'), ('BILL\u2060ING', 'staff'), ('\u200b', 'client'), ('Plain', 'client')
    `);

    await target.up(runner);

    const names = (await db.query<{ name: string }>('SELECT name FROM roles')).rows.map((row) => row.name).sort();
    expect(names).toEqual(['BILL\u2060ING', 'Billing', 'Plain', 'Sales', 'Support', 'Two\nlines', '\u200b'].sort());
    for (const name of ['Sales', 'Support', 'Two\nlines', 'Billing', 'Plain']) expect(VISIBLE_TEXT.test(name)).toBe(true);
  });
});
