import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A multi-select with nothing chosen is no value, as blank text is: lists of none stored before
 * are removed, so they read, sort and filter with the missing ones. Compared whole: every list
 * contains the empty one.
 */
export class EmptyMultiSelectIsNoValue1765170000000 implements MigrationInterface {
  name = 'EmptyMultiSelectIsNoValue1765170000000';

  async up(db: QueryRunner): Promise<void> {
    const fields = (await db.query(`SELECT key FROM custom_fields WHERE type = 'multi_select'`)) as Array<{ key: string }>;
    for (const { key } of fields) {
      await db.query(`UPDATE contacts SET custom_fields = custom_fields - $1::text WHERE custom_fields -> $1::text = '[]'::jsonb`, [key]);
    }
  }

  async down(): Promise<void> {
    // Nothing to restore: an empty list and no value mean the same.
  }
}
