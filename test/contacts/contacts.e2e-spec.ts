import type { ConflictException } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CustomFieldsService } from '../../src/modules/contacts/custom-fields.service';
import { createUserWithRoles, latestTokenFor, login, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow, untilWaitingForLocks } from '../support/wait';

describe('contacts', () => {
  let t: TestApp;
  let admin: Session;
  let staff: Session;
  let otherStaff: Session;
  let client: Session;
  let statuses: Record<string, string>;
  let sourceId: string;
  let serviceId: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    client = await register(t, 'client');
    const staffRole = await systemRoleId(t, 'staff');
    staff = await createUserWithRoles(t, admin, [staffRole], 'staff');
    otherStaff = await createUserWithRoles(t, admin, [staffRole], 'otherstaff');
    const rows: Array<{ id: string; name: string }> = await t.db.query('SELECT id, name FROM contact_statuses');
    statuses = Object.fromEntries(rows.map((row) => [row.name, row.id]));
    sourceId = (await t.db.query(`SELECT id FROM traffic_sources WHERE name = 'Website'`))[0].id;
    serviceId = (await t.db.query(`SELECT id FROM services WHERE name = 'Consulting'`))[0].id;
  });
  afterAll(() => t.close());

  const create = (session: Session, body: Record<string, unknown>) => t.http.post('/api/v1/contacts').set(session.auth).send(body);
  const list = (session: Session, query: Record<string, string | number | boolean> = {}) => t.http.get('/api/v1/contacts').set(session.auth).query(query);
  const uniqueEmail = (prefix: string) => `${prefix}-${Date.now()}-${Math.round(Math.random() * 1e6)}@example.com`;
  /** A back-office user whose one role holds `rules`. */
  const staffWith = async (name: string, rules: unknown[]) => {
    const role = (await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `${name} ${randomUUID().slice(0, 8)}`, audience: 'staff', rules }).expect(201)).body.id as string;
    return createUserWithRoles(t, admin, [role], name.replace(/\W/g, '').toLowerCase());
  };

  describe('create and profile', () => {
    it('creates a contact without an account, in Lead by default, with typed tags, services, source, assignee', async () => {
      const response = await create(staff, {
        firstName: 'Grace',
        lastName: 'Hopper',
        email: uniqueEmail('grace'),
        phone: '+1 555 0199',
        company: 'Navy',
        newTags: ['vip customer', 'VIP CUSTOMER', 'newsletter'],
        serviceIds: [serviceId],
        trafficSourceId: sourceId,
        assignedToId: staff.userId,
      }).expect(201);
      const contact = response.body;
      expect(contact).toMatchObject({
        firstName: 'Grace',
        company: 'Navy',
        status: { id: statuses.Lead, name: 'Lead', stage: 'lead' },
        trafficSource: { id: sourceId, name: 'Website' },
        assignedTo: { id: staff.userId },
        services: [{ id: serviceId, name: 'Consulting' }],
        hasAccount: false,
        account: null,
        version: 1,
      });
      expect(contact.tags.map((tag: { name: string }) => tag.name)).toEqual(['Newsletter', 'Vip Customer']);
      expect(contact.statusHistory).toHaveLength(1);
      expect(contact.statusHistory[0]).toMatchObject({ from: null, to: { name: 'Lead' }, changedBy: { id: staff.userId }, source: 'api' });
    });

    it('refuses unknown references and invalid values with the field named', async () => {
      const unknownStatus = await create(staff, { firstName: 'X', statusId: '00000000-0000-4000-8000-000000000000' }).expect(422);
      expect(unknownStatus.body.details).toEqual([{ field: 'statusId', message: expect.any(String) }]);
      const clientAsAssignee = await create(staff, { firstName: 'X', assignedToId: client.userId }).expect(422);
      expect(clientAsAssignee.body.details[0].field).toBe('assignedToId');
      const invalid = await create(staff, { firstName: '', email: 'not-an-email', company: 'x'.repeat(201), tagIds: ['nope'] }).expect(400);
      expect(invalid.body.details.map((d: { field: string }) => d.field).sort()).toEqual(['company', 'email', 'firstName', 'tagIds']);
    });

    it('takes ids written in capitals as the ids they name', async () => {
      const upper = (id: string) => id.toUpperCase();
      const created = await create(staff, { firstName: 'Capital', statusId: upper(statuses.Prospect), trafficSourceId: upper(sourceId), serviceIds: [upper(serviceId)], assignedToId: upper(staff.userId) }).expect(201);
      expect(created.body).toMatchObject({ status: { id: statuses.Prospect }, trafficSource: { id: sourceId }, services: [{ id: serviceId }], assignedTo: { id: staff.userId } });
      const id = created.body.id as string;
      // Sent again in capitals, nothing changes.
      const again = await t.http.patch(`/api/v1/contacts/${upper(id)}`).set(staff.auth).send({ version: 1, statusId: upper(statuses.Prospect), serviceIds: [upper(serviceId)] }).expect(200);
      expect(again.body.version).toBe(1);
      await t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { ids: [upper(id)] }, action: 'setStatus', statusId: upper(statuses.Customer) }).expect(200, { matched: 1, updated: 1 });
      expect((await list(staff, { status: upper(statuses.Customer), q: 'Capital' }).expect(200)).body.data.map((c: { id: string }) => c.id)).toEqual([id]);
    });

    it('keeps emails unique among contacts, case-insensitively', async () => {
      const email = uniqueEmail('dup');
      await create(staff, { firstName: 'One', email }).expect(201);
      const duplicate = await create(staff, { firstName: 'Two', email: email.toUpperCase() }).expect(409);
      expect(duplicate.body).toMatchObject({ code: 'contact_email_taken', details: [{ field: 'email' }] });
    });
  });

  describe('update', () => {
    it('applies a change at the current version, refuses a stale one, and records status changes', async () => {
      const created = (await create(staff, { firstName: 'Ada', email: uniqueEmail('ada') }).expect(201)).body;
      const updated = (await t.http.patch(`/api/v1/contacts/${created.id}`).set(staff.auth).send({ version: 1, statusId: statuses.Customer, city: 'London' }).expect(200)).body;
      expect(updated).toMatchObject({ version: 2, status: { name: 'Customer' }, city: 'London' });
      expect(updated.statusHistory[0]).toMatchObject({ from: { name: 'Lead' }, to: { name: 'Customer' }, changedBy: { id: staff.userId } });

      const stale = await t.http.patch(`/api/v1/contacts/${created.id}`).set(otherStaff.auth).send({ version: 1, city: 'Paris' }).expect(409);
      expect(stale.body).toMatchObject({ code: 'stale_version', details: [{ field: 'version' }] });
      const after = (await t.http.get(`/api/v1/contacts/${created.id}`).set(staff.auth).expect(200)).body;
      expect(after.city).toBe('London');
    });

    it('names the field when a value passes the request check but not the column limit (characters counted as stored)', async () => {
      // A variation selector is not counted by the request's length check; PostgreSQL counts it.
      const long = `${'a'.repeat(100)}\ufe0f`;
      const refused = await create(staff, { firstName: long }).expect(400);
      expect(refused.body).toMatchObject({ code: 'constraint_violation', details: [{ field: 'firstName' }] });
      const user = await t.http.patch(`/api/v1/users/${otherStaff.userId}`).set(admin.auth).send({ lastName: long }).expect(400);
      expect(user.body.details).toEqual([{ field: 'lastName', message: expect.any(String) }]);
    });

    it('replaces tags by id, adds typed ones, and clears custom values with null', async () => {
      const created = (await create(staff, { firstName: 'Tagged', newTags: ['alpha', 'beta'] }).expect(201)).body;
      const alpha = created.tags.find((tag: { name: string }) => tag.name === 'Alpha').id;
      const updated = (await t.http.patch(`/api/v1/contacts/${created.id}`).set(staff.auth).send({ version: created.version, tagIds: [alpha], newTags: ['gamma'] }).expect(200)).body;
      expect(updated.tags.map((tag: { name: string }) => tag.name)).toEqual(['Alpha', 'Gamma']);
      const cleared = (await t.http.patch(`/api/v1/contacts/${created.id}`).set(staff.auth).send({ version: updated.version, tagIds: [] }).expect(200)).body;
      expect(cleared.tags).toEqual([]);
    });

    it('keeps the contact and its account in step, both ways, in one transaction', async () => {
      const profile = (await t.http.get(`/api/v1/contacts/${client.contactId}`).set(admin.auth).expect(200)).body;
      expect(profile.account).toMatchObject({ userId: client.userId, accountType: 'client' });
      const newEmail = uniqueEmail('renamed');
      await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(admin.auth).send({ version: profile.version, firstName: 'Renamed', email: newEmail }).expect(200);
      const [user] = await t.db.query('SELECT first_name, email FROM users WHERE id = $1', [client.userId]);
      expect(user).toEqual({ first_name: 'Renamed', email: newEmail });
      client = await login(t, newEmail);

      await t.http.patch(`/api/v1/users/${client.userId}`).set(admin.auth).send({ lastName: 'FromUser' }).expect(200);
      const synced = (await t.http.get(`/api/v1/contacts/${client.contactId}`).set(admin.auth).expect(200)).body;
      expect(synced.lastName).toBe('FromUser');
      expect(synced.version).toBe(profile.version + 2);
    });

    it("shows staff the preferences a client set in the portal, and lets them record one on the client's behalf", async () => {
      const portal = (await t.http.get('/api/v1/portal/me').set(client.auth).expect(200)).body;
      await t.http.patch('/api/v1/portal/me').set(client.auth).send({ version: portal.version, preferences: { language: 'pt-BR', newsletter: true } }).expect(200);
      const profile = (await t.http.get(`/api/v1/contacts/${client.contactId}`).set(staff.auth).expect(200)).body;
      expect(profile.preferences).toEqual({ language: 'pt-BR', preferredChannel: null, newsletter: true });

      // The client phoned to unsubscribe: only the keys sent change, null clears one.
      const unsubscribed = (await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(staff.auth).send({ version: profile.version, preferences: { newsletter: false, language: null } }).expect(200)).body;
      expect(unsubscribed).toMatchObject({ version: profile.version + 1, preferences: { language: null, preferredChannel: null, newsletter: false } });
      expect((await t.http.get('/api/v1/portal/me').set(client.auth).expect(200)).body.preferences).toEqual({ language: null, preferredChannel: null, newsletter: false });
      // Sent again as stored: no change, no new version.
      const same = (await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(staff.auth).send({ version: unsubscribed.version, preferences: { newsletter: false } }).expect(200)).body;
      expect(same.version).toBe(unsubscribed.version);

      const wrong = await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(staff.auth).send({ version: same.version, preferences: { preferredChannel: 'fax', theme: 'dark' } }).expect(400);
      expect(wrong.body.details).toEqual(
        expect.arrayContaining([expect.objectContaining({ field: 'preferences.preferredChannel' }), expect.objectContaining({ field: 'preferences.theme' })]),
      );
      await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(staff.auth).send({ version: same.version, preferences: 'none' }).expect(400);

      const created = (await create(staff, { firstName: 'Prefers', preferences: { preferredChannel: 'sms' } }).expect(201)).body;
      expect(created.preferences).toEqual({ language: null, preferredChannel: 'sms', newsletter: null });
      const [{ preferences }] = await t.db.query('SELECT preferences FROM contacts WHERE id = $1', [created.id]);
      expect(preferences).toEqual({ preferredChannel: 'sms' });

      // A role whose updates are limited to other fields may not change them.
      const limited = await staffWith('Prefs phone only', [{ action: 'read', subject: 'Contact' }, { action: 'update', subject: 'Contact', fields: ['phone'] }]);
      const refused = await t.http.patch(`/api/v1/contacts/${created.id}`).set(limited.auth).send({ version: created.version, preferences: { newsletter: true } }).expect(403);
      expect(refused.body).toMatchObject({ code: 'field_forbidden', details: [{ field: 'preferences' }] });
    });

    it('does not let staff change the email of a contact with an account, but lets them change its phone', async () => {
      const profile = (await t.http.get(`/api/v1/contacts/${client.contactId}`).set(staff.auth).expect(200)).body;
      const refused = await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(staff.auth).send({ version: profile.version, email: uniqueEmail('steal') }).expect(403);
      expect(refused.body).toMatchObject({ code: 'field_forbidden', details: [{ field: 'email' }] });
      await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(staff.auth).send({ version: profile.version, phone: '+44 20 0000 0000' }).expect(200);
      const noEmail = await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(admin.auth).send({ version: profile.version + 1, email: null }).expect(422);
      expect(noEmail.body.details[0].field).toBe('email');
    });
  });

  describe('list and search', () => {
    let tagA: string;
    let tagB: string;
    let marker: string;

    beforeAll(async () => {
      marker = `zz${Date.now().toString(36)}`;
      const a = (await create(admin, { firstName: 'Listy', lastName: `${marker} One`, newTags: [`${marker}a`], statusId: statuses.Customer, assignedToId: staff.userId, company: 'Acme' }).expect(201)).body;
      tagA = a.tags[0].id;
      const b = (await create(admin, { firstName: 'Listy', lastName: `${marker} Two`, newTags: [`${marker}a`, `${marker}b`], statusId: statuses.Prospect }).expect(201)).body;
      tagB = b.tags.find((tag: { id: string }) => tag.id !== tagA).id;
      await create(admin, { firstName: 'Listy', lastName: `${marker} Three`, statusId: null, trafficSourceId: sourceId }).expect(201);
    });

    const names = (body: { data: Array<{ lastName: string }> }) => body.data.map((c) => c.lastName).sort();

    it('searches names, email, phone and company by word prefixes', async () => {
      const response = (await list(admin, { q: marker, limit: 50 }).expect(200)).body;
      expect(response.meta).toMatchObject({ page: 1, limit: 50, total: 3 });
      expect((await list(admin, { q: `listy ${marker}` }).expect(200)).body.meta.total).toBe(3);
      expect((await list(admin, { q: 'acm' }).expect(200)).body.data.some((c: { company: string }) => c.company === 'Acme')).toBe(true);
    });

    it('filters by status, stage, tags any/all, assignee and the empty filters', async () => {
      expect(names((await list(admin, { q: marker, stage: 'customer' }).expect(200)).body)).toEqual([`${marker} One`]);
      expect(names((await list(admin, { q: marker, status: statuses.Prospect }).expect(200)).body)).toEqual([`${marker} Two`]);
      expect(names((await list(admin, { q: marker, tags: tagA }).expect(200)).body)).toEqual([`${marker} One`, `${marker} Two`]);
      expect(names((await list(admin, { q: marker, tags: `${tagA},${tagB}`, tagsMode: 'all' }).expect(200)).body)).toEqual([`${marker} Two`]);
      expect(names((await list(admin, { q: marker, noTags: true }).expect(200)).body)).toEqual([`${marker} Three`]);
      expect(names((await list(admin, { q: marker, noStatus: true }).expect(200)).body)).toEqual([`${marker} Three`]);
      expect(names((await list(admin, { q: marker, unassigned: true }).expect(200)).body)).toEqual([`${marker} Three`, `${marker} Two`]);
      expect(names((await list(staff, { q: marker, assignedTo: 'me' }).expect(200)).body)).toEqual([`${marker} One`]);
      expect(names((await list(admin, { q: marker, noTrafficSource: true }).expect(200)).body)).toEqual([`${marker} One`, `${marker} Two`]);
      expect(names((await list(admin, { q: marker, noServices: true }).expect(200)).body)).toHaveLength(3);
    });

    it('takes the full rule language in `filter` and in POST /contacts/search', async () => {
      const filter = { or: [{ field: 'stage', op: 'is', value: 'customer' }, { field: 'status', op: 'empty' }] };
      expect(names((await list(admin, { q: marker, filter: JSON.stringify(filter) }).expect(200)).body)).toEqual([`${marker} One`, `${marker} Three`]);
      const searched = (await t.http.post('/api/v1/contacts/search').set(admin.auth).send({ q: marker, filter: { not: { field: 'tags', op: 'hasAny', value: [tagB] } }, sort: 'lastName' }).expect(200)).body;
      expect(searched.data.map((c: { lastName: string }) => c.lastName)).toEqual([`${marker} One`, `${marker} Three`]);
      const bad = await t.http.post('/api/v1/contacts/search').set(admin.auth).send({ filter: { and: [{ field: 'stage', op: 'gt', value: 3 }, { field: 'nope', op: 'is', value: 1 }] } }).expect(400);
      expect(bad.body.details.map((d: { field: string }) => d.field)).toEqual(['filter.and.0.op', 'filter.and.1.field']);
      // With free text beside it, errors still point into the filter as sent.
      const badWithText = await t.http.post('/api/v1/contacts/search').set(admin.auth).send({ q: marker, filter: { and: [{ field: 'stage', op: 'gt', value: 3 }, { field: 'nope', op: 'is', value: 1 }] } }).expect(400);
      expect(badWithText.body.details.map((d: { field: string }) => d.field)).toEqual(['filter.and.0.op', 'filter.and.1.field']);
      const badField = await t.http.post('/api/v1/contacts/search').set(admin.auth).send({ q: marker, filter: { field: 'nope', op: 'is', value: 1 } }).expect(400);
      expect(badField.body.details).toEqual([{ field: 'filter.field', message: 'unknown field "nope"' }]);
    });

    it('sorts, pages with totals, and pages by cursor without repeats', async () => {
      const sorted = (await list(admin, { q: marker, sort: '-lastName' }).expect(200)).body;
      expect(sorted.data.map((c: { lastName: string }) => c.lastName)).toEqual([`${marker} Two`, `${marker} Three`, `${marker} One`]);
      await list(admin, { sort: 'password' }).expect(400);
      const first = (await list(admin, { limit: 2 }).expect(200)).body;
      const all = (await list(admin, { limit: 100 }).expect(200)).body;
      expect(first.meta.total).toBe(all.meta.total);
      const seen: string[] = [];
      let cursor: string | null | undefined;
      do {
        const page = (await list(admin, { limit: 2, ...(cursor ? { cursor } : {}) }).expect(200)).body;
        seen.push(...page.data.map((c: { id: string }) => c.id));
        cursor = page.meta.nextCursor;
      } while (cursor);
      expect(seen).toEqual(all.data.map((c: { id: string }) => c.id));
      await list(admin, { cursor: 'garbage' }).expect(400);
      await list(admin, { cursor: first.meta.nextCursor, sort: 'lastName' }).expect(400);
      // A position in one order means nothing in another.
      for (const sort of ['createdAt', 'updatedAt', '-updatedAt']) {
        const other = await list(admin, { cursor: first.meta.nextCursor, sort }).expect(400);
        expect(other.body.details).toEqual([{ field: 'cursor', message: 'was handed out for sort -createdAt; send that sort with it, or start again without a cursor' }]);
      }
      await list(admin, { cursor: first.meta.nextCursor, sort: '-createdAt' }).expect(200);
    });
  });

  describe('a restricted "sales rep" role', () => {
    let rep: Session;
    let mine: string;
    let theirs: string;

    beforeAll(async () => {
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({
          name: 'Sales rep',
          audience: 'staff',
          rules: [
            { action: ['read', 'update'], subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
            { action: 'read', subject: ['ContactStatus', 'Tag', 'Service', 'TrafficSource', 'CustomField'] },
          ],
        })
        .expect(201);
      rep = await createUserWithRoles(t, admin, [role.body.id], 'rep');
      mine = (await create(admin, { firstName: 'Mine', assignedToId: rep.userId }).expect(201)).body.id;
      theirs = (await create(admin, { firstName: 'Theirs', assignedToId: staff.userId }).expect(201)).body.id;
    });

    it('sees only its own contacts in the list, the count and the profile', async () => {
      const page = (await list(rep, { limit: 100 }).expect(200)).body;
      expect(page.data.map((c: { id: string }) => c.id)).toEqual([mine]);
      expect(page.meta.total).toBe(1);
      await t.http.get(`/api/v1/contacts/${mine}`).set(rep.auth).expect(200);
      await t.http.get(`/api/v1/contacts/${theirs}`).set(rep.auth).expect(404);
      await t.http.patch(`/api/v1/contacts/${theirs}`).set(rep.auth).send({ version: 1, city: 'X' }).expect(404);
      await create(rep, { firstName: 'New' }).expect(403);
    });

    it('is told an email is taken, but not by whom or that the contact is in the trash, when its rules hide that contact', async () => {
      const hiddenEmail = uniqueEmail('hidden');
      const trashedEmail = uniqueEmail('trashed');
      await create(admin, { firstName: 'Hidden', email: hiddenEmail, assignedToId: staff.userId }).expect(201);
      const trashed = (await create(admin, { firstName: 'Trashed', email: trashedEmail }).expect(201)).body.id as string;
      await t.http.delete(`/api/v1/contacts/${trashed}`).set(admin.auth).expect(204);
      const own = (await t.http.get(`/api/v1/contacts/${mine}`).set(rep.auth).expect(200)).body;
      for (const email of [hiddenEmail, trashedEmail]) {
        const taken = await t.http.patch(`/api/v1/contacts/${mine}`).set(rep.auth).send({ version: own.version, email }).expect(409);
        expect(taken.body).toMatchObject({ message: 'This email is already in use', code: 'contact_email_taken', details: [{ field: 'email', message: 'is already used by another contact' }] });
      }
      // Those who may read it are told where it is; restoring it is advice for a new contact, not an edit.
      const told = await create(admin, { firstName: 'Again', email: trashedEmail }).expect(409);
      expect(told.body.message).toBe('A contact in the trash has this email; restore it instead');
      const mineNow = (await t.http.get(`/api/v1/contacts/${mine}`).set(admin.auth).expect(200)).body;
      const editTold = await t.http.patch(`/api/v1/contacts/${mine}`).set(admin.auth).send({ version: mineNow.version, email: trashedEmail }).expect(409);
      expect(editTold.body.message).toBe('A contact in the trash has this email');
    });

    it('checks the profile against rules on tags and services as the list does', async () => {
      const tagged = (await create(admin, { firstName: 'Tagged', newTags: ['Profile Vip'] }).expect(201)).body;
      const vipTag = tagged.tags[0].id as string;
      const service = (await t.http.get('/api/v1/services').set(admin.auth).expect(200)).body.data[0].id as string;
      const served = (await create(admin, { firstName: 'Served', serviceIds: [service] }).expect(201)).body.id as string;
      const plain = (await create(admin, { firstName: 'Plain' }).expect(201)).body.id as string;
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({
          name: 'Tag and service reader',
          audience: 'staff',
          rules: [
            { action: 'read', subject: 'Contact', conditions: { tagIds: vipTag } },
            { action: 'read', subject: 'Contact', conditions: { serviceIds: service } },
          ],
        })
        .expect(201);
      const reader = await createUserWithRoles(t, admin, [role.body.id], 'tagreader');
      await t.http.get(`/api/v1/contacts/${tagged.id}`).set(reader.auth).expect(200);
      await t.http.get(`/api/v1/contacts/${served}`).set(reader.auth).expect(200);
      await t.http.get(`/api/v1/contacts/${plain}`).set(reader.auth).expect(404);
      const listed = (await t.http.get('/api/v1/contacts').set(reader.auth).query({ limit: 100 }).expect(200)).body.data.map((c: { id: string }) => c.id);
      expect(listed).toEqual(expect.arrayContaining([tagged.id, served]));
      expect(listed).not.toContain(plain);
    });

    it('opens every contact its list shows under rules on dates and on ids written in capitals', async () => {
      const since = new Date(Date.now() - 60_000).toISOString();
      const recent = (await create(admin, { firstName: 'Recent', assignedToId: staff.userId }).expect(201)).body.id as string;
      await t.db.query(`UPDATE contacts SET created_at = now() - interval '400 days' WHERE id = $1`, [(await create(admin, { firstName: 'Old', assignedToId: staff.userId }).expect(201)).body.id]);
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: 'Recent and capitals', audience: 'staff', rules: [{ action: 'read', subject: 'Contact', conditions: { createdAt: { $gte: since }, assignedToId: staff.userId.toUpperCase() } }] })
        .expect(201);
      const reader = await createUserWithRoles(t, admin, [role.body.id], 'capitals');
      const listed = (await t.http.get('/api/v1/contacts').set(reader.auth).query({ limit: 100 }).expect(200)).body;
      expect(listed.data.map((c: { id: string }) => c.id)).toContain(recent);
      for (const contact of listed.data as Array<{ id: string; firstName: string }>) {
        expect(contact.firstName).not.toBe('Old');
        await t.http.get(`/api/v1/contacts/${contact.id}`).set(reader.auth).expect(200);
      }
    });

    it('opens a contact created a fraction of a millisecond either side of a rule\'s instant exactly when its list shows it', async () => {
      const instant = '2025-03-01T12:00:00';
      const after = (await create(admin, { firstName: 'Just after', assignedToId: staff.userId }).expect(201)).body.id as string;
      const at = (await create(admin, { firstName: 'Just at', assignedToId: staff.userId }).expect(201)).body.id as string;
      await t.db.query(`UPDATE contacts SET created_at = $2 WHERE id = $1`, [after, `${instant}.000400Z`]);
      await t.db.query(`UPDATE contacts SET created_at = $2 WHERE id = $1`, [at, `${instant}Z`]);
      // The rule's instant carries no offset: UTC, as the database reads it.
      for (const [operator, shown] of [['$gt', after], ['$lte', at]] as const) {
        const role = await t.http
          .post('/api/v1/roles')
          .set(admin.auth)
          .send({ name: `Created ${operator} ${instant}`, audience: 'staff', rules: [{ action: 'read', subject: 'Contact', conditions: { createdAt: { [operator]: instant }, assignedToId: staff.userId } }] })
          .expect(201);
        const reader = await createUserWithRoles(t, admin, [role.body.id], 'instants');
        const listed = (await t.http.get('/api/v1/contacts').set(reader.auth).query({ q: 'Just', limit: 100 }).expect(200)).body.data.map((c: { id: string }) => c.id);
        expect(listed).toEqual([shown]);
        await t.http.get(`/api/v1/contacts/${shown}`).set(reader.auth).expect(200);
        await t.http.get(`/api/v1/contacts/${shown === after ? at : after}`).set(reader.auth).expect(404);
      }
    });

    it('changes only its own contacts in bulk', async () => {
      const result = (await t.http.post('/api/v1/contacts/bulk').set(rep.auth).send({ selection: { ids: [mine, theirs] }, action: 'setStatus', statusId: statuses.Prospect }).expect(200)).body;
      expect(result).toEqual({ matched: 1, updated: 1 });
      const [theirsRow] = await t.db.query('SELECT status_id FROM contacts WHERE id = $1', [theirs]);
      expect(theirsRow.status_id).toBe(statuses.Lead);
    });
  });

  describe('rights bound every way of changing or counting contacts', () => {
    const readLookups = { action: 'read', subject: ['ContactStatus', 'Tag', 'Service', 'TrafficSource', 'CustomField'] };
    const row = async (id: string) => (await t.db.query('SELECT assigned_to_id, status_id, version FROM contacts WHERE id = $1', [id]))[0];

    it('bulk actions reach only contacts the caller may read, and assigning needs the same rights as a single edit', async () => {
      const rep = await staffWith('Bulk rep', [{ action: ['read', 'update'], subject: 'Contact', conditions: { assignedToId: '${user.id}' } }, { action: 'assign', subject: 'Contact' }, readLookups]);
      const mine = (await create(admin, { firstName: 'Bulk mine', assignedToId: rep.userId }).expect(201)).body.id as string;
      const theirs = (await create(admin, { firstName: 'Bulk theirs', assignedToId: staff.userId }).expect(201)).body.id as string;
      // Taking every assigned contact: only the caller's own are selected, so nothing changes.
      const grab = await t.http
        .post('/api/v1/contacts/bulk')
        .set(rep.auth)
        .send({ selection: { filter: { field: 'assignedTo', op: 'notEmpty' } }, action: 'assign', assignedToId: rep.userId })
        .expect(200);
      expect(grab.body).toEqual({ matched: 1, updated: 0 });
      expect((await row(theirs)).assigned_to_id).toBe(staff.userId);
      // Handing its own contact to someone else would take it outside the rep's rights: refused whole.
      const handOff = await t.http.post('/api/v1/contacts/bulk').set(rep.auth).send({ selection: { ids: [mine, theirs] }, action: 'assign', assignedToId: staff.userId }).expect(403);
      expect(handOff.body.message).toContain('1 contact');
      expect(await row(mine)).toMatchObject({ assigned_to_id: rep.userId, version: 1 });
      await t.http.patch(`/api/v1/contacts/${mine}`).set(rep.auth).send({ version: 1, assignedToId: staff.userId }).expect(403);
      expect(await row(mine)).toMatchObject({ assigned_to_id: rep.userId, version: 1 });
    });

    it('bulk changes respect rules limited to some fields, as a single edit does', async () => {
      const clerk = await staffWith('Phone clerk', [{ action: 'read', subject: 'Contact' }, { action: 'update', subject: 'Contact', fields: ['phone', 'city'] }, readLookups]);
      const id = (await create(admin, { firstName: 'Fields only' }).expect(201)).body.id as string;
      const refused = await t.http.patch(`/api/v1/contacts/${id}`).set(clerk.auth).send({ version: 1, statusId: statuses.Customer }).expect(403);
      expect(refused.body.code).toBe('field_forbidden');
      const bulkStatus = await t.http.post('/api/v1/contacts/bulk').set(clerk.auth).send({ selection: { ids: [id] }, action: 'setStatus', statusId: statuses.Customer }).expect(403);
      expect(bulkStatus.body).toMatchObject({ code: 'field_forbidden', details: [{ field: 'statusId' }] });
      // Tags are not among the clerk's fields: refused as a whole, so no tag is made either.
      const bulkTags = await t.http.post('/api/v1/contacts/bulk').set(clerk.auth).send({ selection: { ids: [id] }, action: 'addTags', newTags: ['Clerk Tag'] }).expect(403);
      expect(bulkTags.body).toMatchObject({ code: 'field_forbidden', details: [{ field: 'tagIds' }] });
      expect(await t.db.query("SELECT 1 FROM tags WHERE name_key = 'clerk tag'")).toEqual([]);
      expect(await row(id)).toMatchObject({ status_id: statuses.Lead, version: 1 });
      await t.http.patch(`/api/v1/contacts/${id}`).set(clerk.auth).send({ version: 1, city: 'Oslo' }).expect(200);
    });

    it("an edit's result is judged by the rules for the fields it changes, as in bulk", async () => {
      // An unconditional rule on another field does not open the changed field's conditional one.
      const promoter = await staffWith('Lead promoter', [
        { action: 'read', subject: 'Contact' },
        { action: 'update', subject: 'Contact', fields: ['phone'] },
        { action: 'update', subject: 'Contact', fields: ['statusId'], conditions: { statusId: statuses.Lead } },
        readLookups,
      ]);
      const lead = (await create(admin, { firstName: 'Promoted lead', statusId: statuses.Lead }).expect(201)).body.id as string;
      const refused = await t.http.patch(`/api/v1/contacts/${lead}`).set(promoter.auth).send({ version: 1, statusId: statuses.Customer }).expect(403);
      expect(refused.body.message).toContain('outside what you may change');
      await t.http.post('/api/v1/contacts/bulk').set(promoter.auth).send({ selection: { ids: [lead] }, action: 'setStatus', statusId: statuses.Customer }).expect(403);
      expect(await row(lead)).toMatchObject({ status_id: statuses.Lead, version: 1 });
      await t.http.patch(`/api/v1/contacts/${lead}`).set(promoter.auth).send({ version: 1, phone: '+1 555 0101' }).expect(200);

      const rep = await staffWith('Field rep', [
        { action: ['read', 'assign'], subject: 'Contact' },
        { action: 'update', subject: 'Contact', fields: ['phone'] },
        { action: 'update', subject: 'Contact', fields: ['assignedToId', 'statusId'], conditions: { assignedToId: '${user.id}' } },
        readLookups,
      ]);
      const mine = (await create(admin, { firstName: 'Field rep own', assignedToId: rep.userId }).expect(201)).body.id as string;
      await t.http.patch(`/api/v1/contacts/${mine}`).set(rep.auth).send({ version: 1, assignedToId: staff.userId }).expect(403);
      await t.http.post('/api/v1/contacts/bulk').set(rep.auth).send({ selection: { ids: [mine] }, action: 'assign', assignedToId: staff.userId }).expect(403);
      expect(await row(mine)).toMatchObject({ assigned_to_id: rep.userId, version: 1 });
      await t.http.patch(`/api/v1/contacts/${mine}`).set(rep.auth).send({ version: 1, statusId: statuses.Prospect, phone: '+1 555 0102' }).expect(200);
    });

    it("changing an account's login email through its contact needs the rights the users API asks for", async () => {
      const rep = await staffWith('Login rep', [{ action: ['read', 'update'], subject: 'Contact', conditions: { assignedToId: '${user.id}' } }, readLookups]);
      const manager = await staffWith('Account manager', [{ action: ['read', 'update'], subject: 'Contact', conditions: { assignedToId: '${user.id}' } }, { action: ['read', 'update'], subject: 'User' }, readLookups]);
      const clientEmail = uniqueEmail('login');
      const clientContact = (await create(admin, { firstName: 'Login', email: clientEmail, assignedToId: rep.userId }).expect(201)).body.id as string;
      await t.http.post(`/api/v1/contacts/${clientContact}/account`).set(admin.auth).send({ accountType: 'client', sendInvite: false }).expect(201);
      const version = async (id: string) => (await row(id)).version as number;
      const loginOf = async (contactId: string) => (await t.db.query('SELECT email FROM users WHERE contact_id = $1', [contactId]))[0].email as string;

      // Names are the contact's to edit; the login is the account's.
      await t.http.patch(`/api/v1/contacts/${clientContact}`).set(rep.auth).send({ version: await version(clientContact), lastName: 'Renamed' }).expect(200);
      const refused = await t.http.patch(`/api/v1/contacts/${clientContact}`).set(rep.auth).send({ version: await version(clientContact), email: uniqueEmail('taken-over') }).expect(403);
      expect(refused.body.details).toEqual([expect.objectContaining({ field: 'email' })]);
      expect(await loginOf(clientContact)).toBe(clientEmail);

      // A role that may change user accounts may change a client's login, never an administrator's.
      await t.http.patch(`/api/v1/contacts/${clientContact}`).set(admin.auth).send({ version: await version(clientContact), assignedToId: manager.userId }).expect(200);
      const moved = uniqueEmail('moved');
      await t.http.patch(`/api/v1/contacts/${clientContact}`).set(manager.auth).send({ version: await version(clientContact), email: moved }).expect(200);
      expect(await loginOf(clientContact)).toBe(moved);
      await t.http.patch(`/api/v1/contacts/${admin.contactId}`).set(admin.auth).send({ version: await version(admin.contactId), assignedToId: manager.userId }).expect(200);
      const takeover = await t.http.patch(`/api/v1/contacts/${admin.contactId}`).set(manager.auth).send({ version: await version(admin.contactId), email: uniqueEmail('admin-takeover') }).expect(403);
      expect(takeover.body.message).toContain('administrator');
      expect(await loginOf(admin.contactId)).toBe(admin.email);
    });

    it('tag names create tags only for roles that may create tags', async () => {
      const existing = (await create(admin, { firstName: 'Has tag', newTags: ['Known Label'] }).expect(201)).body.tags[0].id as string;
      const tagger = await staffWith('Tagger without tags', [{ action: ['read', 'update', 'create'], subject: 'Contact' }, readLookups]);
      const tags = async (name: string) => Number((await t.db.query('SELECT count(*) AS n FROM tags WHERE name_key = lower($1)', [name]))[0].n);
      const id = (await create(tagger, { firstName: 'Tagged by name', newTags: ['known label'] }).expect(201)).body.id as string;
      const refused = await create(tagger, { firstName: 'Tagged anew', newTags: ['Brand New Label'] }).expect(403);
      expect(refused.body.details).toEqual([expect.objectContaining({ field: 'newTags' })]);
      await t.http.patch(`/api/v1/contacts/${id}`).set(tagger.auth).send({ version: 1, newTags: ['Brand New Label'] }).expect(403);
      await t.http.post('/api/v1/contacts/bulk').set(tagger.auth).send({ selection: { ids: [id] }, action: 'addTags', newTags: ['Brand New Label'] }).expect(403);
      expect(await tags('Brand New Label')).toBe(0);
      await t.http.post('/api/v1/tags').set(tagger.auth).send({ name: 'Brand New Label' }).expect(403);
      // Staff create tags as they tag contacts.
      await create(staff, { firstName: 'Staff tagged', newTags: ['Brand New Label'], tagIds: [existing] }).expect(201);
      expect(await tags('Brand New Label')).toBe(1);
    });

    it('a contact created with tag names must satisfy the create conditions once the names are tags', async () => {
      const vip = (await create(admin, { firstName: 'Vip holder', newTags: ['Create Vip'] }).expect(201)).body.tags[0].id as string;
      const creator = await staffWith('No vip creator', [{ action: ['read', 'create'], subject: 'Contact', conditions: { tagIds: { $nin: [vip] } } }, { action: 'create', subject: 'Tag' }, readLookups]);
      const count = async () => Number((await t.db.query(`SELECT count(*) AS n FROM contacts WHERE first_name = 'Named vip'`))[0].n);
      await create(creator, { firstName: 'Named vip', tagIds: [vip] }).expect(403);
      const refused = await create(creator, { firstName: 'Named vip', newTags: ['create vip'] }).expect(403);
      expect(refused.body.message).toContain('nothing was created');
      expect(await count()).toBe(0);
      await create(creator, { firstName: 'Named vip', newTags: ['Create Plain'] }).expect(201);
    });

    it('values sent again as they are stored are not changes: limited roles and deactivated assignees keep working', async () => {
      const clerk = await staffWith('Resending clerk', [{ action: 'read', subject: 'Contact' }, { action: 'update', subject: 'Contact', fields: ['phone'] }, readLookups]);
      const leaving = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'leaving');
      const contact = (await create(admin, { firstName: 'Resent', newTags: ['Resent Tag'], serviceIds: [serviceId], assignedToId: leaving.userId }).expect(201)).body;
      await t.http.patch(`/api/v1/users/${leaving.userId}`).set(admin.auth).send({ isActive: false }).expect(200);
      const resent = { tagIds: contact.tags.map((tag: { id: string }) => tag.id), serviceIds: [serviceId], assignedToId: leaving.userId, statusId: contact.status.id };
      const edited = await t.http.patch(`/api/v1/contacts/${contact.id}`).set(clerk.auth).send({ version: 1, phone: '+1 555 0199', ...resent }).expect(200);
      expect(edited.body).toMatchObject({ phone: '+1 555 0199', version: 2, assignedTo: { id: leaving.userId } });
      // Sending them again alone changes nothing, so the version stays.
      expect((await t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: 2, ...resent }).expect(200)).body.version).toBe(2);
      // Changing them is still checked.
      await t.http.patch(`/api/v1/contacts/${contact.id}`).set(clerk.auth).send({ version: 2, serviceIds: [] }).expect(403);
      await t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: 2, assignedToId: '00000000-0000-4000-8000-000000000000' }).expect(422);
    });

    it('an edit may not take a contact outside the conditions it was allowed under', async () => {
      const qualifier = await staffWith('Lead qualifier', [{ action: ['read', 'update'], subject: 'Contact', conditions: { statusId: { $in: [statuses.Lead, statuses.Prospect] } } }, readLookups]);
      const id = (await create(admin, { firstName: 'Qualify me' }).expect(201)).body.id as string;
      const refused = await t.http.patch(`/api/v1/contacts/${id}`).set(qualifier.auth).send({ version: 1, statusId: statuses.Customer }).expect(403);
      expect(refused.body.message).toContain('outside');
      expect(await row(id)).toMatchObject({ status_id: statuses.Lead, version: 1 });
      await t.http.patch(`/api/v1/contacts/${id}`).set(qualifier.auth).send({ version: 1, statusId: statuses.Prospect }).expect(200);
      await t.http.post('/api/v1/contacts/bulk').set(qualifier.auth).send({ selection: { ids: [id] }, action: 'setStatus', statusId: statuses.Customer }).expect(403);
      expect(await row(id)).toMatchObject({ status_id: statuses.Prospect, version: 2 });
    });

    it('the profile shows only the recent activities the caller may read', async () => {
      const own = await staffWith('Own activities', [{ action: 'read', subject: 'Contact' }, { action: ['read', 'create'], subject: 'Activity', conditions: { authorId: '${user.id}' } }]);
      const none = await staffWith('No activities', [{ action: 'read', subject: 'Contact' }]);
      const id = (await create(admin, { firstName: 'Busy' }).expect(201)).body.id as string;
      await t.http.post(`/api/v1/contacts/${id}/activities`).set(staff.auth).send({ type: 'call', subject: 'by staff' }).expect(201);
      await t.http.post(`/api/v1/contacts/${id}/activities`).set(own.auth).send({ type: 'note', subject: 'by own' }).expect(201);
      const subjects = async (session: Session) =>
        (await t.http.get(`/api/v1/contacts/${id}`).set(session.auth).expect(200)).body.recentActivities.map((a: { subject: string }) => a.subject).sort();
      expect(await subjects(staff)).toEqual(['by own', 'by staff']);
      expect(await subjects(own)).toEqual(['by own']);
      expect(await subjects(none)).toEqual([]);
    });

    it('lookup counts count only the contacts the caller may read', async () => {
      const counter = await staffWith('Tag counter', [{ action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } }, readLookups]);
      const tagName = `Counted ${Date.now().toString(36)}`;
      const tagId = (await create(admin, { firstName: 'Counted one', assignedToId: counter.userId, newTags: [tagName] }).expect(201)).body.tags[0].id as string;
      await create(admin, { firstName: 'Counted two', tagIds: [tagId] }).expect(201);
      await create(admin, { firstName: 'Counted three', tagIds: [tagId], statusId: statuses.Customer }).expect(201);
      expect((await t.http.get(`/api/v1/tags/${tagId}`).set(admin.auth).expect(200)).body.contactCount).toBe(3);
      expect((await t.http.get(`/api/v1/tags/${tagId}`).set(counter.auth).expect(200)).body.contactCount).toBe(1);
      const listed = (await t.http.get('/api/v1/tags').set(counter.auth).query({ q: tagName }).expect(200)).body;
      expect(listed.data.map((tag: { contactCount: number }) => tag.contactCount)).toEqual([1]);
      const customers = (await t.http.get(`/api/v1/contact-statuses/${statuses.Customer}`).set(counter.auth).expect(200)).body.contactCount;
      expect(customers).toBe(0);
      expect((await t.http.get(`/api/v1/contact-statuses/${statuses.Customer}`).set(admin.auth).expect(200)).body.contactCount).toBeGreaterThan(0);
    });
  });

  describe('trash', () => {
    it('moves to the trash, lists it there, restores, and lets only admins purge', async () => {
      const contact = (await create(staff, { firstName: 'Trashy', email: uniqueEmail('trash') }).expect(201)).body;
      await t.http.delete(`/api/v1/contacts/${contact.id}`).set(staff.auth).expect(204);
      await t.http.get(`/api/v1/contacts/${contact.id}`).set(staff.auth).expect(404);
      const trash = (await t.http.get('/api/v1/contacts/trash').set(staff.auth).query({ limit: 100 }).expect(200)).body;
      expect(trash.data.map((c: { id: string }) => c.id)).toContain(contact.id);
      expect(trash.data.find((c: { id: string }) => c.id === contact.id).deletedAt).toEqual(expect.any(String));
      await t.http.post(`/api/v1/contacts/${contact.id}/restore`).set(staff.auth).expect(200);
      await t.http.get(`/api/v1/contacts/${contact.id}`).set(staff.auth).expect(200);

      await t.http.delete(`/api/v1/contacts/${contact.id}`).set(staff.auth).expect(204);
      await t.http.delete(`/api/v1/contacts/${contact.id}/purge`).set(staff.auth).expect(403);
      await t.http.delete(`/api/v1/contacts/${contact.id}/purge`).set(admin.auth).expect(204);
      expect(await t.db.query('SELECT 1 FROM contacts WHERE id = $1', [contact.id])).toEqual([]);
    });

    it('lists for a role only the trashed contacts it may delete, and so restore', async () => {
      const deleter = await staffWith('Own deleter', [{ action: 'read', subject: 'Contact' }, { action: 'delete', subject: 'Contact', conditions: { assignedToId: '${user.id}' } }]);
      const own = (await create(admin, { firstName: 'Own trashed', assignedToId: deleter.userId }).expect(201)).body;
      const other = (await create(admin, { firstName: 'Other trashed' }).expect(201)).body;
      for (const contact of [own, other]) await t.http.delete(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(204);
      const trash = (await t.http.get('/api/v1/contacts/trash').set(deleter.auth).query({ limit: 100 }).expect(200)).body;
      expect(trash.data.map((c: { id: string }) => c.id)).toEqual([own.id]);
      expect(trash.meta.total).toBe(1);
      await t.http.post(`/api/v1/contacts/${other.id}/restore`).set(deleter.auth).expect(403);
      await t.http.post(`/api/v1/contacts/${own.id}/restore`).set(deleter.auth).expect(200);
    });

    it('refuses to trash or purge a contact that has an account', async () => {
      const refused = await t.http.delete(`/api/v1/contacts/${client.contactId}`).set(admin.auth).expect(409);
      expect(refused.body.code).toBe('contact_has_account');
      await t.db.query('UPDATE contacts SET deleted_at = now() WHERE id = $1', [client.contactId]);
      try {
        const purge = await t.http.delete(`/api/v1/contacts/${client.contactId}/purge`).set(admin.auth).expect(409);
        expect(purge.body.message).toContain('account');
      } finally {
        await t.db.query('UPDATE contacts SET deleted_at = NULL WHERE id = $1', [client.contactId]);
      }
    });
  });

  describe('bulk actions', () => {
    it('refuses an action the role may take on no contact at all, as the single routes do', async () => {
      const editor = await staffWith('Bulk phone editor', [{ action: 'read', subject: 'Contact' }, { action: 'update', subject: 'Contact', fields: ['phone'] }]);
      const contact = (await create(admin, { firstName: 'Bulk target' }).expect(201)).body;
      const bulk = (body: Record<string, unknown>) => t.http.post('/api/v1/contacts/bulk').set(editor.auth).send({ selection: { ids: [contact.id] }, ...body });
      expect((await bulk({ action: 'delete' }).expect(403)).body.code).toBe('forbidden');
      await t.http.delete(`/api/v1/contacts/${contact.id}`).set(editor.auth).expect(403);
      expect((await bulk({ action: 'setStatus', statusId: statuses.Customer }).expect(403)).body).toMatchObject({ code: 'field_forbidden', details: [{ field: 'statusId' }] });
      expect((await bulk({ action: 'unassign' }).expect(403)).body.code).toBe('field_forbidden');
      expect((await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body.version).toBe(contact.version);
    });

    it('does not trash a contact whose account is being opened while the bulk delete waits', async () => {
      const email = uniqueEmail('opening');
      const id = (await create(staff, { firstName: 'Opening', email }).expect(201)).body.id as string;
      // What opening an account does: lock the contact, add its user, commit.
      const opening = t.db.createQueryRunner();
      await opening.connect();
      try {
        await opening.startTransaction();
        await opening.query('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [id]);
        await opening.query('INSERT INTO users (contact_id, email, first_name) VALUES ($1, $2, $3)', [id, email, 'Opening']);
        const pending = t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { ids: [id] }, action: 'delete' }).then((response) => response);
        await untilWaitingForLocks(t.db, 1, 'the bulk delete to wait for the contact');
        await opening.commitTransaction();
        const result = await pending;
        expect(result.status).toBe(200);
        expect(result.body).toEqual({ matched: 1, updated: 0 });
      } finally {
        if (opening.isTransactionActive) await opening.rollbackTransaction();
        await opening.release();
      }
      expect((await t.db.query('SELECT deleted_at FROM contacts WHERE id = $1', [id]))[0].deleted_at).toBeNull();
      await t.db.query('DELETE FROM users WHERE contact_id = $1', [id]);
    });

    it('dates a status change when it is written: one that waited is not filed before those that went ahead', async () => {
      const retiring = (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: `Retiring ${Date.now().toString(36)}`, stage: 'lead' }).expect(201)).body.id as string;
      const id = (await create(staff, { firstName: 'Moved twice' }).expect(201)).body.id as string;
      const holder = t.db.createQueryRunner();
      await holder.connect();
      try {
        // What any write into that status holds until it commits.
        await holder.startTransaction();
        await holder.query('SELECT id FROM contact_statuses WHERE id = $1 FOR KEY SHARE', [retiring]);
        const deleting = t.http.delete(`/api/v1/contact-statuses/${retiring}`).set(admin.auth).query({ replaceWith: statuses.Prospect }).then((response) => response);
        await untilWaitingForLocks(t.db, 1, 'the status delete to wait for the status');
        await t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { ids: [id] }, action: 'setStatus', statusId: retiring }).expect(200, { matched: 1, updated: 1 });
        await holder.commitTransaction();
        expect((await deleting).status).toBe(204);
      } finally {
        if (holder.isTransactionActive) await holder.rollbackTransaction();
        await holder.release();
      }
      const profile = (await t.http.get(`/api/v1/contacts/${id}`).set(staff.auth).expect(200)).body;
      expect(profile.status.id).toBe(statuses.Prospect);
      expect(profile.statusHistory[0]).toMatchObject({ to: { id: statuses.Prospect }, source: 'lookup' });
    });

    it('shows a bulk change in the totals as soon as it returns, though a list was counted while it ran', async () => {
      const tag = (await create(admin, { firstName: 'Totals', newTags: [`Totals ${Date.now().toString(36)}`] }).expect(201)).body.tags[0];
      const id = (await create(staff, { firstName: 'Counted late' }).expect(201)).body.id as string;
      const tagged = async () => (await list(staff, { tags: tag.id, limit: 1 }).expect(200)).body.meta.total as number;
      expect(await tagged()).toBe(1);
      const holder = t.db.createQueryRunner();
      await holder.connect();
      try {
        await holder.startTransaction();
        await holder.query('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [id]);
        const pending = t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { ids: [id] }, action: 'addTags', tagIds: [tag.id] }).then((response) => response);
        await untilWaitingForLocks(t.db, 1, 'the bulk change to wait for the contact');
        // Counted while the change waits: the row is not tagged yet.
        await list(staff, { tags: tag.id, limit: 2 }).expect(200);
        expect(await tagged()).toBe(1);
        await holder.commitTransaction();
        expect((await pending).body).toEqual({ matched: 1, updated: 1 });
      } finally {
        if (holder.isTransactionActive) await holder.rollbackTransaction();
        await holder.release();
      }
      expect(await tagged()).toBe(2);
    });

    it('assigns, tags, changes status by filter (recorded as bulk), untags and deletes', async () => {
      const marker = `bulk${Date.now().toString(36)}`;
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) ids.push((await create(admin, { firstName: 'Bulk', lastName: `${marker} ${i}` }).expect(201)).body.id);
      const bulk = (body: Record<string, unknown>) => t.http.post('/api/v1/contacts/bulk').set(staff.auth).send(body);

      expect((await bulk({ selection: { ids }, action: 'assign', assignedToId: otherStaff.userId }).expect(200)).body).toEqual({ matched: 3, updated: 3 });
      expect((await bulk({ selection: { ids }, action: 'addTags', newTags: [`${marker} tag`] }).expect(200)).body).toEqual({ matched: 3, updated: 3 });
      const byFilter = { filter: { field: 'q', op: 'matches', value: marker } };
      expect((await bulk({ selection: byFilter, action: 'setStatus', statusId: statuses.Customer }).expect(200)).body).toEqual({ matched: 3, updated: 3 });
      const history: Array<{ source: string; changed_by_id: string }> = await t.db.query(
        `SELECT source, changed_by_id FROM contact_status_history WHERE contact_id = ANY($1::uuid[]) AND to_status_id = $2`,
        [ids, statuses.Customer],
      );
      expect(history).toEqual(Array(3).fill({ source: 'bulk', changed_by_id: staff.userId }));
      const tagId = (await t.db.query('SELECT id FROM tags WHERE name_key = lower($1)', [`${marker} tag`]))[0].id;
      expect((await bulk({ selection: { ids: ids.slice(0, 1) }, action: 'removeTags', tagIds: [tagId] }).expect(200)).body).toEqual({ matched: 1, updated: 1 });
      expect((await bulk({ selection: { ids }, action: 'delete' }).expect(200)).body).toEqual({ matched: 3, updated: 3 });
      await bulk({ selection: {}, action: 'delete' }).expect(400);
      await bulk({ selection: { ids }, action: 'setStatus' }).expect(400);
    });

    it('refuses a bulk action given values it does not use, no tags to remove, or a blank tag name', async () => {
      const id = (await create(admin, { firstName: 'Bulk', lastName: 'Precise' }).expect(201)).body.id as string;
      const bulk = (body: Record<string, unknown>) => t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { ids: [id] }, ...body });
      const refused = async (body: Record<string, unknown>) => (await bulk(body).expect(400)).body.details;
      expect(await refused({ action: 'assign', assignedToId: otherStaff.userId, statusId: statuses.Customer })).toEqual([{ field: 'statusId', message: 'is not used by assign' }]);
      expect(await refused({ action: 'delete', tagIds: [] })).toEqual([{ field: 'tagIds', message: 'is not used by delete' }]);
      expect(await refused({ action: 'setStatus', statusId: statuses.Customer, newTags: ['Stray'] })).toEqual([{ field: 'newTags', message: 'is not used by setStatus' }]);
      expect(await refused({ action: 'removeTags', tagIds: [] })).toEqual([{ field: 'tagIds', message: 'is required for removeTags' }]);
      expect(await refused({ action: 'addTags', newTags: ['   '] })).toEqual([{ field: 'newTags', message: 'must not hold a blank name' }]);
      // As wrong when nothing is selected.
      const none = await t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { ids: [] }, action: 'addTags', newTags: ['   '] }).expect(400);
      expect(none.body.details).toEqual([{ field: 'newTags', message: 'must not hold a blank name' }]);
      await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Blank', newTags: ['Fine', ' '] }).expect(400);
      const [row] = await t.db.query('SELECT status_id, assigned_to_id, version FROM contacts WHERE id = $1', [id]);
      expect(row).toMatchObject({ assigned_to_id: null, version: 1 });
      expect(await t.db.query(`SELECT 1 FROM tags WHERE name_key IN ('stray', 'fine')`)).toEqual([]);
    });

    it('refuses a bulk selection naming a deleted custom field, which would match nothing, or under not everything', async () => {
      const key = `gone${Date.now().toString(36)}`;
      const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Gone ${key}`, type: 'text' }).expect(201)).body;
      await t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
      const versions = async () => (await t.db.query('SELECT sum(version)::int AS total FROM contacts'))[0].total;
      const before = await versions();
      const refused = await t.http
        .post('/api/v1/contacts/bulk')
        .set(admin.auth)
        .send({ selection: { filter: { not: { field: `custom.${key}`, op: 'is', value: 'EU' } } }, action: 'addTags', newTags: ['Everyone'] })
        .expect(400);
      expect(refused.body.details).toEqual([{ field: 'selection.filter.not.field', message: `the custom field "custom.${key}" was deleted` }]);
      expect(await versions()).toBe(before);
      // A list only warns: what it shows is there to see.
      const listed = (await list(staff, { limit: 1, filter: JSON.stringify({ field: `custom.${key}`, op: 'is', value: 'EU' }) }).expect(200)).body;
      expect(listed.meta.warnings[0]).toContain('deleted');
    });

    it('names the email when two contacts are created with it at once', async () => {
      const email = uniqueEmail('twice');
      const responses = await Promise.all(Array.from({ length: 6 }, (_, i) => create(staff, { firstName: `Twice ${i}`, email })));
      expect(responses.map((response) => response.status).sort()).toEqual([201, 409, 409, 409, 409, 409]);
      for (const response of responses.filter((r) => r.status === 409)) {
        expect(response.body).toMatchObject({ code: 'contact_email_taken', details: [{ field: 'email' }] });
      }
    });

    it('refuses a selection that is null, false or not a list instead of reaching every contact', async () => {
      const id = (await create(admin, { firstName: 'Kept', lastName: 'Safe' }).expect(201)).body.id;
      const live = async () => Number((await t.db.query('SELECT count(*) AS n FROM contacts WHERE deleted_at IS NULL'))[0].n);
      const before = await live();
      const bulk = (selection: unknown) => t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection, action: 'delete' });
      for (const [selection, field] of [
        [{ ids: null }, 'selection.ids'],
        [{ ids: false }, 'selection.ids'],
        [{ ids: 'all' }, 'selection.ids'],
        [{ ids: ['not-a-uuid'] }, 'selection.ids'],
        [{ filter: null }, 'selection.filter'],
        [{ filter: false }, 'selection.filter'],
        [{ filter: 'everything' }, 'selection.filter'],
      ] as const) {
        const refused = await bulk(selection).expect(400);
        expect(refused.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      }
      await bulk({ ids: [id], filter: { field: 'q', op: 'matches', value: 'Safe' } }).expect(400);
      expect(await live()).toBe(before);
      // A bad filter is reported where the caller wrote it.
      const badFilter = await bulk({ filter: { and: [{ field: 'q', op: 'matches', value: 'Safe' }, { field: 'nope', op: 'is', value: 1 }] } }).expect(400);
      expect(badFilter.body.details).toEqual([{ field: 'selection.filter.and.1.field', message: 'unknown field "nope"' }]);
    });

    it('creates no tag from typed names when the selection matched no contact', async () => {
      const name = `Nobody ${Date.now().toString(36)}`;
      const result = await t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { filter: { field: 'q', op: 'matches', value: `zz${Date.now().toString(36)}qq` } }, action: 'addTags', newTags: [name] }).expect(200);
      expect(result.body).toEqual({ matched: 0, updated: 0 });
      expect(await t.db.query('SELECT id FROM tags WHERE name_key = lower($1)', [name])).toEqual([]);
      await t.http.post('/api/v1/contacts/bulk').set(staff.auth).send({ selection: { ids: [] }, action: 'addTags', newTags: [name] }).expect(200);
      expect(await t.db.query('SELECT id FROM tags WHERE name_key = lower($1)', [name])).toEqual([]);
    });
  });

  describe('accounts from contacts', () => {
    it('opens a client account for a contact; the invitation sets the password', async () => {
      const email = uniqueEmail('invitee');
      const contact = (await create(staff, { firstName: 'Invitee', email }).expect(201)).body;
      const withAccount = (await t.http.post(`/api/v1/contacts/${contact.id}/account`).set(staff.auth).send({ accountType: 'client' }).expect(201)).body;
      expect(withAccount.account).toMatchObject({ email, accountType: 'client', isActive: true });
      await t.http.post(`/api/v1/contacts/${contact.id}/account`).set(staff.auth).send({ accountType: 'client' }).expect(409);
      const token = await latestTokenFor(t, admin, email);
      await t.http.post('/api/v1/auth/reset-password').send({ token, password: 'a-long-enough-password' }).expect(204);
      const session = await login(t, email);
      const me = (await t.http.get('/api/v1/auth/me').set(session.auth).expect(200)).body;
      expect(me).toMatchObject({ accountType: 'client', contactId: contact.id });
    });

    it("is a change of the contact's hasAccount: refused to roles whose fields or conditions do not allow it, creating nothing", async () => {
      const phoneOnly = await staffWith('Phone only', [{ action: ['read'], subject: 'Contact' }, { action: 'update', subject: 'Contact', fields: ['phone', 'city'] }]);
      const withoutAccounts = await staffWith('No accounts', [{ action: ['read'], subject: 'Contact' }, { action: 'update', subject: 'Contact', conditions: { hasAccount: false } }]);
      for (const [session, code] of [[phoneOnly, 'field_forbidden'], [withoutAccounts, 'forbidden']] as const) {
        const contact = (await create(admin, { firstName: 'Not yet', email: uniqueEmail('notyet') }).expect(201)).body;
        const refused = await t.http.post(`/api/v1/contacts/${contact.id}/account`).set(session.auth).send({ accountType: 'client' }).expect(403);
        expect(refused.body.code).toBe(code);
        expect(await t.db.query('SELECT 1 FROM users WHERE contact_id = $1', [contact.id])).toEqual([]);
        expect((await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body.hasAccount).toBe(false);
      }
    });

    it("gives the contact a new version whenever what its profile shows of the account changes", async () => {
      const contact = (await create(staff, { firstName: 'Versioned', email: uniqueEmail('versioned') }).expect(201)).body;
      const profile = async () => (await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body;
      expect(contact.version).toBe(1);
      const opened = (await t.http.post(`/api/v1/contacts/${contact.id}/account`).set(admin.auth).send({ accountType: 'client', sendInvite: false }).expect(201)).body;
      expect(opened).toMatchObject({ version: 2, hasAccount: true });
      // An edit based on the version read before the account was opened is stale.
      expect((await t.http.patch(`/api/v1/contacts/${contact.id}`).set(staff.auth).send({ version: 1, city: 'Lyon' }).expect(409)).body.code).toBe('stale_version');
      const userId = opened.account.userId as string;
      await t.http.patch(`/api/v1/users/${userId}`).set(admin.auth).send({ isActive: false }).expect(200);
      expect(await profile()).toMatchObject({ version: 3, account: { isActive: false } });
      await t.http.patch(`/api/v1/users/${userId}`).set(admin.auth).send({ isActive: false }).expect(200);
      expect((await profile()).version).toBe(3);
      await t.http.put(`/api/v1/users/${userId}/roles`).set(admin.auth).send({ roleIds: [await systemRoleId(t, 'staff')] }).expect(200);
      expect(await profile()).toMatchObject({ version: 4, account: { accountType: 'staff' } });
      await t.http.put(`/api/v1/users/${userId}/roles`).set(admin.auth).send({ roleIds: [await systemRoleId(t, 'staff')] }).expect(200);
      expect((await profile()).version).toBe(4);
      await t.http.delete(`/api/v1/users/${userId}`).set(admin.auth).expect(204);
      expect(await profile()).toMatchObject({ version: 5, hasAccount: false, account: null });
    });

    it('keeps the version when an account edit sends the phone the contact already has', async () => {
      const contact = (await create(staff, { firstName: 'Phoned', email: uniqueEmail('phoned'), phone: '+44 20 7946 0000' }).expect(201)).body;
      const opened = (await t.http.post(`/api/v1/contacts/${contact.id}/account`).set(admin.auth).send({ accountType: 'client', sendInvite: false }).expect(201)).body;
      await t.http.patch(`/api/v1/users/${opened.account.userId}`).set(admin.auth).send({ phone: '+44 20 7946 0000' }).expect(200);
      expect((await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body.version).toBe(opened.version);
      await t.http.patch(`/api/v1/users/${opened.account.userId}`).set(admin.auth).send({ phone: '+44 20 7946 0001' }).expect(200);
      expect((await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body).toMatchObject({ version: opened.version + 1, phone: '+44 20 7946 0001' });
    });

    it('needs an email, and only admins open staff accounts', async () => {
      const noEmail = (await create(staff, { firstName: 'NoMail' }).expect(201)).body;
      await t.http.post(`/api/v1/contacts/${noEmail.id}/account`).set(staff.auth).send({ accountType: 'client' }).expect(422);
      const withEmail = (await create(staff, { firstName: 'Future staff', email: uniqueEmail('future') }).expect(201)).body;
      await t.http.post(`/api/v1/contacts/${withEmail.id}/account`).set(staff.auth).send({ accountType: 'staff' }).expect(403);
      const opened = (await t.http.post(`/api/v1/contacts/${withEmail.id}/account`).set(admin.auth).send({ accountType: 'staff', sendInvite: false }).expect(201)).body;
      expect(opened.account.accountType).toBe('staff');
    });
  });

  describe('custom fields', () => {
    it('validates values by type, filters and sorts by them, and keeps values of a removed field until purged', async () => {
      const budget = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'budget', label: 'Budget', type: 'number' }).expect(201)).body;
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'tier', label: 'Tier', type: 'select', options: ['gold', 'silver'] }).expect(201);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'tier', label: 'Again', type: 'text' }).expect(409);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'Bad Key', label: 'x', type: 'text' }).expect(400);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'pick', label: 'x', type: 'select' }).expect(422);
      // A contact's multi-select values share one CSV cell; options are trimmed, as import trims cells.
      const separated = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'sizes', label: 'Sizes', type: 'multi_select', options: ['Small, medium', 'Large'] }).expect(422);
      expect(separated.body.details).toEqual([{ field: 'options.0', message: 'must not contain "," or ";" (they separate the values of a multi-select field in CSV files)' }]);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'sizes', label: 'Sizes', type: 'multi_select', options: ['Small', ' '] }).expect(400);
      // Keys that objects inherit are refused, never dropped, wherever they are sent.
      const inherited = await create(staff, { firstName: 'Inherited', customFields: { toString: 'x', valueOf: 1 } }).expect(400);
      expect(inherited.body.details).toEqual([{ field: 'customFields.toString', message: 'is not an accepted field (a reserved name)' }]);
      const inheritedFilter = await t.http.post('/api/v1/contacts/search').set(staff.auth).send({ filter: { field: 'stage', op: 'is', value: 'lead', toString: 1 } }).expect(400);
      expect(inheritedFilter.body.details[0].field).toMatch(/^filter/);
      // Filters ignore case, so options differing only by case could not be told apart.
      const cased = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'colour', label: 'Colour', type: 'select', options: ['Red', 'Blue', 'red'] }).expect(400);
      expect(cased.body.details).toEqual([{ field: 'options', message: 'must not repeat an option, even in another case (filters ignore case)' }]);
      const size = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'size', label: 'Size', type: 'select', options: [' Small, medium ', 'Large'] }).expect(201)).body;
      expect(size.options).toEqual(['Small, medium', 'Large']);
      await t.http.delete(`/api/v1/custom-fields/${size.id}`).set(admin.auth).expect(204);
      await t.http.delete(`/api/v1/custom-fields/${size.id}/purge`).set(admin.auth).expect(204);
      await t.http.post('/api/v1/custom-fields').set(staff.auth).send({ key: 'nope', label: 'x', type: 'text' }).expect(403);

      const wrong = await create(staff, { firstName: 'Typed', customFields: { budget: 'lots', tier: 'bronze', unknown: 1 } }).expect(400);
      expect(wrong.body.details.map((d: { field: string }) => d.field).sort()).toEqual(['customFields.budget', 'customFields.tier', 'customFields.unknown']);

      const marker = `cf${Date.now().toString(36)}`;
      const small = (await create(staff, { firstName: 'Small', lastName: marker, customFields: { budget: 10, tier: 'silver' } }).expect(201)).body;
      await create(staff, { firstName: 'Big', lastName: marker, customFields: { budget: 5000, tier: 'gold' } }).expect(201);
      expect(small.customFields).toEqual({ budget: 10, tier: 'silver' });

      const rich = (await list(staff, { q: marker, filter: JSON.stringify({ field: 'custom.budget', op: 'gte', value: 100 }) }).expect(200)).body;
      expect(rich.data.map((c: { firstName: string }) => c.firstName)).toEqual(['Big']);
      const sorted = (await list(staff, { q: marker, sort: '-custom.budget' }).expect(200)).body;
      expect(sorted.data.map((c: { firstName: string }) => c.firstName)).toEqual(['Big', 'Small']);
      await list(staff, { filter: JSON.stringify({ field: 'custom.budget', op: 'contains', value: 'x' }) }).expect(400);

      await t.http.delete(`/api/v1/custom-fields/${budget.id}`).set(admin.auth).expect(204);
      const hidden = (await t.http.get(`/api/v1/contacts/${small.id}`).set(staff.auth).expect(200)).body;
      expect(hidden.customFields).toEqual({ tier: 'silver' });
      const listedHidden = (await list(staff, { q: marker, sort: 'firstName' }).expect(200)).body.data;
      expect(listedHidden.map((c: { customFields: object }) => c.customFields)).toEqual([{ tier: 'gold' }, { tier: 'silver' }]);
      const warned = (await list(staff, { q: marker, filter: JSON.stringify({ field: 'custom.budget', op: 'gte', value: 1 }) }).expect(200)).body;
      expect(warned.meta.total).toBe(0);
      expect(warned.meta.warnings[0]).toContain('deleted');

      await t.http.post(`/api/v1/custom-fields/${budget.id}/restore`).set(admin.auth).expect(200);
      expect((await t.http.get(`/api/v1/contacts/${small.id}`).set(staff.auth).expect(200)).body.customFields).toEqual({ budget: 10, tier: 'silver' });

      await t.http.delete(`/api/v1/custom-fields/${budget.id}/purge`).set(admin.auth).expect(409);
      await t.http.delete(`/api/v1/custom-fields/${budget.id}`).set(admin.auth).expect(204);
      await t.http.delete(`/api/v1/custom-fields/${budget.id}/purge`).set(admin.auth).expect(204);
      const [row] = await t.db.query('SELECT custom_fields FROM contacts WHERE id = $1', [small.id]);
      expect(row.custom_fields).toEqual({ tier: 'silver' });
    });

    it('refuses a key every object already has, and takes an empty multi-select as no value', async () => {
      const reserved = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'constructor', label: 'Ctor', type: 'text' }).expect(400);
      expect(reserved.body.details).toEqual([{ field: 'key', message: 'is reserved: every object has a property of that name' }]);
      const key = `langs${Date.now().toString(36)}`;
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: 'Languages', type: 'multi_select', options: ['en', 'fr'] }).expect(201);
      const created = (await create(staff, { firstName: 'Polyglot', customFields: { [key]: [] } }).expect(201)).body;
      expect(created.customFields).toEqual({});
      const chosen = (await t.http.patch(`/api/v1/contacts/${created.id}`).set(staff.auth).send({ version: created.version, customFields: { [key]: ['fr'] } }).expect(200)).body;
      expect(chosen.customFields).toEqual({ [key]: ['fr'] });
      const cleared = (await t.http.patch(`/api/v1/contacts/${created.id}`).set(staff.auth).send({ version: chosen.version, customFields: { [key]: [] } }).expect(200)).body;
      expect(cleared.customFields).toEqual({});
      expect((await t.db.query('SELECT custom_fields FROM contacts WHERE id = $1', [created.id]))[0].custom_fields).toEqual({});
    });

    it('tells how many contacts hold a removed option only to a caller who may read every contact', async () => {
      const suffix = Date.now().toString(36);
      const tier = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `tier${suffix}`, label: 'Tier', type: 'select', options: ['Gold', 'Silver'] }).expect(201)).body;
      await create(admin, { firstName: 'Golden', customFields: { [tier.key]: 'Gold' } }).expect(201);
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: `Fields only ${suffix}`, audience: 'staff', rules: [{ action: ['read', 'update'], subject: 'CustomField' }, { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } }] })
        .expect(201);
      const keeper = await createUserWithRoles(t, admin, [role.body.id], `fields${suffix}`);
      const withheld = await t.http.patch(`/api/v1/custom-fields/${tier.id}`).set(keeper.auth).send({ options: ['Silver'] }).expect(409);
      expect(withheld.body.details).toEqual([{ field: 'options', message: '"Gold" is the value of contacts' }]);
      const told = await t.http.patch(`/api/v1/custom-fields/${tier.id}`).set(admin.auth).send({ options: ['Silver'] }).expect(409);
      expect(told.body.details).toEqual([{ field: 'options', message: '"Gold" is the value of 1 contact' }]);
    });

    it("follows the conditions of a role's rules on custom fields, hiding the others", async () => {
      const suffix = Date.now().toString(36);
      const open = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `open${suffix}`, label: 'Open', type: 'text' }).expect(201)).body;
      const secret = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `secret${suffix}`, label: 'Secret', type: 'text', internal: true }).expect(201)).body;
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: `One field ${suffix}`, audience: 'staff', rules: [{ action: ['read', 'create', 'update', 'delete'], subject: 'CustomField', conditions: { key: open.key } }] })
        .expect(201);
      const keeper = await createUserWithRoles(t, admin, [role.body.id], `keeper${suffix}`);
      const listed = (await t.http.get('/api/v1/custom-fields').query({ includeDeleted: true }).set(keeper.auth).expect(200)).body;
      expect(listed.map((field: { key: string }) => field.key)).toEqual([open.key]);
      // The hidden field answers as a missing one, on every route.
      for (const request of [
        t.http.get(`/api/v1/custom-fields/${secret.id}`),
        t.http.patch(`/api/v1/custom-fields/${secret.id}`).send({ label: 'Renamed' }),
        t.http.delete(`/api/v1/custom-fields/${secret.id}`),
        t.http.post(`/api/v1/custom-fields/${secret.id}/restore`),
        t.http.delete(`/api/v1/custom-fields/${secret.id}/purge`),
      ]) {
        expect((await request.set(keeper.auth).expect(404)).body.code).toBe('not_found');
      }
      expect((await t.http.get(`/api/v1/custom-fields/${randomUUID()}`).set(keeper.auth).expect(404)).body.code).toBe('not_found');
      const refused = await t.http.post('/api/v1/custom-fields').set(keeper.auth).send({ key: `other${suffix}`, label: 'Other', type: 'text' }).expect(403);
      expect(refused.body.details).toEqual([{ field: 'key', message: 'is not a key your role may define' }]);
      expect((await t.http.get(`/api/v1/custom-fields/${secret.id}`).set(admin.auth).expect(200)).body).toMatchObject({ label: 'Secret', deletedAt: null });
      await t.http.patch(`/api/v1/custom-fields/${open.id}`).set(keeper.auth).send({ label: 'Open, renamed' }).expect(200);
    });

    it('refuses to remove options contacts hold unless told to clear those values, keeping the other values of a multi-select', async () => {
      const suffix = Date.now().toString(36);
      const plan = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `plan${suffix}`, label: 'Plan', type: 'select', options: ['Basic', 'Pro', 'Legacy'] }).expect(201)).body;
      const perks = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `perks${suffix}`, label: 'Perks', type: 'multi_select', options: ['Wifi', 'Desk', 'Old'] }).expect(201)).body;
      const values = (planValue: string, perkValues: string[]) => ({ [plan.key]: planValue, [perks.key]: perkValues });
      const onLegacy = (await create(staff, { firstName: 'Legacy', customFields: values('Legacy', ['Old', 'Wifi']) }).expect(201)).body;
      const onlyOld = (await create(staff, { firstName: 'Only old', customFields: values('Legacy', ['Old']) }).expect(201)).body;
      const untouched = (await create(staff, { firstName: 'Untouched', customFields: values('Pro', ['Desk']) }).expect(201)).body;
      // A trashed contact's values count and are cleared too: it may be restored.
      await t.http.delete(`/api/v1/contacts/${onlyOld.id}`).set(staff.auth).expect(204);
      const stored = async (id: string) => (await t.db.query('SELECT custom_fields, version FROM contacts WHERE id = $1', [id]))[0];

      const refused = await t.http.patch(`/api/v1/custom-fields/${plan.id}`).set(admin.auth).send({ options: ['Basic', 'Pro', 'Enterprise'] }).expect(409);
      expect(refused.body).toMatchObject({ code: 'options_in_use', details: [{ field: 'options', message: '"Legacy" is the value of 2 contacts' }] });
      const refusedMulti = await t.http.patch(`/api/v1/custom-fields/${perks.id}`).set(admin.auth).send({ options: ['Desk'] }).expect(409);
      expect(refusedMulti.body.details).toEqual([
        { field: 'options', message: '"Old" is the value of 2 contacts' },
        { field: 'options', message: '"Wifi" is the value of 1 contact' },
      ]);
      expect((await t.http.get(`/api/v1/custom-fields/${plan.id}`).set(admin.auth).expect(200)).body.options).toEqual(['Basic', 'Pro', 'Legacy']);
      expect((await stored(onLegacy.id)).custom_fields).toEqual(values('Legacy', ['Old', 'Wifi']));
      // An option nobody holds goes without asking.
      await t.http.patch(`/api/v1/custom-fields/${plan.id}`).set(admin.auth).send({ options: ['Pro', 'Legacy'] }).expect(200);

      await t.http.patch(`/api/v1/custom-fields/${plan.id}`).set(admin.auth).send({ options: ['Pro'], dropRemovedValues: true }).expect(200);
      await t.http.patch(`/api/v1/custom-fields/${perks.id}`).set(admin.auth).send({ options: ['Wifi', 'Desk'], dropRemovedValues: true }).expect(200);
      // Changed by each edit: a new version each time.
      expect(await stored(onLegacy.id)).toEqual({ custom_fields: { [perks.key]: ['Wifi'] }, version: onLegacy.version + 2 });
      expect(await stored(onlyOld.id)).toMatchObject({ custom_fields: {} });
      expect(await stored(untouched.id)).toEqual({ custom_fields: values('Pro', ['Desk']), version: untouched.version });
      // The contact takes writes again, and filters see the cleared values gone.
      await t.http.patch(`/api/v1/contacts/${onLegacy.id}`).set(staff.auth).send({ version: onLegacy.version + 2, jobTitle: 'Still here' }).expect(200);
      const wifi = (await list(staff, { filter: JSON.stringify({ field: `custom.${perks.key}`, op: 'hasAny', value: ['Wifi', 'Old'] }) }).expect(200)).body;
      expect(wifi.data.map((c: { id: string }) => c.id)).toEqual([onLegacy.id]);
      // Compared ignoring case, as other text filters are.
      const shouted = (await list(staff, { filter: JSON.stringify({ field: `custom.${perks.key}`, op: 'hasAll', value: ['WIFI'] }) }).expect(200)).body;
      expect(shouted.data.map((c: { id: string }) => c.id)).toEqual([onLegacy.id]);
      const none = (await list(staff, { q: 'Legacy', filter: JSON.stringify({ field: `custom.${perks.key}`, op: 'hasNone', value: ['wifi'] }) }).expect(200)).body;
      expect(none.data.map((c: { id: string }) => c.id)).not.toContain(onLegacy.id);
      const audit = await t.db.query(`SELECT after FROM audit_logs WHERE subject_id = $1 AND action = 'custom-field.update' ORDER BY created_at DESC LIMIT 1`, [perks.id]);
      expect(audit[0].after).toMatchObject({ options: ['Wifi', 'Desk'], contactsCleared: 2 });
    });
  });

  describe('custom fields changed while a write is under way', () => {
    /**
     * The test holds the field: `change` waits for it, then the edit, checked against the field as
     * it still is, waits too. Let go, the change commits first; the edit's answer.
     */
    const editBehindChange = async (fieldId: string, change: () => PromiseLike<unknown>, contactId: string, body: Record<string, unknown>) => {
      const [, answer] = await behindHeldRow(
        t.db,
        { sql: 'SELECT id FROM custom_fields WHERE id = $1 FOR UPDATE', params: [fieldId] },
        change,
        () => t.http.patch(`/api/v1/contacts/${contactId}`).set(staff.auth).send(body),
      );
      return answer;
    };
    const storedCustom = async (contactId: string) => (await t.db.query('SELECT custom_fields FROM contacts WHERE id = $1', [contactId]))[0].custom_fields;

    it('refuses a value whose field was removed before the edit held it, storing nothing', async () => {
      const key = `race${Date.now().toString(36)}`;
      const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Race ${key}`, type: 'text' }).expect(201)).body;
      const contact = (await create(staff, { firstName: 'Racing' }).expect(201)).body;
      const answer = await editBehindChange(field.id, () => t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204), contact.id, {
        version: contact.version,
        customFields: { [key]: 'late' },
      });
      expect(answer.status).toBe(409);
      expect(answer.body.code).toBe('custom_field_removed');
      expect(await storedCustom(contact.id)).toEqual({});
    });

    it('refuses values checked against a field that was removed, purged and defined again with another type since', async () => {
      const fields = t.app.get(CustomFieldsService);
      const key = `retyped${Date.now().toString(36)}`;
      const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Retyped ${key}`, type: 'text' }).expect(201)).body;
      // What an edit checks its values against, read before its transaction.
      const checkedAgainst = await fields.all();
      await t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
      await t.http.delete(`/api/v1/custom-fields/${field.id}/purge`).set(admin.auth).expect(204);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Retyped ${key}`, type: 'number' }).expect(201);
      const refused = await t.db
        .transaction((manager) => fields.hold(manager, [key], { [key]: 'abc' }, checkedAgainst))
        .then(
          () => undefined,
          (error: ConflictException) => error.getResponse(),
        );
      expect(refused).toMatchObject({ code: 'custom_field_removed', details: [{ field: `customFields.${key}` }] });
      // The field as now defined filters and sorts as ever.
      await list(staff, { filter: JSON.stringify({ field: `custom.${key}`, op: 'gt', value: 1 }), sort: `custom.${key}` }).expect(200);
    });

    it('refuses a choice whose option was removed before the edit held the field, storing nothing', async () => {
      const key = `choice${Date.now().toString(36)}`;
      const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Choice ${key}`, type: 'select', options: ['Kept', 'Dropped'] }).expect(201)).body;
      const contact = (await create(staff, { firstName: 'Choosing' }).expect(201)).body;
      // No contact holds the option yet, so it goes without dropRemovedValues.
      const answer = await editBehindChange(field.id, () => t.http.patch(`/api/v1/custom-fields/${field.id}`).set(admin.auth).send({ options: ['Kept'] }).expect(200), contact.id, {
        version: contact.version,
        customFields: { [key]: 'Dropped' },
      });
      expect(answer.status).toBe(409);
      expect(answer.body).toMatchObject({ code: 'custom_field_options_changed', details: [{ field: `customFields.${key}`, message: 'must now be one of Kept' }] });
      expect(await storedCustom(contact.id)).toEqual({});
    });
  });

  describe('clients', () => {
    it('are refused by the back office', async () => {
      const refused = await list(client).expect(403);
      expect(refused.body.code).toBe('wrong_audience');
      await t.http.get(`/api/v1/contacts/${client.contactId}`).set(client.auth).expect(403);
    });
  });
});
