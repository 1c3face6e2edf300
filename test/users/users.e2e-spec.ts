import { randomUUID } from 'node:crypto';
import type { Test } from 'supertest';
import { createUserWithRoles, latestTokenFor, login, newPerson, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow } from '../support/wait';
import { ADMIN_REMOVAL_LOCK_KEY } from '../../src/modules/users/users.service';

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

interface UserBody {
  id: string;
  contactId: string;
  email: string;
  firstName: string;
  lastName: string;
  phone: string | null;
  isActive: boolean;
  hasPassword: boolean;
  accountType: 'staff' | 'client';
  roles: Array<{ id: string; name: string; systemKey: string | null; audience: string }>;
}

let tagCounter = 0;
/** A lowercase tag unique to this run, to find the users a test created. */
function uniqueTag(prefix: string): string {
  tagCounter += 1;
  return `${prefix}${tagCounter}x${Date.now().toString(36)}`;
}

describe('users and roles administration', () => {
  let t: TestApp;
  let seen: Recorded[];
  let admin: Session;
  let client: Session;
  let adminRoleId: string;
  let staffRoleId: string;
  let clientRoleId: string;

  /** Creates a user through the admin API without an invitation. */
  async function createUser(roleIds: string[], overrides: Partial<{ firstName: string; lastName: string; email: string; phone: string }> = {}): Promise<UserBody> {
    const person = newPerson('made');
    const response = await t.http
      .post('/api/v1/users')
      .set(admin.auth)
      .send({ firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds, sendInvite: false, ...overrides })
      .expect(201);
    return response.body as UserBody;
  }

  async function contactRow(contactId: string): Promise<{ first_name: string; last_name: string; email: string | null; phone: string | null } | undefined> {
    const rows = await t.db.query('SELECT first_name, last_name, email, phone FROM contacts WHERE id = $1', [contactId]);
    return rows[0];
  }

  beforeAll(async () => {
    t = await startTestApp();
    seen = recordResponses(t);
    admin = await register(t, 'admin');
    client = await register(t, 'client');
    adminRoleId = await systemRoleId(t, 'admin');
    staffRoleId = await systemRoleId(t, 'staff');
    clientRoleId = await systemRoleId(t, 'client');
  });
  afterAll(() => t.close());

  describe('creating users', () => {
    it('creates a staff user with contact details, mails an invitation, and has no password until it is used', async () => {
      const tag = uniqueTag('invitee');
      const email = `${tag}@example.com`;
      const created = await t.http
        .post('/api/v1/users')
        .set(admin.auth)
        .send({ firstName: 'Sam', lastName: tag, email, phone: '+1 555 0199', roleIds: [staffRoleId] })
        .expect(201);
      const user = created.body as UserBody;
      expect(user).toMatchObject({
        email,
        firstName: 'Sam',
        lastName: tag,
        phone: '+1 555 0199',
        isActive: true,
        hasPassword: false,
        accountType: 'staff',
        roles: [{ id: staffRoleId, name: 'Staff', systemKey: 'staff', audience: 'staff' }],
        lastLoginAt: null,
      });

      // The account belongs to a contact carrying the same details.
      expect(await contactRow(user.contactId)).toEqual({ first_name: 'Sam', last_name: tag, email, phone: '+1 555 0199' });
      const link: Array<{ contact_id: string }> = await t.db.query('SELECT contact_id FROM users WHERE id = $1', [user.id]);
      expect(link).toEqual([{ contact_id: user.contactId }]);
      // Staff are no leads: their contact has no status, where a client's starts as a lead.
      const statusOf = async (contactId: string) => (await t.db.query('SELECT s.name FROM contacts c LEFT JOIN contact_statuses s ON s.id = c.status_id WHERE c.id = $1', [contactId]))[0].name;
      expect(await statusOf(user.contactId)).toBeNull();
      const clientRole = (await t.db.query(`SELECT id FROM roles WHERE system_key = 'client'`))[0].id as string;
      const clientUser = (await t.http.post('/api/v1/users').set(admin.auth).send({ firstName: 'Cleo', lastName: tag, email: `client.${email}`, roleIds: [clientRole] }).expect(201)).body as UserBody;
      expect(await statusOf(clientUser.contactId)).toBe('Lead');

      // The invitation is in the outbox, and its token is an invite token.
      const outbox = await t.http.get('/api/v1/mail/outbox').query({ to: email }).set(admin.auth).expect(200);
      expect(outbox.body.data).toHaveLength(1);
      expect(outbox.body.data[0]).toMatchObject({ toAddress: email, template: 'invite' });
      const tokens: Array<{ purpose: string; used: boolean }> = await t.db.query('SELECT purpose, used_at IS NOT NULL AS used FROM password_tokens WHERE user_id = $1', [user.id]);
      expect(tokens).toEqual([{ purpose: 'invite', used: false }]);

      // No password yet: nothing signs in.
      await t.http.post('/api/v1/auth/login').send({ email, password: PASSWORD }).expect(401);

      const token = await latestTokenFor(t, admin, email);
      expect(outbox.body.data[0].textBody).toContain(`Token: ${token}`);
      await t.http.post('/api/v1/auth/reset-password').send({ token, password: PASSWORD }).expect(204);
      const after = await t.http.get(`/api/v1/users/${user.id}`).set(admin.auth).expect(200);
      expect(after.body.hasPassword).toBe(true);
      const session = await login(t, email);
      expect(session.userId).toBe(user.id);
      await t.http.post('/api/v1/auth/reset-password').send({ token, password: 'another-good-password' }).expect(400);
    });

    it('sends no invitation when sendInvite is false', async () => {
      const user = await createUser([staffRoleId]);
      expect(user.hasPassword).toBe(false);
      const outbox = await t.http.get('/api/v1/mail/outbox').query({ to: user.email }).set(admin.auth).expect(200);
      expect(outbox.body.meta.total).toBe(0);
    });

    it('requires the contact details and known roles, and refuses a taken email', async () => {
      const person = newPerson('invalid');
      const base = { firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds: [staffRoleId], sendInvite: false };

      const noName = await t.http.post('/api/v1/users').set(admin.auth).send({ ...base, firstName: undefined }).expect(400);
      expect(noName.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'firstName' })]));
      const badEmail = await t.http.post('/api/v1/users').set(admin.auth).send({ ...base, email: 'not-an-email' }).expect(400);
      expect(badEmail.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'email' })]));
      const noRoles = await t.http.post('/api/v1/users').set(admin.auth).send({ ...base, roleIds: [] }).expect(400);
      expect(noRoles.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'roleIds' })]));

      const unknownRole = await t.http.post('/api/v1/users').set(admin.auth).send({ ...base, roleIds: [randomUUID()] }).expect(422);
      expect(unknownRole.body.code).toBe('unknown_roles');

      const taken = await t.http.post('/api/v1/users').set(admin.auth).send({ ...base, email: client.email.toUpperCase() }).expect(409);
      expect(taken.body).toMatchObject({ code: 'email_taken', message: 'Another account has this email', details: [{ field: 'email', message: 'is already used by another account' }] });
      // A contact without an account: its account is opened from it, not made beside it.
      const lead = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Lead', email: `lead.${person.email}` }).expect(201)).body;
      const ofContact = await t.http.post('/api/v1/users').set(admin.auth).send({ ...base, email: `lead.${person.email}` }).expect(409);
      expect(ofContact.body).toMatchObject({ code: 'email_taken', message: `A contact has this email: open its account with POST /api/v1/contacts/${lead.id}/account instead` });
      await t.http.delete(`/api/v1/contacts/${lead.id}`).set(admin.auth).expect(204);
      const ofTrashed = await t.http.post('/api/v1/users').set(admin.auth).send({ ...base, email: `lead.${person.email}` }).expect(409);
      expect(ofTrashed.body.message).toMatch(/^A contact in the trash has this email: restore it/);
      // An edit adds no account: the advice to open one is not given.
      const edited = await t.http.patch(`/api/v1/users/${client.userId}`).set(admin.auth).send({ email: `lead.${person.email}` }).expect(409);
      expect(edited.body.message).toBe('A contact in the trash has this email');

      const [{ users }] = await t.db.query('SELECT count(*)::int AS users FROM users WHERE email_key = lower($1)', [person.email]);
      expect(users).toBe(0);
      const [{ contacts }] = await t.db.query('SELECT count(*)::int AS contacts FROM contacts WHERE email_key = lower($1)', [person.email]);
      expect(contacts).toBe(0);
    });
  });

  describe('listing users', () => {
    let tag: string;
    let alpha: UserBody;
    let bravo: UserBody;
    let charlie: UserBody;
    let delta: UserBody;

    beforeAll(async () => {
      tag = uniqueTag('list');
      // Emails sort in a different order from first names, so the two sorts can be told apart.
      bravo = await createUser([staffRoleId], { firstName: 'Bravo', lastName: tag, email: `b.${tag}@example.com` });
      alpha = await createUser([staffRoleId], { firstName: 'Alpha', lastName: tag, email: `c.${tag}@example.com` });
      charlie = await createUser([clientRoleId], { firstName: 'Charlie', lastName: tag, email: `a.${tag}@example.com` });
      delta = await createUser([staffRoleId], { firstName: 'Delta', lastName: tag, email: `d.${tag}@example.com` });
      await t.http.patch(`/api/v1/users/${delta.id}`).set(admin.auth).send({ isActive: false }).expect(200);
    });

    const ids = (body: { data: UserBody[] }) => body.data.map((u) => u.id);

    it('pages through every user with { data, meta: { page, limit, total } }', async () => {
      const [{ total }] = await t.db.query('SELECT count(*)::int AS total FROM users');
      const first = await t.http.get('/api/v1/users').query({ limit: 2, page: 1 }).set(admin.auth).expect(200);
      expect(Object.keys(first.body).sort()).toEqual(['data', 'meta']);
      expect(first.body.meta).toEqual({ page: 1, limit: 2, total });
      expect(first.body.data).toHaveLength(2);

      const collected: string[] = [];
      for (let page = 1; (page - 1) * 2 < total; page += 1) {
        const response = await t.http.get('/api/v1/users').query({ limit: 2, page }).set(admin.auth).expect(200);
        expect(response.body.meta).toEqual({ page, limit: 2, total });
        collected.push(...ids(response.body));
      }
      const all: Array<{ id: string }> = await t.db.query('SELECT id FROM users');
      expect(collected.sort()).toEqual(all.map((u) => u.id).sort());

      const beyond = await t.http.get('/api/v1/users').query({ limit: 2, page: 1000 }).set(admin.auth).expect(200);
      expect(beyond.body).toEqual({ data: [], meta: { page: 1000, limit: 2, total } });
    });

    it('sorts names ignoring case, a missing last name last', async () => {
      const m = uniqueTag('names');
      const lower = await createUser([staffRoleId], { firstName: 'Lower', lastName: `a${m}`, email: `lower.${m}@example.com` });
      const upper = await createUser([staffRoleId], { firstName: 'Upper', lastName: `B${m}`, email: `upper.${m}@example.com` });
      const none = await createUser([staffRoleId], { firstName: 'None', lastName: '', email: `none.${m}@example.com` });
      const sorted = async (sort: string) => ids((await t.http.get('/api/v1/users').query({ q: m, sort }).set(admin.auth).expect(200)).body);
      expect(await sorted('lastName')).toEqual([lower.id, upper.id, none.id]);
      expect(await sorted('-lastName')).toEqual([upper.id, lower.id, none.id]);
    });

    it('searches names and email with q', async () => {
      const all = await t.http.get('/api/v1/users').query({ q: tag }).set(admin.auth).expect(200);
      expect(ids(all.body).sort()).toEqual([alpha.id, bravo.id, charlie.id, delta.id].sort());
      expect(all.body.meta.total).toBe(4);

      const byFullName = await t.http.get('/api/v1/users').query({ q: `bravo ${tag}` }).set(admin.auth).expect(200);
      expect(ids(byFullName.body)).toEqual([bravo.id]);
      const byEmail = await t.http.get('/api/v1/users').query({ q: `A.${tag}@` }).set(admin.auth).expect(200);
      expect(ids(byEmail.body)).toEqual([charlie.id]);
      // LIKE wildcards are searched for literally.
      const wildcard = await t.http.get('/api/v1/users').query({ q: '%' }).set(admin.auth).expect(200);
      expect(wildcard.body).toEqual({ data: [], meta: { page: 1, limit: 25, total: 0 } });
    });

    it('filters by accountType, roleId and isActive', async () => {
      const clients = await t.http.get('/api/v1/users').query({ accountType: 'client', limit: 100 }).set(admin.auth).expect(200);
      expect(ids(clients.body)).toEqual(expect.arrayContaining([client.userId, charlie.id]));
      expect(ids(clients.body)).not.toContain(admin.userId);
      expect(clients.body.data.every((u: UserBody) => u.accountType === 'client')).toBe(true);

      const staff = await t.http.get('/api/v1/users').query({ accountType: 'staff', q: tag }).set(admin.auth).expect(200);
      expect(ids(staff.body).sort()).toEqual([alpha.id, bravo.id, delta.id].sort());
      const staffAll = await t.http.get('/api/v1/users').query({ accountType: 'staff', limit: 100 }).set(admin.auth).expect(200);
      expect(ids(staffAll.body)).toContain(admin.userId);
      expect(ids(staffAll.body)).not.toContain(client.userId);

      const byRole = await t.http.get('/api/v1/users').query({ roleId: clientRoleId, limit: 100 }).set(admin.auth).expect(200);
      const holders: Array<{ user_id: string }> = await t.db.query('SELECT user_id FROM user_roles WHERE role_id = $1', [clientRoleId]);
      expect(ids(byRole.body).sort()).toEqual(holders.map((h) => h.user_id).sort());
      expect(byRole.body.meta.total).toBe(holders.length);
      expect(byRole.body.data.every((u: UserBody) => u.roles.some((r) => r.id === clientRoleId))).toBe(true);

      const inactive = await t.http.get('/api/v1/users').query({ isActive: 'false', q: tag }).set(admin.auth).expect(200);
      expect(ids(inactive.body)).toEqual([delta.id]);
      expect(inactive.body.data[0].isActive).toBe(false);
      const active = await t.http.get('/api/v1/users').query({ isActive: 'true', q: tag }).set(admin.auth).expect(200);
      expect(ids(active.body).sort()).toEqual([alpha.id, bravo.id, charlie.id].sort());

      const combined = await t.http.get('/api/v1/users').query({ q: tag, accountType: 'staff', isActive: 'true', roleId: staffRoleId }).set(admin.auth).expect(200);
      expect(ids(combined.body).sort()).toEqual([alpha.id, bravo.id].sort());
      expect(combined.body.meta.total).toBe(2);

      const badType = await t.http.get('/api/v1/users').query({ accountType: 'robot' }).set(admin.auth).expect(400);
      expect(badType.body.details).toEqual([expect.objectContaining({ field: 'accountType' })]);
    });

    it('sorts by whitelisted fields and answers an unknown sort field with 400 on sort', async () => {
      const byName = await t.http.get('/api/v1/users').query({ q: tag, sort: 'firstName' }).set(admin.auth).expect(200);
      expect(byName.body.data.map((u: UserBody) => u.firstName)).toEqual(['Alpha', 'Bravo', 'Charlie', 'Delta']);
      const byNameDesc = await t.http.get('/api/v1/users').query({ q: tag, sort: '-firstName' }).set(admin.auth).expect(200);
      expect(byNameDesc.body.data.map((u: UserBody) => u.firstName)).toEqual(['Delta', 'Charlie', 'Bravo', 'Alpha']);
      const byEmail = await t.http.get('/api/v1/users').query({ q: tag, sort: 'email' }).set(admin.auth).expect(200);
      expect(ids(byEmail.body)).toEqual([charlie.id, bravo.id, alpha.id, delta.id]);
      const byCreated = await t.http.get('/api/v1/users').query({ q: tag, sort: 'createdAt' }).set(admin.auth).expect(200);
      expect(ids(byCreated.body)).toEqual([bravo.id, alpha.id, charlie.id, delta.id]);

      for (const sort of ['shoeSize', '-nope', 'email,favouriteColour']) {
        const bad = await t.http.get('/api/v1/users').query({ sort }).set(admin.auth).expect(400);
        expect(bad.body.code).toBe('validation_failed');
        expect(bad.body.details).toEqual([expect.objectContaining({ field: 'sort' })]);
      }
    });

    it('is refused to client accounts', async () => {
      await t.http.get('/api/v1/users').set(client.auth).expect(403);
      await t.http.get('/api/v1/users').expect(401);
    });
  });

  describe('one user', () => {
    it('gets a user by id; an unknown id is 404 and a malformed one 400', async () => {
      const user = await createUser([staffRoleId], { phone: '+1 555 0123' });
      const response = await t.http.get(`/api/v1/users/${user.id}`).set(admin.auth).expect(200);
      expect(response.body).toMatchObject({ id: user.id, contactId: user.contactId, email: user.email, phone: '+1 555 0123', accountType: 'staff' });
      await t.http.get(`/api/v1/users/${randomUUID()}`).set(admin.auth).expect(404);
      const malformed = await t.http.get('/api/v1/users/not-a-uuid').set(admin.auth).expect(400);
      expect(malformed.body.statusCode).toBe(400);
    });

    it('edits names, email and phone, and the linked contact row follows', async () => {
      const session = await createUserWithRoles(t, admin, [staffRoleId], 'editee');
      const tag = uniqueTag('edited');
      const email = `${tag}@example.com`;
      const response = await t.http
        .patch(`/api/v1/users/${session.userId}`)
        .set(admin.auth)
        .send({ firstName: 'Renée', lastName: tag, email, phone: '+44 20 7946 0958' })
        .expect(200);
      expect(response.body).toMatchObject({ id: session.userId, firstName: 'Renée', lastName: tag, email, phone: '+44 20 7946 0958' });

      expect(await contactRow(session.contactId)).toEqual({ first_name: 'Renée', last_name: tag, email, phone: '+44 20 7946 0958' });
      const users: Array<{ first_name: string; last_name: string; email: string }> = await t.db.query('SELECT first_name, last_name, email FROM users WHERE id = $1', [session.userId]);
      expect(users).toEqual([{ first_name: 'Renée', last_name: tag, email }]);

      // The account now signs in with the new address only.
      await t.http.post('/api/v1/auth/login').send({ email: session.email, password: PASSWORD }).expect(401);
      await login(t, email);

      const taken = await t.http.patch(`/api/v1/users/${session.userId}`).set(admin.auth).send({ email: client.email }).expect(409);
      expect(taken.body.details).toEqual([expect.objectContaining({ field: 'email' })]);
      expect((await contactRow(session.contactId))!.email).toBe(email);
    });

    it('follows a change made to the contact row in SQL (database trigger)', async () => {
      const user = await createUser([staffRoleId]);
      await t.db.query(`UPDATE contacts SET first_name = 'Sequel', last_name = 'Written' WHERE id = $1`, [user.contactId]);
      const users: Array<{ first_name: string; last_name: string; email: string }> = await t.db.query('SELECT first_name, last_name, email FROM users WHERE id = $1', [user.id]);
      expect(users).toEqual([{ first_name: 'Sequel', last_name: 'Written', email: user.email }]);
      const response = await t.http.get(`/api/v1/users/${user.id}`).set(admin.auth).expect(200);
      expect(response.body).toMatchObject({ firstName: 'Sequel', lastName: 'Written', email: user.email });
    });

    it("replaces a user's roles with PUT /users/:id/roles, and the new roles apply at once", async () => {
      const session = await createUserWithRoles(t, admin, [staffRoleId], 'roled');
      await t.http.get('/api/v1/users').set(session.auth).expect(200);

      const toClient = await t.http.put(`/api/v1/users/${session.userId}/roles`).set(admin.auth).send({ roleIds: [clientRoleId] }).expect(200);
      expect(toClient.body.accountType).toBe('client');
      expect(toClient.body.roles.map((r: { id: string }) => r.id)).toEqual([clientRoleId]);
      const me = await t.http.get('/api/v1/auth/me').set(session.auth).expect(200);
      expect(me.body.accountType).toBe('client');
      await t.http.get('/api/v1/users').set(session.auth).expect(403);

      const both = await t.http.put(`/api/v1/users/${session.userId}/roles`).set(admin.auth).send({ roleIds: [staffRoleId, clientRoleId, staffRoleId] }).expect(200);
      expect(both.body.accountType).toBe('staff');
      expect(both.body.roles.map((r: { id: string }) => r.id).sort()).toEqual([clientRoleId, staffRoleId].sort());
      const stored: Array<{ role_id: string }> = await t.db.query('SELECT role_id FROM user_roles WHERE user_id = $1', [session.userId]);
      expect(stored.map((r) => r.role_id).sort()).toEqual([clientRoleId, staffRoleId].sort());
      await t.http.get('/api/v1/users').set(session.auth).expect(200);

      const empty = await t.http.put(`/api/v1/users/${session.userId}/roles`).set(admin.auth).send({ roleIds: [] }).expect(400);
      expect(empty.body.details).toEqual([expect.objectContaining({ field: 'roleIds' })]);
      const unknown = await t.http.put(`/api/v1/users/${session.userId}/roles`).set(admin.auth).send({ roleIds: [randomUUID()] }).expect(422);
      expect(unknown.body.code).toBe('unknown_roles');
      await t.http.put(`/api/v1/users/${randomUUID()}/roles`).set(admin.auth).send({ roleIds: [staffRoleId] }).expect(404);
      // A failed replacement leaves the roles as they were.
      const after: Array<{ role_id: string }> = await t.db.query('SELECT role_id FROM user_roles WHERE user_id = $1', [session.userId]);
      expect(after).toHaveLength(2);
    });

    it('deactivation ends the sessions and blocks sign-in until reactivated', async () => {
      const session = await createUserWithRoles(t, admin, [staffRoleId], 'deactivated');
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(200);

      const response = await t.http.patch(`/api/v1/users/${session.userId}`).set(admin.auth).send({ isActive: false }).expect(200);
      expect(response.body.isActive).toBe(false);
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(401);
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: session.refreshToken }).expect(401);
      const refused = await t.http.post('/api/v1/auth/login').send({ email: session.email, password: PASSWORD }).expect(401);
      expect(refused.body.code).toBe('invalid_credentials');

      await t.http.patch(`/api/v1/users/${session.userId}`).set(admin.auth).send({ isActive: true }).expect(200);
      await login(t, session.email);
    });

    it('deletes the account but keeps its contact; the user is then 404', async () => {
      const session = await createUserWithRoles(t, admin, [staffRoleId], 'deleted');
      const before = await contactRow(session.contactId);

      await t.http.delete(`/api/v1/users/${session.userId}`).set(admin.auth).expect(204);
      await t.http.get(`/api/v1/users/${session.userId}`).set(admin.auth).expect(404);
      await t.http.delete(`/api/v1/users/${session.userId}`).set(admin.auth).expect(404);

      expect(await contactRow(session.contactId)).toEqual(before);
      expect(before!.email).toBe(session.email);
      const [{ users }] = await t.db.query('SELECT count(*)::int AS users FROM users WHERE id = $1', [session.userId]);
      expect(users).toBe(0);
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(401);
      await t.http.post('/api/v1/auth/login').send({ email: session.email, password: PASSWORD }).expect(401);
    });

    it('a forced password reset blocks sign-in until the reset link is used; a sent one does not', async () => {
      const session = await createUserWithRoles(t, admin, [staffRoleId], 'forced');

      await t.http.post(`/api/v1/users/${session.userId}/password-reset`).set(admin.auth).send({ mode: 'send' }).expect(202);
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(200);
      await login(t, session.email);

      const badMode = await t.http.post(`/api/v1/users/${session.userId}/password-reset`).set(admin.auth).send({ mode: 'nuke' }).expect(400);
      expect(badMode.body.details).toEqual([expect.objectContaining({ field: 'mode' })]);

      await t.http.post(`/api/v1/users/${session.userId}/password-reset`).set(admin.auth).send({ mode: 'force' }).expect(202);
      await t.http.get('/api/v1/auth/me').set(session.auth).expect(401);
      await t.http.post('/api/v1/auth/login').send({ email: session.email, password: PASSWORD }).expect(401);
      const view = await t.http.get(`/api/v1/users/${session.userId}`).set(admin.auth).expect(200);
      expect(view.body.hasPassword).toBe(false);

      const outbox = await t.http.get('/api/v1/mail/outbox').query({ to: session.email, limit: 1 }).set(admin.auth).expect(200);
      expect(outbox.body.data[0].template).toBe('password-reset');
      const token = await latestTokenFor(t, admin, session.email);
      await t.http.post('/api/v1/auth/reset-password').send({ token, password: 'chosen-after-force' }).expect(204);
      await t.http.post('/api/v1/auth/login').send({ email: session.email, password: PASSWORD }).expect(401);
      await login(t, session.email, 'chosen-after-force');
    });
  });

  describe('the last admin', () => {
    async function activeAdmins(): Promise<number> {
      const [{ count }] = await t.db.query(
        `SELECT count(*)::int AS count FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id
          WHERE r.system_key = 'admin' AND u.is_active`,
      );
      return count;
    }

    it('cannot demote, deactivate or delete themself while the only active admin', async () => {
      expect(await activeAdmins()).toBe(1);
      const demote = await t.http.put(`/api/v1/users/${admin.userId}/roles`).set(admin.auth).send({ roleIds: [staffRoleId] }).expect(409);
      expect(demote.body.code).toBe('last_admin');
      const deactivate = await t.http.patch(`/api/v1/users/${admin.userId}`).set(admin.auth).send({ isActive: false }).expect(409);
      expect(deactivate.body.code).toBe('last_admin');
      const remove = await t.http.delete(`/api/v1/users/${admin.userId}`).set(admin.auth).expect(409);
      expect(remove.body.code).toBe('last_admin');

      const me = await t.http.get('/api/v1/auth/me').set(admin.auth).expect(200);
      expect(me.body.roles.map((r: { systemKey: string }) => r.systemKey)).toEqual(['admin']);
      expect(await activeAdmins()).toBe(1);
    });

    it('can once another active admin exists (an inactive admin does not count)', async () => {
      let second = await createUserWithRoles(t, admin, [adminRoleId], 'second-admin');

      // Demote self, with the first admin still there.
      const demoted = await t.http.put(`/api/v1/users/${second.userId}/roles`).set(second.auth).send({ roleIds: [staffRoleId] }).expect(200);
      expect(demoted.body.roles.map((r: { systemKey: string }) => r.systemKey)).toEqual(['staff']);
      await t.http.put(`/api/v1/users/${second.userId}/roles`).set(admin.auth).send({ roleIds: [adminRoleId] }).expect(200);

      // Deactivate self.
      const deactivated = await t.http.patch(`/api/v1/users/${second.userId}`).set(second.auth).send({ isActive: false }).expect(200);
      expect(deactivated.body.isActive).toBe(false);
      // An inactive admin is no admin: the first one is the last again.
      const stillLast = await t.http.put(`/api/v1/users/${admin.userId}/roles`).set(admin.auth).send({ roleIds: [staffRoleId] }).expect(409);
      expect(stillLast.body.code).toBe('last_admin');
      await t.http.patch(`/api/v1/users/${second.userId}`).set(admin.auth).send({ isActive: true }).expect(200);
      second = await login(t, second.email);

      // Delete self.
      await t.http.delete(`/api/v1/users/${second.userId}`).set(second.auth).expect(204);
      expect(await activeAdmins()).toBe(1);
      const again = await t.http.delete(`/api/v1/users/${admin.userId}`).set(admin.auth).expect(409);
      expect(again.body.code).toBe('last_admin');
    });

    it('changes that take administrators away wait for one another: two go while a third stays, and of the last two only one', async () => {
      const holdRemovals = { sql: 'SELECT pg_advisory_xact_lock($1)', params: [ADMIN_REMOVAL_LOCK_KEY] };
      const [first, second] = await Promise.all(['racing-admin-a', 'racing-admin-b'].map((name) => createUserWithRoles(t, admin, [adminRoleId], name)));
      const [deactivated, demoted] = await behindHeldRow(
        t.db,
        holdRemovals,
        () => t.http.patch(`/api/v1/users/${first!.userId}`).set(admin.auth).send({ isActive: false }),
        () => t.http.put(`/api/v1/users/${second!.userId}/roles`).set(admin.auth).send({ roleIds: [staffRoleId] }),
      );
      expect([deactivated.status, demoted.status]).toEqual([200, 200]);
      expect(await activeAdmins()).toBe(1);

      // Two administrators left, each taking the other away: the one that waited longer goes first.
      await t.http.put(`/api/v1/users/${second!.userId}/roles`).set(admin.auth).send({ roleIds: [adminRoleId] }).expect(200);
      const [byAdmin, bySecond] = await behindHeldRow(
        t.db,
        holdRemovals,
        () => t.http.put(`/api/v1/users/${second!.userId}/roles`).set(admin.auth).send({ roleIds: [staffRoleId] }),
        () => t.http.put(`/api/v1/users/${admin.userId}/roles`).set(second!.auth).send({ roleIds: [staffRoleId] }),
      );
      expect([byAdmin.status, bySecond.status, bySecond.body.code]).toEqual([200, 409, 'last_admin']);
      expect(await activeAdmins()).toBe(1);
      const me = await t.http.get('/api/v1/auth/me').set(admin.auth).expect(200);
      expect(me.body.roles.map((r: { systemKey: string }) => r.systemKey)).toEqual(['admin']);
      // Later tests count the administrators' role holders, inactive ones included.
      for (const user of [first!, second!]) await t.http.delete(`/api/v1/users/${user.userId}`).set(admin.auth).expect(204);
    });
  });

  describe('roles', () => {
    let salesRep: { id: string };
    let rep: Session;

    it('creates a custom role whose rule keeps its ${user.id} placeholder', async () => {
      const response = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: 'Sales rep', description: 'Sees their own account', rules: [{ action: 'read', subject: 'User', conditions: { id: '${user.id}' } }] })
        .expect(201);
      expect(response.body).toMatchObject({
        name: 'Sales rep',
        description: 'Sees their own account',
        systemKey: null,
        audience: 'staff',
        rules: [{ action: 'read', subject: 'User', conditions: { id: '${user.id}' } }],
        builtInRules: [],
        userCount: 0,
      });
      salesRep = response.body;
      const stored: Array<{ rules: unknown }> = await t.db.query('SELECT rules FROM roles WHERE id = $1', [salesRep.id]);
      expect(stored).toEqual([{ rules: [{ action: 'read', subject: 'User', conditions: { id: '${user.id}' } }] }]);
    });

    it('shows a user holding only that role themself alone: restricted list and 404 for others', async () => {
      rep = await createUserWithRoles(t, admin, [salesRep.id], 'rep');
      const me = await t.http.get('/api/v1/auth/me').set(rep.auth).expect(200);
      expect(me.body.rules).toEqual([{ action: 'read', subject: 'User', conditions: { id: rep.userId } }]);

      const list = await t.http.get('/api/v1/users').set(rep.auth).expect(200);
      expect(list.body.data.map((u: UserBody) => u.id)).toEqual([rep.userId]);
      expect(list.body.meta).toEqual({ page: 1, limit: 25, total: 1 });
      const filtered = await t.http.get('/api/v1/users').query({ q: admin.email }).set(rep.auth).expect(200);
      expect(filtered.body).toEqual({ data: [], meta: { page: 1, limit: 25, total: 0 } });
      const sorted = await t.http.get('/api/v1/users').query({ sort: '-email', isActive: 'true' }).set(rep.auth).expect(200);
      expect(sorted.body.data.map((u: UserBody) => u.id)).toEqual([rep.userId]);

      await t.http.get(`/api/v1/users/${rep.userId}`).set(rep.auth).expect(200);
      const other = await t.http.get(`/api/v1/users/${admin.userId}`).set(rep.auth).expect(404);
      expect(other.body.statusCode).toBe(404);

      await t.http.patch(`/api/v1/users/${rep.userId}`).set(rep.auth).send({ firstName: 'Nope' }).expect(403);
      await t.http.post('/api/v1/users').set(rep.auth).send({ firstName: 'X', lastName: 'Y', email: 'x.y@example.com', roleIds: [salesRep.id] }).expect(403);
      await t.http.get('/api/v1/roles').set(rep.auth).expect(403);
    });

    it("a change to a role's rules applies to its holders' very next request", async () => {
      const created = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: `Widening ${uniqueTag('role')}`, rules: [{ action: 'read', subject: 'User', conditions: { id: '${user.id}' } }] })
        .expect(201);
      const holder = await createUserWithRoles(t, admin, [created.body.id], 'widening');
      await t.http.get(`/api/v1/users/${admin.userId}`).set(holder.auth).expect(404);
      expect((await t.http.get('/api/v1/users').set(holder.auth).expect(200)).body.meta.total).toBe(1);

      await t.http.patch(`/api/v1/roles/${created.body.id}`).set(admin.auth).send({ rules: [{ action: 'read', subject: 'User' }] }).expect(200);
      await t.http.get(`/api/v1/users/${admin.userId}`).set(holder.auth).expect(200);
      const [{ users }] = (await t.db.query('SELECT count(*)::int AS users FROM users')) as Array<{ users: number }>;
      expect((await t.http.get('/api/v1/users').set(holder.auth).expect(200)).body.meta.total).toBe(users);

      await t.http.patch(`/api/v1/roles/${created.body.id}`).set(admin.auth).send({ rules: [] }).expect(200);
      await t.http.get('/api/v1/users').set(holder.auth).expect(403);
    });

    it('applies a rule combining conditions with $or to the list and to single users alike', async () => {
      // The rule validator accepts $and/$or/$nor, so a role using them must work.
      const created = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: `Self or inactive ${uniqueTag('role')}`, rules: [{ action: 'read', subject: 'User', conditions: { $or: [{ id: '${user.id}' }, { isActive: false }] } }] })
        .expect(201);
      const holder = await createUserWithRoles(t, admin, [created.body.id], 'either');
      const expected: Array<{ id: string }> = await t.db.query('SELECT id FROM users WHERE id = $1 OR NOT is_active ORDER BY id', [holder.userId]);
      expect(expected.length).toBeGreaterThan(1);

      const list = await t.http.get('/api/v1/users').query({ limit: 100 }).set(holder.auth);
      expect({ status: list.status, ids: (list.body.data ?? []).map((u: UserBody) => u.id).sort(), total: list.body.meta?.total }).toEqual({
        status: 200,
        ids: expected.map((u) => u.id).sort(),
        total: expected.length,
      });
      const inactiveOther = expected.find((u) => u.id !== holder.userId)!;
      await t.http.get(`/api/v1/users/${inactiveOther.id}`).set(holder.auth).expect(200);
      await t.http.get(`/api/v1/users/${admin.userId}`).set(holder.auth).expect(404);
    });

    it('enforces rule conditions on writes: a role that may only edit its own account cannot touch another one', async () => {
      const victim = await createUserWithRoles(t, admin, [staffRoleId], 'victim');
      const selfService = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({
          name: `Self service ${uniqueTag('role')}`,
          rules: [
            { action: 'read', subject: 'User', conditions: { id: '${user.id}' } },
            { action: 'update', subject: 'User', conditions: { id: '${user.id}' } },
            { action: 'delete', subject: 'User', conditions: { id: '${user.id}' } },
          ],
        })
        .expect(201);
      const actor = await createUserWithRoles(t, admin, [selfService.body.id], 'selfservice');
      const before: unknown[] = await t.db.query('SELECT first_name, email, is_active, password_hash FROM users WHERE id = $1', [victim.userId]);

      // Their own account is theirs to edit…
      await t.http.patch(`/api/v1/users/${actor.userId}`).set(actor.auth).send({ firstName: 'Myself' }).expect(200);
      // …but it cannot hand itself more roles.
      await t.http.put(`/api/v1/users/${actor.userId}/roles`).set(actor.auth).send({ roleIds: [clientRoleId] }).expect(403);

      // …another user's is not even visible to them, so every write is a 404 and changes nothing;
      // choosing roles needs the separate grantRoles permission, which this role lacks (403).
      const patch = await t.http.patch(`/api/v1/users/${victim.userId}`).set(actor.auth).send({ firstName: 'Hijacked', email: `hijacked-${Date.now()}@example.com` });
      const roles = await t.http.put(`/api/v1/users/${victim.userId}/roles`).set(actor.auth).send({ roleIds: [clientRoleId] });
      const reset = await t.http.post(`/api/v1/users/${victim.userId}/password-reset`).set(actor.auth).send({ mode: 'force' });
      const remove = await t.http.delete(`/api/v1/users/${victim.userId}`).set(actor.auth);
      expect({ patch: patch.status, roles: roles.status, reset: reset.status, remove: remove.status }).toEqual({ patch: 404, roles: 403, reset: 404, remove: 404 });
      expect(await t.db.query('SELECT first_name, email, is_active, password_hash FROM users WHERE id = $1', [victim.userId])).toEqual(before);
      const victimRoles: Array<{ role_id: string }> = await t.db.query('SELECT role_id FROM user_roles WHERE user_id = $1', [victim.userId]);
      expect(victimRoles).toEqual([{ role_id: staffRoleId }]);
    });

    it('lists roles with how many users hold each', async () => {
      const response = await t.http.get('/api/v1/roles').set(admin.auth).expect(200);
      const byName = new Map<string, { userCount: number; systemKey: string | null; builtInRules: unknown[] }>(
        response.body.map((r: { name: string; userCount: number; systemKey: string | null; builtInRules: unknown[] }) => [r.name, r]),
      );
      expect([...byName.keys()]).toEqual(expect.arrayContaining(['Admin', 'Staff', 'Client', 'Sales rep']));
      expect(byName.get('Sales rep')!.userCount).toBe(1);
      expect(byName.get('Admin')).toMatchObject({ systemKey: 'admin', userCount: 1, builtInRules: [{ action: 'manage', subject: 'all' }] });
      for (const role of response.body as Array<{ id: string; userCount: number }>) {
        const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM user_roles WHERE role_id = $1', [role.id]);
        expect({ id: role.id, userCount: role.userCount }).toEqual({ id: role.id, userCount: count });
      }
      const one = await t.http.get(`/api/v1/roles/${salesRep.id}`).set(admin.auth).expect(200);
      expect(one.body.userCount).toBe(1);
    });

    it('lists the permission subjects with their actions and fields', async () => {
      const response = await t.http.get('/api/v1/roles/subjects').set(admin.auth).expect(200);
      const subjects = new Map<string, { actions: string[]; fields: Array<{ name: string; type: string }>; description: string }>(
        response.body.map((s: { name: string }) => [s.name, s]),
      );
      expect([...subjects.keys()]).toEqual(expect.arrayContaining(['User', 'Role', 'Contact', 'MailOutbox']));
      const user = subjects.get('User')!;
      expect(user.actions).toEqual(expect.arrayContaining(['manage', 'create', 'read', 'update', 'delete']));
      expect(user.fields).toEqual(expect.arrayContaining([
        { name: 'id', type: 'uuid' },
        { name: 'email', type: 'string' },
        { name: 'isActive', type: 'boolean' },
      ]));
      expect(user.description).toEqual(expect.any(String));
      expect(subjects.get('Contact')!.actions).toEqual(expect.arrayContaining(['import', 'export', 'assign']));
      expect(response.body.find((s: { name: string }) => s.name === 'Contact').fieldLimitedActions).toEqual(['update']);
      expect(response.body.find((s: { name: string }) => s.name === 'User').fieldLimitedActions).toEqual([]);
      const readFields = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: 'Names only', rules: [{ action: 'read', subject: 'Contact', fields: ['firstName', 'lastName'] }] })
        .expect(400);
      expect(readFields.body.details).toEqual([{ field: 'rules.0.fields', message: expect.stringContaining('only "update" rules may list fields') }]);
    });

    const invalidRules: Array<[string, unknown[], string]> = [
      ['an unknown subject', [{ action: 'read', subject: 'Spaceship' }], 'rules.0.subject'],
      ['an unknown action', [{ action: 'launch', subject: 'User' }], 'rules.0.action'],
      ['an unknown field in conditions', [{ action: 'read', subject: 'User', conditions: { shoeSize: 42 } }], 'rules.0.conditions.shoeSize'],
      // A key every object inherits is a key like any other: never dropped, which would widen the rule.
      ['an inherited name as a field in conditions', [{ action: 'read', subject: 'User', conditions: { valueOf: 'x', isActive: true } }], 'rules.0.conditions.valueOf'],
      ['an unknown placeholder', [{ action: 'read', subject: 'User', conditions: { id: '${user.nope}' } }], 'rules.0.conditions'],
      ['empty conditions', [{ action: 'read', subject: 'User', conditions: {} }], 'rules.0.conditions'],
      ['the unsupported $where operator', [{ action: 'read', subject: 'User', conditions: { $where: 'this.id' } }], 'rules.0.conditions.$where'],
      ['an unsupported field operator', [{ action: 'read', subject: 'User', conditions: { email: { $regex: '.*' } } }], 'rules.0.conditions.email.$regex'],
      ['a bad second rule', [{ action: 'read', subject: 'User' }, { action: 'read', subject: 'Nope' }], 'rules.1.subject'],
    ];

    it.each(invalidRules)('rejects %s with 400 and the rule path in details', async (_label, rules, path) => {
      const name = `Broken ${uniqueTag('role')}`;
      const response = await t.http.post('/api/v1/roles').set(admin.auth).send({ name, rules }).expect(400);
      expect(response.body.code).toBe('validation_failed');
      expect(response.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: path })]));
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM roles WHERE name = $1', [name]);
      expect(count).toBe(0);

      // The same rules are refused when editing a role, which keeps its rules.
      const edit = await t.http.patch(`/api/v1/roles/${salesRep.id}`).set(admin.auth).send({ rules }).expect(400);
      expect(edit.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: path })]));
      const stored: Array<{ rules: unknown }> = await t.db.query('SELECT rules FROM roles WHERE id = $1', [salesRep.id]);
      expect(stored[0]!.rules).toEqual([{ action: 'read', subject: 'User', conditions: { id: '${user.id}' } }]);
    });

    it('refuses to delete (422 system_role) or rename system roles', async () => {
      for (const key of ['admin', 'staff', 'client'] as const) {
        const id = await systemRoleId(t, key);
        const response = await t.http.delete(`/api/v1/roles/${id}`).set(admin.auth).expect(422);
        expect(response.body.code).toBe('system_role');
      }
      const rename = await t.http.patch(`/api/v1/roles/${staffRoleId}`).set(admin.auth).send({ name: 'Workers' }).expect(422);
      expect(rename.body.code).toBe('system_role');
      const rows: Array<{ name: string }> = await t.db.query('SELECT name FROM roles WHERE id = $1', [staffRoleId]);
      expect(rows).toEqual([{ name: 'Staff' }]);
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM roles WHERE system_key IS NOT NULL');
      expect(count).toBe(3);
    });

    it('refuses to delete a role held by users (409 role_in_use); deletes an unused one', async () => {
      const inUse = await t.http.delete(`/api/v1/roles/${salesRep.id}`).set(admin.auth).expect(409);
      expect(inUse.body.code).toBe('role_in_use');
      await t.http.get(`/api/v1/roles/${salesRep.id}`).set(admin.auth).expect(200);
      // The holder keeps working.
      await t.http.get('/api/v1/users').set(rep.auth).expect(200);

      const spare = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Spare ${uniqueTag('role')}`, rules: [] }).expect(201);
      await t.http.delete(`/api/v1/roles/${spare.body.id}`).set(admin.auth).expect(204);
      await t.http.get(`/api/v1/roles/${spare.body.id}`).set(admin.auth).expect(404);
    });

    it('refuses a duplicate role name, whatever its case, with 409', async () => {
      const duplicate = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: 'sales REP', rules: [] }).expect(409);
      expect(duplicate.body.code).toBe('role_name_taken');
      expect(duplicate.body.details).toEqual([expect.objectContaining({ field: 'name' })]);
      await t.http.post('/api/v1/roles').set(admin.auth).send({ name: '  Sales rep  ', rules: [] }).expect(409);

      const other = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Other ${uniqueTag('role')}`, rules: [] }).expect(201);
      const rename = await t.http.patch(`/api/v1/roles/${other.body.id}`).set(admin.auth).send({ name: 'SALES rep' }).expect(409);
      expect(rename.body.code).toBe('role_name_taken');
      const systemClash = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: 'admin', rules: [] }).expect(409);
      expect(systemClash.body.code).toBe('role_name_taken');
      const [{ count }] = await t.db.query(`SELECT count(*)::int AS count FROM roles WHERE name_key = 'sales rep'`);
      expect(count).toBe(1);
    });
  });

  // Runs last in this block: it inspects every response body the tests above received.
  describe('rights over rights: only administrators hand them out', () => {
    it('refuses custom rules that would let a role write roles, choose roles or change everything', async () => {
      for (const rules of [
        [{ action: 'update', subject: 'Role', conditions: { audience: 'client' } }],
        [{ action: 'manage', subject: 'Role' }],
        [{ action: 'grantRoles', subject: 'User' }],
        [{ action: 'manage', subject: 'User' }],
        [{ action: 'update', subject: 'all' }],
      ]) {
        const refused = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: uniqueTag('reserved'), rules }).expect(400);
        expect(refused.body.details).toEqual([{ field: 'rules.0.action', message: expect.stringContaining('only administrators may') }]);
      }
      await t.http.post('/api/v1/roles').set(admin.auth).send({ name: uniqueTag('equal'), rules: [{ action: 'manage', subject: 'all' }] }).expect(201);
    });

    it('a role holding such rules from before still cannot write roles, grant them or change an administrator', async () => {
      const legacy = (await t.http.post('/api/v1/roles').set(admin.auth).send({ name: uniqueTag('legacy'), audience: 'staff', rules: [{ action: 'read', subject: ['Role', 'User'] }] }).expect(201)).body.id as string;
      // Stored before these rules were refused: written straight to the table.
      const rules = [
        { action: ['read', 'update', 'create', 'delete'], subject: 'Role' },
        { action: ['read', 'update', 'create', 'grantRoles'], subject: 'User' },
      ];
      await t.db.query('UPDATE roles SET rules = $2::jsonb WHERE id = $1', [legacy, JSON.stringify(rules)]);
      const holder = await createUserWithRoles(t, admin, [legacy], 'legacyholder');
      const before: unknown[] = await t.db.query('SELECT rules FROM roles WHERE id = $1', [staffRoleId]);
      const escalate = await t.http.patch(`/api/v1/roles/${staffRoleId}`).set(holder.auth).send({ rules: [{ action: 'manage', subject: 'all' }] }).expect(403);
      expect(escalate.body.message).toBe('Only administrators may write roles');
      expect(await t.db.query('SELECT rules FROM roles WHERE id = $1', [staffRoleId])).toEqual(before);
      await t.http.post('/api/v1/roles').set(holder.auth).send({ name: uniqueTag('mine'), rules: [{ action: 'read', subject: 'Contact' }] }).expect(403);
      await t.http.put(`/api/v1/users/${holder.userId}/roles`).set(holder.auth).send({ roleIds: [adminRoleId] }).expect(403);
      const person = newPerson('escalated');
      await t.http.post('/api/v1/users').set(holder.auth).send({ firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds: [adminRoleId], sendInvite: false }).expect(403);
      // An administrator's account: its email, activity and password are an administrator's to change.
      const hijack = await t.http.patch(`/api/v1/users/${admin.userId}`).set(holder.auth).send({ email: `hijack-${Date.now()}@example.com` }).expect(403);
      expect(hijack.body.message).toBe("Only administrators may change an administrator's account");
      await t.http.post(`/api/v1/users/${admin.userId}/password-reset`).set(holder.auth).send({ mode: 'force' }).expect(403);
      expect((await t.db.query('SELECT email FROM users WHERE id = $1', [admin.userId]))[0].email).toBe(admin.email);
      // Their own account and other non-administrators' stay theirs to edit.
      await t.http.patch(`/api/v1/users/${holder.userId}`).set(holder.auth).send({ firstName: 'Still Me' }).expect(200);
    });

    it("an account that a role made equal to the admin role is an administrator's too, on every route to it", async () => {
      const coAdminRole = (await t.http.post('/api/v1/roles').set(admin.auth).send({ name: uniqueTag('co-admin'), rules: [{ action: 'manage', subject: 'all' }] }).expect(201)).body.id as string;
      const managerRole = (
        await t.http
          .post('/api/v1/roles')
          .set(admin.auth)
          .send({ name: uniqueTag('user-manager'), rules: [{ action: ['read', 'update', 'delete'], subject: 'User' }, { action: ['read', 'update'], subject: 'Contact' }] })
          .expect(201)
      ).body.id as string;
      const coAdmin = await createUserWithRoles(t, admin, [coAdminRole], 'coadmin');
      const manager = await createUserWithRoles(t, admin, [managerRole], 'usermanager');
      const refused = "Only administrators may change an administrator's account";
      expect((await t.http.patch(`/api/v1/users/${coAdmin.userId}`).set(manager.auth).send({ email: `taken-over-${Date.now()}@example.com` }).expect(403)).body.message).toBe(refused);
      await t.http.patch(`/api/v1/users/${coAdmin.userId}`).set(manager.auth).send({ isActive: false }).expect(403);
      await t.http.post(`/api/v1/users/${coAdmin.userId}/password-reset`).set(manager.auth).send({ mode: 'force' }).expect(403);
      await t.http.delete(`/api/v1/users/${coAdmin.userId}`).set(manager.auth).expect(403);
      // The contact route changes the same account: its email and names are refused alike, naming them.
      const version = async (contactId: string) => (await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200)).body.version as number;
      const byContact = await t.http
        .patch(`/api/v1/contacts/${coAdmin.contactId}`)
        .set(manager.auth)
        .send({ version: await version(coAdmin.contactId), email: `taken-over-${Date.now()}@example.com`, lastName: 'Renamed' })
        .expect(403);
      expect(byContact.body.message).toBe(refused);
      expect(byContact.body.details).toEqual([
        { field: 'lastName', message: "is part of an administrator's account" },
        { field: 'email', message: "is part of an administrator's account" },
      ]);
      // Staff work every contact, but an administrator's names are the account's.
      const staff = await createUserWithRoles(t, admin, [staffRoleId], 'renamer');
      const renamed = await t.http.patch(`/api/v1/contacts/${admin.contactId}`).set(staff.auth).send({ version: await version(admin.contactId), lastName: 'Renamed' }).expect(403);
      expect(renamed.body.details).toEqual([{ field: 'lastName', message: "is part of an administrator's account" }]);
      const [account] = await t.db.query('SELECT u.email, u.last_name, u.is_active, u.password_hash IS NOT NULL AS has_password FROM users u WHERE u.id = $1', [coAdmin.userId]);
      expect(account).toEqual({ email: coAdmin.email, last_name: expect.not.stringMatching(/^Renamed$/), is_active: true, has_password: true });
      expect((await t.db.query('SELECT last_name FROM users WHERE id = $1', [admin.userId]))[0].last_name).not.toBe('Renamed');
      // Other fields of an administrator's contact, and other accounts' names, stay open to them.
      await t.http.patch(`/api/v1/contacts/${admin.contactId}`).set(staff.auth).send({ version: await version(admin.contactId), city: 'Lyon' }).expect(200);
      await t.http.patch(`/api/v1/contacts/${manager.contactId}`).set(staff.auth).send({ version: await version(manager.contactId), lastName: 'Renamed' }).expect(200);
      // Administrators change each other's accounts; a role with an inverted rule after `manage all` is no administrator's equal.
      await t.http.patch(`/api/v1/contacts/${coAdmin.contactId}`).set(admin.auth).send({ version: await version(coAdmin.contactId), lastName: 'Renamed' }).expect(200);
      await t.http.patch(`/api/v1/roles/${coAdminRole}`).set(admin.auth).send({ rules: [{ action: 'manage', subject: 'all' }, { action: 'purge', subject: 'Contact', inverted: true }] }).expect(200);
      await t.http.patch(`/api/v1/users/${coAdmin.userId}`).set(manager.auth).send({ firstName: 'Managed' }).expect(200);
    });

    it('rules added to a system role never take away its built-in ones', async () => {
      const before = (await t.http.get(`/api/v1/roles/${adminRoleId}`).set(admin.auth).expect(200)).body.rules;
      await t.http.patch(`/api/v1/roles/${adminRoleId}`).set(admin.auth).send({ rules: [{ action: 'manage', subject: 'all', inverted: true }] }).expect(200);
      try {
        // Still an administrator: the built-in "manage all" comes after any stored rule.
        await t.http.get('/api/v1/roles').set(admin.auth).expect(200);
        await t.http.get('/api/v1/users').set(admin.auth).expect(200);
      } finally {
        await t.http.patch(`/api/v1/roles/${adminRoleId}`).set(admin.auth).send({ rules: before }).expect(200);
      }
    });
  });

  describe('response bodies', () => {
    it('never contain a password hash, a token hash or their column names', async () => {
      expect(seen.some((r) => r.request.startsWith('GET /api/v1/users') && r.text.includes('"hasPassword"'))).toBe(true);
      const leaks = seen.filter((r) => SECRET_MARKERS.some((marker) => r.text.includes(marker))).map((r) => `${r.request} (${r.status})`);
      expect(leaks).toEqual([]);
    });
  });
});
