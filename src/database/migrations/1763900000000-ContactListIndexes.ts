import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * List indexes whose column directions match the list's ORDER BY exactly (newest first,
 * id as the tiebreaker in the same direction), so the first page and every keyset page
 * is an index scan that stops after LIMIT rows.
 */
export class ContactListIndexes1763900000000 implements MigrationInterface {
  name = 'ContactListIndexes1763900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP INDEX IF EXISTS contacts_live_created_idx;
      DROP INDEX IF EXISTS contacts_assigned_idx;
      DROP INDEX IF EXISTS contacts_status_created_idx;
      CREATE INDEX contacts_live_created_idx ON contacts (created_at DESC, id DESC) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_live_updated_idx ON contacts (updated_at DESC, id DESC) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_assigned_idx ON contacts (assigned_to_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_status_created_idx ON contacts (status_id, created_at DESC, id DESC) WHERE deleted_at IS NULL;
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP INDEX IF EXISTS contacts_live_created_idx;
      DROP INDEX IF EXISTS contacts_live_updated_idx;
      DROP INDEX IF EXISTS contacts_assigned_idx;
      DROP INDEX IF EXISTS contacts_status_created_idx;
      CREATE INDEX contacts_live_created_idx ON contacts (created_at DESC, id) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_assigned_idx ON contacts (assigned_to_id, created_at DESC, id) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_status_created_idx ON contacts (status_id, created_at DESC, id) WHERE deleted_at IS NULL;
    `);
  }
}
