import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Trashed contacts by assignee. A demotion or a deletion unassigns every contact of the account,
 * trashed ones included, and the assignee indexes hold live contacts only: without this one the
 * lookup read the whole table. Small: only the trash is in it.
 */
export class TrashedAssigneeIndex1765280000000 implements MigrationInterface {
  name = 'TrashedAssigneeIndex1765280000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('CREATE INDEX contacts_trashed_assignee_idx ON contacts (assigned_to_id) WHERE deleted_at IS NOT NULL AND assigned_to_id IS NOT NULL');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX IF EXISTS contacts_trashed_assignee_idx');
  }
}
