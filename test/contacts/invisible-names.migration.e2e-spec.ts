import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { PERSON_NAME, VISIBLE_TEXT } from '../../src/core/http/formats';
import { beforeMigration } from '../support/migrations';

/** Names stored before the API refused control and invisible characters are written as it accepts them now. */
describe('migration: names without control or invisible characters (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765310000000-NamesWithoutInvisibleCharacters.ts'));
  });
  afterAll(() => db?.close());

  const contact = async (firstName: string, lastName: string, email: string | null = null) =>
    (await db.query<{ id: string }>('INSERT INTO contacts (first_name, last_name, email) VALUES ($1, $2, $3) RETURNING id', [firstName, lastName, email])).rows[0]!.id;
  const names = async (id: string) =>
    (await db.query<{ first_name: string; last_name: string; version: number }>('SELECT first_name, last_name, version FROM contacts WHERE id = $1', [id])).rows[0]!;

  it("cleans people's names, keeps the joiners names need, and moves their accounts and versions along", async () => {
    const broken = await contact('Anna\nMaria\u200b', '\u202eSmith\u0007', 'anna@example.com');
    const persian = await contact('می\u200cخواهم', 'Zo\u200dë');
    const blank = await contact('\u200b', 'Kept\u2028Apart');
    const clean = await contact('Plain', 'Name');
    const [account] = (await db.query<{ id: string }>(`INSERT INTO users (contact_id, first_name, last_name, email) VALUES ($1, 'Anna\nMaria\u200b', '\u202eSmith\u0007', 'anna@example.com') RETURNING id`, [broken])).rows;
    await db.query(`INSERT INTO sign_up_requests (email, first_name, last_name, password_hash, token_hash, expires_at) VALUES ('new@example.com', E'Tab\\there', '\u2066Iso\u2069', 'x', 'token', now() + interval '1 day')`);

    await target.up(runner);

    expect(await names(broken)).toEqual({ first_name: 'Anna Maria', last_name: 'Smith', version: 2 });
    const [user] = (await db.query<{ first_name: string; last_name: string }>('SELECT first_name, last_name FROM users WHERE id = $1', [account!.id])).rows;
    expect(user).toEqual({ first_name: 'Anna Maria', last_name: 'Smith' });
    expect(await names(persian)).toEqual({ first_name: 'می\u200cخواهم', last_name: 'Zo\u200dë', version: 1 });
    // A first name of nothing visible is not blanked (a contact must have one); its last name is cleaned.
    expect(await names(blank)).toEqual({ first_name: '\u200b', last_name: 'Kept Apart', version: 2 });
    expect(await names(clean)).toEqual({ first_name: 'Plain', last_name: 'Name', version: 1 });
    const [request] = (await db.query<{ first_name: string; last_name: string }>('SELECT first_name, last_name FROM sign_up_requests')).rows;
    expect(request).toEqual({ first_name: 'Tab here', last_name: 'Iso' });
    // What the migration leaves is what the API takes now.
    for (const name of ['Anna Maria', 'Smith', 'Kept Apart', 'Tab here', 'Iso', 'می\u200cخواهم', 'Zo\u200dë']) expect(PERSON_NAME.test(name)).toBe(true);
  });

  it('cleans segment names, field labels and mapping names, leaving a name that would equal another', async () => {
    await db.query(`INSERT INTO segments (name, kind) VALUES ('VIP\u200b', 'static'), ('Hot', 'static'), ('H\u200bot', 'static'), ('Multi\nline', 'static')`);
    await db.query(`INSERT INTO custom_fields (key, label, type) VALUES ('plan', 'Plan\u0007', 'text'), ('ghost', '\u200b', 'text')`);
    await db.query(`INSERT INTO contact_import_mappings (name, mapping) VALUES ('Weekly\u2060', '{}'), ('Weekly', '{}')`);

    await target.up(runner);

    const column = async (sql: string) => (await db.query<{ value: string }>(sql)).rows.map((row) => row.value).sort();
    // Line breaks are white space, which these names may hold; "H\u200bot" would equal "Hot".
    expect(await column('SELECT name AS value FROM segments')).toEqual(['H\u200bot', 'Hot', 'Multi\nline', 'VIP'].sort());
    expect(await column('SELECT label AS value FROM custom_fields')).toEqual(['Plan', '\u200b'].sort());
    expect(await column('SELECT name AS value FROM contact_import_mappings')).toEqual(['Weekly', 'Weekly\u2060'].sort());
    for (const name of ['VIP', 'Multi\nline', 'Plan']) expect(VISIBLE_TEXT.test(name)).toBe(true);
  });

  it('cleans role names, keeping white space and leaving a name that would be empty or equal another', async () => {
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
