import { MigrationInterface, QueryRunner } from 'typeorm';

const RECORD_STATUS_CHANGE = (changedAt: string) => `
  CREATE OR REPLACE FUNCTION record_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'INSERT' OR NEW.status_id IS DISTINCT FROM OLD.status_id THEN
      INSERT INTO contact_status_history (contact_id, from_status_id, to_status_id, changed_by_id, source, changed_at)
      VALUES (
        NEW.id,
        CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status_id END,
        NEW.status_id,
        nullif(current_setting('maestro.actor_id', true), '')::uuid,
        coalesce(nullif(current_setting('maestro.change_source', true), ''), 'api'),
        ${changedAt}
      );
    END IF;
    RETURN NULL;
  END $$;`;

/**
 * A status change is dated when it is written, not when its transaction began: a change that
 * waited for a lock (a status deleted with a replacement, behind a bulk change) was dated
 * before changes that committed ahead of it, so the latest entry of a contact's history was
 * not its current status. A contact's first entry stays dated at its creation.
 */
export class StatusHistoryInCommitOrder1765130000000 implements MigrationInterface {
  name = 'StatusHistoryInCommitOrder1765130000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE contact_status_history ALTER COLUMN changed_at SET DEFAULT clock_timestamp()`);
    await db.query(RECORD_STATUS_CHANGE(`CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE clock_timestamp() END`));
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(RECORD_STATUS_CHANGE('now()'));
    await db.query(`ALTER TABLE contact_status_history ALTER COLUMN changed_at SET DEFAULT now()`);
  }
}
