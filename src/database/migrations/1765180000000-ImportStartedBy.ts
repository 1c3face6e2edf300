import { MigrationInterface, QueryRunner } from 'typeorm';

/** Who started an import: its rows are written as that user, who may not be the uploader. */
export class ImportStartedBy1765180000000 implements MigrationInterface {
  name = 'ImportStartedBy1765180000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE contact_imports ADD COLUMN started_by_id uuid REFERENCES users (id) ON DELETE SET NULL');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE contact_imports DROP COLUMN started_by_id');
  }
}
