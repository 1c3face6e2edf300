import type { PGlite } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { beforeMigration } from '../support/migrations';

/**
 * The migration on PGlite (the embedded database; the e2e specs cover PostgreSQL): which
 * account changes end open links, the clean-up of links already out, and down().
 */
describe('migration: password links end with account changes (PGlite)', () => {
  let db: PGlite;
  let runner: QueryRunner;
  let target: MigrationInterface;
  let seq = 0;

  const run = async <T>(sql: string, params: unknown[] = []) => (await db.query<T>(sql, params)).rows;

  async function account(): Promise<string> {
    seq += 1;
    const [contact] = await run<{ id: string }>('INSERT INTO contacts (first_name, email) VALUES ($1, $2) RETURNING id', [`P${seq}`, `p${seq}@example.com`]);
    const [user] = await run<{ id: string }>('INSERT INTO users (contact_id, first_name, email) VALUES ($1, $2, $3) RETURNING id', [contact!.id, `P${seq}`, `p${seq}@example.com`]);
    return user!.id;
  }

  async function issue(userId: string, createdAt = 'now()'): Promise<string> {
    seq += 1;
    const [token] = await run<{ id: string }>(
      `INSERT INTO password_tokens (user_id, purpose, token_hash, expires_at, created_at)
       VALUES ($1, 'invite', $2, now() + interval '7 days', ${createdAt}) RETURNING id`,
      [userId, `hash-${seq}`],
    );
    return token!.id;
  }

  const isOpen = async (tokenId: string) => (await run<{ open: boolean }>('SELECT used_at IS NULL AS open FROM password_tokens WHERE id = $1', [tokenId]))[0]!.open;

  beforeAll(async () => {
    ({ db, runner, target } = await beforeMigration('1764900000000-PasswordTokensEndWithAccountChanges.ts'));
  });
  afterAll(() => db?.close());

  it('on the way up, ends the links issued before the account last changed and keeps the later ones', async () => {
    const edited = await account();
    const stale = await issue(edited, "now() - interval '1 hour'");
    const quiet = await account();
    await run(`UPDATE users SET updated_at = now() - interval '2 hours' WHERE id = $1`, [quiet]);
    const current = await issue(quiet, "now() - interval '1 hour'");

    await target.up(runner);
    expect(await isOpen(stale)).toBe(false);
    expect(await isOpen(current)).toBe(true);
  });

  it('ends open links on a change of email, deactivation, password or token version; not on names or reactivation', async () => {
    const user = await account();
    const link = await issue(user);
    await run('UPDATE users SET first_name = $2, last_name = $3, email = email WHERE id = $1', [user, 'Renamed', 'Person']);
    await run('UPDATE contacts SET first_name = $2 WHERE id = (SELECT contact_id FROM users WHERE id = $1)', [user, 'Again']);
    expect(await isOpen(link)).toBe(true);

    await run('UPDATE contacts SET email = $2 WHERE id = (SELECT contact_id FROM users WHERE id = $1)', [user, `moved-${user}@example.com`]);
    expect(await isOpen(link)).toBe(false);

    const cases: Array<[string, string]> = [
      ['deactivation', 'UPDATE users SET is_active = false WHERE id = $1'],
      ['new password', `UPDATE users SET password_hash = 'another' WHERE id = $1`],
      ['revoked sessions', 'UPDATE users SET token_version = token_version + 1 WHERE id = $1'],
    ];
    for (const [, sql] of cases) {
      const open = await issue(user);
      await run(sql, [user]);
      expect(await isOpen(open)).toBe(false);
    }

    const afterReactivation = await issue(user);
    await run('UPDATE users SET is_active = true WHERE id = $1', [user]);
    expect(await isOpen(afterReactivation)).toBe(true);
  });

  it('down() removes the trigger and its function', async () => {
    await target.down(runner);
    const user = await account();
    const link = await issue(user);
    await run('UPDATE users SET email = $2 WHERE id = $1', [user, `down-${user}@example.com`]);
    expect(await isOpen(link)).toBe(true);
    expect(await run(`SELECT 1 FROM pg_proc WHERE proname = 'end_password_tokens'`)).toEqual([]);

    await target.up(runner);
    expect(await isOpen(link)).toBe(true);
    await run('UPDATE users SET is_active = false WHERE id = $1', [user]);
    expect(await isOpen(link)).toBe(false);
  });
});
