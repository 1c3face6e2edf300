import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A status change stays readable after its status is deleted: the history keeps the deleted
 * status's name and stage (its id becomes NULL, as before). Conversions per month are counted
 * from the stages of status changes, so deleting or merging a customer-stage status no longer
 * erases the conversions into it. A trigger, so every way a status is deleted keeps them.
 */
export class StatusHistoryKeepsDeletedStatuses1765000000000 implements MigrationInterface {
  name = 'StatusHistoryKeepsDeletedStatuses1765000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE contact_status_history
        ADD COLUMN from_status_name text NULL,
        ADD COLUMN from_status_stage text NULL,
        ADD COLUMN to_status_name text NULL,
        ADD COLUMN to_status_stage text NULL;

      CREATE FUNCTION keep_deleted_status_in_history() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        -- The ids are cleared here too (the foreign keys would do it after the row is gone), so a
        -- statement deleting several statuses never rechecks a row still naming one deleted before.
        UPDATE contact_status_history SET from_status_id = NULL, from_status_name = OLD.name, from_status_stage = OLD.stage WHERE from_status_id = OLD.id;
        UPDATE contact_status_history SET to_status_id = NULL, to_status_name = OLD.name, to_status_stage = OLD.stage WHERE to_status_id = OLD.id;
        RETURN OLD;
      END $$;

      CREATE TRIGGER contact_statuses_keep_history
        BEFORE DELETE ON contact_statuses
        FOR EACH ROW EXECUTE FUNCTION keep_deleted_status_in_history();
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TRIGGER contact_statuses_keep_history ON contact_statuses;
      DROP FUNCTION keep_deleted_status_in_history();
      ALTER TABLE contact_status_history
        DROP COLUMN from_status_name, DROP COLUMN from_status_stage, DROP COLUMN to_status_name, DROP COLUMN to_status_stage;
    `);
  }
}
