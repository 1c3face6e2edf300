import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reset and invitation links die when the account changes under them: a new email (the link
 * went to the old mailbox), deactivation, or a new password or revoked sessions (token_version;
 * this is also how a forced reset ends them). A trigger rather than the services doing it,
 * because users are written from many places (the users API, the contacts_sync_user trigger
 * when a contact's email changes, imports, the CLI, hand-written SQL), and the effect is final:
 * a link stays dead even if the email is changed back or the account reactivated.
 *
 * Consuming a reset link sets the password, so it also ends the account's other open links;
 * the link being consumed is already marked used by then.
 */
export class PasswordTokensEndWithAccountChanges1764900000000 implements MigrationInterface {
  name = 'PasswordTokensEndWithAccountChanges1764900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION end_password_tokens() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE password_tokens SET used_at = now() WHERE user_id = NEW.id AND used_at IS NULL;
        RETURN NULL;
      END $$;

      -- WHEN, because "UPDATE OF" fires whenever the column is assigned, changed or not
      -- (contacts_sync_user assigns email along with the names).
      CREATE TRIGGER users_end_password_tokens
        AFTER UPDATE OF email, is_active, password_hash, token_version ON users
        FOR EACH ROW
        WHEN (OLD.email IS DISTINCT FROM NEW.email
              OR (OLD.is_active AND NOT NEW.is_active)
              OR OLD.password_hash IS DISTINCT FROM NEW.password_hash
              OR OLD.token_version IS DISTINCT FROM NEW.token_version)
        EXECUTE FUNCTION end_password_tokens();

      -- Links already out may predate such a change, which can no longer be told apart from
      -- a name edit: end those issued before the account's last update; they can be sent again.
      UPDATE password_tokens t SET used_at = now()
        FROM users u
       WHERE u.id = t.user_id AND t.used_at IS NULL AND t.expires_at > now() AND t.created_at < u.updated_at;
    `);
  }

  /** Links ended while the trigger was in place stay ended. */
  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      DROP TRIGGER IF EXISTS users_end_password_tokens ON users;
      DROP FUNCTION IF EXISTS end_password_tokens();
    `);
  }
}
