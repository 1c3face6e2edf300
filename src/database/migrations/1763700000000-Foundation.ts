import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The platform schema: features, audit, roles, users and sessions, mail outbox, and the
 * minimal contact record (with its lookup lists) that every account belongs to.
 */
export class Foundation1763700000000 implements MigrationInterface {
  name = 'Foundation1763700000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE features (
        key text PRIMARY KEY,
        enabled boolean NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        updated_by_id uuid NULL
      );

      CREATE TABLE audit_logs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        actor_id uuid NULL,
        action text NOT NULL,
        subject_type text NOT NULL,
        subject_id text NULL,
        before jsonb NULL,
        after jsonb NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX audit_logs_subject_idx ON audit_logs (subject_type, subject_id, created_at DESC);
      CREATE INDEX audit_logs_created_idx ON audit_logs (created_at DESC);

      CREATE TABLE contact_statuses (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
        stage text NOT NULL CHECK (stage IN ('lead', 'prospect', 'customer', 'other')),
        position integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE services (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE traffic_sources (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE contacts (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        first_name text NOT NULL CHECK (length(first_name) BETWEEN 1 AND 100),
        last_name text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
        email text NULL CHECK (length(email) <= 254),
        email_key text GENERATED ALWAYS AS (lower(email)) STORED UNIQUE,
        phone text NULL CHECK (length(phone) <= 50),
        status_id uuid NULL REFERENCES contact_statuses (id) ON DELETE RESTRICT,
        version integer NOT NULL DEFAULT 1,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX contacts_status_idx ON contacts (status_id);
      CREATE INDEX contacts_created_idx ON contacts (created_at DESC, id);

      CREATE TABLE roles (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        system_key text NULL UNIQUE CHECK (system_key IN ('admin', 'staff', 'client')),
        name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        name_key text GENERATED ALWAYS AS (lower(name)) STORED UNIQUE,
        description text NOT NULL DEFAULT '',
        audience text NOT NULL CHECK (audience IN ('staff', 'client')),
        rules jsonb NOT NULL DEFAULT '[]'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      -- An account always belongs to a contact: the contact cannot be removed while the account exists.
      CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        contact_id uuid NOT NULL UNIQUE REFERENCES contacts (id) ON DELETE RESTRICT,
        email text NOT NULL CHECK (length(email) <= 254),
        email_key text GENERATED ALWAYS AS (lower(email)) STORED UNIQUE,
        first_name text NOT NULL,
        last_name text NOT NULL DEFAULT '',
        password_hash text NULL,
        is_active boolean NOT NULL DEFAULT true,
        token_version integer NOT NULL DEFAULT 0,
        last_login_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE user_roles (
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        role_id uuid NOT NULL REFERENCES roles (id) ON DELETE RESTRICT,
        PRIMARY KEY (user_id, role_id)
      );
      CREATE INDEX user_roles_role_idx ON user_roles (role_id);

      CREATE TABLE refresh_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        family_id uuid NOT NULL,
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        token_hash text NOT NULL UNIQUE,
        expires_at timestamptz NOT NULL,
        used_at timestamptz NULL,
        revoked_at timestamptz NULL,
        user_agent text NULL,
        ip text NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
      CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

      CREATE TABLE password_tokens (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        purpose text NOT NULL CHECK (purpose IN ('reset', 'invite')),
        token_hash text NOT NULL UNIQUE,
        expires_at timestamptz NOT NULL,
        used_at timestamptz NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX password_tokens_user_idx ON password_tokens (user_id);

      CREATE TABLE mail_outbox (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        to_address text NOT NULL,
        subject text NOT NULL,
        text_body text NOT NULL,
        template text NOT NULL,
        status text NOT NULL CHECK (status IN ('logged', 'sent', 'failed')),
        error text NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz NULL
      );
      CREATE INDEX mail_outbox_created_idx ON mail_outbox (created_at DESC);

      -- Names and email live on both the contact and its account; these triggers keep them equal
      -- whichever side is written, whatever code path writes it (API, bulk SQL, imports).
      CREATE FUNCTION sync_user_from_contact() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE users
           SET first_name = NEW.first_name, last_name = NEW.last_name, email = NEW.email, updated_at = now()
         WHERE contact_id = NEW.id
           AND (first_name, last_name, email) IS DISTINCT FROM (NEW.first_name, NEW.last_name, NEW.email);
        RETURN NEW;
      END $$;
      CREATE TRIGGER contacts_sync_user AFTER UPDATE OF first_name, last_name, email ON contacts
        FOR EACH ROW EXECUTE FUNCTION sync_user_from_contact();

      CREATE FUNCTION sync_contact_from_user() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE contacts
           SET first_name = NEW.first_name, last_name = NEW.last_name, email = NEW.email,
               version = version + 1, updated_at = now()
         WHERE id = NEW.contact_id
           AND (first_name, last_name, email) IS DISTINCT FROM (NEW.first_name, NEW.last_name, NEW.email);
        RETURN NEW;
      END $$;
      CREATE TRIGGER users_sync_contact AFTER INSERT OR UPDATE OF first_name, last_name, email ON users
        FOR EACH ROW EXECUTE FUNCTION sync_contact_from_user();
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TRIGGER IF EXISTS users_sync_contact ON users;
      DROP TRIGGER IF EXISTS contacts_sync_user ON contacts;
      DROP FUNCTION IF EXISTS sync_contact_from_user();
      DROP FUNCTION IF EXISTS sync_user_from_contact();
      DROP TABLE IF EXISTS mail_outbox, password_tokens, refresh_tokens, user_roles, users, roles,
        contacts, traffic_sources, services, contact_statuses, audit_logs, features;
    `);
  }
}
