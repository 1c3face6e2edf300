import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Dashboard snapshots: the analytics computed by the `dashboard.refresh` job, so reading the
 * dashboard is one indexed row whatever the size of the CRM. Only the newest ones are kept.
 *
 * The covering index lets the contact counts (per status, per assignee, by last contact) be
 * answered from the index alone: globally for the snapshot, and per staff member for
 * `GET /dashboard/me`, which ranges over its leading assigned_to_id.
 */
export class DashboardSnapshots1764300000000 implements MigrationInterface {
  name = 'DashboardSnapshots1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE dashboard_snapshots (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        computed_at timestamptz NOT NULL,
        duration_ms integer NOT NULL CHECK (duration_ms >= 0),
        metrics jsonb NOT NULL CHECK (jsonb_typeof(metrics) = 'object'),
        trigger text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX dashboard_snapshots_computed_idx ON dashboard_snapshots (computed_at DESC, id DESC);

      CREATE INDEX contacts_dashboard_idx ON contacts (assigned_to_id, status_id, last_contacted_at) WHERE deleted_at IS NULL;
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP INDEX IF EXISTS contacts_dashboard_idx;
      DROP TABLE IF EXISTS dashboard_snapshots;
    `);
  }
}
