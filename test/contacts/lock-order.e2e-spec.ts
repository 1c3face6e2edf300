import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow } from '../support/wait';

/**
 * An account change meeting a write to that account's own contact, made to meet partway through
 * their locks: writers taking the user and its contact in opposite orders would deadlock every
 * time, one of them answered 409 concurrent_update.
 */
describe('users and their contacts locked in one order', () => {
  let t: TestApp;
  let admin: Session;
  let staffRole: string;
  let clientRole: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staffRole = await systemRoleId(t, 'staff');
    clientRole = await systemRoleId(t, 'client');
  });
  afterAll(() => t.close());

  const version = async (contactId: string) => (await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200)).body.version as number;

  const holdUser = (userId: string) => ({ sql: 'SELECT id FROM users WHERE id = $1 FOR KEY SHARE', params: [userId] });
  const holdContact = (contactId: string, mode = 'KEY SHARE') => ({ sql: `SELECT id FROM contacts WHERE id = $1 FOR ${mode}`, params: [contactId] });
  const refusedAssignee = { status: 422, details: [{ field: 'assignedToId', message: expect.stringContaining('active staff user') }] };

  it("a staff member's own contact assigned to them while they are made a client: one waits for the other, and no client is an assignee", async () => {
    const staff = await createUserWithRoles(t, admin, [staffRole], 'self-demoted');
    const contactVersion = await version(staff.contactId);
    const [demoted, assigned] = await behindHeldRow(
      t.db,
      holdUser(staff.userId),
      () => t.http.put(`/api/v1/users/${staff.userId}/roles`).set(admin.auth).send({ roleIds: [clientRole] }),
      () => t.http.patch(`/api/v1/contacts/${staff.contactId}`).set(admin.auth).send({ version: contactVersion, assignedToId: staff.userId }),
    );
    expect(demoted.status).toBe(200);
    if (assigned.status !== 200) expect({ status: assigned.status, details: assigned.body.details }).toEqual(refusedAssignee);
    const [{ assigned_to_id: assignee }] = await t.db.query('SELECT assigned_to_id FROM contacts WHERE id = $1', [staff.contactId]);
    expect(assignee).toBeNull();
  });

  it("a bulk assignment taking in the assignee's own contact while they are deactivated: both land, one after the other", async () => {
    const staff = await createUserWithRoles(t, admin, [staffRole], 'self-deactivated');
    const other = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Other' }).expect(201)).body.id as string;
    const [deactivated, assigned] = await behindHeldRow(
      t.db,
      holdUser(staff.userId),
      () => t.http.patch(`/api/v1/users/${staff.userId}`).set(admin.auth).send({ isActive: false }),
      () => t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { ids: [staff.contactId, other] }, action: 'assign', assignedToId: staff.userId }),
    );
    expect(deactivated.status).toBe(200);
    if (assigned.status !== 200) expect({ status: assigned.status, details: assigned.body.details }).toEqual(refusedAssignee);
  });

  it("an account's contact renamed while the account is renamed: both land, and the two keep the same names", async () => {
    const staff = await createUserWithRoles(t, admin, [staffRole], 'renamed-twice');
    const contactVersion = await version(staff.contactId);
    const [byContact, byUser] = await behindHeldRow(
      t.db,
      holdContact(staff.contactId),
      () => t.http.patch(`/api/v1/contacts/${staff.contactId}`).set(admin.auth).send({ version: contactVersion, firstName: 'Contact' }),
      () => t.http.patch(`/api/v1/users/${staff.userId}`).set(admin.auth).send({ lastName: 'Account' }),
    );
    expect([byContact.status, byUser.status]).toEqual([200, 200]);
    const [user] = await t.db.query('SELECT first_name, last_name FROM users WHERE id = $1', [staff.userId]);
    const [contact] = await t.db.query('SELECT first_name, last_name FROM contacts WHERE id = $1', [staff.contactId]);
    expect({ user, contact }).toEqual({ user: { first_name: 'Contact', last_name: 'Account' }, contact: { first_name: 'Contact', last_name: 'Account' } });
  });

  it('a client renaming themselves in the portal while an admin renames their account: both land', async () => {
    const client = await register(t, 'portal-renamed');
    const { version: portalVersion } = (await t.http.get('/api/v1/portal/me').set(client.auth).expect(200)).body as { version: number };
    const [byClient, byAdmin] = await behindHeldRow(
      t.db,
      holdContact(client.contactId),
      () => t.http.patch('/api/v1/portal/me').set(client.auth).send({ version: portalVersion, firstName: 'Self' }),
      () => t.http.patch(`/api/v1/users/${client.userId}`).set(admin.auth).send({ lastName: 'Admin' }),
    );
    expect([byClient.status, byAdmin.status]).toEqual([200, 200]);
    const [user] = await t.db.query('SELECT first_name, last_name FROM users WHERE id = $1', [client.userId]);
    expect(user).toEqual({ first_name: 'Self', last_name: 'Admin' });
  });

  it('a staff member logging an activity on their own contact while their account is renamed: both land', async () => {
    const staff = await createUserWithRoles(t, admin, [staffRole], 'self-noted');
    const [renamed, logged] = await behindHeldRow(
      t.db,
      holdContact(staff.contactId, 'NO KEY UPDATE'),
      () => t.http.patch(`/api/v1/users/${staff.userId}`).set(admin.auth).send({ lastName: 'Noted' }),
      () => t.http.post(`/api/v1/contacts/${staff.contactId}/activities`).set(staff.auth).send({ type: 'note', subject: 'About me' }),
    );
    expect([renamed.status, logged.status]).toEqual([200, 201]);
  });
});
