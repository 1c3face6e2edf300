import { MigrationInterface, QueryRunner } from 'typeorm';

const RECORD_STATUS_CHANGE = (importColumn: boolean) => `
  CREATE OR REPLACE FUNCTION record_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    IF TG_OP = 'INSERT' OR NEW.status_id IS DISTINCT FROM OLD.status_id THEN
      INSERT INTO contact_status_history (contact_id, from_status_id, to_status_id, changed_by_id, source, changed_at${importColumn ? ', import_id' : ''})
      VALUES (
        NEW.id,
        CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status_id END,
        NEW.status_id,
        nullif(current_setting('maestro.actor_id', true), '')::uuid,
        coalesce(nullif(current_setting('maestro.change_source', true), ''), 'api'),
        CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE clock_timestamp() END${importColumn ? `,
        nullif(current_setting('maestro.import_id', true), '')::uuid` : ''}
      );
    END IF;
    RETURN NULL;
  END $$;`;

/**
 * A status change made by an import names the import, and is marked undone when a revert puts
 * the contact's status back: a reverted import's lead → customer changes are no conversions.
 * The import's id is kept as it was (no foreign key): the mark outlives the import's row.
 * Changes of imports run before are matched to them by contact and time.
 */
export class RevertedImportsConvertNobody1765220000000 implements MigrationInterface {
  name = 'RevertedImportsConvertNobody1765220000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE contact_status_history
        ADD COLUMN import_id uuid NULL,
        ADD COLUMN undone boolean NOT NULL DEFAULT false`);
    await db.query(RECORD_STATUS_CHANGE(true));
    // Changes imports made before: named after the import that changed the contact while it ran,
    // and undone where a revert of it later put the status back.
    await db.query(`
      UPDATE contact_status_history h SET import_id = i.id
        FROM contact_imports i JOIN contact_import_changes b ON b.import_id = i.id
       WHERE h.source = 'import' AND h.import_id IS NULL AND h.contact_id = b.contact_id
         AND h.changed_at BETWEEN i.created_at AND coalesce(i.finished_at, i.updated_at)`);
    await db.query(`
      UPDATE contact_status_history h SET undone = true
        FROM contact_imports i
       WHERE i.id = h.import_id AND i.status = 'reverted'
         AND EXISTS (SELECT 1 FROM contact_status_history r
                      WHERE r.contact_id = h.contact_id AND r.source = 'revert' AND r.changed_at > h.changed_at
                        AND r.to_status_id IS NOT DISTINCT FROM h.from_status_id)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(RECORD_STATUS_CHANGE(false));
    await db.query(`ALTER TABLE contact_status_history DROP COLUMN import_id, DROP COLUMN undone`);
  }
}
