import { JwtService } from '@nestjs/jwt';
import { createHash } from 'node:crypto';
import type { Test } from 'supertest';
import { latestTokenFor, login, newPerson, register, Session, sessionFrom, signUp, signUpTokenFor } from '../support/actors';
import { startTestApp, TEST_JWT_SECRET, TestApp } from '../support/test-app';
import { until } from '../support/wait';

const PASSWORD = 'a-long-enough-password';

/** What must never appear in any response body: stored secrets or their column names. */
const SECRET_MARKERS = ['passwordHash', 'password_hash', 'tokenHash', '$argon2'];

interface Recorded {
  request: string;
  status: number;
  text: string;
}

/** Wraps the app's supertest entry points so every response body this spec sees is kept for inspection. */
function recordResponses(t: TestApp): Recorded[] {
  const seen: Recorded[] = [];
  const http = t.http as unknown as Record<string, (url: string) => Test>;
  for (const method of ['get', 'post', 'put', 'patch', 'delete']) {
    const original = http[method]!.bind(http);
    http[method] = (url: string) =>
      original(url).on('response', (response: { status: number; text?: string }) => {
        seen.push({ request: `${method.toUpperCase()} ${url}`, status: response.status, text: response.text ?? '' });
      });
  }
  return seen;
}

function expectNoSecrets(seen: Recorded[]): void {
  const leaks = seen.filter((r) => SECRET_MARKERS.some((marker) => r.text.includes(marker))).map((r) => `${r.request} (${r.status})`);
  expect(leaks).toEqual([]);
}

/** Keys of the shared error body `{ statusCode, error, message, code?, details?, feature? }`. */
const ERROR_KEYS = ['statusCode', 'error', 'message', 'code', 'details', 'feature'];

