import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A counter that moves whenever a status, traffic source or tag is changed, so API processes
 * may keep their names in memory: every contact list and profile statement reads the
 * counter with its rows, and a process that sees it move forgets what it kept. Resolving
 * names in the statement itself cost PostgreSQL more than finding the rows (two to three
 * times the CPU of a default page).
 *
 * Statement-level triggers bump it once per changing statement, in the changing transaction,
 * so readers see the new counter exactly when they see the new names. Only updates count:
 * new entries are loaded when first referenced, and deleted ones are no longer referenced.
 */
export class ContactLookupEpoch1764600000000 implements MigrationInterface {
  name = 'ContactLookupEpoch1764600000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE contact_lookup_epoch (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        epoch bigint NOT NULL DEFAULT 0
      );
      INSERT INTO contact_lookup_epoch (id, epoch) VALUES (true, 0);

      CREATE FUNCTION bump_contact_lookup_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO contact_lookup_epoch (id, epoch) VALUES (true, 1)
          ON CONFLICT (id) DO UPDATE SET epoch = contact_lookup_epoch.epoch + 1;
        RETURN NULL;
      END $$;

      CREATE TRIGGER contact_statuses_lookup_epoch AFTER UPDATE ON contact_statuses
        FOR EACH STATEMENT EXECUTE FUNCTION bump_contact_lookup_epoch();
      CREATE TRIGGER traffic_sources_lookup_epoch AFTER UPDATE ON traffic_sources
        FOR EACH STATEMENT EXECUTE FUNCTION bump_contact_lookup_epoch();
      CREATE TRIGGER tags_lookup_epoch AFTER UPDATE ON tags
        FOR EACH STATEMENT EXECUTE FUNCTION bump_contact_lookup_epoch();
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TRIGGER IF EXISTS tags_lookup_epoch ON tags;
      DROP TRIGGER IF EXISTS traffic_sources_lookup_epoch ON traffic_sources;
      DROP TRIGGER IF EXISTS contact_statuses_lookup_epoch ON contact_statuses;
      DROP FUNCTION IF EXISTS bump_contact_lookup_epoch();
      DROP TABLE IF EXISTS contact_lookup_epoch;
    `);
  }
}
