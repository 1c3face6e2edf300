import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * CSV imports live in PostgreSQL, rows included, so any worker on any machine can run one,
 * and a restarted worker resumes from the last committed chunk (processed_rows).
 */
export class ContactImports1764200000000 implements MigrationInterface {
  name = 'ContactImports1764200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE contact_imports (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        created_by_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        file_name text NOT NULL,
        status text NOT NULL CHECK (status IN ('uploaded', 'queued', 'running', 'completed', 'failed', 'reverting', 'reverted')),
        headers jsonb NOT NULL,
        mapping jsonb NULL,
        mode text NULL CHECK (mode IN ('create', 'upsert', 'update')),
        total_rows integer NOT NULL DEFAULT 0,
        processed_rows integer NOT NULL DEFAULT 0,
        created_count integer NOT NULL DEFAULT 0,
        updated_count integer NOT NULL DEFAULT 0,
        skipped_count integer NOT NULL DEFAULT 0,
        failed_count integer NOT NULL DEFAULT 0,
        error text NULL,
        started_at timestamptz NULL,
        finished_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX contact_imports_created_idx ON contact_imports (created_at DESC);

      CREATE TABLE contact_import_rows (
        import_id uuid NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
        row_number integer NOT NULL,
        cells jsonb NOT NULL,
        outcome text NULL CHECK (outcome IN ('created', 'updated', 'skipped', 'rejected')),
        error text NULL,
        contact_id uuid NULL,
        PRIMARY KEY (import_id, row_number)
      );

      -- The state of each contact an import updated, before it did: what a revert restores.
      CREATE TABLE contact_import_changes (
        import_id uuid NOT NULL REFERENCES contact_imports (id) ON DELETE CASCADE,
        contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        before jsonb NOT NULL,
        PRIMARY KEY (import_id, contact_id)
      );

      CREATE TABLE contact_import_mappings (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
        mapping jsonb NOT NULL,
        created_by_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE IF EXISTS contact_import_mappings, contact_import_changes, contact_import_rows, contact_imports');
  }
}
