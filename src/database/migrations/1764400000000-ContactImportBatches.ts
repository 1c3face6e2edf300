import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Imports at a million rows: each committed chunk records the ids of the contacts it created
 * in one row (what a revert removes), instead of every staged row being rewritten with its
 * outcome. Staged rows now carry an outcome only when skipped or rejected, with the reason.
 */
export class ContactImportBatches1764400000000 implements MigrationInterface {
  name = 'ContactImportBatches1764400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE contact_import_batches (
        import_id uuid NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
        first_row integer NOT NULL,
        created_ids uuid[] NOT NULL,
        PRIMARY KEY (import_id, first_row)
      );
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE IF EXISTS contact_import_batches');
  }
}
