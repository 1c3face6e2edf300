import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An import is 'uploading' while its file is staged, and 'uploaded' once every row is: one whose
 * upload never finished (its process stopped) is no longer offered for settings and runs, and is
 * removed later. Imports left half-staged before are marked so.
 */
export class ImportUploadingStatus1765250000000 implements MigrationInterface {
  name = 'ImportUploadingStatus1765250000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE contact_imports DROP CONSTRAINT contact_imports_status_check;
      ALTER TABLE contact_imports ADD CONSTRAINT contact_imports_status_check
        CHECK (status IN ('uploading', 'uploaded', 'queued', 'running', 'completed', 'failed', 'reverting', 'reverted'));
      UPDATE contact_imports SET status = 'uploading' WHERE status = 'uploaded' AND mapping IS NULL;
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DELETE FROM contact_imports WHERE status = 'uploading';
      ALTER TABLE contact_imports DROP CONSTRAINT contact_imports_status_check;
      ALTER TABLE contact_imports ADD CONSTRAINT contact_imports_status_check
        CHECK (status IN ('uploaded', 'queued', 'running', 'completed', 'failed', 'reverting', 'reverted'));
    `);
  }
}
