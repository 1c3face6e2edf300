import { randomUUID } from 'node:crypto';
import { createUserWithRoles, newPerson, register, Session, signUp, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { until } from '../support/wait';

/**
 * Input at the edges of what the account routes read (sign-up, users, roles and their rules):
 * each case must be answered with a 4xx in the shared error shape that names the field and the
 * reason, before anything is written; never a 5xx later, never a value quietly taken.
 */
describe('accounts: input at the edges', () => {
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  const count = async (table: string) => ((await t.db.query(`SELECT count(*)::int AS n FROM ${table}`)) as Array<{ n: number }>)[0]!.n;

  describe('role rules', () => {
    const tagId = randomUUID();
    it.each([
      ['a list field compared with $lt', { tagIds: { $lt: tagId } }, 'Contact', 'rules.0.conditions.tagIds.$lt', '"tagIds" is a list: compare it with $eq, $ne, $in, $nin or $exists'],
      ['a list field compared with $gte', { serviceIds: { $gte: tagId } }, 'Contact', 'rules.0.conditions.serviceIds.$gte', '"serviceIds" is a list: compare it with $eq, $ne, $in, $nin or $exists'],
      ['a true-or-false field compared with $gt', { hasAccount: { $gt: false } }, 'Contact', 'rules.0.conditions.hasAccount.$gt', '"hasAccount" is true or false, which has no order: use $eq or $ne'],
      ['a true-or-false field compared with $lte', { isActive: { $lte: true } }, 'User', 'rules.0.conditions.isActive.$lte', '"isActive" is true or false, which has no order: use $eq or $ne'],
      ['an empty condition in $and', { $and: [{}] }, 'Contact', 'rules.0.conditions.$and.0', 'must not be an empty object'],
      ['an empty condition in $or', { $or: [{ city: 'Oslo' }, {}] }, 'Contact', 'rules.0.conditions.$or.1', 'must not be an empty object'],
      ['a list in $nor', { $nor: [[]] }, 'Contact', 'rules.0.conditions.$nor.0', 'must be an object'],
    ])('%s is refused when the role is saved, not failed on every request of its users', async (_label, conditions, subject, field, message) => {
      const before = await count('roles');
      const refused = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Odd ${randomUUID()}`, rules: [{ action: 'read', subject, conditions }] }).expect(400);
      expect(refused.body).toMatchObject({ code: 'validation_failed', details: [{ field, message }] });
      expect(await count('roles')).toBe(before);
    });

    it('an edit bringing one in is refused too, and the role keeps its rules', async () => {
      const rules = [{ action: 'read', subject: 'Contact', conditions: { hasAccount: true } }];
      const role = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Kept ${randomUUID()}`, rules }).expect(201);
      const refused = await t.http
        .patch(`/api/v1/roles/${role.body.id}`)
        .set(admin.auth)
        .send({ rules: [{ action: 'read', subject: 'Contact', conditions: { hasAccount: { $lt: true } } }] })
        .expect(400);
      expect(refused.body.details).toEqual([{ field: 'rules.0.conditions.hasAccount.$lt', message: '"hasAccount" is true or false, which has no order: use $eq or $ne' }]);
      expect((await t.http.get(`/api/v1/roles/${role.body.id}`).set(admin.auth).expect(200)).body.rules).toEqual(rules);
    });

    it('ordered fields still take $lt, $lte, $gt and $gte, and a user of the role lists by them', async () => {
      const rules = [
        { action: 'read', subject: 'Contact', conditions: { createdAt: { $gte: '2000-01-01T00:00:00Z' }, lastName: { $lt: '\uffff' }, id: { $gt: '00000000-0000-4000-8000-000000000000' } } },
        { action: 'read', subject: 'User', conditions: { email: { $lte: '\uffff' } } },
      ];
      const role = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Ordered ${randomUUID()}`, rules }).expect(201);
      const user = await createUserWithRoles(t, admin, [role.body.id], 'ordered');
      const contacts = await t.http.get('/api/v1/contacts').set(user.auth).expect(200);
      expect(contacts.body.data.map((contact: { id: string }) => contact.id)).toContain(user.contactId);
      await t.http.get(`/api/v1/users/${user.userId}`).set(user.auth).expect(200);
    });
  });

  describe('role names', () => {
    const INVISIBLE = 'must not contain control or invisible characters';

    it.each([
      ['a zero-width space alone', '\u200b'],
      ['a control character', 'Sales\u0007'],
      ['a direction override', '\u202eSupport'],
    ])('%s is refused on create and on rename, and nothing changes', async (_label, name) => {
      const before = await count('roles');
      const created = await t.http.post('/api/v1/roles').set(admin.auth).send({ name, rules: [] }).expect(400);
      expect(created.body.details).toEqual([{ field: 'name', message: INVISIBLE }]);
      expect(await count('roles')).toBe(before);

      const role = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Named ${randomUUID()}`, rules: [] }).expect(201);
      const renamed = await t.http.patch(`/api/v1/roles/${role.body.id}`).set(admin.auth).send({ name }).expect(400);
      expect(renamed.body.details).toEqual([{ field: 'name', message: INVISIBLE }]);
      expect((await t.http.get(`/api/v1/roles/${role.body.id}`).set(admin.auth).expect(200)).body.name).toBe(role.body.name);
    });

    it('a description sent as null on an edit is refused as the field it is, before the database is asked', async () => {
      const role = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Described ${randomUUID()}`, description: 'Kept', rules: [] }).expect(201);
      const refused = await t.http.patch(`/api/v1/roles/${role.body.id}`).set(admin.auth).send({ description: null }).expect(400);
      expect(refused.body).toMatchObject({ code: 'validation_failed', details: [{ field: 'description', message: 'must be a string' }] });
      expect((await t.http.get(`/api/v1/roles/${role.body.id}`).set(admin.auth).expect(200)).body.description).toBe('Kept');
    });
  });

  describe('users', () => {
    const PHONE = 'must be a phone number (digits, spaces, + ( ) . / -)';

    it.each(['---', '(((', '. / .'])('a phone of %j, without a digit, is refused wherever an account is written, as on contacts', async (phone) => {
      const staffRole = await systemRoleId(t, 'staff');
      const users = await count('users');
      const signUps = await count('sign_up_requests');
      const created = await t.http
        .post('/api/v1/users')
        .set(admin.auth)
        .send({ firstName: 'No', lastName: 'Digits', email: `phone.${randomUUID()}@example.com`, phone, roleIds: [staffRole], sendInvite: false })
        .expect(400);
      expect(created.body.details).toEqual([{ field: 'phone', message: PHONE }]);
      const edited = await t.http.patch(`/api/v1/users/${admin.userId}`).set(admin.auth).send({ phone }).expect(400);
      expect(edited.body.details).toEqual([{ field: 'phone', message: PHONE }]);
      const registered = await t.http.post('/api/v1/auth/register').send({ ...newPerson('phone'), phone }).expect(400);
      expect(registered.body.details).toEqual([{ field: 'phone', message: PHONE }]);
      expect({ users: await count('users'), signUps: await count('sign_up_requests') }).toEqual({ users, signUps });
      expect((await t.http.get(`/api/v1/users/${admin.userId}`).set(admin.auth).expect(200)).body.phone).toBe('+1 555 0100');
    });

    it.each(['firstName', 'lastName', 'email', 'isActive'])('%s sent as null on an edit is refused as the field it is, before the database is asked', async (field) => {
      const client = await signUp(t, newPerson('nulls'));
      const before = (await t.http.get(`/api/v1/users/${client.userId}`).set(admin.auth).expect(200)).body;
      const refused = await t.http.patch(`/api/v1/users/${client.userId}`).set(admin.auth).send({ [field]: null }).expect(400);
      expect(refused.body.code).toBe('validation_failed');
      expect(refused.body.details.map((detail: { field: string }) => detail.field)).toEqual(expect.arrayContaining([field]));
      expect((await t.http.get(`/api/v1/users/${client.userId}`).set(admin.auth).expect(200)).body).toEqual(before);
    });

    it('a phone sent as null still clears it', async () => {
      const client = await signUp(t, newPerson('clears'));
      const cleared = await t.http.patch(`/api/v1/users/${client.userId}`).set(admin.auth).send({ phone: null }).expect(200);
      expect(cleared.body.phone).toBeNull();
    });
  });

  describe('email addresses', () => {
    const EMAIL = [{ field: 'email', message: 'must be an email address' }];
    const lookalike = (tag: string) => [`${tag}\u200b@example.com`, `\u202e${tag}@example.com`, `${tag}@exa\u2060mple.com`, `${tag}\u0007@example.com`];

    it('one holding an invisible or control character is refused wherever an address is written', async () => {
      const staffRole = await systemRoleId(t, 'staff');
      const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Mail' }).expect(201)).body as { id: string; version: number };
      const field = `mail_${randomUUID().slice(0, 8)}`;
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: field, label: 'Mail', type: 'email' }).expect(201);
      const counts = { users: await count('users'), contacts: await count('contacts'), signUps: await count('sign_up_requests') };
      for (const email of lookalike(`look${Date.now()}`)) {
        const registered = await t.http.post('/api/v1/auth/register').send({ ...newPerson('look'), email }).expect(400);
        expect(registered.body.details).toEqual(EMAIL);
        const created = await t.http.post('/api/v1/users').set(admin.auth).send({ firstName: 'Look', lastName: 'Alike', email, roleIds: [staffRole], sendInvite: false }).expect(400);
        expect(created.body.details).toEqual(EMAIL);
        expect((await t.http.patch(`/api/v1/users/${admin.userId}`).set(admin.auth).send({ email }).expect(400)).body.details).toEqual(EMAIL);
        expect((await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Look', email }).expect(400)).body.details).toEqual(EMAIL);
        const edited = await t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: contact.version, email }).expect(400);
        expect(edited.body.details).toEqual(EMAIL);
        const valued = await t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: contact.version, customFields: { [field]: email } }).expect(400);
        expect(valued.body.details).toEqual([{ field: `customFields.${field}`, message: 'must be an email address' }]);
      }
      expect({ users: await count('users'), contacts: await count('contacts'), signUps: await count('sign_up_requests') }).toEqual(counts);
    });

    it('an account stored with one before can still sign in and ask for a reset', async () => {
      const person = newPerson('stored');
      const account = await signUp(t, person);
      const stored = person.email.replace('@', '\u200b@');
      await t.db.query('UPDATE users SET email = $2 WHERE id = $1', [account.userId, stored]);
      const signedIn = await t.http.post('/api/v1/auth/login').send({ email: stored, password: person.password }).expect(200);
      expect(signedIn.body.user.email).toBe(stored);
      await t.http.post('/api/v1/auth/forgot-password').send({ email: stored }).expect(202);
      const mailed = async () => ((await t.db.query(`SELECT 1 FROM mail_outbox WHERE to_address = $1 AND template = 'password-reset'`, [stored])) as unknown[])[0];
      await until(mailed, 10_000, 'the reset mail');
    });
  });
});
