import { JwtService } from '@nestjs/jwt';
import { createHash } from 'node:crypto';
import type { Test } from 'supertest';
import { latestTokenFor, login, newPerson, register, Session, sessionFrom } from '../support/actors';
import { startTestApp, TEST_JWT_SECRET, TestApp } from '../support/test-app';

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

    it('registers later users as clients whose contact is a Lead', async () => {
      clientPerson = newPerson('client');
      const response = await t.http.post('/api/v1/auth/register').send(clientPerson).expect(201);
      expect(response.body.user.accountType).toBe('client');
      expect(response.body.user.roles).toEqual([expect.objectContaining({ systemKey: 'client', audience: 'client' })]);
      client = sessionFrom(response.body);

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
    });

    it('refuses a second account with the same email, in any case, with 409 on the email field', async () => {
      const response = await t.http
        .post('/api/v1/auth/register')
        .send({ ...newPerson('dup'), email: clientPerson.email.toUpperCase() })
        .expect(409);
      expectErrorBody(response.body, 409);
      expect(response.body.code).toBe('email_taken');
      expect(response.body.details).toEqual([expect.objectContaining({ field: 'email' })]);
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM users WHERE email_key = lower($1)', [clientPerson.email]);
      expect(count).toBe(1);
      const [{ contacts }] = await t.db.query('SELECT count(*)::int AS contacts FROM contacts WHERE email_key = lower($1)', [clientPerson.email]);
      expect(contacts).toBe(1);
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
      const response = await t.http.post('/api/v1/auth/register').send(person).expect(201);
      session = sessionFrom(response.body);
    });

    it('answers forgot-password with the same 202 for known and unknown emails; only the known one gets mail', async () => {
      const unknownEmail = `unknown-${Date.now()}@example.com`;
      const unknown = await t.http.post('/api/v1/auth/forgot-password').send({ email: unknownEmail }).expect(202);
      const known = await t.http.post('/api/v1/auth/forgot-password').send({ email: person.email }).expect(202);
      expect(known.body).toEqual(unknown.body);
      expect(known.body).toEqual({ message: expect.any(String) });

      resetToken = await latestTokenFor(t, admin, person.email);
      const outbox = await t.http.get('/api/v1/mail/outbox').query({ to: person.email }).set(admin.auth).expect(200);
      expect(outbox.body.data).toHaveLength(1);
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

  it('makes exactly one of them admin', async () => {
    const [a, b] = await Promise.all([
      t.http.post('/api/v1/auth/register').send(newPerson('racer')),
      t.http.post('/api/v1/auth/register').send(newPerson('racer')),
    ]);
    expect([a.status, b.status]).toEqual([201, 201]);
    const kinds = [a.body.user.roles[0].systemKey, b.body.user.roles[0].systemKey].sort();
    expect(kinds).toEqual(['admin', 'client']);
    expect([a.body.user.accountType, b.body.user.accountType].sort()).toEqual(['client', 'staff']);

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
    await t.http.post('/api/v1/auth/register').send(person).expect(201);

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
    await t.http.post('/api/v1/auth/register').send(other).expect(201);
    await login(t, other.email, other.password);
  });

  it('does not let a client reset the budget of an email by sending its own X-Forwarded-For header', async () => {
    const person = newPerson('spoofer');
    await t.http.post('/api/v1/auth/register').send(person).expect(201);
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
