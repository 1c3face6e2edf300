import { MigrationInterface, QueryRunner } from 'typeorm';

/** The tags an import created: reverting it removes those no contact uses any more. */
export class ImportCreatedTags1765160000000 implements MigrationInterface {
  name = 'ImportCreatedTags1765160000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE contact_import_tags (
        import_id uuid NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
        tag_id uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (import_id, tag_id)
      );
      CREATE INDEX contact_import_tags_tag_idx ON contact_import_tags (tag_id);
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE contact_import_tags');
  }
}
