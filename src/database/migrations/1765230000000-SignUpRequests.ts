import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A sign-up waits here until its address is confirmed through the mailed link: an account is
 * made only for whoever reads that mailbox, and the sign-up's answer is the same whether the
 * address is in use or not. The link's token is kept hashed, as reset links are.
 */
export class SignUpRequests1765230000000 implements MigrationInterface {
  name = 'SignUpRequests1765230000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE sign_up_requests (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        email text NOT NULL,
        first_name text NOT NULL,
        last_name text NOT NULL,
        phone text NULL,
        password_hash text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        expires_at timestamptz NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX sign_up_requests_expires_idx ON sign_up_requests (expires_at);
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE IF EXISTS sign_up_requests');
  }
}
