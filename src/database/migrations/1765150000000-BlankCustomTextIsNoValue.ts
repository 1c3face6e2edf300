import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Blank custom text is no value, as blank core text is: values stored as "" before are removed,
 * so they sort and filter with the missing ones. Each text field's blanks are found through the
 * custom fields' GIN index, one field at a time.
 */
export class BlankCustomTextIsNoValue1765150000000 implements MigrationInterface {
  name = 'BlankCustomTextIsNoValue1765150000000';

  async up(db: QueryRunner): Promise<void> {
    const fields = (await db.query(`SELECT key FROM custom_fields WHERE type = 'text'`)) as Array<{ key: string }>;
    for (const { key } of fields) {
      await db.query(`UPDATE contacts SET custom_fields = custom_fields - $1::text WHERE custom_fields @> jsonb_build_object($1::text, '')`, [key]);
    }
  }

  async down(): Promise<void> {
    // Nothing to restore: a blank value and no value mean the same.
  }
}
