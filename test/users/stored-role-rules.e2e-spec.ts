import { createUserWithRoles, register, Session } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { RolesCache } from '../../src/core/identity/roles-cache.service';

/**
 * Roles keep the rules they were saved with. A rule saved before a check it now fails (an
 * ordering operator on a list or true-or-false field) is enforced in its strictest form until an
 * administrator edits the role: its holders' requests are answered, never a 500.
 */
describe('role rules stored before a check they now fail', () => {
  let t: TestApp;
  let admin: Session;
  const marker = `srr${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  /** A staff role saved with valid rules, then given `stored` as an older version would have stored them. */
  const roleStoredAs = async (stored: unknown[]) => {
    const id = (await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `Role ${marker}${Math.random().toString(36).slice(2, 6)}`, audience: 'staff', rules: [{ action: 'read', subject: 'Contact' }] }).expect(201)).body.id as string;
    await t.db.query('UPDATE roles SET rules = $2::jsonb WHERE id = $1', [id, JSON.stringify(stored)]);
    // As after an upgrade: the app reads the roles afresh.
    t.app.get(RolesCache).invalidate();
    return id;
  };

  it('a granting rule no longer valid grants nothing; the valid ones still do', async () => {
    const roleId = await roleStoredAs([
      { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
      { action: 'read', subject: 'Contact', conditions: { tagIds: { $gt: '00000000-0000-4000-8000-000000000000' } } },
    ]);
    const holder = await createUserWithRoles(t, admin, [roleId], 'stored');
    // Only staff are assignees: the role is staff's.
    const own = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Own', lastName: marker, assignedToId: holder.userId }).expect(201)).body;
    await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Other', lastName: marker }).expect(201);

    const listed = (await t.http.get('/api/v1/contacts').set(holder.auth).query({ q: marker }).expect(200)).body;
    expect({ total: listed.meta.total, ids: listed.data.map((contact: { id: string }) => contact.id) }).toEqual({ total: 1, ids: [own.id] });
    await t.http.get(`/api/v1/contacts/${own.id}`).set(holder.auth).expect(200);
  });

  it('a denying rule no longer valid denies its action outright', async () => {
    const roleId = await roleStoredAs([
      { action: ['read', 'update'], subject: 'Contact' },
      { action: 'update', subject: 'Contact', conditions: { hasAccount: { $lt: true } }, inverted: true },
    ]);
    const holder = await createUserWithRoles(t, admin, [roleId], 'denied');
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Kept', lastName: marker }).expect(201)).body as { id: string; version: number };

    const answer = await t.http.patch(`/api/v1/contacts/${contact.id}`).set(holder.auth).send({ version: contact.version, firstName: 'Changed' });
    expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 403, code: 'forbidden' });
    await t.http.get(`/api/v1/contacts/${contact.id}`).set(holder.auth).expect(200);
    expect((await t.db.query('SELECT first_name FROM contacts WHERE id = $1', [contact.id]))[0].first_name).toBe('Kept');
  });
});
