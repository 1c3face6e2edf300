import { randomUUID } from 'node:crypto';
import { ActivitiesService } from '../../src/modules/contacts/activities.service';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { until, whileHolding } from '../support/wait';
import { unique } from '../support/names';

/**
 * The activity log of contacts: who may log, edit and delete what, and the last-contacted time
 * the database keeps from it. Contacts are arranged with SQL.
 */

interface ActivityBody {
  id: string;
  contactId: string;
  type: string;
  subject: string;
  body: string;
  occurredAt: string;
  visibleToClient: boolean;
  author: { id: string; firstName: string; lastName: string } | null;
  createdAt: string;
  updatedAt: string;
}

const HOUR = 3600_000;
/** A whole-second instant `hours` from now, as the API returns it. */
function hoursFromNow(hours: number): string {
  return new Date(Math.floor((Date.now() + hours * HOUR) / 1000) * 1000).toISOString();
}

describe('contact activities', () => {
  let t: TestApp;
  let admin: Session;
  let client: Session;
  let staff: Session;
  let otherStaff: Session;
  let staffRoleId: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    client = await register(t, 'client');
    staffRoleId = await systemRoleId(t, 'staff');
    staff = await createUserWithRoles(t, admin, [staffRoleId], 'staff');
    otherStaff = await createUserWithRoles(t, admin, [staffRoleId], 'otherstaff');
  });
  afterAll(() => t.close());

  async function insertContact(values: Partial<{ assignedToId: string; deleted: boolean }> = {}): Promise<string> {
    const tag = unique('act');
    const rows: Array<{ id: string }> = await t.db.query(
      `INSERT INTO contacts (first_name, last_name, email, assigned_to_id, deleted_at) VALUES ('Active', $1, $2, $3, CASE WHEN $4::boolean THEN now() END) RETURNING id`,
      [tag, `${tag}@example.com`, values.assignedToId ?? null, values.deleted ?? false],
    );
    return rows[0]!.id;
  }

  async function lastContactedAt(contactId: string): Promise<string | null> {
    const rows: Array<{ last_contacted_at: Date | null }> = await t.db.query('SELECT last_contacted_at FROM contacts WHERE id = $1', [contactId]);
    return rows[0]!.last_contacted_at?.toISOString() ?? null;
  }

  async function log(session: Session, contactId: string, body: object): Promise<ActivityBody> {
    return (await t.http.post(`/api/v1/contacts/${contactId}/activities`).set(session.auth).send(body).expect(201)).body as ActivityBody;
  }

  describe('logging and the last-contacted time', () => {
    it('staff log a call; the contact was last contacted when it happened', async () => {
      const contactId = await insertContact();
      expect(await lastContactedAt(contactId)).toBeNull();
      const occurredAt = hoursFromNow(-48);
      const call = await log(staff, contactId, { type: 'call', subject: 'Intro call', body: 'Talked about pricing.', occurredAt });

      expect(call).toMatchObject({ contactId, type: 'call', subject: 'Intro call', body: 'Talked about pricing.', occurredAt, visibleToClient: false });
      expect(call.author).toEqual({ id: staff.userId, firstName: 'Test', lastName: expect.any(String) });
      const [author] = await t.db.query('SELECT first_name, last_name FROM users WHERE id = $1', [staff.userId]);
      expect(call.author).toEqual({ id: staff.userId, firstName: author.first_name, lastName: author.last_name });
      expect(await lastContactedAt(contactId)).toBe(occurredAt);

      const [row] = await t.db.query('SELECT author_id, occurred_at FROM activities WHERE id = $1', [call.id]);
      expect(row.author_id).toBe(staff.userId);
      const fetched = await t.http.get(`/api/v1/activities/${call.id}`).set(staff.auth).expect(200);
      expect(fetched.body).toEqual(call);

      const [audit] = await t.db.query(`SELECT actor_id, subject_type FROM audit_logs WHERE action = 'activity.create' AND subject_id = $1`, [call.id]);
      expect(audit).toEqual({ actor_id: staff.userId, subject_type: 'Activity' });
    });

    it('a later activity moves the time, deleting it moves it back, a future-dated task does not count', async () => {
      const contactId = await insertContact();
      const first = hoursFromNow(-72);
      const later = hoursFromNow(-2);
      await log(staff, contactId, { type: 'email', occurredAt: first });
      expect(await lastContactedAt(contactId)).toBe(first);

      const second = await log(staff, contactId, { type: 'meeting', occurredAt: later });
      expect(await lastContactedAt(contactId)).toBe(later);

      const task = await log(staff, contactId, { type: 'task', subject: 'Follow up', occurredAt: hoursFromNow(24 * 7) });
      expect(await lastContactedAt(contactId)).toBe(later);

      // An older activity logged now does not move it back.
      await log(staff, contactId, { type: 'note', occurredAt: hoursFromNow(-100) });
      expect(await lastContactedAt(contactId)).toBe(later);

      await t.http.delete(`/api/v1/activities/${second.id}`).set(staff.auth).expect(204);
      expect(await lastContactedAt(contactId)).toBe(first);
      await t.http.get(`/api/v1/activities/${second.id}`).set(staff.auth).expect(404);

      // Moving the task into the past makes it the last contact.
      const moved = hoursFromNow(-1);
      await t.http.patch(`/api/v1/activities/${task.id}`).set(staff.auth).send({ occurredAt: moved }).expect(200);
      expect(await lastContactedAt(contactId)).toBe(moved);
    });

    it('a scheduled call becomes the last contact once its time has passed', async () => {
      const contactId = await insertContact();
      const earlier = hoursFromNow(-24);
      await log(staff, contactId, { type: 'email', occurredAt: earlier });
      const scheduled = await log(staff, contactId, { type: 'call', subject: 'Call back', occurredAt: new Date(Math.ceil(Date.now() / 1000) * 1000 + 2000).toISOString() });
      const profile = async () => (await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200)).body.lastContactedAt as string | null;
      expect(await profile()).toBe(earlier);

      await until(async () => ((await t.db.query('SELECT now() > $1::timestamptz AS passed', [scheduled.occurredAt]))[0].passed ? true : undefined), 10_000, 'the call time');
      await t.app.get(ActivitiesService).catchUpLastContacted();
      // A scheduled catch-up may hold the contact at that moment; then it settles it instead.
      await until(async () => ((await profile()) === scheduled.occurredAt ? true : undefined), 5000, 'the call to count');
    });

    it('defaults occurredAt to now, subject and body to empty and visibleToClient to false', async () => {
      const contactId = await insertContact();
      const before = Date.now();
      const note = await log(staff, contactId, { type: 'note' });
      const after = Date.now();
      expect(note).toMatchObject({ type: 'note', subject: '', body: '', visibleToClient: false });
      const occurred = new Date(note.occurredAt).getTime();
      expect(occurred).toBeGreaterThanOrEqual(before - 1000);
      expect(occurred).toBeLessThanOrEqual(after + 1000);
      expect(await lastContactedAt(contactId)).toBe(note.occurredAt);
    });

    it('lists newest occurredAt first, paginated, filtered by type', async () => {
      const contactId = await insertContact();
      const oldest = await log(staff, contactId, { type: 'call', occurredAt: hoursFromNow(-30) });
      const newest = await log(otherStaff, contactId, { type: 'task', occurredAt: hoursFromNow(5) });
      const middle = await log(admin, contactId, { type: 'call', occurredAt: hoursFromNow(-10) });
      const elsewhere = await insertContact();
      await log(staff, elsewhere, { type: 'call' });

      const all = await t.http.get(`/api/v1/contacts/${contactId}/activities`).set(staff.auth).expect(200);
      expect(all.body.meta).toEqual({ page: 1, limit: 25, total: 3 });
      expect(all.body.data.map((a: ActivityBody) => a.id)).toEqual([newest.id, middle.id, oldest.id]);
      expect(all.body.data[0].author).toEqual(expect.objectContaining({ id: otherStaff.userId }));

      const page = await t.http.get(`/api/v1/contacts/${contactId}/activities`).query({ limit: 2, page: 2 }).set(staff.auth).expect(200);
      expect(page.body).toEqual({ data: [expect.objectContaining({ id: oldest.id })], meta: { page: 2, limit: 2, total: 3 } });

      const calls = await t.http.get(`/api/v1/contacts/${contactId}/activities`).query({ type: 'call' }).set(staff.auth).expect(200);
      expect(calls.body.data.map((a: ActivityBody) => a.id)).toEqual([middle.id, oldest.id]);
      expect(calls.body.meta.total).toBe(2);

      const oldestFirst = await t.http.get(`/api/v1/contacts/${contactId}/activities`).query({ sort: 'occurredAt' }).set(staff.auth).expect(200);
      expect(oldestFirst.body.data.map((a: ActivityBody) => a.id)).toEqual([oldest.id, middle.id, newest.id]);

      const badType = await t.http.get(`/api/v1/contacts/${contactId}/activities`).query({ type: 'fax' }).set(staff.auth).expect(400);
      expect(badType.body.details).toEqual([expect.objectContaining({ field: 'type' })]);
      const badSort = await t.http.get(`/api/v1/contacts/${contactId}/activities`).query({ sort: 'mood' }).set(staff.auth).expect(400);
      expect(badSort.body.details).toEqual([expect.objectContaining({ field: 'sort' })]);
    });
  });

  describe('who may edit and delete', () => {
    it("staff cannot edit or delete another staff member's activity (403), can edit their own; admins edit anyone's", async () => {
      const contactId = await insertContact();
      const mine = await log(staff, contactId, { type: 'call', subject: 'Mine', occurredAt: hoursFromNow(-3) });

      const refused = await t.http.patch(`/api/v1/activities/${mine.id}`).set(otherStaff.auth).send({ subject: 'Hijacked' }).expect(403);
      expect(refused.body.code).toBe('forbidden');
      await t.http.delete(`/api/v1/activities/${mine.id}`).set(otherStaff.auth).expect(403);
      // They may still read it.
      await t.http.get(`/api/v1/activities/${mine.id}`).set(otherStaff.auth).expect(200);

      const own = await t.http.patch(`/api/v1/activities/${mine.id}`).set(staff.auth).send({ subject: 'Mine, edited', type: 'meeting', visibleToClient: true }).expect(200);
      expect(own.body).toMatchObject({ id: mine.id, subject: 'Mine, edited', type: 'meeting', visibleToClient: true, author: expect.objectContaining({ id: staff.userId }) });

      const byAdmin = await t.http.patch(`/api/v1/activities/${mine.id}`).set(admin.auth).send({ body: 'Corrected by an admin.' }).expect(200);
      expect(byAdmin.body).toMatchObject({ body: 'Corrected by an admin.', subject: 'Mine, edited', author: expect.objectContaining({ id: staff.userId }) });

      const [row] = await t.db.query('SELECT subject, body, type, visible_to_client, author_id FROM activities WHERE id = $1', [mine.id]);
      expect(row).toEqual({ subject: 'Mine, edited', body: 'Corrected by an admin.', type: 'meeting', visible_to_client: true, author_id: staff.userId });

      const audit: Array<{ action: string; actor_id: string }> = await t.db.query('SELECT action, actor_id FROM audit_logs WHERE subject_id = $1 ORDER BY created_at', [mine.id]);
      expect(audit).toEqual([
        { action: 'activity.create', actor_id: staff.userId },
        { action: 'activity.update', actor_id: staff.userId },
        { action: 'activity.update', actor_id: admin.userId },
      ]);

      const otherOwn = await log(otherStaff, contactId, { type: 'sms' });
      await t.http.delete(`/api/v1/activities/${otherOwn.id}`).set(admin.auth).expect(204);
      await t.http.delete(`/api/v1/activities/${mine.id}`).set(staff.auth).expect(204);
      const left: unknown[] = await t.db.query('SELECT 1 FROM activities WHERE contact_id = $1', [contactId]);
      expect(left).toEqual([]);
      expect(await lastContactedAt(contactId)).toBeNull();
    });

    it('an activity whose author account was deleted shows author null and only admins may edit it', async () => {
      const leaver = await createUserWithRoles(t, admin, [staffRoleId], 'leaver');
      const contactId = await insertContact();
      const activity = await log(leaver, contactId, { type: 'call' });
      expect(activity.author).toEqual(expect.objectContaining({ id: leaver.userId }));
      await t.http.delete(`/api/v1/users/${leaver.userId}`).set(admin.auth).expect(204);

      const orphan = await t.http.get(`/api/v1/activities/${activity.id}`).set(staff.auth).expect(200);
      expect(orphan.body.author).toBeNull();
      await t.http.patch(`/api/v1/activities/${activity.id}`).set(staff.auth).send({ subject: 'Adopted' }).expect(403);
      await t.http.patch(`/api/v1/activities/${activity.id}`).set(admin.auth).send({ subject: 'Adopted' }).expect(200);
    });

    it('clients are refused by the back-office activity routes, even on their own contact (the portal serves their timeline)', async () => {
      const shared = await log(staff, client.contactId, { type: 'email', subject: 'Your quote', visibleToClient: true });
      await log(staff, client.contactId, { type: 'note', subject: 'Internal: tough negotiator' });

      const own = await t.http.get(`/api/v1/contacts/${client.contactId}/activities`).set(client.auth).expect(403);
      expect(own.body).toMatchObject({ code: 'wrong_audience' });
      const staffView = await t.http.get(`/api/v1/contacts/${client.contactId}/activities`).set(staff.auth).expect(200);
      expect(staffView.body.meta.total).toBe(2);

      await t.http.get(`/api/v1/activities/${shared.id}`).set(client.auth).expect(403);
      await t.http.post(`/api/v1/contacts/${client.contactId}/activities`).set(client.auth).send({ type: 'note' }).expect(403);
      await t.http.patch(`/api/v1/activities/${shared.id}`).set(client.auth).send({ subject: 'Changed' }).expect(403);
      await t.http.delete(`/api/v1/activities/${shared.id}`).set(client.auth).expect(403);
      await t.http.get(`/api/v1/contacts/${client.contactId}/activities`).expect(401);
    });

    it("follows a role's read conditions on contacts: a contact outside them is 404", async () => {
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({
          name: `Assigned only ${unique('role')}`,
          audience: 'staff',
          rules: [
            { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
            { action: ['read', 'create'], subject: 'Activity' },
          ],
        })
        .expect(201);
      const rep = await createUserWithRoles(t, admin, [role.body.id], 'rep');
      const assigned = await insertContact({ assignedToId: rep.userId });
      const notAssigned = await insertContact({ assignedToId: staff.userId });

      await log(rep, assigned, { type: 'call' });
      await t.http.get(`/api/v1/contacts/${assigned}/activities`).set(rep.auth).expect(200);
      await t.http.post(`/api/v1/contacts/${notAssigned}/activities`).set(rep.auth).send({ type: 'call' }).expect(404);
      await t.http.get(`/api/v1/contacts/${notAssigned}/activities`).set(rep.auth).expect(404);
      const hidden = await log(staff, notAssigned, { type: 'call' });
      // Answered exactly as an activity that does not exist: nothing tells the two apart.
      const unseen = await t.http.get(`/api/v1/activities/${hidden.id}`).set(rep.auth).expect(404);
      const missing = await t.http.get(`/api/v1/activities/${randomUUID()}`).set(rep.auth).expect(404);
      expect(unseen.body).toEqual(missing.body);
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM activities WHERE contact_id = $1', [notAssigned]);
      expect(count).toBe(1);
    });
  });

  describe('a contact removed while an activity is logged', () => {
    it('answers 404 for the contact, not a broken reference', async () => {
      const contactId = await insertContact();
      const answer = await whileHolding(
        t.db,
        { sql: 'SELECT id FROM contacts WHERE id = $1 FOR UPDATE', params: [contactId] },
        () => t.http.post(`/api/v1/contacts/${contactId}/activities`).set(staff.auth).send({ type: 'note' }),
        (held) => held('DELETE FROM contacts WHERE id = $1', [contactId]),
      );
      expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 404, code: 'not_found' });
    });
  });

  describe('contacts in the trash and unknown ids', () => {
    it('answers 404 for a contact in the trash, for its activities, and for unknown ids', async () => {
      const contactId = await insertContact();
      const activity = await log(staff, contactId, { type: 'call', occurredAt: hoursFromNow(-1) });
      await t.db.query('UPDATE contacts SET deleted_at = now() WHERE id = $1', [contactId]);

      await t.http.get(`/api/v1/contacts/${contactId}/activities`).set(admin.auth).expect(404);
      await t.http.post(`/api/v1/contacts/${contactId}/activities`).set(admin.auth).send({ type: 'call' }).expect(404);
      await t.http.get(`/api/v1/activities/${activity.id}`).set(admin.auth).expect(404);
      await t.http.patch(`/api/v1/activities/${activity.id}`).set(admin.auth).send({ subject: 'Too late' }).expect(404);
      await t.http.delete(`/api/v1/activities/${activity.id}`).set(admin.auth).expect(404);
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM activities WHERE contact_id = $1', [contactId]);
      expect(count).toBe(1);

      // Restored, it is all there again.
      await t.db.query('UPDATE contacts SET deleted_at = NULL WHERE id = $1', [contactId]);
      await t.http.get(`/api/v1/activities/${activity.id}`).set(admin.auth).expect(200);

      await t.http.get(`/api/v1/contacts/${randomUUID()}/activities`).set(admin.auth).expect(404);
      await t.http.post(`/api/v1/contacts/${randomUUID()}/activities`).set(admin.auth).send({ type: 'call' }).expect(404);
      await t.http.get(`/api/v1/activities/${randomUUID()}`).set(admin.auth).expect(404);
      await t.http.patch(`/api/v1/activities/${randomUUID()}`).set(admin.auth).send({ subject: 'Nobody' }).expect(404);
      await t.http.delete(`/api/v1/activities/${randomUUID()}`).set(admin.auth).expect(404);
    });
  });

  describe('bad input', () => {
    let contactId: string;
    let activityId: string;
    beforeAll(async () => {
      contactId = await insertContact();
      activityId = (await log(staff, contactId, { type: 'call', subject: 'Original' })).id;
    });

    it.each([
      ['an unknown type', { type: 'fax' }, 'type'],
      ['a missing type', { subject: 'No type' }, 'type'],
      ['a subject over 200 characters', { type: 'call', subject: 'x'.repeat(201) }, 'subject'],
      ['a body over 20000 characters', { type: 'note', body: 'x'.repeat(20001) }, 'body'],
      ['a date that is not a date', { type: 'call', occurredAt: 'yesterday' }, 'occurredAt'],
      ['a date that does not exist', { type: 'call', occurredAt: '2025-02-30T10:00:00Z' }, 'occurredAt'],
      ['a date without a time', { type: 'call', occurredAt: '2025-02-03' }, 'occurredAt'],
      ['a non-boolean visibleToClient', { type: 'call', visibleToClient: 'yes' }, 'visibleToClient'],
      ['a null subject', { type: 'call', subject: null }, 'subject'],
      ['an unknown field', { type: 'call', duration: 30 }, 'duration'],
      ['a contactId in the body', { type: 'call', contactId: randomUUID() }, 'contactId'],
    ])('POST with %s → 400 naming the field', async (_label, body, field) => {
      const response = await t.http.post(`/api/v1/contacts/${contactId}/activities`).set(staff.auth).send(body).expect(400);
      expect(response.body.code).toBe('validation_failed');
      expect(response.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    });

    it.each([
      ['an unknown type', { type: 'fax' }, 'type'],
      ['a null type', { type: null }, 'type'],
      ['a subject over 200 characters', { subject: 'y'.repeat(201) }, 'subject'],
      ['a bad date', { occurredAt: '03/01/2025' }, 'occurredAt'],
      ['an unknown field', { authorId: randomUUID() }, 'authorId'],
    ])('PATCH with %s → 400 naming the field, nothing changes', async (_label, body, field) => {
      const response = await t.http.patch(`/api/v1/activities/${activityId}`).set(staff.auth).send(body).expect(400);
      expect(response.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      const [row] = await t.db.query('SELECT type, subject, author_id FROM activities WHERE id = $1', [activityId]);
      expect(row).toEqual({ type: 'call', subject: 'Original', author_id: staff.userId });
    });

    it('accepts the limits exactly and time zone offsets', async () => {
      const edge = await log(staff, contactId, { type: 'note', subject: 's'.repeat(200), body: 'b'.repeat(20000), occurredAt: '2024-06-01T12:00:00+02:00' });
      expect(edge.subject).toHaveLength(200);
      expect(edge.body).toHaveLength(20000);
      expect(edge.occurredAt).toBe('2024-06-01T10:00:00.000Z');
    });

    it('takes only date-times stored and given back as RFC 3339 (UTC years 0001 to 9999), naming occurredAt otherwise', async () => {
      const own = await insertContact();
      // PostgreSQL keeps offsets up to ±15:59 only: a wider one is turned into UTC first.
      const wide = await log(staff, own, { type: 'sms', occurredAt: '2025-01-01T10:00:00+23:59' });
      expect(wide.occurredAt).toBe('2024-12-31T10:01:00.000Z');
      expect((await log(staff, own, { type: 'note', occurredAt: '9999-12-31T23:59:59.999Z' })).occurredAt).toBe('9999-12-31T23:59:59.999Z');
      expect((await log(staff, own, { type: 'note', occurredAt: '0001-01-01T00:00:00-01:00' })).occurredAt).toBe('0001-01-01T01:00:00.000Z');
      const patched = await t.http.patch(`/api/v1/activities/${wide.id}`).set(staff.auth).send({ occurredAt: '2025-06-01T00:00:00-23:00' }).expect(200);
      expect(patched.body.occurredAt).toBe('2025-06-01T23:00:00.000Z');

      for (const occurredAt of ['9999-12-31T23:59:59-12:00', '0001-01-01T00:00:00+01:00', '2025-01-01T10:00:00+24:00', '2025-01-01T24:00:00Z', '+010000-01-01T00:00:00Z']) {
        const created = await t.http.post(`/api/v1/contacts/${own}/activities`).set(staff.auth).send({ type: 'sms', occurredAt });
        expect({ occurredAt, status: created.status, details: created.body.details }).toEqual({ occurredAt, status: 400, details: [expect.objectContaining({ field: 'occurredAt' })] });
        const edited = await t.http.patch(`/api/v1/activities/${wide.id}`).set(staff.auth).send({ occurredAt });
        expect({ occurredAt, status: edited.status, details: edited.body.details }).toEqual({ occurredAt, status: 400, details: [expect.objectContaining({ field: 'occurredAt' })] });
      }
      const listed = (await t.http.get(`/api/v1/contacts/${own}/activities`).set(staff.auth).expect(200)).body.data as ActivityBody[];
      expect(listed.every((activity) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(activity.occurredAt))).toBe(true);

      // The contact list's date filters take the same date-times (and plain dates).
      for (const createdFrom of ['2025-01-01T10:00:00+23:59', '2025-01-01']) {
        await t.http.get('/api/v1/contacts').set(staff.auth).query({ createdFrom }).expect(200);
      }
      for (const [name, value] of [
        ['createdTo', '9999-12-31T23:59:59-12:00'],
        ['lastContactedFrom', '2025-02-30'],
        ['lastContactedTo', '2025-01-01T10:00:00+24:00'],
      ]) {
        const refused = await t.http.get('/api/v1/contacts').set(staff.auth).query({ [name]: value });
        expect({ name, status: refused.status, details: refused.body.details }).toEqual({ name, status: 400, details: [expect.objectContaining({ field: name })] });
      }
    });

    it('answers 400 naming the parameter for malformed ids', async () => {
      const contact = await t.http.get('/api/v1/contacts/not-a-uuid/activities').set(staff.auth).expect(400);
      expect(contact.body.details).toEqual([expect.objectContaining({ field: 'contactId' })]);
      const activity = await t.http.patch('/api/v1/activities/not-a-uuid').set(staff.auth).send({ subject: 'x' }).expect(400);
      expect(activity.body.details).toEqual([expect.objectContaining({ field: 'id' })]);
    });
  });
});
