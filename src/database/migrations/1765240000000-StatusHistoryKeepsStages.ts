import { MigrationInterface, QueryRunner } from 'typeorm';

const RECORD_STATUS_CHANGE = (keepStages: boolean) => `
  CREATE OR REPLACE FUNCTION record_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'INSERT' OR NEW.status_id IS DISTINCT FROM OLD.status_id THEN
      INSERT INTO contact_status_history (contact_id, from_status_id, to_status_id, changed_by_id, source, changed_at, import_id${keepStages ? ', from_status_stage, to_status_stage' : ''})
      VALUES (
        NEW.id,
        CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status_id END,
        NEW.status_id,
        nullif(current_setting('maestro.actor_id', true), '')::uuid,
        coalesce(nullif(current_setting('maestro.change_source', true), ''), 'api'),
        CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE clock_timestamp() END,
        nullif(current_setting('maestro.import_id', true), '')::uuid${keepStages ? `,
        CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE (SELECT s.stage FROM contact_statuses s WHERE s.id = OLD.status_id) END,
        (SELECT s.stage FROM contact_statuses s WHERE s.id = NEW.status_id)` : ''}
      );
    END IF;
    RETURN NULL;
  END $$;`;

const KEEP_DELETED_STATUS = (stageKept: boolean) => `
  CREATE OR REPLACE FUNCTION keep_deleted_status_in_history() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    -- The ids are cleared here too (the foreign keys would do it after the row is gone), so a
    -- statement deleting several statuses never rechecks a row still naming one deleted before.
    UPDATE contact_status_history SET from_status_id = NULL, from_status_name = OLD.name, from_status_stage = ${stageKept ? 'coalesce(from_status_stage, OLD.stage)' : 'OLD.stage'} WHERE from_status_id = OLD.id;
    UPDATE contact_status_history SET to_status_id = NULL, to_status_name = OLD.name, to_status_stage = ${stageKept ? 'coalesce(to_status_stage, OLD.stage)' : 'OLD.stage'} WHERE to_status_id = OLD.id;
    RETURN OLD;
  END $$;`;

/**
 * A status change keeps the stages its statuses had when it was made: moving a status to
 * another stage no longer rewrites the conversions counted from it, nor the stages its
 * contacts' histories show. Deleting a status keeps those stages too (only its name is
 * written then). Names stay those of the live statuses: a rename changes no fact.
 * Changes recorded before take the stages their statuses have now.
 */
export class StatusHistoryKeepsStages1765240000000 implements MigrationInterface {
  name = 'StatusHistoryKeepsStages1765240000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(RECORD_STATUS_CHANGE(true));
    await db.query(KEEP_DELETED_STATUS(true));
    await db.query(`
      UPDATE contact_status_history h SET from_status_stage = s.stage
        FROM contact_statuses s
       WHERE s.id = h.from_status_id AND h.from_status_stage IS NULL`);
    await db.query(`
      UPDATE contact_status_history h SET to_status_stage = s.stage
        FROM contact_statuses s
       WHERE s.id = h.to_status_id AND h.to_status_stage IS NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(RECORD_STATUS_CHANGE(false));
    await db.query(KEEP_DELETED_STATUS(false));
    // Stages are read from live statuses again; only deleted ones keep theirs on the row.
    await db.query(`UPDATE contact_status_history SET from_status_stage = NULL WHERE from_status_id IS NOT NULL AND from_status_stage IS NOT NULL`);
    await db.query(`UPDATE contact_status_history SET to_status_stage = NULL WHERE to_status_id IS NOT NULL AND to_status_stage IS NOT NULL`);
  }
}
