import { createUserWithRoles, issueResetToken, latestTokenFor, login, newPerson, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

const PASSWORD = 'a-long-enough-password';

/**
 * A reset or invitation link is for the mailbox it went to and the account as it was: it
 * must stop working once the email changes (by any path), the account is deactivated, or
 * the password is changed or reset.
 */
describe('auth: password links end when the account changes under them', () => {
  let t: TestApp;
  let admin: Session;
  let staffRoleId: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staffRoleId = await systemRoleId(t, 'staff');
  });
  afterAll(() => t.close());

  /** An account created by the admin with an invitation; returns the invite token from the outbox. */
  async function invited(prefix: string): Promise<{ id: string; contactId: string; email: string; token: string }> {
    const person = newPerson(prefix);
    const created = await t.http
      .post('/api/v1/users')
      .set(admin.auth)
      .send({ firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds: [staffRoleId] })
      .expect(201);
    return { id: created.body.id, contactId: created.body.contactId, email: person.email, token: await latestTokenFor(t, admin, person.email) };
  }

  async function expectRefused(token: string): Promise<void> {
    const response = await t.http.post('/api/v1/auth/reset-password').send({ token, password: 'whoever-holds-the-link' }).expect(400);
    expect(response.body.code).toBe('invalid_token');
  }

  /** The token sets the password, once, and the account then signs in with it under `email`. */
  async function expectAccepted(token: string, email: string, password = PASSWORD): Promise<Session> {
    await t.http.post('/api/v1/auth/reset-password').send({ token, password }).expect(204);
    await expectRefused(token);
    return login(t, email, password);
  }

  /** The token of the next mail to `email`: forgot-password mails after answering. */
  async function nextTokenFor(email: string, previous: string): Promise<string> {
    for (let i = 0; i < 50; i += 1) {
      const token = await latestTokenFor(t, admin, email);
      if (token !== previous) return token;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`No new token reached ${email}`);
  }

  const typoOf = (email: string) => email.replace('@example.com', '@exmaple.com');

  it('an invite to a mistyped address dies when the email is corrected through the users API, and stays dead if it is changed back', async () => {
    const typo = await invited('typo');
    const corrected = typo.email.replace('typo', 'fixed');
    await t.http.patch(`/api/v1/users/${typo.id}`).set(admin.auth).send({ email: corrected }).expect(200);
    await expectRefused(typo.token);

    await t.http.patch(`/api/v1/users/${typo.id}`).set(admin.auth).send({ email: typo.email }).expect(200);
    await expectRefused(typo.token);
    await t.http.patch(`/api/v1/users/${typo.id}`).set(admin.auth).send({ email: corrected }).expect(200);

    // A link issued right after the change goes to the corrected address and works.
    const { token } = await issueResetToken(t, admin, typo.id, corrected);
    const session = await expectAccepted(token, corrected);
    expect(session.userId).toBe(typo.id);
    await expectRefused(typo.token);
    await t.http.post('/api/v1/auth/login').send({ email: typo.email, password: 'whoever-holds-the-link' }).expect(401);
  });

  it('an invite dies when the email is corrected and a reset forced; the forced reset link works at the new address', async () => {
    const typo = await invited('forcetypo');
    const corrected = typo.email.replace('forcetypo', 'forcefixed');
    await t.http.patch(`/api/v1/users/${typo.id}`).set(admin.auth).send({ email: corrected }).expect(200);
    await t.http.post(`/api/v1/users/${typo.id}/password-reset`).set(admin.auth).send({ mode: 'force' }).expect(202);
    await expectRefused(typo.token);

    const reset = await latestTokenFor(t, admin, corrected);
    await expectAccepted(reset, corrected);
  });

  it("an invite dies when the email is corrected on the account's contact", async () => {
    const typo = await invited('contacttypo');
    const corrected = typo.email.replace('contacttypo', 'contactfixed');
    const contact = await t.http.get(`/api/v1/contacts/${typo.contactId}`).set(admin.auth).expect(200);
    await t.http.patch(`/api/v1/contacts/${typo.contactId}`).set(admin.auth).send({ version: contact.body.version, email: corrected }).expect(200);
    const user = await t.http.get(`/api/v1/users/${typo.id}`).set(admin.auth).expect(200);
    expect(user.body.email).toBe(corrected);
    await expectRefused(typo.token);

    const { token } = await issueResetToken(t, admin, typo.id, corrected);
    await expectAccepted(token, corrected);
  });

  it('an invite dies when the contact email is changed by plain SQL, as imports, the CLI or an operator would', async () => {
    const typo = await invited('sqltypo');
    await t.db.query('UPDATE contacts SET email = $2 WHERE id = $1', [typo.contactId, typoOf(typo.email)]);
    const [user] = (await t.db.query('SELECT email FROM users WHERE id = $1', [typo.id])) as Array<{ email: string }>;
    expect(user!.email).toBe(typoOf(typo.email));
    await expectRefused(typo.token);
  });

  it('an invite dies when the account is deactivated and stays dead after reactivation; a new link then works', async () => {
    const pending = await invited('inactive');
    await t.http.patch(`/api/v1/users/${pending.id}`).set(admin.auth).send({ isActive: false }).expect(200);
    await expectRefused(pending.token);
    await t.http.patch(`/api/v1/users/${pending.id}`).set(admin.auth).send({ isActive: true }).expect(200);
    await expectRefused(pending.token);

    const { token } = await issueResetToken(t, admin, pending.id, pending.email);
    await expectAccepted(token, pending.email);
  });

  it('a pending reset link dies when the user changes their password; a new one works', async () => {
    const session = await createUserWithRoles(t, admin, [staffRoleId], 'changer');
    const before = await latestTokenFor(t, admin, session.email);
    await t.http.post('/api/v1/auth/forgot-password').send({ email: session.email }).expect(202);
    const pending = await nextTokenFor(session.email, before);
    const me = await login(t, session.email);
    await t.http.post('/api/v1/auth/change-password').set(me.auth).send({ currentPassword: PASSWORD, password: 'changed-by-its-owner' }).expect(204);
    await expectRefused(pending);
    await login(t, session.email, 'changed-by-its-owner');

    await t.http.post('/api/v1/auth/forgot-password').send({ email: session.email }).expect(202);
    const fresh = await nextTokenFor(session.email, pending);
    await expectAccepted(fresh, session.email, 'chosen-from-the-new-link');
  });

  it('a pending invite dies when a reset is forced on an account that has no password yet', async () => {
    const pending = await invited('forced');
    await t.http.post(`/api/v1/users/${pending.id}/password-reset`).set(admin.auth).send({ mode: 'force' }).expect(202);
    await expectRefused(pending.token);

    const reset = await latestTokenFor(t, admin, pending.email);
    expect(reset).not.toBe(pending.token);
    await expectAccepted(reset, pending.email);
  });

  it("setting the password through one link ends the account's other open links", async () => {
    const pending = await invited('twolinks');
    const { token: reset } = await issueResetToken(t, admin, pending.id, pending.email);
    expect(reset).not.toBe(pending.token);
    await expectAccepted(reset, pending.email);
    await expectRefused(pending.token);
    await login(t, pending.email);
  });
});
