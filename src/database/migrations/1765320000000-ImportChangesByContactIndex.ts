import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Imports' before-images by contact. A contact's deletion (a purge, an import's revert) removes
 * its before-images through the foreign key's ON DELETE CASCADE, which looks them up by contact:
 * the primary key leads with the import, so every deleted contact read the whole table, and a
 * revert or purge of many contacts after a large updating import took time growing with both.
 */
export class ImportChangesByContactIndex1765320000000 implements MigrationInterface {
  name = 'ImportChangesByContactIndex1765320000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('CREATE INDEX contact_import_changes_contact_idx ON contact_import_changes (contact_id)');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX IF EXISTS contact_import_changes_contact_idx');
  }
}
