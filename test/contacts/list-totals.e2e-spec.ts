import { register, Session } from '../support/actors';
import { until } from '../support/wait';
import { unique } from '../support/names';
import { startTestApp, TestApp, withTwoApps } from '../support/test-app';

/**
 * A list's total is kept for a few seconds (counting a large selection is costly), so every
 * write that changes which contacts a list holds must drop it, wherever the write is made.
 * Pages of one row are asked for: a full page cannot show that its total is stale, so these
 * totals are right only because the writes dropped them.
 */
const CONTACTS = '/api/v1/contacts';

interface ListBody {
  data: Array<{ id: string }>;
  meta: { total: number };
}

async function total(t: TestApp, session: Session, query: Record<string, string | number | boolean>): Promise<number> {
  return ((await t.http.get(CONTACTS).set(session.auth).query(query).expect(200)).body as ListBody).meta.total;
}

async function createContacts(t: TestApp, session: Session, company: string, count: number, extra: Record<string, unknown> = {}): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const made = await t.http.post(CONTACTS).set(session.auth).send({ firstName: 'Totals', lastName: `${company} ${i}`, company, ...extra }).expect(201);
    ids.push((made.body as { id: string }).id);
  }
  return ids;
}

describe('list totals after writes made outside the contact routes', () => {
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  it('an activity logged on a contact counts it at once in a last-contacted list', async () => {
    const company = unique('Contacted Co');
    const [first, second, third] = await createContacts(t, admin, company, 3);
    const log = (contactId: string) => t.http.post(`${CONTACTS}/${contactId}/activities`).set(admin.auth).send({ type: 'call', subject: 'Called' }).expect(201);
    await log(first!);
    await log(second!);
    const query = { q: company, lastContactedFrom: '2000-01-01T00:00:00Z', limit: 1 };
    expect(await total(t, admin, query)).toBe(2);
    await log(third!);
    expect(await total(t, admin, query)).toBe(3);
  });

  it('a tag deleted with detach counts its contacts at once in the no-tag list', async () => {
    const company = unique('Detached Co');
    const tag = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: unique('Passing') }).expect(201)).body as { id: string };
    await createContacts(t, admin, company, 2);
    await createContacts(t, admin, company, 2, { tagIds: [tag.id] });
    const query = { q: company, noTags: true, limit: 1 };
    expect(await total(t, admin, query)).toBe(2);
    await t.http.delete(`/api/v1/tags/${tag.id}`).query({ detach: true }).set(admin.auth).expect(204);
    expect(await total(t, admin, query)).toBe(4);
  });

  it("a client's edit of their own contact counts it at once in a search by name", async () => {
    const client = await register(t, 'client');
    const lastName = unique('Renamed');
    await createContacts(t, admin, lastName, 1);
    const query = { q: lastName, limit: 1 };
    expect(await total(t, admin, query)).toBe(1);
    const me = (await t.http.get('/api/v1/portal/me').set(client.auth).expect(200)).body as { version: number };
    await t.http.patch('/api/v1/portal/me').set(client.auth).send({ version: me.version, lastName }).expect(200);
    expect(await total(t, admin, query)).toBe(2);
  });

  it('accounts opened and deleted through the users API count at once in the account lists', async () => {
    const staffRole = ((await t.db.query(`SELECT id FROM roles WHERE system_key = 'staff'`)) as Array<{ id: string }>)[0]!.id;
    const withAccounts = { hasAccount: true, limit: 1 };
    const before = await total(t, admin, withAccounts);
    const email = `${unique('opened')}@example.com`.toLowerCase();
    const user = (await t.http.post('/api/v1/users').set(admin.auth).send({ firstName: 'Opened', lastName: 'Account', email, roleIds: [staffRole], sendInvite: false }).expect(201)).body as { id: string };
    expect(await total(t, admin, withAccounts)).toBe(before + 1);
    const company = unique('Assigned Co');
    await createContacts(t, admin, company, 2, { assignedToId: user.id });
    const unassigned = { q: company, unassigned: true, limit: 1 };
    expect(await total(t, admin, unassigned)).toBe(0);
    await t.http.delete(`/api/v1/users/${user.id}`).set(admin.auth).expect(204);
    expect(await total(t, admin, withAccounts)).toBe(before);
    expect(await total(t, admin, unassigned)).toBe(2);
  });

  it('a status moved to another stage counts its contacts at once under the new stage', async () => {
    const company = unique('Restaged Co');
    const status = (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: unique('Restaged'), stage: 'other' }).expect(201)).body as { id: string };
    await createContacts(t, admin, company, 2, { statusId: status.id });
    const customers = { q: company, stage: 'customer', limit: 1 };
    expect(await total(t, admin, customers)).toBe(0);
    await t.http.patch(`/api/v1/contact-statuses/${status.id}`).set(admin.auth).send({ stage: 'customer' }).expect(200);
    expect(await total(t, admin, customers)).toBe(2);
  });

  it('a write this process was not told of shows at once wherever a page contradicts the kept total', async () => {
    const company = unique('Elsewhere Co');
    const query = { q: company };
    expect(await total(t, admin, query)).toBe(0);
    // As another process would: straight into the database.
    await t.db.query(`INSERT INTO contacts (first_name, last_name, company) VALUES ('Totals', 'Elsewhere', $1), ('Totals', 'Elsewhere too', $1)`, [company]);
    const listed = (await t.http.get(CONTACTS).set(admin.auth).query(query).expect(200)).body as ListBody;
    expect(listed.data).toHaveLength(2);
    expect(listed.meta.total).toBe(2);
  });
});

describe('list totals across API processes', () => {
  it('a change of many contacts on one process drops the totals another keeps, within a second', async () => {
    await withTwoApps(async (first, second) => {
      const admin = await register(first, 'admin');
      const company = unique('Clustered Co');
      await createContacts(first, admin, company, 1, { assignedToId: admin.userId });
      await createContacts(first, admin, company, 2);
      // A full page: it cannot tell the second process that its kept total went stale.
      const query = { q: company, assignedTo: admin.userId, limit: 1 };
      expect(await total(second, admin, query)).toBe(1);
      const assigned = await first.http
        .post(`${CONTACTS}/bulk`)
        .set(admin.auth)
        .send({ action: 'assign', assignedToId: admin.userId, selection: { filter: { field: 'q', op: 'matches', value: company } } })
        .expect(200);
      expect(assigned.body).toEqual({ matched: 3, updated: 2 });
      const started = Date.now();
      await until(async () => ((await total(second, admin, query)) === 3 ? true : undefined), 1000, 'the other process to count the assigned contacts');
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });
});
