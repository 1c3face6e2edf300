import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { beforeMigration } from '../support/migrations';

/** Status changes of imports run before the migration are named after their import, and undone where a revert put them back. */
describe('migration: reverted imports convert nobody (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765220000000-RevertedImportsConvertNobody.ts'));
  });
  afterAll(() => db?.close());

  it('names earlier import changes after their import and marks those a revert put back', async () => {
    await db.query(`INSERT INTO contact_statuses (name, stage) VALUES ('Lead', 'lead'), ('Customer', 'customer')`);
    const status = async (name: string) => (await db.query<{ id: string }>('SELECT id FROM contact_statuses WHERE name = $1', [name])).rows[0]!.id;
    const [lead, customer] = [await status('Lead'), await status('Customer')];
    const contact = async (name: string) => (await db.query<{ id: string }>(`INSERT INTO contacts (first_name, status_id) VALUES ($1, $2) RETURNING id`, [name, lead])).rows[0]!.id;
    const [reverted, kept, other] = [await contact('Reverted'), await contact('Kept'), await contact('Other')];
    const importRow = async (state: string) =>
      (
        await db.query<{ id: string }>(
          `INSERT INTO contact_imports (file_name, status, headers, created_at, finished_at) VALUES ('f.csv', $1, '[]', '2026-01-01T10:00:00Z', '2026-01-01T10:05:00Z') RETURNING id`,
          [state],
        )
      ).rows[0]!.id;
    const [undoneImport, keptImport] = [await importRow('reverted'), await importRow('completed')];
    for (const [importId, contactId] of [
      [undoneImport, reverted],
      [keptImport, kept],
    ]) {
      await db.query(`INSERT INTO contact_import_changes (import_id, contact_id, before) VALUES ($1, $2, '{}')`, [importId, contactId]);
    }
    const change = (contactId: string, from: string, to: string, at: string, source: string) =>
      db.query(`INSERT INTO contact_status_history (contact_id, from_status_id, to_status_id, changed_at, source) VALUES ($1, $2, $3, $4, $5)`, [contactId, from, to, at, source]);
    await change(reverted, lead, customer, '2026-01-01T10:01:00Z', 'import');
    await change(reverted, customer, lead, '2026-01-02T09:00:00Z', 'revert');
    await change(kept, lead, customer, '2026-01-01T10:02:00Z', 'import');
    // Outside any import's run: left alone.
    await change(other, lead, customer, '2026-02-01T10:00:00Z', 'import');

    await target.up(runner);
    const rows = (
      await db.query<{ first_name: string; import_id: string | null; undone: boolean }>(
        `SELECT c.first_name, h.import_id, h.undone FROM contact_status_history h JOIN contacts c ON c.id = h.contact_id WHERE h.source = 'import' ORDER BY c.first_name`,
      )
    ).rows;
    expect(rows).toEqual([
      { first_name: 'Kept', import_id: keptImport, undone: false },
      { first_name: 'Other', import_id: null, undone: false },
      { first_name: 'Reverted', import_id: undoneImport, undone: true },
    ]);
  });
});
