import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A status change is dated when it is written, not when its transaction began: a change that
 * waited for a lock (a status deleted with a replacement, behind a bulk change) was dated
 * before changes that committed ahead of it, so the latest entry of a contact's history was
 * not its current status.
 */
export class StatusHistoryInCommitOrder1765130000000 implements MigrationInterface {
  name = 'StatusHistoryInCommitOrder1765130000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE contact_status_history ALTER COLUMN changed_at SET DEFAULT clock_timestamp()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE contact_status_history ALTER COLUMN changed_at SET DEFAULT now()`);
  }
}