function expectErrorBody(body: Record<string, unknown>, status: number): void {
  expect(body.statusCode).toBe(status);
  expect(typeof body.error).toBe('string');
  expect(typeof body.message).toBe('string');
  expect((body.message as string).length).toBeGreaterThan(0);
  for (const key of Object.keys(body)) expect(ERROR_KEYS).toContain(key);
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('auth: registration, sign-in, sessions and passwords', () => {
  let t: TestApp;
  let seen: Recorded[];
  let admin: Session;
  let client: Session;
  let clientPerson: ReturnType<typeof newPerson>;

  beforeAll(async () => {
    t = await startTestApp();
    seen = recordResponses(t);
  });
  afterAll(() => t.close());

  describe('registration', () => {
    it('makes the first registered user admin with a staff account', async () => {
      const person = newPerson('admin');
      const response = await t.http.post('/api/v1/auth/register').send(person).expect(201);
      expect(response.body).toMatchObject({ tokenType: 'Bearer', accessToken: expect.any(String), refreshToken: expect.any(String), expiresIn: expect.any(Number) });
      expect(response.body.user).toMatchObject({ email: person.email, firstName: person.firstName, lastName: person.lastName, accountType: 'staff' });
      expect(response.body.user.roles.map((r: { systemKey: string }) => r.systemKey)).toEqual(['admin']);
      admin = sessionFrom(response.body);

      const me = await t.http.get('/api/v1/auth/me').set(admin.auth).expect(200);
      expect(me.body.accountType).toBe('staff');
      expect(me.body.roles).toEqual([expect.objectContaining({ systemKey: 'admin', audience: 'staff' })]);
      expect(me.body.rules).toContainEqual({ action: 'manage', subject: 'all' });
    });

    it('puts the starter statuses (with stages), services and traffic sources in place on the first registration', async () => {
      const statuses: Array<{ name: string; stage: string }> = await t.db.query('SELECT name, stage FROM contact_statuses ORDER BY position');
      expect(statuses).toEqual([
        { name: 'Lead', stage: 'lead' },
        { name: 'Prospect', stage: 'prospect' },
        { name: 'Customer', stage: 'customer' },
      ]);
      const services: Array<{ name: string }> = await t.db.query('SELECT name FROM services ORDER BY name');
      expect(services.map((s) => s.name)).toEqual(['Consulting', 'Support', 'Training']);
      const sources: Array<{ name: string }> = await t.db.query('SELECT name FROM traffic_sources ORDER BY name');
      expect(sources.map((s) => s.name).sort()).toEqual(['Advertising', 'Event', 'Other', 'Referral', 'Social Media', 'Website']);
    });

    it('registers later users as clients whose contact is a Lead, once they confirm their address', async () => {
      clientPerson = newPerson('client');
      const accepted = await t.http.post('/api/v1/auth/register').send(clientPerson).expect(202);
      expect(accepted.body).toEqual({ message: expect.any(String) });
      // Nothing is made until the mailed link is followed.
      const [{ accounts }] = await t.db.query('SELECT count(*)::int AS accounts FROM users WHERE email_key = lower($1)', [clientPerson.email]);
      expect(accounts).toBe(0);
      const [{ contacts }] = await t.db.query('SELECT count(*)::int AS contacts FROM contacts WHERE email_key = lower($1)', [clientPerson.email]);
      expect(contacts).toBe(0);
      // Mailed after the answer (its timing tells nothing either): waited for.
      const token = await signUpTokenFor(t, clientPerson.email);
      const [mail] = await t.db.query(`SELECT subject, text_body FROM mail_outbox WHERE to_address = $1 AND template = 'sign-up-confirm'`, [clientPerson.email]);
      expect(mail.text_body).toContain(`/confirm-sign-up?token=${token}`);
      const response = await t.http.post('/api/v1/auth/register/confirm').send({ token, password: clientPerson.password }).expect(201);
      expect(response.body.user.accountType).toBe('client');
      expect(response.body.user.roles).toEqual([expect.objectContaining({ systemKey: 'client', audience: 'client' })]);
      client = sessionFrom(response.body);
      await login(t, clientPerson.email, clientPerson.password);

      const rows: Array<{ first_name: string; last_name: string; email: string; phone: string; status: string; stage: string; user_contact: string }> = await t.db.query(
        `SELECT c.first_name, c.last_name, c.email, c.phone, s.name AS status, s.stage, u.contact_id AS user_contact
           FROM contacts c JOIN contact_statuses s ON s.id = c.status_id JOIN users u ON u.contact_id = c.id
          WHERE c.id = $1`,
        [client.contactId],
      );
      expect(rows).toEqual([
        {
          first_name: clientPerson.firstName,
          last_name: clientPerson.lastName,
          email: clientPerson.email,
          phone: clientPerson.phone,
          status: 'Lead',
          stage: 'lead',
          user_contact: client.contactId,
        },
      ]);
      const roles: Array<{ system_key: string }> = await t.db.query('SELECT r.system_key FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1', [client.userId]);
      expect(roles).toEqual([{ system_key: 'client' }]);
      // The link works once.
      const again = await t.http.post('/api/v1/auth/register/confirm').send({ token, password: clientPerson.password }).expect(400);
      expect(again.body).toMatchObject({ code: 'invalid_token', details: [{ field: 'token', message: expect.any(String) }] });
    });

    it('answers a sign-up with an address in use exactly as one with a free address, and mails the account instead', async () => {
      const free = await t.http.post('/api/v1/auth/register').send(newPerson('free')).expect(202);
      const taken = await t.http
        .post('/api/v1/auth/register')
        .send({ ...newPerson('dup'), email: clientPerson.email.toUpperCase() })
        .expect(202);
      expect(taken.body).toEqual(free.body);
      expect(Object.keys(taken.headers).sort()).toEqual(Object.keys(free.headers).sort());
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM users WHERE email_key = lower($1)', [clientPerson.email]);
      expect(count).toBe(1);
      const [{ requests }] = await t.db.query('SELECT count(*)::int AS requests FROM sign_up_requests WHERE lower(email) = lower($1)', [clientPerson.email]);
      expect(requests).toBe(0);
      await until(async () => {
        const mails: Array<{ to_address: string; template: string }> = await t.db.query(`SELECT to_address, template FROM mail_outbox WHERE lower(to_address) = lower($1)`, [
          clientPerson.email,
        ]);
        return mails.some((mail) => mail.template === 'sign-up-existing-account' && mail.to_address === clientPerson.email) || undefined;
      }, 5_000, 'the note to the existing account');
      await login(t, clientPerson.email, clientPerson.password);
    });

    it('refuses a confirmation token that is unknown, expired, or ended by another sign-up of the address, naming the field', async () => {
      const unknown = await t.http.post('/api/v1/auth/register/confirm').send({ token: 'x'.repeat(43), password: 'a-long-enough-password' }).expect(400);
      expect(unknown.body).toMatchObject({ code: 'invalid_token', details: [{ field: 'token', message: 'is invalid, expired or already used' }] });
      const short = await t.http.post('/api/v1/auth/register/confirm').send({ token: 'abc', password: 'a-long-enough-password' }).expect(400);
      expect(short.body.details).toEqual([expect.objectContaining({ field: 'token' })]);

      const late = newPerson('late');
      await t.http.post('/api/v1/auth/register').send(late).expect(202);
      const lateToken = await signUpTokenFor(t, late.email);
      await t.db.query(`UPDATE sign_up_requests SET expires_at = now() - interval '1 second' WHERE lower(email) = lower($1)`, [late.email]);
      expect((await t.http.post('/api/v1/auth/register/confirm').send({ token: lateToken, password: late.password }).expect(400)).body.code).toBe('invalid_token');

      // Two sign-ups of one address: the first link followed opens the account, the other one ends.
      const twice = newPerson('twice');
      await t.http.post('/api/v1/auth/register').send(twice).expect(202);
      const firstToken = await signUpTokenFor(t, twice.email);
      await t.http.post('/api/v1/auth/register').send({ ...twice, password: 'another-long-password' }).expect(202);
      const secondToken = await until(async () => {
        const token = await signUpTokenFor(t, twice.email);
        return token !== firstToken ? token : undefined;
      }, 5_000, 'the second confirmation');
      const opened = await t.http.post('/api/v1/auth/register/confirm').send({ token: secondToken, password: 'another-long-password' }).expect(201);
      expect(opened.body.user.email).toBe(twice.email);
      expect((await t.http.post('/api/v1/auth/register/confirm').send({ token: firstToken, password: twice.password }).expect(400)).body.code).toBe('invalid_token');
      await login(t, twice.email, 'another-long-password');
      await t.http.post('/api/v1/auth/login').send({ email: twice.email, password: twice.password }).expect(401);
    });

    it("opens a sign-up only with the password chosen for it: a stranger's sign-up of someone's address cannot be confirmed by them", async () => {
      const victim = newPerson('victim');
      // A stranger signs the address up first, with a password of their own; then its owner does.
      await t.http.post('/api/v1/auth/register').send({ ...victim, password: 'the-strangers-password' }).expect(202);
      const strangers = await signUpTokenFor(t, victim.email);
      await t.http.post('/api/v1/auth/register').send(victim).expect(202);
      const owners = await until(async () => {
        const token = await signUpTokenFor(t, victim.email);
        return token !== strangers ? token : undefined;
      }, 5_000, "the owner's confirmation");
      // The owner follows the stranger's link first, with their own password: refused, nothing opened.
      const refused = await t.http.post('/api/v1/auth/register/confirm').send({ token: strangers, password: victim.password }).expect(400);
      expect(refused.body).toMatchObject({ code: 'sign_up_password_mismatch', details: [{ field: 'password', message: 'is not the password chosen for this sign-up' }] });
      const [{ accounts }] = await t.db.query('SELECT count(*)::int AS accounts FROM users WHERE email_key = lower($1)', [victim.email]);
      expect(accounts).toBe(0);
      // Their own link opens their account; the stranger's password never signs in.
      await t.http.post('/api/v1/auth/register/confirm').send({ token: owners, password: victim.password }).expect(201);
      await t.http.post('/api/v1/auth/login').send({ email: victim.email, password: 'the-strangers-password' }).expect(401);
      await login(t, victim.email, victim.password);
      expect((await t.http.post('/api/v1/auth/register/confirm').send({ token: strangers, password: 'the-strangers-password' }).expect(400)).body.code).toBe('invalid_token');
    });

    it("makes a confirmed sign-up the account of the contact staff entered with that address, keeping the contact's details", async () => {
      const person = newPerson('known');
      const entered = (
        await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Entered', lastName: 'By Staff', email: person.email.toUpperCase(), company: 'Acme' }).expect(201)
      ).body;
      const session = await signUp(t, person);
      expect(session.contactId).toBe(entered.id);
      const profile = (await t.http.get(`/api/v1/contacts/${entered.id}`).set(admin.auth).expect(200)).body;
      expect(profile).toMatchObject({ firstName: 'Entered', lastName: 'By Staff', company: 'Acme', hasAccount: true, version: entered.version + 1 });
      const me = (await t.http.get('/api/v1/auth/me').set(session.auth).expect(200)).body;
      expect(me).toMatchObject({ contactId: entered.id, firstName: 'Entered', lastName: 'By Staff', accountType: 'client' });
      const [{ contacts }] = await t.db.query('SELECT count(*)::int AS contacts FROM contacts WHERE email_key = lower($1)', [person.email]);
      expect(contacts).toBe(1);
    });

    it('refuses to confirm a sign-up whose address became a trashed contact or an account meanwhile, with 409 on the email', async () => {
      const trashed = newPerson('trashed');
      await t.http.post('/api/v1/auth/register').send(trashed).expect(202);
      const trashedToken = await signUpTokenFor(t, trashed.email);
      const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Binned', email: trashed.email }).expect(201)).body;
      await t.http.delete(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(204);
      const refused = await t.http.post('/api/v1/auth/register/confirm').send({ token: trashedToken, password: trashed.password }).expect(409);
      expectErrorBody(refused.body, 409);
      expect(refused.body).toMatchObject({ code: 'email_taken', details: [{ field: 'email', message: 'is already in use' }] });

      const staffed = newPerson('staffed');
      await t.http.post('/api/v1/auth/register').send(staffed).expect(202);
      const staffedToken = await signUpTokenFor(t, staffed.email);
      const staffRole = (await t.db.query(`SELECT id FROM roles WHERE system_key = 'staff'`))[0].id as string;
      await t.http.post('/api/v1/users').set(admin.auth).send({ firstName: 'Made', lastName: 'By Admin', email: staffed.email, roleIds: [staffRole], sendInvite: false }).expect(201);
      expect((await t.http.post('/api/v1/auth/register/confirm').send({ token: staffedToken, password: staffed.password }).expect(409)).body.code).toBe('email_taken');
      const [{ accounts }] = await t.db.query('SELECT count(*)::int AS accounts FROM users WHERE email_key = lower($1)', [staffed.email]);
      expect(accounts).toBe(1);
    });
  });

  describe('sign-in', () => {
    it('answers a wrong password and an unknown email with the same 401', async () => {
      await t.http.post('/api/v1/auth/login').send({ email: clientPerson.email, password: PASSWORD }).expect(200);
      const wrong = await t.http.post('/api/v1/auth/login').send({ email: clientPerson.email, password: 'not-the-right-password' }).expect(401);
      const unknown = await t.http.post('/api/v1/auth/login').send({ email: `nobody-${Date.now()}@example.com`, password: PASSWORD }).expect(401);
      expectErrorBody(wrong.body, 401);
      expect(wrong.body.code).toBe('invalid_credentials');
      expect(unknown.body).toEqual(wrong.body);
      expect(wrong.body).not.toHaveProperty('accessToken');
    });

    it('tells the signed-in account apart on /auth/me and refuses missing or bad tokens', async () => {
      const anonymous = await t.http.get('/api/v1/auth/me').expect(401);
      expectErrorBody(anonymous.body, 401);
      expect(anonymous.body.code).toBe('unauthenticated');
      await t.http.get('/api/v1/auth/me').set('Authorization', 'Bearer not-a-jwt').expect(401);
      await t.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${client.accessToken}x`).expect(401);
      // Signed with the right secret, but expired, or without the token version.
      const jwt = new JwtService({ secret: TEST_JWT_SECRET });
      const expired = jwt.sign({ sub: client.userId, tv: 0, exp: Math.floor(Date.now() / 1000) - 5 });
      await t.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${expired}`).expect(401);
      await t.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${jwt.sign({ sub: client.userId }, { expiresIn: 60 })}`).expect(401);
      await t.http.get('/api/v1/auth/me').set('Authorization', `Basic ${client.accessToken}`).expect(401);
      await t.http.get('/api/v1/auth/me').set('Authorization', `bearer ${client.accessToken}`).expect(200);

      const me = await t.http.get('/api/v1/auth/me').set(client.auth).expect(200);
      expect(me.body).toMatchObject({
        id: client.userId,
        contactId: client.contactId,
        email: clientPerson.email,
        firstName: clientPerson.firstName,
        lastName: clientPerson.lastName,
        accountType: 'client',
      });
      expect(me.body.roles.map((r: { systemKey: string }) => r.systemKey)).toEqual(['client']);
      // The client's own-contact rule comes back with the placeholder filled in.
      expect(me.body.rules).toContainEqual({ action: 'read', subject: 'Contact', conditions: { id: client.contactId } });
      expect(JSON.stringify(me.body.rules)).not.toContain('${user.');
    });
  });

  describe('refresh tokens', () => {
    it('rotates: a refresh gives a new working pair and the old refresh token is then refused', async () => {
      const session = await login(t, clientPerson.email);
      const refreshed = await t.http.post('/api/v1/auth/refresh').send({ refreshToken: session.refreshToken }).expect(200);
      expect(refreshed.body.refreshToken).toEqual(expect.any(String));
      expect(refreshed.body.refreshToken).not.toBe(session.refreshToken);
      expect(refreshed.body.user.id).toBe(client.userId);
      await t.http.get('/api/v1/auth/me').set('Authorization', `Bearer ${refreshed.body.accessToken}`).expect(200);

      const again = await t.http.post('/api/v1/auth/refresh').send({ refreshToken: session.refreshToken }).expect(401);
      expectErrorBody(again.body, 401);
      expect(again.body.code).toBe('invalid_refresh_token');
    });

    it('treats reuse of a spent refresh token as theft: the whole family dies, other sign-ins do not', async () => {
      const stolen = await login(t, clientPerson.email);
      const other = await login(t, clientPerson.email);
      const second = await t.http.post('/api/v1/auth/refresh').send({ refreshToken: stolen.refreshToken }).expect(200);
      const third = await t.http.post('/api/v1/auth/refresh').send({ refreshToken: second.body.refreshToken }).expect(200);

      // Replaying the first (spent) token of the chain…
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: stolen.refreshToken }).expect(401);
      // …ends the newest token of that chain as well.
      const newest = await t.http.post('/api/v1/auth/refresh').send({ refreshToken: third.body.refreshToken }).expect(401);
      expect(newest.body.code).toBe('invalid_refresh_token');

      const family: Array<{ total: number; open: number }> = await t.db.query(
        `SELECT count(*)::int AS total, count(*) FILTER (WHERE revoked_at IS NULL)::int AS open FROM refresh_tokens
          WHERE family_id = (SELECT family_id FROM refresh_tokens WHERE token_hash = $1)`,
        [createHash('sha256').update(third.body.refreshToken).digest('hex')],
      );
      expect(family).toEqual([{ total: 3, open: 0 }]);

      // A separate sign-in of the same account is a separate family and keeps working.
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: other.refreshToken }).expect(200);
    });

    it('ends the family on logout', async () => {
      const session = await login(t, clientPerson.email);
      const rotated = await t.http.post('/api/v1/auth/refresh').send({ refreshToken: session.refreshToken }).expect(200);
      await t.http.post('/api/v1/auth/logout').send({ refreshToken: rotated.body.refreshToken }).expect(204);
      const after = await t.http.post('/api/v1/auth/refresh').send({ refreshToken: rotated.body.refreshToken }).expect(401);
      expect(after.body.code).toBe('invalid_refresh_token');
      // Logging out with an unknown token is still a quiet 204.
      await t.http.post('/api/v1/auth/logout').send({ refreshToken: 'this-token-was-never-issued' }).expect(204);
    });
  });

  describe('forgotten and changed passwords', () => {
    let person: ReturnType<typeof newPerson>;
    let session: Session;
    let resetToken: string;

    beforeAll(async () => {
      person = newPerson('forgetful');
      session = await signUp(t, person);
    });

    it('answers forgot-password with the same 202 for known and unknown emails; only the known one gets mail', async () => {
      const unknownEmail = `unknown-${Date.now()}@example.com`;
      const unknown = await t.http.post('/api/v1/auth/forgot-password').send({ email: unknownEmail }).expect(202);
      const known = await t.http.post('/api/v1/auth/forgot-password').send({ email: person.email }).expect(202);
      expect(known.body).toEqual(unknown.body);
      expect(known.body).toEqual({ message: expect.any(String) });

      resetToken = await latestTokenFor(t, admin, person.email, 'password-reset');
      const outbox = await t.http.get('/api/v1/mail/outbox').query({ to: person.email }).set(admin.auth).expect(200);
      // The sign-up's confirmation, then the reset link.
      expect(outbox.body.data.map((mail: { template: string }) => mail.template)).toEqual(['password-reset', 'sign-up-confirm']);
      expect(outbox.body.data[0]).toMatchObject({ toAddress: person.email, template: 'password-reset' });
      expect(outbox.body.data[0].textBody).toContain(`Token: ${resetToken}`);

      await wait(200);
      const none = await t.http.get('/api/v1/mail/outbox').query({ to: unknownEmail }).set(admin.auth).expect(200);
      expect(none.body.data).toEqual([]);
      expect(none.body.meta.total).toBe(0);
    });

    it('sets a new password with the reset token exactly once and ends every session', async () => {
      const newPassword = 'a-brand-new-password';
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(200);
      await t.http.post('/api/v1/auth/reset-password').send({ token: resetToken, password: newPassword }).expect(204);

      const second = await t.http.post('/api/v1/auth/reset-password').send({ token: resetToken, password: 'yet-another-password' }).expect(400);
      expectErrorBody(second.body, 400);
      expect(second.body.code).toBe('invalid_token');
      expect(second.body.details).toEqual([expect.objectContaining({ field: 'token' })]);

      await t.http.post('/api/v1/auth/login').send({ email: person.email, password: PASSWORD }).expect(401);
      await t.http.post('/api/v1/auth/login').send({ email: person.email, password: 'yet-another-password' }).expect(401);
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(401);
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: session.refreshToken }).expect(401);

      session = await login(t, person.email, newPassword);
      person = { ...person, password: newPassword };
    });

    it('refuses change-password with a wrong current password; with the right one it ends every session', async () => {
      const wrong = await t.http
        .post('/api/v1/auth/change-password')
        .set(session.auth)
        .send({ currentPassword: 'definitely-not-it', password: 'a-third-good-password' })
        .expect(400);
      expectErrorBody(wrong.body, 400);
      expect(wrong.body.details).toEqual([expect.objectContaining({ field: 'currentPassword' })]);
      // Nothing changed: the session and the password still work.
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(200);

      await t.http.post('/api/v1/auth/change-password').send({ currentPassword: person.password, password: 'a-third-good-password' }).expect(401);

      await t.http
        .post('/api/v1/auth/change-password')
        .set(session.auth)
        .send({ currentPassword: person.password, password: 'a-third-good-password' })
        .expect(204);
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(401);
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: session.refreshToken }).expect(401);
      await t.http.post('/api/v1/auth/login').send({ email: person.email, password: person.password }).expect(401);
      await login(t, person.email, 'a-third-good-password');
    });
  });

  // Runs last in this block: it inspects every response body the tests above received.
  describe('response bodies', () => {
    it('never contain a password hash, a token hash or their column names', async () => {
      // Sanity: the recorder did see the bodies of this spec, successes and failures alike.
      expect(seen.some((r) => r.text.includes('"accessToken"'))).toBe(true);
      expect(seen.some((r) => r.text.includes('invalid_credentials'))).toBe(true);
      expect(seen.some((r) => r.request.includes('/mail/outbox') && r.text.includes('Token: '))).toBe(true);
      expectNoSecrets(seen);
    });
  });
});

describe('auth: two simultaneous first registrations', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('makes exactly one of them admin; the other waits for its address to be confirmed', async () => {
    const people = [newPerson('racer'), newPerson('racer')];
    const answers = await Promise.all(people.map((person) => t.http.post('/api/v1/auth/register').send(person)));
    expect(answers.map((answer) => answer.status).sort()).toEqual([201, 202]);
    const first = answers.find((answer) => answer.status === 201)!;
    expect(first.body.user).toMatchObject({ accountType: 'staff', roles: [expect.objectContaining({ systemKey: 'admin' })] });
    const second = people[answers.indexOf(answers.find((answer) => answer.status === 202)!)]!;
    const confirmed = sessionFrom((await t.http.post('/api/v1/auth/register/confirm').send({ token: await signUpTokenFor(t, second.email), password: second.password }).expect(201)).body);
    const me = (await t.http.get('/api/v1/auth/me').set(confirmed.auth).expect(200)).body;
    expect(me).toMatchObject({ accountType: 'client', roles: [expect.objectContaining({ systemKey: 'client' })] });

    const [{ admins }] = await t.db.query(
      `SELECT count(*)::int AS admins FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE r.system_key = 'admin'`,
    );
    expect(admins).toBe(1);
    const [{ roles }] = await t.db.query('SELECT count(*)::int AS roles FROM roles WHERE system_key IS NOT NULL');
    expect(roles).toBe(3);
    const [{ statuses }] = await t.db.query('SELECT count(*)::int AS statuses FROM contact_statuses');
    expect(statuses).toBe(3);
  });
});

describe('auth: throttling sign-in attempts', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ THROTTLE_LOGIN_LIMIT: '3' });
  });
  afterAll(() => t.close());

  it('answers the 4th attempt for the same email within the window with 429 and the shared error body', async () => {
    const person = newPerson('throttled');
    await register(t, 'throttled-admin');
    await signUp(t, person);

    await t.http.post('/api/v1/auth/login').send({ email: person.email, password: 'wrong-password-1' }).expect(401);
    await t.http.post('/api/v1/auth/login').send({ email: person.email, password: 'wrong-password-2' }).expect(401);
    await t.http.post('/api/v1/auth/login').send({ email: person.email, password: person.password }).expect(200);
    // Even the right password is refused once the budget for this email is spent.
    const blocked = await t.http.post('/api/v1/auth/login').send({ email: person.email, password: person.password }).expect(429);
    expectErrorBody(blocked.body, 429);
    expect(blocked.body.error).toBe('Too Many Requests');
    expect(blocked.body).not.toHaveProperty('accessToken');

    // The budget is per email: another account from the same address can still sign in.
    const other = newPerson('unthrottled');
    await signUp(t, other);
    await login(t, other.email, other.password);
  });

  it('does not let a client reset the budget of an email by sending its own X-Forwarded-For header', async () => {
    const person = newPerson('spoofer');
    await signUp(t, person);
    for (let i = 1; i <= 3; i += 1) {
      await t.http.post('/api/v1/auth/login').send({ email: person.email, password: `wrong-password-${i}` }).expect(401);
    }
    await t.http.post('/api/v1/auth/login').send({ email: person.email, password: 'wrong-password-4' }).expect(429);

    // The test client connects straight to the app: a forwarded-for header it makes up is not a new client address.
    const outcomes: Array<{ status: number; signedIn: boolean }> = [];
    for (let i = 1; i <= 3; i += 1) {
      const response = await t.http.post('/api/v1/auth/login').set('X-Forwarded-For', `198.51.100.${i}`).send({ email: person.email, password: person.password });
      outcomes.push({ status: response.status, signedIn: 'accessToken' in response.body });
    }
    expect(outcomes).toEqual(Array(3).fill({ status: 429, signedIn: false }));
  });
});

describe('auth: sign-ups on a new deployment and their throttling', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ THROTTLE_FORGOT_PASSWORD_LIMIT: '2' });
  });
  afterAll(() => t.close());

  it('refuses a first account whose address a contact already has with 409 on the email, then takes another', async () => {
    const person = newPerson('first');
    await t.db.query(`INSERT INTO contacts (first_name, email) VALUES ('Entered', $1)`, [person.email]);
    const refused = await t.http.post('/api/v1/auth/register').send(person).expect(409);
    expect(refused.body).toMatchObject({ code: 'email_taken', details: [{ field: 'email', message: 'is already in use' }] });
    await t.http.post('/api/v1/auth/register').send(newPerson('first')).expect(201);
  });

  it('mails an address at most as often as password resets may: later sign-ups of it are throttled', async () => {
    const person = newPerson('flooded');
    await t.http.post('/api/v1/auth/register').send(person).expect(202);
    await t.http.post('/api/v1/auth/register').send(person).expect(202);
    const blocked = await t.http.post('/api/v1/auth/register').send(person).expect(429);
    expectErrorBody(blocked.body, 429);
    const [{ mails }] = await t.db.query('SELECT count(*)::int AS mails FROM mail_outbox WHERE to_address = $1', [person.email]);
    expect(mails).toBeLessThanOrEqual(2);
  });
});
