import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { beforeMigration } from '../support/migrations';

/** History rows stop being rewritten when their author's account goes; taken back, the foreign keys return. */
describe('migration: history keeps its authors (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765340000000-HistoryKeepsItsAuthors.ts'));
  });
  afterAll(() => db?.close());

  const authorKeys = async () =>
    (await db.query<{ name: string }>(`SELECT conname AS name FROM pg_constraint WHERE contype = 'f' AND conname = ANY($1::text[]) ORDER BY conname`, [['activities_author_id_fkey', 'contact_status_history_changed_by_id_fkey', 'segment_members_added_by_id_fkey']])).rows.map((row) => row.name);

  it('drops the three foreign keys, and down() puts them back, clearing ids of accounts deleted meanwhile', async () => {
    expect(await authorKeys()).toHaveLength(3);
    await target.up(runner);
    expect(await authorKeys()).toEqual([]);

    const [contact] = (await db.query<{ id: string }>(`INSERT INTO contacts (first_name) VALUES ('Kept') RETURNING id`)).rows;
    const [user] = (await db.query<{ id: string }>(`INSERT INTO users (contact_id, first_name, email) VALUES ($1, 'Writer', 'writer@example.com') RETURNING id`, [contact!.id])).rows;
    await db.query(`INSERT INTO activities (contact_id, author_id, type, subject) VALUES ($1, $2, 'call', 'Kept author'), ($1, '00000000-0000-4000-8000-00000000dead', 'note', 'Deleted author')`, [contact!.id, user!.id]);

    await target.down(runner);
    expect(await authorKeys()).toHaveLength(3);
    const authors = (await db.query<{ subject: string; author_id: string | null }>('SELECT subject, author_id FROM activities ORDER BY subject')).rows;
    expect(authors).toEqual([
      { subject: 'Deleted author', author_id: null },
      { subject: 'Kept author', author_id: user!.id },
    ]);
  });
});
