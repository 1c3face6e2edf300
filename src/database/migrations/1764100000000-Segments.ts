import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Segments: static ones list their members, dynamic ones hold a rule in the contacts rule
 * language. Members go with their contact or their segment.
 */
export class Segments1764100000000 implements MigrationInterface {
  name = 'Segments1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE segments (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
        description text NOT NULL DEFAULT '' CHECK (length(description) <= 1000),
        kind text NOT NULL CHECK (kind IN ('static', 'dynamic')),
        rule jsonb NULL CHECK (rule IS NULL OR jsonb_typeof(rule) = 'object'),
        created_by_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        -- A rule is what makes a segment dynamic; a static one has members instead.
        CONSTRAINT segments_rule_only_dynamic CHECK ((kind = 'dynamic') = (rule IS NOT NULL))
      );
      CREATE INDEX segments_created_idx ON segments (created_at DESC, id DESC);

      CREATE TABLE segment_members (
        segment_id uuid NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
        contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        added_at timestamptz NOT NULL DEFAULT now(),
        added_by_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        PRIMARY KEY (segment_id, contact_id)
      );
      -- "Which segments is this contact in" and the cascade when a contact is purged.
      CREATE INDEX segment_members_contact_idx ON segment_members (contact_id);
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TABLE IF EXISTS segment_members;
      DROP TABLE IF EXISTS segments;
    `);
  }
}
