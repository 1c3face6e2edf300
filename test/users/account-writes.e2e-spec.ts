import { createUserWithRoles, newPerson, register, Session, systemRoleId } from '../support/actors';
import { unique } from '../support/names';
import { startTestApp, TestApp } from '../support/test-app';

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
  });
});
