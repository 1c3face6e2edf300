import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { until } from '../support/wait';

interface OutboxBody {
  id: string;
  toAddress: string;
  template: string;
  textBody: string;
}

describe('mail outbox', () => {
  let t: TestApp;
  let admin: Session;
  let staffRoleId: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staffRoleId = await systemRoleId(t, 'staff');
  });
  afterAll(() => t.close());

  const createRole = async (name: string, conditions: Record<string, unknown>): Promise<string> =>
    (await t.http.post('/api/v1/roles').set(admin.auth).send({ name, rules: [{ action: 'read', subject: 'MailOutbox', conditions }] }).expect(201)).body.id;
  const outbox = (session: Session, query: Record<string, string | number> = {}) => t.http.get('/api/v1/mail/outbox').query({ limit: 100, ...query }).set(session.auth).expect(200);
  const mailCount = async (where = 'TRUE', params: unknown[] = []): Promise<number> =>
    ((await t.db.query(`SELECT count(*)::int AS n FROM mail_outbox WHERE ${where}`, params)) as Array<{ n: number }>)[0]!.n;

  describe('a role that may read only mail to its own address', () => {
    let reader: Session;
    let victim: Session;

    beforeAll(async () => {
      const roleId = await createRole('Own mail', { toAddress: '${user.email}' });
      // Each gets a password-reset mail carrying a token when their account is set up.
      reader = await createUserWithRoles(t, admin, [roleId], 'reader');
      victim = await createUserWithRoles(t, admin, [staffRoleId], 'victim');
      // A second mail to the reader, so the total is checked past the first page.
      await t.http.post('/api/v1/auth/forgot-password').send({ email: reader.email }).expect(202);
      await until(async () => ((await mailCount('to_address = $1', [reader.email])) >= 2 ? true : undefined), 10_000, 'the second mail to the reader');
    });

    it('lists its own mail only, with a total that counts its own mail only', async () => {
      const own = await mailCount('to_address = $1', [reader.email]);
      const listed = await outbox(reader);
      expect(listed.body.data.length).toBe(own);
      expect(new Set(listed.body.data.map((m: OutboxBody) => m.toAddress))).toEqual(new Set([reader.email]));
      expect(listed.body.meta.total).toBe(own);

      const firstPage = await outbox(reader, { limit: 1 });
      expect(firstPage.body.data).toHaveLength(1);
      expect(firstPage.body.meta.total).toBe(own);
    });

    it("never shows another account's mail, whatever the filters", async () => {
      const victimMail = (await outbox(admin, { to: victim.email })).body.data as OutboxBody[];
      expect(victimMail.map((m) => m.template)).toContain('password-reset');

      const queries: Array<Record<string, string>> = [{}, { to: victim.email }, { q: victim.email }, { status: 'logged' }, { sort: 'toAddress' }, { sort: '-subject' }];
      for (const query of queries) {
        const response = await outbox(reader, query);
        const ids = (response.body.data as OutboxBody[]).map((m) => m.id);
        expect({ query, leaked: victimMail.filter((m) => ids.includes(m.id)).length }).toEqual({ query, leaked: 0 });
        expect({ query, otherAddresses: (response.body.data as OutboxBody[]).filter((m) => m.toAddress !== reader.email).length }).toEqual({ query, otherAddresses: 0 });
      }
      const filtered = await outbox(reader, { to: victim.email });
      expect(filtered.body).toEqual({ data: [], meta: { page: 1, limit: 100, total: 0 } });
    });

    it('leaves an admin seeing every mail', async () => {
      const all = await mailCount();
      const listed = await outbox(admin, { limit: 1000 });
      expect(listed.body.meta.total).toBe(all);
      expect(listed.body.data).toHaveLength(all);
      expect((listed.body.data as OutboxBody[]).map((m) => m.toAddress)).toEqual(expect.arrayContaining([reader.email, victim.email]));
    });
  });

  it('applies a condition on the template the same way', async () => {
    const roleId = await createRole('Invitations only', { template: 'invite' });
    const holder = await createUserWithRoles(t, admin, [roleId], 'invites');
    await t.http
      .post('/api/v1/users')
      .set(admin.auth)
      .send({ firstName: 'Invited', lastName: 'Person', email: `invited-${Date.now().toString(36)}@example.com`, roleIds: [staffRoleId], sendInvite: true })
      .expect(201);
    await until(async () => ((await mailCount(`template = 'invite'`)) > 0 ? true : undefined), 10_000, 'an invitation');

    const listed = await outbox(holder);
    const invites = await mailCount(`template = 'invite'`);
    expect(listed.body.meta.total).toBe(invites);
    expect(new Set((listed.body.data as OutboxBody[]).map((m) => m.template))).toEqual(new Set(['invite']));
    // Its own password-reset mail is not an invitation, so it is not listed either.
    expect((await outbox(holder, { to: holder.email })).body.meta.total).toBe(0);
  });
});
