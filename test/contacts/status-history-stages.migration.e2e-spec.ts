import type { PGlite } from '@electric-sql/pglite';
import { randomUUID } from 'node:crypto';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { profileStatements } from '../../src/modules/contacts/contacts.queries';
import { beforeMigration } from '../support/migrations';

/**
 * Status changes keep the stages their statuses had when they were made: past changes get the
 * stages of today, new ones those of their moment, and neither moves when a status changes
 * stage or is deleted afterwards. Names stay those of the live statuses.
 */
describe('migration: the status history keeps stages (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;
  const status = { lead: randomUUID(), customer: randomUUID(), gone: randomUUID() };
  let contact: string;

  const history = async (contactId: string) =>
    (
      await db.query<{ from_status_stage: string | null; to_status_stage: string | null; source: string; import_id: string | null }>(
        'SELECT from_status_stage, to_status_stage, source, import_id FROM contact_status_history WHERE contact_id = $1 ORDER BY changed_at, id',
        [contactId],
      )
    ).rows;
  const profileHistory = async (contactId: string) => {
    const statement = profileStatements(contactId).history;
    return (await db.query<Record<string, unknown>>(statement.sql, statement.params)).rows.map((row) => [row.from_name, row.from_stage, row.to_name, row.to_stage]).reverse();
  };

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1765240000000-StatusHistoryKeepsStages.ts'));
    await db.query(`INSERT INTO contact_statuses (id, name, stage, position) VALUES ($1, 'Lead', 'lead', 0), ($2, 'Customer', 'customer', 1), ($3, 'Gone', 'prospect', 2)`, [
      status.lead,
      status.customer,
      status.gone,
    ]);
    contact = (await db.query<{ id: string }>(`INSERT INTO contacts (first_name, status_id) VALUES ('Old', $1) RETURNING id`, [status.gone])).rows[0]!.id;
    await db.query('UPDATE contacts SET status_id = $2 WHERE id = $1', [contact, status.lead]);
    await db.query('DELETE FROM contact_statuses WHERE id = $1', [status.gone]);
    await db.query('UPDATE contacts SET status_id = $2 WHERE id = $1', [contact, status.customer]);
  });
  afterAll(() => db?.close());

  it('gives recorded changes the stages of their statuses, keeping those of deleted ones', async () => {
    expect(await history(contact)).toEqual([
      { from_status_stage: null, to_status_stage: 'prospect', source: 'api', import_id: null },
      { from_status_stage: 'prospect', to_status_stage: null, source: 'api', import_id: null },
      { from_status_stage: null, to_status_stage: null, source: 'api', import_id: null },
    ]);
    await target.up(runner);
    expect(await history(contact)).toEqual([
      { from_status_stage: null, to_status_stage: 'prospect', source: 'api', import_id: null },
      { from_status_stage: 'prospect', to_status_stage: 'lead', source: 'api', import_id: null },
      { from_status_stage: 'lead', to_status_stage: 'customer', source: 'api', import_id: null },
    ]);
  });

  it('records the stages of the moment, which later stage changes, renames and deletes leave as they were', async () => {
    const importId = randomUUID();
    const moved = (await db.query<{ id: string }>(`INSERT INTO contacts (first_name, status_id) VALUES ('New', $1) RETURNING id`, [status.lead])).rows[0]!.id;
    await db.transaction(async (tx) => {
      await tx.query(`SELECT set_config('maestro.change_source', 'import', true), set_config('maestro.import_id', $1, true)`, [importId]);
      await tx.query('UPDATE contacts SET status_id = $2 WHERE id = $1', [moved, status.customer]);
    });
    await db.query(`UPDATE contact_statuses SET stage = 'other', name = 'Former customer' WHERE id = $1`, [status.customer]);
    await db.query(`UPDATE contact_statuses SET stage = 'prospect' WHERE id = $1`, [status.lead]);
    expect(await history(moved)).toEqual([
      { from_status_stage: null, to_status_stage: 'lead', source: 'api', import_id: null },
      { from_status_stage: 'lead', to_status_stage: 'customer', source: 'import', import_id: importId },
    ]);
    // The profile shows the stages kept, under the statuses' names of today.
    expect(await profileHistory(moved)).toEqual([
      [null, null, 'Lead', 'lead'],
      ['Lead', 'lead', 'Former customer', 'customer'],
    ]);

    await db.query('UPDATE contacts SET status_id = NULL WHERE status_id = $1', [status.customer]);
    await db.query('DELETE FROM contact_statuses WHERE id = $1', [status.customer]);
    expect((await history(moved))[1]).toEqual({ from_status_stage: 'lead', to_status_stage: 'customer', source: 'import', import_id: importId });
    expect((await profileHistory(moved))[1]).toEqual(['Lead', 'lead', 'Former customer', 'customer']);
  });

  it('reads stages from live statuses again once reverted', async () => {
    await target.down(runner);
    const lead = (await db.query<{ id: string }>(`INSERT INTO contacts (first_name, status_id) VALUES ('Down', $1) RETURNING id`, [status.lead])).rows[0]!.id;
    expect(await history(lead)).toEqual([{ from_status_stage: null, to_status_stage: null, source: 'api', import_id: null }]);
    // A deleted status's stage stays on the row, as before.
    expect((await history(contact))[1]).toMatchObject({ from_status_stage: 'prospect', to_status_stage: null });
  });
});
