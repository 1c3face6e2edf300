import { createHash } from 'node:crypto';
import type { Response } from 'supertest';
import type { QueryRunner } from 'typeorm';
import { PasswordService } from '../../src/core/auth/password.service';
import { IdentityService } from '../../src/core/identity/identity.service';
import { newPerson, register, Session, signUp } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { untilWaitingForLocks } from '../support/wait';

/**
 * Changes to an account's sessions racing each other. The test holds the account's row
 * (`FOR UPDATE` also stops the foreign-key check of a new refresh token), so a request is
 * caught part-way; the competing change then runs, and the row is let go. Whatever order the
 * database then picks, nothing that was ended may keep working.
 */
/** A request under way. */
interface Sent {
  response: Promise<Response>;
  settled: () => boolean;
}

describe('sessions under concurrent changes', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  async function holdAccount(userId: string): Promise<QueryRunner> {
    const runner = t.db.createQueryRunner();
    await runner.connect();
    await runner.startTransaction('READ COMMITTED');
    await runner.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [userId]);
    return runner;
  }

  async function letGo(runner: QueryRunner): Promise<void> {
    if (runner.isTransactionActive) await runner.commitTransaction();
    await runner.release();
  }

  /** Starts a request now; resolves with its response whatever the status. */
  function send(path: string, body: object): Sent {
    let done = false;
    const response = Promise.resolve(t.http.post(path).send(body)).finally(() => (done = true));
    response.catch(() => undefined);
    return { response, settled: () => done };
  }

  async function openTokensOfFamily(refreshToken: string): Promise<number> {
    const [{ open }] = (await t.db.query(
      `SELECT count(*) FILTER (WHERE revoked_at IS NULL AND used_at IS NULL)::int AS open FROM refresh_tokens
        WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)`,
      [createHash('sha256').update(refreshToken).digest('hex')],
    )) as Array<{ open: number }>;
    return open;
  }

  async function expectRefreshRefused(refreshToken: string): Promise<void> {
    const refused = await t.http.post('/api/v1/auth/refresh').send({ refreshToken });
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('invalid_refresh_token');
  }

  it('a sign-out while a refresh is under way also ends the token that refresh hands out', async () => {
    const session = await register(t, 'signout');
    const held = await holdAccount(session.userId);
    let refresh!: Sent;
    let signOut!: Sent;
    try {
      refresh = send('/api/v1/auth/refresh', { refreshToken: session.refreshToken });
      await untilWaitingForLocks(t.db, 1, 'the refresh to reach the held account');
      signOut = send('/api/v1/auth/logout', { refreshToken: session.refreshToken });
      await untilWaitingForLocks(t.db, 2, 'the sign-out to queue behind the refresh', signOut.settled);
    } finally {
      await letGo(held);
    }
    const [refreshed, signedOut] = await Promise.all([refresh.response, signOut.response]);
    expect(signedOut.status).toBe(204);
    if (refreshed.status === 200) await expectRefreshRefused(refreshed.body.refreshToken);
    else expect(refreshed.status).toBe(401);
    expect(await openTokensOfFamily(session.refreshToken)).toBe(0);
  });

  it('the same token presented twice at once gives one successor, and the replay ends it', async () => {
    const session = await register(t, 'replay');
    const held = await holdAccount(session.userId);
    let first!: Sent;
    let second!: Sent;
    try {
      first = send('/api/v1/auth/refresh', { refreshToken: session.refreshToken });
      await untilWaitingForLocks(t.db, 1, 'the first refresh to reach the held account');
      second = send('/api/v1/auth/refresh', { refreshToken: session.refreshToken });
      await untilWaitingForLocks(t.db, 2, 'the second refresh to queue behind the first', second.settled);
    } finally {
      await letGo(held);
    }
    const answers = await Promise.all([first.response, second.response]);
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 401]);
    const successor = answers.find((answer) => answer.status === 200)!;
    await expectRefreshRefused(successor.body.refreshToken);
    expect(await openTokensOfFamily(session.refreshToken)).toBe(0);
  });

  it('a password change while a refresh is under way leaves no session of the old password', async () => {
    const session = await register(t, 'refresh-vs-password');
    const newHash = await t.app.get(PasswordService).hash('a-different-long-password');
    const held = await holdAccount(session.userId);
    let refresh!: Sent;
    try {
      refresh = send('/api/v1/auth/refresh', { refreshToken: session.refreshToken });
      await untilWaitingForLocks(t.db, 1, 'the refresh to reach the held account');
      // The change goes through the application's own code, in the transaction holding the row.
      await t.app.get(IdentityService).setPassword(held.manager, session.userId, newHash);
    } finally {
      await letGo(held);
    }
    const refreshed = await refresh.response;
    if (refreshed.status === 200) await expectRefreshRefused(refreshed.body.refreshToken);
    else expect(refreshed.status).toBe(401);
    expect(await openTokensOfFamily(session.refreshToken)).toBe(0);
  });

  it('a sign-in checked against the old password fails if the password changes before it completes', async () => {
    const person = newPerson('login-vs-password');
    const registered: Session = await signUp(t, person);
    const newHash = await t.app.get(PasswordService).hash('a-different-long-password');
    const held = await holdAccount(registered.userId);
    let signIn!: Sent;
    try {
      signIn = send('/api/v1/auth/login', { email: person.email, password: person.password });
      await untilWaitingForLocks(t.db, 1, 'the sign-in to reach the held account');
      await t.app.get(IdentityService).setPassword(held.manager, registered.userId, newHash);
    } finally {
      await letGo(held);
    }
    const signedIn = await signIn.response;
    expect(signedIn.status).toBe(401);
    const [{ sessions }] = (await t.db.query('SELECT count(*)::int AS sessions FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL', [registered.userId])) as Array<{
      sessions: number;
    }>;
    expect(sessions).toBe(0);
    // The new password works.
    await t.http.post('/api/v1/auth/login').send({ email: person.email, password: 'a-different-long-password' }).expect(200);
  });
});
