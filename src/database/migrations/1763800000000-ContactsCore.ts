import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The CRM core: contact details, assignment, tags, services, traffic source, activities,
 * status history, custom fields, soft delete and full-text search.
 *
 * Invariants that every write path must keep (API, bulk actions, imports, SQL by hand) are
 * triggers: last-contacted time from activities, and a history row for every status change.
 */
export class ContactsCore1763800000000 implements MigrationInterface {
  name = 'ContactsCore1763800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE tags (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
        color text NULL CHECK (color ~ '^#[0-9a-fA-F]{6}$'),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE custom_fields (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        key text NOT NULL UNIQUE CHECK (key ~ '^[a-z][a-z0-9_]{0,49}$'),
        label text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
        type text NOT NULL CHECK (type IN ('text', 'number', 'decimal', 'boolean', 'date', 'datetime', 'select', 'multi_select', 'email', 'url', 'phone')),
        required boolean NOT NULL DEFAULT false,
        options jsonb NOT NULL DEFAULT '[]'::jsonb,
        internal boolean NOT NULL DEFAULT false,
        position integer NOT NULL DEFAULT 0,
        deleted_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      ALTER TABLE contacts
        ADD COLUMN company text NULL CHECK (length(company) <= 200),
        ADD COLUMN job_title text NULL CHECK (length(job_title) <= 200),
        ADD COLUMN address_line1 text NULL CHECK (length(address_line1) <= 200),
        ADD COLUMN address_line2 text NULL CHECK (length(address_line2) <= 200),
        ADD COLUMN city text NULL CHECK (length(city) <= 100),
        ADD COLUMN region text NULL CHECK (length(region) <= 100),
        ADD COLUMN postal_code text NULL CHECK (length(postal_code) <= 20),
        ADD COLUMN country text NULL CHECK (length(country) <= 100),
        ADD COLUMN assigned_to_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        ADD COLUMN traffic_source_id uuid NULL REFERENCES traffic_sources (id) ON DELETE RESTRICT,
        ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(custom_fields) = 'object'),
        ADD COLUMN last_contacted_at timestamptz NULL,
        ADD COLUMN created_by_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        ADD COLUMN deleted_at timestamptz NULL,
        ADD COLUMN search tsvector GENERATED ALWAYS AS (
          to_tsvector('simple',
            coalesce(first_name, '') || ' ' || coalesce(last_name, '') || ' ' || coalesce(email, '') || ' ' ||
            coalesce(regexp_replace(phone, '[^0-9+]', '', 'g'), '') || ' ' || coalesce(company, ''))
        ) STORED;

      CREATE INDEX contacts_search_idx ON contacts USING gin (search);
      CREATE INDEX contacts_assigned_idx ON contacts (assigned_to_id, created_at DESC, id) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_traffic_source_idx ON contacts (traffic_source_id) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_last_contacted_idx ON contacts (last_contacted_at) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_live_created_idx ON contacts (created_at DESC, id) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_status_created_idx ON contacts (status_id, created_at DESC, id) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_last_name_idx ON contacts (lower(last_name), id) WHERE deleted_at IS NULL;
      CREATE INDEX contacts_deleted_idx ON contacts (deleted_at DESC) WHERE deleted_at IS NOT NULL;
      CREATE INDEX contacts_custom_fields_idx ON contacts USING gin (custom_fields jsonb_path_ops);

      CREATE TABLE contact_tags (
        contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        tag_id uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (contact_id, tag_id)
      );
      CREATE INDEX contact_tags_tag_idx ON contact_tags (tag_id, contact_id);

      CREATE TABLE contact_services (
        contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
        PRIMARY KEY (contact_id, service_id)
      );
      CREATE INDEX contact_services_service_idx ON contact_services (service_id, contact_id);

      CREATE TABLE activities (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        type text NOT NULL CHECK (type IN ('call', 'email', 'meeting', 'note', 'sms', 'task')),
        subject text NOT NULL DEFAULT '' CHECK (length(subject) <= 200),
        body text NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
        occurred_at timestamptz NOT NULL DEFAULT now(),
        author_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        visible_to_client boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX activities_contact_idx ON activities (contact_id, occurred_at DESC);
      CREATE INDEX activities_author_idx ON activities (author_id, occurred_at DESC);
      CREATE INDEX activities_occurred_idx ON activities (occurred_at);

      CREATE TABLE contact_status_history (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        contact_id uuid NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        from_status_id uuid NULL REFERENCES contact_statuses (id) ON DELETE SET NULL,
        to_status_id uuid NULL REFERENCES contact_statuses (id) ON DELETE SET NULL,
        changed_at timestamptz NOT NULL DEFAULT now(),
        changed_by_id uuid NULL REFERENCES users (id) ON DELETE SET NULL,
        source text NOT NULL DEFAULT 'api'
      );
      CREATE INDEX contact_status_history_contact_idx ON contact_status_history (contact_id, changed_at DESC);
      CREATE INDEX contact_status_history_changed_idx ON contact_status_history (changed_at);

      -- The last time someone was in touch, from the activity log (future-dated tasks do not count).
      CREATE FUNCTION refresh_last_contacted() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        affected uuid[];
      BEGIN
        IF TG_OP = 'INSERT' THEN affected := ARRAY[NEW.contact_id];
        ELSIF TG_OP = 'DELETE' THEN affected := ARRAY[OLD.contact_id];
        ELSE affected := ARRAY[NEW.contact_id, OLD.contact_id];
        END IF;
        UPDATE contacts c
           SET last_contacted_at = (SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = c.id AND a.occurred_at <= now())
         WHERE c.id = ANY(affected);
        RETURN NULL;
      END $$;
      CREATE TRIGGER activities_last_contacted AFTER INSERT OR DELETE OR UPDATE OF occurred_at, contact_id ON activities
        FOR EACH ROW EXECUTE FUNCTION refresh_last_contacted();

      -- Who and what changed a status comes from transaction settings (maestro.actor_id, maestro.change_source).
      CREATE FUNCTION record_status_change() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' OR NEW.status_id IS DISTINCT FROM OLD.status_id THEN
          INSERT INTO contact_status_history (contact_id, from_status_id, to_status_id, changed_by_id, source)
          VALUES (
            NEW.id,
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.status_id END,
            NEW.status_id,
            nullif(current_setting('maestro.actor_id', true), '')::uuid,
            coalesce(nullif(current_setting('maestro.change_source', true), ''), 'api')
          );
        END IF;
        RETURN NULL;
      END $$;
      CREATE TRIGGER contacts_status_history AFTER INSERT OR UPDATE OF status_id ON contacts
        FOR EACH ROW EXECUTE FUNCTION record_status_change();
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TRIGGER IF EXISTS contacts_status_history ON contacts;
      DROP TRIGGER IF EXISTS activities_last_contacted ON activities;
      DROP FUNCTION IF EXISTS record_status_change();
      DROP FUNCTION IF EXISTS refresh_last_contacted();
      DROP TABLE IF EXISTS contact_status_history, activities, contact_services, contact_tags;
      ALTER TABLE contacts
        DROP COLUMN search, DROP COLUMN deleted_at, DROP COLUMN created_by_id, DROP COLUMN last_contacted_at,
        DROP COLUMN custom_fields, DROP COLUMN traffic_source_id, DROP COLUMN assigned_to_id, DROP COLUMN country,
        DROP COLUMN postal_code, DROP COLUMN region, DROP COLUMN city, DROP COLUMN address_line2,
        DROP COLUMN address_line1, DROP COLUMN job_title, DROP COLUMN company;
      DROP TABLE IF EXISTS custom_fields, tags;
    `);
  }
}
