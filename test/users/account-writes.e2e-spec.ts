import { randomUUID } from 'node:crypto';
import { createUserWithRoles, newPerson, register, Session, systemRoleId } from '../support/actors';
import { unique } from '../support/names';
import { startTestApp, TestApp } from '../support/test-app';
import { whileHolding } from '../support/wait';

/** Writes to accounts by callers whose rules reach only some of them, and writes that race others. */
describe('account writes', () => {
  let t: TestApp;
  let admin: Session;
  let staffRoleId: string;
  let clientRoleId: string;

  /** Creates an account through the admin API, without an invitation. */
  async function createUser(roleIds: string[], email = newPerson('made').email): Promise<{ id: string; contactId: string; email: string }> {
    const response = await t.http.post('/api/v1/users').set(admin.auth).send({ firstName: 'Made', lastName: unique('made'), email, roleIds, sendInvite: false }).expect(201);
    return response.body;
  }

  async function createRole(rules: unknown[], audience: 'staff' | 'client' = 'staff'): Promise<string> {
    return (await t.http.post('/api/v1/roles').set(admin.auth).send({ name: unique('role'), audience, rules }).expect(201)).body.id;
  }

  async function stored(userId: string): Promise<unknown> {
    const [row] = await t.db.query(
      'SELECT u.first_name, u.email, u.is_active, c.first_name AS contact_first_name, c.email AS contact_email FROM users u JOIN contacts c ON c.id = u.contact_id WHERE u.id = $1',
      [userId],
    );
    return row;
  }

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staffRoleId = await systemRoleId(t, 'staff');
    clientRoleId = await systemRoleId(t, 'client');
  });
  afterAll(() => t.close());

  describe('a role whose update rule has conditions', () => {
    let fixer: Session;

    beforeAll(async () => {
      const role = await createRole([
        { action: 'read', subject: 'User' },
        { action: 'update', subject: 'User', conditions: { isActive: false } },
      ]);
      fixer = await createUserWithRoles(t, admin, [role], 'fixer');
    });

    it('may not make an account what the conditions keep it from being: nothing changes', async () => {
      const victim = await createUser([clientRoleId]);
      await t.http.patch(`/api/v1/users/${victim.id}`).set(admin.auth).send({ isActive: false }).expect(200);
      const before = await stored(victim.id);

      const reactivated = await t.http.patch(`/api/v1/users/${victim.id}`).set(fixer.auth).send({ isActive: true }).expect(403);
      expect(reactivated.body).toMatchObject({ code: 'forbidden', message: expect.stringContaining('nothing was changed') });
      // With other changes in the same request: none of them is kept, the contact's copy included.
      await t.http.patch(`/api/v1/users/${victim.id}`).set(fixer.auth).send({ firstName: 'Woken', email: `${unique('woken')}@example.com`, isActive: true }).expect(403);
      expect(await stored(victim.id)).toEqual(before);

      // Within the conditions, the same role edits the account.
      const renamed = await t.http.patch(`/api/v1/users/${victim.id}`).set(fixer.auth).send({ firstName: 'Resting' }).expect(200);
      expect(renamed.body).toMatchObject({ firstName: 'Resting', isActive: false });
    });
    it('is told that an email is taken, never by whom, when it may not read every contact', async () => {
      const victim = await createUser([clientRoleId]);
      await t.http.patch(`/api/v1/users/${victim.id}`).set(admin.auth).send({ isActive: false }).expect(200);
      const live = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Live', email: `${unique('live')}@example.com` }).expect(201)).body;
      const trashed = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Trashed', email: `${unique('trashed')}@example.com` }).expect(201)).body;
      await t.http.delete(`/api/v1/contacts/${trashed.id}`).set(admin.auth).expect(204);
      const account = await createUser([clientRoleId]);
      await t.http.get('/api/v1/contacts').set(fixer.auth).expect(403);

      const neutral = { statusCode: 409, error: 'Conflict', message: 'This email is already in use', code: 'email_taken', details: [{ field: 'email', message: 'is already in use' }] };
      for (const email of [live.email, trashed.email, account.email.toUpperCase()]) {
        const taken = await t.http.patch(`/api/v1/users/${victim.id}`).set(fixer.auth).send({ email });
        expect({ email, status: taken.status, body: taken.body }).toEqual({ email, status: 409, body: neutral });
      }
      // Whoever reads every contact is still told which record holds it.
      const told = await t.http.patch(`/api/v1/users/${victim.id}`).set(admin.auth).send({ email: trashed.email }).expect(409);
      expect(told.body.message).toBe('A contact in the trash has this email');
    });
  });

  describe('roles named more than once', () => {
    it('are given once, however the id is written, when a user is made and when roles are replaced', async () => {
      for (const roleIds of [[staffRoleId, staffRoleId], [staffRoleId, staffRoleId.toUpperCase()], [staffRoleId.toUpperCase()]]) {
        const person = newPerson('repeat');
        const created = await t.http.post('/api/v1/users').set(admin.auth).send({ firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds, sendInvite: false });
        expect({ roleIds, status: created.status, roles: created.body.roles?.map((role: { id: string }) => role.id) }).toEqual({ roleIds, status: 201, roles: [staffRoleId] });
        const replaced = await t.http.put(`/api/v1/users/${created.body.id}/roles`).set(admin.auth).send({ roleIds: [clientRoleId.toUpperCase(), ...roleIds, clientRoleId] });
        expect({ roleIds, status: replaced.status, roles: replaced.body.roles?.map((role: { id: string }) => role.id).sort() }).toEqual({ roleIds, status: 200, roles: [clientRoleId, staffRoleId].sort() });
      }
    });
  });

  describe('an admin-sent password reset', () => {
    it('answers with the status the API document gives it', async () => {
      const user = await createUser([staffRoleId]);
      const sent = await t.http.post(`/api/v1/users/${user.id}/password-reset`).set(admin.auth).send({ mode: 'send' });
      const document = (await t.http.get('/docs-json').expect(200)).body as { paths: Record<string, Record<string, { responses: Record<string, { description?: string }> }>> };
      const responses = document.paths['/api/v1/users/{id}/password-reset']!.post!.responses;
      const documented = Object.keys(responses).filter((status) => status.startsWith('2'));
      expect({ sent: sent.status, documented }).toEqual({ sent: 202, documented: ['202'] });
      expect(responses['202']!.description).toEqual(expect.any(String));
    });
  });

  describe('an account the caller may not see', () => {
    let self: Session;
    let other: Session;

    beforeAll(async () => {
      const role = await createRole([{ action: ['read', 'update', 'delete'], subject: 'User', conditions: { id: '${user.id}' } }], 'client');
      self = await createUserWithRoles(t, admin, [clientRoleId, role], 'self');
      other = await createUserWithRoles(t, admin, [clientRoleId], 'other');
    });

    it('is answered on every write route as an unknown id is, with the body GET gives', async () => {
      const unknown = randomUUID();
      const missing = (await t.http.get(`/api/v1/users/${unknown}`).set(self.auth).expect(404)).body;
      expect((await t.http.get(`/api/v1/users/${other.userId}`).set(self.auth).expect(404)).body).toEqual(missing);
      const writes: Array<[string, (id: string) => Promise<{ status: number; body: unknown }>]> = [
        ['PATCH', (id) => t.http.patch(`/api/v1/users/${id}`).set(self.auth).send({ firstName: 'Probe' })],
        ['DELETE', (id) => t.http.delete(`/api/v1/users/${id}`).set(self.auth)],
        ['password-reset', (id) => t.http.post(`/api/v1/users/${id}/password-reset`).set(self.auth).send({ mode: 'send' })],
      ];
      for (const [route, write] of writes) {
        for (const id of [unknown, other.userId]) {
          const response = await write(id);
          expect({ route, status: response.status, body: response.body }).toEqual({ route, status: 404, body: missing });
        }
      }
      // Choosing roles is for administrators, who see every account: an unknown id is all they can miss.
      const roles = await t.http.put(`/api/v1/users/${unknown}/roles`).set(admin.auth).send({ roleIds: [staffRoleId] }).expect(404);
      expect(roles.body).toEqual((await t.http.get(`/api/v1/users/${unknown}`).set(admin.auth).expect(404)).body);
      expect((await t.http.get(`/api/v1/users/${other.userId}`).set(admin.auth).expect(200)).body.firstName).not.toBe('Probe');
    });

    it("is answered without waiting for that account's rows, which the caller may not lock", async () => {
      const holder = t.db.createQueryRunner();
      await holder.connect();
      try {
        await holder.startTransaction();
        await holder.query('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [other.contactId]);
        await holder.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [other.userId]);
        const answered = async (request: PromiseLike<{ status: number }>) => {
          let timer: NodeJS.Timeout | undefined;
          const late = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('still waiting'), 3000)));
          try {
            return await Promise.race([Promise.resolve(request).then((response) => response.status), late]);
          } finally {
            clearTimeout(timer);
          }
        };
        expect(await answered(t.http.patch(`/api/v1/users/${other.userId}`).set(self.auth).send({ firstName: 'Probe' }))).toBe(404);
        expect(await answered(t.http.delete(`/api/v1/users/${other.userId}`).set(self.auth))).toBe(404);
        expect(await answered(t.http.post(`/api/v1/users/${other.userId}/password-reset`).set(self.auth).send({ mode: 'force' }))).toBe(404);
      } finally {
        await holder.rollbackTransaction();
        await holder.release();
      }
    });
  });

  describe('racing other writes', () => {
    it('a role deleted while it is being given is an unknown role, as it is once deleted', async () => {
      const user = await createUser([clientRoleId]);
      const deleteWhileGiven = (roleId: string, request: () => PromiseLike<{ status: number; body: { code?: string; details?: unknown } }>) =>
        whileHolding(t.db, { sql: 'SELECT id FROM roles WHERE id = $1 FOR UPDATE', params: [roleId] }, request, (query) => query('DELETE FROM roles WHERE id = $1', [roleId]));
      const unknownRoles = { status: 422, code: 'unknown_roles', details: [{ field: 'roleIds', message: 'contains unknown role ids' }] };

      const replacedWith = await createRole([]);
      const replaced = await deleteWhileGiven(replacedWith, () => t.http.put(`/api/v1/users/${user.id}/roles`).set(admin.auth).send({ roleIds: [staffRoleId, replacedWith] }));
      expect({ status: replaced.status, code: replaced.body.code, details: replaced.body.details }).toEqual(unknownRoles);
      expect(await t.db.query('SELECT role_id FROM user_roles WHERE user_id = $1', [user.id])).toEqual([{ role_id: clientRoleId }]);

      const createdWith = await createRole([]);
      const person = newPerson('racing');
      const created = await deleteWhileGiven(createdWith, () =>
        t.http.post('/api/v1/users').set(admin.auth).send({ firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds: [createdWith], sendInvite: false }),
      );
      expect({ status: created.status, code: created.body.code, details: created.body.details }).toEqual(unknownRoles);
      expect(await t.db.query('SELECT id FROM users WHERE email_key = lower($1)', [person.email])).toEqual([]);
    });

    it('an email a contact takes first is refused with the answer the check gives, not the sign-up one', async () => {
      // The contact's insert is held uncommitted until the request waits on its email.
      const takeFirst = <T>(email: string, request: () => PromiseLike<T>) =>
        whileHolding(t.db, { sql: `INSERT INTO contacts (first_name, email) VALUES ('Winner', $1)`, params: [email.toUpperCase()] }, request, async () => undefined);
      const contactWith = async (email: string) => ((await t.db.query('SELECT id FROM contacts WHERE email_key = lower($1)', [email])) as Array<{ id: string }>)[0]!.id;

      const person = newPerson('race');
      const created = await takeFirst(person.email, () =>
        t.http.post('/api/v1/users').set(admin.auth).send({ firstName: person.firstName, lastName: person.lastName, email: person.email, roleIds: [staffRoleId], sendInvite: false }),
      );
      expect({ status: created.status, body: created.body }).toEqual({
        status: 409,
        body: expect.objectContaining({
          code: 'email_taken',
          message: `A contact has this email: open its account with POST /api/v1/contacts/${await contactWith(person.email)}/account instead`,
          details: [{ field: 'email', message: 'is the email of a contact without an account' }],
        }),
      });
      expect(await t.db.query('SELECT id FROM users WHERE email_key = lower($1)', [person.email])).toEqual([]);

      // An edit that loses the same race is answered as its own check answers.
      const user = await createUser([clientRoleId]);
      const email = newPerson('race').email;
      const edited = await takeFirst(email, () => t.http.patch(`/api/v1/users/${user.id}`).set(admin.auth).send({ email }));
      expect({ status: edited.status, message: edited.body.message, code: edited.body.code }).toEqual({ status: 409, message: 'A contact has this email', code: 'email_taken' });
      expect((await t.db.query('SELECT email FROM users WHERE id = $1', [user.id]))[0].email).toBe(user.email);
    });
  });
});
