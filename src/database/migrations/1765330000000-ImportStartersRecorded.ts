import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every import started names who started it. Those started before the column was added were
 * started by their uploader, the only one who could then; an import whose starter's account is
 * deleted later is then written as nobody's, not as its uploader's.
 */
export class ImportStartersRecorded1765330000000 implements MigrationInterface {
  name = 'ImportStartersRecorded1765330000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(
      `UPDATE contact_imports SET started_by_id = created_by_id
        WHERE started_by_id IS NULL AND created_by_id IS NOT NULL AND status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'reverting', 'reverted')`,
    );
  }

  async down(): Promise<void> {
    // Nothing to undo: the column keeps what it names.
  }
}
