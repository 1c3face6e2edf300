import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An import can be cancelled: it stops after the chunk being written, keeps what it wrote (which
 * a revert undoes) and is never run again.
 */
export class ImportCancelledStatus1765260000000 implements MigrationInterface {
  name = 'ImportCancelledStatus1765260000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE contact_imports DROP CONSTRAINT contact_imports_status_check;
      ALTER TABLE contact_imports ADD CONSTRAINT contact_imports_status_check
        CHECK (status IN ('uploading', 'uploaded', 'queued', 'running', 'completed', 'failed', 'cancelled', 'reverting', 'reverted'));
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    // A cancelled import stopped for good, as one that failed for good did.
    await db.query(`
      UPDATE contact_imports SET status = 'failed', error = coalesce(error, 'cancelled') WHERE status = 'cancelled';
      ALTER TABLE contact_imports DROP CONSTRAINT contact_imports_status_check;
      ALTER TABLE contact_imports ADD CONSTRAINT contact_imports_status_check
        CHECK (status IN ('uploading', 'uploaded', 'queued', 'running', 'completed', 'failed', 'reverting', 'reverted'));
    `);
  }
}
