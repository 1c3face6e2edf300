import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The client's own preferences (language, preferred channel, newsletter), edited in the
 * client portal. The API validates the keys; the database only guarantees an object.
 */
export class ContactPreferences1764000000000 implements MigrationInterface {
  name = 'ContactPreferences1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE contacts
        ADD COLUMN preferences jsonb NOT NULL DEFAULT '{}'::jsonb
          CONSTRAINT contacts_preferences_object CHECK (jsonb_typeof(preferences) = 'object');
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE contacts DROP COLUMN IF EXISTS preferences');
  }
}
