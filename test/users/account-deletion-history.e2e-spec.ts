import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * History keeps who wrote it: an account's deletion leaves its activities, status changes and
 * segment memberships as they were (no row rewritten, however many it wrote), and every answer
 * shows them with no author.
 */
describe("an account's deletion and the history it wrote", () => {
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  /** Each row's version as PostgreSQL writes it: a new one whenever the row is rewritten. */
  const versions = async (table: string, where: string, params: unknown[]) =>
    ((await t.db.query(`SELECT xmin::text AS version FROM ${table} WHERE ${where}`, params)) as Array<{ version: string }>).map((row) => row.version);

  it('keeps the rows untouched, naming the deleted id, and shows no author for them', async () => {
    const writer = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'historian');
    const statuses = (await t.http.get('/api/v1/contact-statuses').set(admin.auth).expect(200)).body.data as Array<{ id: string; name: string }>;
    const customer = statuses.find((status) => status.name === 'Customer')!;
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Chronicled' }).expect(201)).body as { id: string; version: number };
    const activity = (await t.http.post(`/api/v1/contacts/${contact.id}/activities`).set(writer.auth).send({ type: 'call', subject: 'First call' }).expect(201)).body as { id: string };
    await t.http.patch(`/api/v1/contacts/${contact.id}`).set(writer.auth).send({ version: contact.version, statusId: customer.id }).expect(200);
    const segment = (await t.http.post('/api/v1/segments').set(admin.auth).send({ name: `Chronicle ${Date.now()}`, kind: 'static' }).expect(201)).body as { id: string };
    await t.http.post(`/api/v1/segments/${segment.id}/members`).set(writer.auth).send({ contactIds: [contact.id] }).expect(200);

    const written = {
      activity: await versions('activities', 'id = $1 AND author_id = $2', [activity.id, writer.userId]),
      statusChange: await versions('contact_status_history', 'contact_id = $1 AND changed_by_id = $2', [contact.id, writer.userId]),
      membership: await versions('segment_members', 'contact_id = $1 AND added_by_id = $2', [contact.id, writer.userId]),
    };
    expect(Object.values(written).map((rows) => rows.length)).toEqual([1, 1, 1]);

    await t.http.delete(`/api/v1/users/${writer.userId}`).set(admin.auth).expect(204);

    expect({
      activity: await versions('activities', 'id = $1 AND author_id = $2', [activity.id, writer.userId]),
      statusChange: await versions('contact_status_history', 'contact_id = $1 AND changed_by_id = $2', [contact.id, writer.userId]),
      membership: await versions('segment_members', 'contact_id = $1 AND added_by_id = $2', [contact.id, writer.userId]),
    }).toEqual(written);
    expect((await t.http.get(`/api/v1/activities/${activity.id}`).set(admin.auth).expect(200)).body.author).toBeNull();
    const profile = (await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body;
    expect(profile.recentActivities.map((entry: { id: string; author: unknown }) => [entry.id, entry.author])).toEqual([[activity.id, null]]);
    const change = (profile.statusHistory as Array<{ to: { name: string } | null; changedBy: unknown }>).find((entry) => entry.to?.name === 'Customer');
    expect(change).toMatchObject({ changedBy: null });
    const listed = (await t.http.get(`/api/v1/contacts/${contact.id}/activities`).set(admin.auth).expect(200)).body.data as Array<{ id: string; author: unknown }>;
    expect(listed.map((entry) => [entry.id, entry.author])).toEqual([[activity.id, null]]);
  });
});
