import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { beforeMigration } from '../support/migrations';

/** Imports started before their starter was kept name their uploader as it; others keep theirs. */
describe('migration: every started import names who started it (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765330000000-ImportStartersRecorded.ts'));
  });
  afterAll(() => db?.close());

  it('fills in the uploader of started imports without a starter, and nothing else', async () => {
    const account = async (name: string) => {
      const [contact] = (await db.query<{ id: string }>('INSERT INTO contacts (first_name) VALUES ($1) RETURNING id', [name])).rows;
      return (await db.query<{ id: string }>('INSERT INTO users (contact_id, first_name, email) VALUES ($1, $2, $3) RETURNING id', [contact!.id, name, `${name}@example.com`])).rows[0]!.id;
    };
    const uploader = await account('uploader');
    const starter = await account('starter');
    const importOf = async (fileName: string, status: string, createdBy: string | null, startedBy: string | null) => {
      await db.query(`INSERT INTO contact_imports (file_name, status, headers, created_by_id, started_by_id) VALUES ($1, $2, '[]', $3, $4)`, [fileName, status, createdBy, startedBy]);
    };
    await importOf('completed-before.csv', 'completed', uploader, null);
    await importOf('running-before.csv', 'running', uploader, null);
    await importOf('reverted-before.csv', 'reverted', uploader, null);
    await importOf('started-by-another.csv', 'completed', uploader, starter);
    await importOf('not-started.csv', 'uploaded', uploader, null);
    await importOf('still-uploading.csv', 'uploading', uploader, null);
    await importOf('uploader-gone.csv', 'completed', null, null);

    await target.up(runner);
    const rows = (await db.query<{ file_name: string; started_by_id: string | null }>('SELECT file_name, started_by_id FROM contact_imports ORDER BY file_name')).rows;
    expect(Object.fromEntries(rows.map((row) => [row.file_name, row.started_by_id]))).toEqual({
      'completed-before.csv': uploader,
      'not-started.csv': null,
      'reverted-before.csv': uploader,
      'running-before.csv': uploader,
      'started-by-another.csv': starter,
      'still-uploading.csv': null,
      'uploader-gone.csv': null,
    });
  });
});
