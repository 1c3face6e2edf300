import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A contact without a last name stores ''. Sorted by last name it comes last either way, as
 * every empty value does: ascending reads this index (no last name as NULL, so last);
 * descending walks contacts_last_name_idx backwards, where '' is already last.
 */
export class LastNameSortsEmptyLast1765190000000 implements MigrationInterface {
  name = 'LastNameSortsEmptyLast1765190000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE INDEX contacts_last_name_ascending_idx ON contacts (lower(nullif(last_name, '')), id) WHERE deleted_at IS NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX IF EXISTS contacts_last_name_ascending_idx');
  }
}
