import { MigrationInterface, QueryRunner } from 'typeorm';

/** History rows naming who wrote them, and the foreign keys that cleared those names. */
const AUTHORS = [
  { table: 'activities', column: 'author_id' },
  { table: 'contact_status_history', column: 'changed_by_id' },
  { table: 'segment_members', column: 'added_by_id' },
] as const;

/**
 * History keeps who wrote it. Activities, status changes and segment memberships named their
 * author through a foreign key with ON DELETE SET NULL, so deleting an account rewrote every row
 * it had ever written: a staff member with 400,000 activities and 100,000 status changes (a
 * million-contact CRM) took 14 s to delete, holding their contacts locked throughout. The rows
 * now keep the id of an account deleted since, which nothing can take again (ids are random
 * UUIDs); every read joins the account and shows no author where there is none.
 */
export class HistoryKeepsItsAuthors1765340000000 implements MigrationInterface {
  name = 'HistoryKeepsItsAuthors1765340000000';

  async up(db: QueryRunner): Promise<void> {
    for (const { table, column } of AUTHORS) await db.query(`ALTER TABLE IF EXISTS ${table} DROP CONSTRAINT IF EXISTS ${table}_${column}_fkey`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const { table, column } of AUTHORS) {
      await db.query(`UPDATE ${table} h SET ${column} = NULL WHERE ${column} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = h.${column})`);
      await db.query(`ALTER TABLE ${table} ADD CONSTRAINT ${table}_${column}_fkey FOREIGN KEY (${column}) REFERENCES users (id) ON DELETE SET NULL`);
    }
  }
}
