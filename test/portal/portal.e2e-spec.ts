import { randomUUID } from 'node:crypto';
import { PortalSectionsRegistry } from '../../src/modules/client-portal/portal-sections';
import { createUserWithRoles, login, newPerson, register, Session, sessionFrom, signUpTokenFor, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * The client portal end to end: a newcomer signs up and uses it, clients only ever see their
 * own data, the back office and the portal keep their audiences apart, and the module and its
 * dashboard sections follow the feature switches.
 */

const WELCOME = 'Hello from the test deployment: this text comes from PORTAL_WELCOME_TEXT.';
const NEW_PASSWORD = 'a-brand-new-password';
const HOUR = 3600_000;

/** A whole-second instant `hours` from now, as the API returns it. */
const hoursFromNow = (hours: number) => new Date(Math.floor((Date.now() + hours * HOUR) / 1000) * 1000).toISOString();

type Method = 'get' | 'post' | 'patch';
interface PortalRoute {
  method: Method;
  path: string;
  body?: object;
}

/** Every portal route, with bodies that change nothing for whoever gets through. */
const PORTAL_ROUTES: PortalRoute[] = [
  { method: 'get', path: '/api/v1/portal/dashboard' },
  { method: 'get', path: '/api/v1/portal/me' },
  { method: 'patch', path: '/api/v1/portal/me', body: { version: 1_000_000, city: 'Nowhere' } },
  { method: 'post', path: '/api/v1/portal/change-password', body: { currentPassword: 'wrong-password', password: NEW_PASSWORD } },
  { method: 'post', path: '/api/v1/portal/logout', body: { refreshToken: 'not-a-real-refresh-token' } },
  { method: 'get', path: '/api/v1/portal/timeline' },
];

interface Profile {
  id: string;
  firstName: string;
  lastName: string;
  email: string | null;
  phone: string | null;
  city: string | null;
  status: string | null;
  preferences: { language: string | null; preferredChannel: string | null; newsletter: boolean | null };
  customFields: Array<{ key: string; label: string; type: string; value: unknown }>;
  editableFields: string[];
  version: number;
}

describe('client portal', () => {
  let t: TestApp;
  let admin: Session;
  let staff: Session;
  let staffRoleId: string;
  let clientRoleId: string;

  beforeAll(async () => {
    t = await startTestApp({ PORTAL_WELCOME_TEXT: WELCOME });
    admin = await register(t, 'admin');
    staffRoleId = await systemRoleId(t, 'staff');
    clientRoleId = await systemRoleId(t, 'client');
    staff = await createUserWithRoles(t, admin, [staffRoleId], 'staff');
  });
  afterAll(() => t.close());

  const call = (route: PortalRoute, session?: Session) => {
    let request = t.http[route.method](route.path);
    if (session) request = request.set(session.auth);
    return route.body ? request.send(route.body) : request;
  };
  const profile = async (session: Session): Promise<Profile> => (await t.http.get('/api/v1/portal/me').set(session.auth).expect(200)).body as Profile;
  const dashboard = async (session: Session) => (await t.http.get('/api/v1/portal/dashboard').set(session.auth).expect(200)).body;
  const patchMe = (session: Session, body: object) => t.http.patch('/api/v1/portal/me').set(session.auth).send(body);
  const contactVersion = async (contactId: string) => (await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200)).body.version as number;
  const setFeature = (key: string, enabled: boolean) => t.http.patch(`/api/v1/features/${key}`).set(admin.auth).send({ enabled });
  const logActivity = async (contactId: string, body: Record<string, unknown>) =>
    (await t.http.post(`/api/v1/contacts/${contactId}/activities`).set(staff.auth).send(body).expect(201)).body.id as string;

  describe('a newcomer', () => {
    const person = newPerson('newcomer');
    let client: Session;

    it('registers as a client (the second registration) and signs in as one', async () => {
      await t.http.post('/api/v1/auth/register').send(person).expect(202);
      const registered = await t.http.post('/api/v1/auth/register/confirm').send({ token: await signUpTokenFor(t, person.email), password: person.password }).expect(201);
      expect(registered.body.user).toMatchObject({ email: person.email, accountType: 'client', roles: [expect.objectContaining({ systemKey: 'client' })] });

      const signedIn = await t.http.post('/api/v1/auth/login').send({ email: person.email, password: person.password }).expect(200);
      expect(signedIn.body.user.accountType).toBe('client');
      client = sessionFrom(signedIn.body);
      expect(client.contactId).toBe(registered.body.user.contactId);
    });

    it('sees the dashboard: the configured welcome, their name, nobody assigned yet, nothing open, no sections', async () => {
      expect(await dashboard(client)).toEqual({
        welcomeText: WELCOME,
        client: { firstName: person.firstName, lastName: person.lastName },
        assignee: null,
        openItems: [{ key: 'tasks', label: 'Upcoming tasks', count: 0 }],
        sections: [],
      });
    });

    it('sees their contact person once staff assign one, and counts only upcoming tasks shared with them', async () => {
      await t.http.patch(`/api/v1/users/${staff.userId}`).set(admin.auth).send({ phone: '+1 555 0199' }).expect(200);
      const staffUser = (await t.http.get(`/api/v1/users/${staff.userId}`).set(admin.auth).expect(200)).body;
      await t.http
        .patch(`/api/v1/contacts/${client.contactId}`)
        .set(staff.auth)
        .send({ version: await contactVersion(client.contactId), assignedToId: staff.userId })
        .expect(200);
      await logActivity(client.contactId, { type: 'task', subject: 'Send the signed form', occurredAt: hoursFromNow(48), visibleToClient: true });
      await logActivity(client.contactId, { type: 'task', subject: 'Internal follow-up', occurredAt: hoursFromNow(48) });
      await logActivity(client.contactId, { type: 'task', subject: 'Done already', occurredAt: hoursFromNow(-48), visibleToClient: true });
      await logActivity(client.contactId, { type: 'meeting', subject: 'Kick-off', occurredAt: hoursFromNow(24), visibleToClient: true });

      const body = await dashboard(client);
      expect(body.assignee).toEqual({ firstName: staffUser.firstName, lastName: staffUser.lastName, email: staff.email, phone: '+1 555 0199' });
      expect(body.openItems).toEqual([{ key: 'tasks', label: 'Upcoming tasks', count: 1 }]);
    });

    it('no longer shows a contact person whose account was deactivated', async () => {
      const leaving = await createUserWithRoles(t, admin, [staffRoleId], 'leaving');
      await t.http
        .patch(`/api/v1/contacts/${client.contactId}`)
        .set(admin.auth)
        .send({ version: await contactVersion(client.contactId), assignedToId: leaving.userId })
        .expect(200);
      expect((await dashboard(client)).assignee).toMatchObject({ email: leaving.email });
      await t.http.patch(`/api/v1/users/${leaving.userId}`).set(admin.auth).send({ isActive: false }).expect(200);
      expect((await dashboard(client)).assignee).toBeNull();
      await t.http
        .patch(`/api/v1/contacts/${client.contactId}`)
        .set(admin.auth)
        .send({ version: await contactVersion(client.contactId), assignedToId: staff.userId })
        .expect(200);
    });

    it('sees their details with the status name, and custom fields except internal ones', async () => {
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'favourite_colour', label: 'Favourite colour', type: 'text' }).expect(201);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'risk_score', label: 'Risk score', type: 'number', internal: true }).expect(201);
      await t.http
        .patch(`/api/v1/contacts/${client.contactId}`)
        .set(admin.auth)
        .send({ version: await contactVersion(client.contactId), customFields: { favourite_colour: 'green', risk_score: 7 } })
        .expect(200);

      const response = await t.http.get('/api/v1/portal/me').set(client.auth).expect(200);
      expect(response.body).toMatchObject({
        id: client.contactId,
        firstName: person.firstName,
        lastName: person.lastName,
        email: person.email,
        phone: person.phone,
        status: 'Lead',
        preferences: { language: null, preferredChannel: null, newsletter: null },
        customFields: [{ key: 'favourite_colour', label: 'Favourite colour', type: 'text', options: [], required: false, value: 'green' }],
        editableFields: ['firstName', 'lastName', 'phone', 'addressLine1', 'addressLine2', 'city', 'region', 'postalCode', 'country', 'preferences'],
        version: await contactVersion(client.contactId),
      });
      expect(response.text).not.toContain('risk_score');
      // A field without a value shows null, and numbers stay numbers.
      const extra = [
        (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'shoe_size', label: 'Shoe size', type: 'number' }).expect(201)).body,
        (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'nickname', label: 'Nickname', type: 'text' }).expect(201)).body,
      ];
      try {
        await t.http.patch(`/api/v1/contacts/${client.contactId}`).set(admin.auth).send({ version: await contactVersion(client.contactId), customFields: { shoe_size: 42 } }).expect(200);
        const values = Object.fromEntries(
          ((await t.http.get('/api/v1/portal/me').set(client.auth).expect(200)).body.customFields as Array<{ key: string; value: unknown }>).map((field) => [field.key, field.value]),
        );
        expect(values).toMatchObject({ shoe_size: 42, nickname: null, favourite_colour: 'green' });
      } finally {
        for (const field of extra) {
          await t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
          await t.http.delete(`/api/v1/custom-fields/${field.id}/purge`).set(admin.auth).expect(204);
        }
      }
      expect(response.text).not.toContain('Risk score');
    });

    it('edits the phone: the version moves on, staff see it, and an audit row records who changed what', async () => {
      const before = await profile(client);
      const response = await patchMe(client, { version: before.version, phone: '+44 20 7946 0000' }).expect(200);
      expect(response.body).toMatchObject({ phone: '+44 20 7946 0000', version: before.version + 1 });

      const seenByStaff = await t.http.get(`/api/v1/contacts/${client.contactId}`).set(staff.auth).expect(200);
      expect(seenByStaff.body).toMatchObject({ phone: '+44 20 7946 0000', version: before.version + 1 });
      const audit: Array<{ actor_id: string; before: unknown; after: unknown }> = await t.db.query(
        `SELECT actor_id, before, after FROM audit_logs WHERE action = 'contact.update' AND subject_id = $1 AND actor_id = $2`,
        [client.contactId, client.userId],
      );
      expect(audit).toEqual([{ actor_id: client.userId, before: { phone: person.phone }, after: { phone: '+44 20 7946 0000' } }]);
    });

    it('renames themselves, and their account follows at once', async () => {
      const before = await profile(client);
      await patchMe(client, { version: before.version, firstName: 'Renamed', lastName: 'Newcomer' }).expect(200);
      const me = await t.http.get('/api/v1/auth/me').set(client.auth).expect(200);
      expect(me.body).toMatchObject({ firstName: 'Renamed', lastName: 'Newcomer' });
      const [user] = await t.db.query('SELECT first_name, last_name FROM users WHERE id = $1', [client.userId]);
      expect(user).toEqual({ first_name: 'Renamed', last_name: 'Newcomer' });
    });

    it('sets preferences: only the sent keys change, null clears one', async () => {
      let current = await profile(client);
      current = (await patchMe(client, { version: current.version, preferences: { language: 'pt-BR', preferredChannel: 'sms', newsletter: true } }).expect(200)).body;
      expect(current.preferences).toEqual({ language: 'pt-BR', preferredChannel: 'sms', newsletter: true });

      current = (await patchMe(client, { version: current.version, preferences: { newsletter: null } }).expect(200)).body;
      expect(current.preferences).toEqual({ language: 'pt-BR', preferredChannel: 'sms', newsletter: null });
      const [row] = await t.db.query('SELECT preferences FROM contacts WHERE id = $1', [client.contactId]);
      expect(row.preferences).toEqual({ language: 'pt-BR', preferredChannel: 'sms' });

      // The same values again are no change: the version stays.
      const again = await patchMe(client, { version: current.version, preferences: { language: 'pt-BR' } }).expect(200);
      expect(again.body.version).toBe(current.version);
    });

    it.each([
      ['an unknown key', { colour: 'blue' }, 'preferences.colour'],
      ['a language that is not a BCP 47 tag', { language: 'not a language' }, 'preferences.language'],
      ['a language tag over 20 characters', { language: 'en-GB-oxendict-x-abcdefgh' }, 'preferences.language'],
      ['an unknown channel', { preferredChannel: 'fax' }, 'preferences.preferredChannel'],
      ['newsletter that is not a boolean', { newsletter: 'yes' }, 'preferences.newsletter'],
      ['a string instead of an object', 'en-GB', 'preferences'],
      ['null instead of an object', null, 'preferences'],
    ])('refuses preferences with %s (400) and keeps the stored ones', async (_label, preferences, field) => {
      const before = await profile(client);
      const response = await patchMe(client, { version: before.version, preferences }).expect(400);
      expect(response.body.details.map((detail: { field: string }) => detail.field)).toContain(field);
      expect(await profile(client)).toEqual(before);
    });

    it('refuses a new email with 422 and says why; sending the current one changes nothing', async () => {
      const before = await profile(client);
      const refused = await patchMe(client, { version: before.version, email: 'somebody-else@example.com', phone: '+1 555 0111' }).expect(422);
      expect(refused.body).toMatchObject({ code: 'email_change_not_allowed', details: [{ field: 'email' }] });
      expect(refused.body.message).toMatch(/login.*verified/);
      expect(await profile(client)).toEqual(before);

      const same = await patchMe(client, { version: before.version, email: person.email.toUpperCase() }).expect(200);
      expect(same.body).toEqual(before);
      const [row] = await t.db.query('SELECT email FROM contacts WHERE id = $1', [client.contactId]);
      expect(row.email).toBe(person.email);
    });

    it.each([
      ['statusId', randomUUID()],
      ['tagIds', []],
      ['newTags', ['Vip']],
      ['assignedToId', null],
      ['serviceIds', []],
      ['trafficSourceId', null],
      ['company', 'Acme'],
      ['jobTitle', 'Boss'],
    ])('cannot send %s: it is not a portal field (400), and nothing changes', async (field, value) => {
      const before = await profile(client);
      const response = await patchMe(client, { version: before.version, [field]: value }).expect(400);
      expect(response.body.details).toEqual([{ field, message: 'is not an accepted field' }]);
      expect(await profile(client)).toEqual(before);
      const contact = await t.http.get(`/api/v1/contacts/${client.contactId}`).set(admin.auth).expect(200);
      expect(contact.body).toMatchObject({ status: { name: 'Lead' }, tags: [], assignedTo: { id: staff.userId }, company: null });
    });

    it('cannot edit an internal custom field (it does not exist for them), nor others while their rules do not allow it', async () => {
      const before = await profile(client);
      const internal = await patchMe(client, { version: before.version, customFields: { risk_score: 1 } }).expect(400);
      expect(internal.body.details).toEqual([{ field: 'customFields.risk_score', message: expect.any(String) }]);

      const visible = await patchMe(client, { version: before.version, customFields: { favourite_colour: 'blue' } }).expect(403);
      expect(visible.body).toMatchObject({ code: 'field_forbidden', details: [{ field: 'customFields' }] });

      const [row] = await t.db.query('SELECT custom_fields FROM contacts WHERE id = $1', [client.contactId]);
      expect(row.custom_fields).toEqual({ favourite_colour: 'green', risk_score: 7 });
      expect(await profile(client)).toEqual(before);
    });

    it('edits visible custom fields once an admin opens them to clients, but never internal ones', async () => {
      const rule = { action: 'update', subject: 'Contact', conditions: { id: '${user.contactId}' }, fields: ['customFields'] };
      const original = (await t.http.get(`/api/v1/roles/${clientRoleId}`).set(admin.auth).expect(200)).body.rules as object[];
      await t.http.patch(`/api/v1/roles/${clientRoleId}`).set(admin.auth).send({ rules: [...original, rule] }).expect(200);
      try {
        const before = await profile(client);
        expect(before.editableFields).toContain('customFields');
        const changed = await patchMe(client, { version: before.version, customFields: { favourite_colour: 'blue' } }).expect(200);
        expect(changed.body.customFields).toEqual([expect.objectContaining({ key: 'favourite_colour', value: 'blue' })]);
        await patchMe(client, { version: changed.body.version, customFields: { risk_score: 1 } }).expect(400);
        const [row] = await t.db.query('SELECT custom_fields FROM contacts WHERE id = $1', [client.contactId]);
        expect(row.custom_fields).toEqual({ favourite_colour: 'blue', risk_score: 7 });
      } finally {
        await t.http.patch(`/api/v1/roles/${clientRoleId}`).set(admin.auth).send({ rules: original }).expect(200);
      }
      expect((await profile(client)).editableFields).not.toContain('customFields');
    });

    it('is refused a change made from a stale version (409), which changes nothing', async () => {
      const before = await profile(client);
      const response = await patchMe(client, { version: before.version - 1, city: 'Lisbon' }).expect(409);
      expect(response.body).toMatchObject({ code: 'stale_version', details: [{ field: 'version' }] });
      expect(await profile(client)).toEqual(before);
    });

    it('changes the password: a wrong current one is refused, then every old session ends and the new password works', async () => {
      const wrong = await t.http.post('/api/v1/portal/change-password').set(client.auth).send({ currentPassword: 'wrong-password', password: NEW_PASSWORD }).expect(400);
      expect(wrong.body).toMatchObject({ code: 'wrong_current_password' });
      await t.http.get('/api/v1/portal/me').set(client.auth).expect(200);

      const other = await login(t, person.email, person.password);
      await t.http.post('/api/v1/portal/change-password').set(client.auth).send({ currentPassword: person.password, password: NEW_PASSWORD }).expect(204);

      await t.http.get('/api/v1/portal/me').set(client.auth).expect(401);
      await t.http.get('/api/v1/portal/me').set(other.auth).expect(401);
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: client.refreshToken }).expect(401);
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: other.refreshToken }).expect(401);
      await t.http.post('/api/v1/auth/login').send({ email: person.email, password: person.password }).expect(401);

      client = await login(t, person.email, NEW_PASSWORD);
      expect((await profile(client)).firstName).toBe('Renamed');
    });

    it('logs out: that refresh token is dead, another sign-in is not', async () => {
      const kept = await login(t, person.email, NEW_PASSWORD);
      await t.http.post('/api/v1/portal/logout').set(client.auth).send({ refreshToken: client.refreshToken }).expect(204);
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: client.refreshToken }).expect(401);
      await t.http.post('/api/v1/auth/refresh').send({ refreshToken: kept.refreshToken }).expect(200);
    });
  });

  describe('clients see only their own data', () => {
    let a: Session;
    let b: Session;
    const activities: Record<'aTask' | 'aNote' | 'aHidden' | 'bNote' | 'bTask', string> = { aTask: '', aNote: '', aHidden: '', bNote: '', bTask: '' };

    beforeAll(async () => {
      a = await register(t, 'clienta');
      b = await register(t, 'clientb');
      activities.aNote = await logActivity(a.contactId, { type: 'note', subject: 'Welcome aboard', body: 'Glad to have you.', occurredAt: hoursFromNow(-5), visibleToClient: true });
      activities.aTask = await logActivity(a.contactId, { type: 'task', subject: 'Upload your ID', occurredAt: hoursFromNow(72), visibleToClient: true });
      activities.aHidden = await logActivity(a.contactId, { type: 'call', subject: 'Internal: pricing discussion', occurredAt: hoursFromNow(-1) });
      activities.bNote = await logActivity(b.contactId, { type: 'note', subject: 'B only', occurredAt: hoursFromNow(-3), visibleToClient: true });
      activities.bTask = await logActivity(b.contactId, { type: 'task', subject: 'B task', occurredAt: hoursFromNow(10), visibleToClient: true });
    });

    it("A's timeline holds exactly what staff shared with A, newest first, with the author by name only", async () => {
      const response = await t.http.get('/api/v1/portal/timeline').set(a.auth).expect(200);
      expect(response.body.meta).toEqual({ page: 1, limit: 25, total: 2 });
      expect(response.body.data.map((item: { id: string }) => item.id)).toEqual([activities.aTask, activities.aNote]);
      const note = response.body.data[1];
      expect(Object.keys(note).sort()).toEqual(['author', 'body', 'id', 'occurredAt', 'subject', 'type']);
      expect(note).toMatchObject({ type: 'note', subject: 'Welcome aboard', body: 'Glad to have you.' });
      expect(Object.keys(note.author).sort()).toEqual(['firstName', 'lastName']);
      expect(response.text).not.toContain(staff.userId);
      expect(response.text).not.toContain(staff.email);
    });

    it('pages, filters by type and searches the timeline', async () => {
      const second = await t.http.get('/api/v1/portal/timeline').query({ limit: 1, page: 2 }).set(a.auth).expect(200);
      expect(second.body).toMatchObject({ data: [{ id: activities.aNote }], meta: { page: 2, limit: 1, total: 2 } });
      const oldestFirst = await t.http.get('/api/v1/portal/timeline').query({ sort: 'occurredAt' }).set(a.auth).expect(200);
      expect(oldestFirst.body.data.map((item: { id: string }) => item.id)).toEqual([activities.aNote, activities.aTask]);
      const tasks = await t.http.get('/api/v1/portal/timeline').query({ type: 'task' }).set(a.auth).expect(200);
      expect(tasks.body.data.map((item: { id: string }) => item.id)).toEqual([activities.aTask]);
      const found = await t.http.get('/api/v1/portal/timeline').query({ q: 'glad' }).set(a.auth).expect(200);
      expect(found.body.data.map((item: { id: string }) => item.id)).toEqual([activities.aNote]);
      // A search for B's or internal wording finds nothing.
      for (const q of ['B only', 'Internal']) {
        const none = await t.http.get('/api/v1/portal/timeline').query({ q }).set(a.auth).expect(200);
        expect(none.body).toMatchObject({ data: [], meta: { total: 0 } });
      }
      await t.http.get('/api/v1/portal/timeline').query({ sort: 'authorId' }).set(a.auth).expect(400);
    });

    it("nothing of B's appears in any of A's portal responses, and each sees their own counts", async () => {
      const bUser = (await t.http.get(`/api/v1/users/${b.userId}`).set(admin.auth).expect(200)).body;
      const texts = await Promise.all(
        ['/api/v1/portal/dashboard', '/api/v1/portal/me', '/api/v1/portal/timeline', '/api/v1/portal/timeline?limit=100&type=note'].map(
          async (path) => (await t.http.get(path).set(a.auth).expect(200)).text,
        ),
      );
      const before = await profile(a);
      texts.push((await patchMe(a, { version: before.version, city: 'Porto' }).expect(200)).text);
      for (const secret of [b.contactId, b.userId, b.email, bUser.lastName, activities.bNote, activities.bTask, 'B only', activities.aHidden, 'Internal: pricing']) {
        for (const text of texts) expect({ secret, leaked: text.includes(secret) }).toEqual({ secret, leaked: false });
      }
      expect((await dashboard(a)).openItems).toEqual([{ key: 'tasks', label: 'Upcoming tasks', count: 1 }]);
      expect((await dashboard(b)).openItems).toEqual([{ key: 'tasks', label: 'Upcoming tasks', count: 1 }]);
      expect((await profile(b)).city).toBeNull();
    });

    it('every back-office route answers a client with 403', async () => {
      const document = (await t.http.get('/docs-json').expect(200)).body as { paths: Record<string, Record<string, { security?: unknown[] }>> };
      // Open to any signed-in account: the caller's own session and the feature list.
      const forEveryone = /^\/api\/v1\/(auth\/|portal\/|features$)/;
      const tried: string[] = [];
      for (const [path, item] of Object.entries(document.paths)) {
        if (forEveryone.test(path)) continue;
        for (const [method, operation] of Object.entries(item)) {
          if (!operation.security?.length) continue;
          const url = path.replace(/\{[^}]+\}/g, b.contactId);
          let request = t.http[method as Method | 'put' | 'delete'](url).set(a.auth);
          if (['post', 'put', 'patch'].includes(method)) request = request.send({});
          const response = await request;
          expect({ operation: `${method.toUpperCase()} ${path}`, status: response.status }).toEqual({ operation: `${method.toUpperCase()} ${path}`, status: 403 });
          tried.push(`${method} ${path}`);
        }
      }
      expect(tried).toEqual(expect.arrayContaining(['get /api/v1/contacts', 'get /api/v1/contacts/{id}', 'get /api/v1/contacts/{contactId}/activities', 'get /api/v1/users']));
    });
  });

  describe('audiences', () => {
    let client: Session;
    beforeAll(async () => {
      client = await register(t, 'audience');
    });

    it.each(PORTAL_ROUTES.map((route) => [`${route.method.toUpperCase()} ${route.path}`, route] as const))(
      '%s: staff and admins are sent to the back office (403), anonymous callers must sign in (401)',
      async (_name, route) => {
        for (const session of [staff, admin]) {
          const response = await call(route, session).expect(403);
          expect(response.body).toMatchObject({ code: 'wrong_audience', message: expect.stringMatching(/client portal is for client accounts/) });
        }
        await call(route).expect(401);
        // The shared fixtures are still signed in: nothing above changed a session.
        await t.http.get('/api/v1/auth/me').set(staff.auth).expect(200);
        await t.http.get('/api/v1/auth/me').set(client.auth).expect(200);
      },
    );

    it('a client role without portal rights is refused (403): the portal is a permission of its own', async () => {
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({ name: 'Prospect without portal', audience: 'client', rules: [{ action: 'read', subject: 'Contact', conditions: { id: '${user.contactId}' } }] })
        .expect(201);
      const prospect = await createUserWithRoles(t, admin, [role.body.id], 'prospect');
      const me = await t.http.get('/api/v1/auth/me').set(prospect.auth).expect(200);
      expect(me.body.accountType).toBe('client');
      const refused = await t.http.get('/api/v1/portal/me').set(prospect.auth).expect(403);
      expect(refused.body).toMatchObject({ code: 'forbidden', message: 'You may not read Portal' });
      await t.http.get('/api/v1/portal/me').set(client.auth).expect(200);
    });
  });

  describe('a client role made by an admin', () => {
    it('may be given the preferences alone, as the system client role has them', async () => {
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({
          name: 'Preferences only',
          audience: 'client',
          rules: [
            { action: 'read', subject: 'Portal' },
            { action: 'read', subject: 'Contact', conditions: { id: '${user.contactId}' } },
            { action: 'update', subject: 'Contact', conditions: { id: '${user.contactId}' }, fields: ['preferences'] },
          ],
        })
        .expect(201);
      const member = await createUserWithRoles(t, admin, [role.body.id], 'prefsonly');
      const me = (await t.http.get('/api/v1/portal/me').set(member.auth).expect(200)).body;
      expect(me.editableFields).toEqual(['preferences']);
      const set = await t.http.patch('/api/v1/portal/me').set(member.auth).send({ version: me.version, preferences: { newsletter: true } }).expect(200);
      expect(set.body.preferences).toMatchObject({ newsletter: true });
      const refused = await t.http.patch('/api/v1/portal/me').set(member.auth).send({ version: set.body.version, firstName: 'Renamed' }).expect(403);
      expect(refused.body.code).toBe('field_forbidden');
    });
  });

  describe('feature switches', () => {
    let client: Session;
    beforeAll(async () => {
      client = await register(t, 'features');
    });

    it('with client-portal off every portal route is 404 naming the feature, for everyone, and leaves the document', async () => {
      await setFeature('client-portal', false).expect(200);
      try {
        for (const route of PORTAL_ROUTES) {
          for (const session of [client, staff, admin, undefined]) {
            const response = await call(route, session).expect(404);
            expect(response.body).toMatchObject({ statusCode: 404, code: 'feature_disabled', feature: 'client-portal' });
          }
        }
        const document = (await t.http.get('/docs-json').expect(200)).body as { paths: Record<string, unknown> };
        expect(Object.keys(document.paths).filter((path) => path.startsWith('/api/v1/portal'))).toEqual([]);
      } finally {
        await setFeature('client-portal', true).expect(200);
      }
      await t.http.get('/api/v1/portal/dashboard').set(client.auth).expect(200);
    });

    it('contacts cannot be switched off while the portal is on (409 naming it), and can once it is off', async () => {
      // Segments and the dashboard need contacts as well: off first, so only the portal stands in the way.
      await setFeature('segments', false).expect(200);
      await setFeature('dashboard', false).expect(200);
      try {
        const refused = await setFeature('contacts', false).expect(409);
        expect(refused.body).toMatchObject({ code: 'feature_needed_by_other', feature: 'client-portal' });
        await t.http.get('/api/v1/contacts').set(staff.auth).expect(200);

        await setFeature('client-portal', false).expect(200);
        await setFeature('contacts', false).expect(200);
        const enabling = await setFeature('client-portal', true).expect(409);
        expect(enabling.body).toMatchObject({ code: 'feature_dependency_off', feature: 'contacts' });
      } finally {
        await setFeature('contacts', true).expect(200);
        await setFeature('client-portal', true).expect(200);
        await setFeature('segments', true).expect(200);
        await setFeature('dashboard', true).expect(200);
      }
      await t.http.get('/api/v1/portal/me').set(client.auth).expect(200);
    });

    it('a section appears only while its feature is on and a module provides it', async () => {
      const registry = t.app.get(PortalSectionsRegistry);
      const loaded: Array<[string, string]> = [];
      const provider = (feature: 'invoicing' | 'visitors', key: string, title: string, openCount: number) => ({
        feature,
        key,
        load: async (contactId: string) => {
          loaded.push([key, contactId]);
          return { title, openCount, data: { contactId, items: [] } };
        },
      });
      const sectionKeys = async () => ((await dashboard(client)).sections as Array<{ key: string }>).map((section) => section.key);
      const removers: Array<() => void> = [];
      try {
        // On, but nothing provides it yet.
        await setFeature('invoicing', true).expect(200);
        expect(await sectionKeys()).toEqual([]);

        removers.push(registry.register(provider('visitors', 'visits', 'Your visits', 1)));
        removers.push(registry.register(provider('invoicing', 'invoices', 'Your invoices', 2)));
        const body = await dashboard(client);
        expect(body.sections).toEqual([{ key: 'invoices', feature: 'invoicing', title: 'Your invoices', openCount: 2, data: { contactId: client.contactId, items: [] } }]);
        expect(body.openItems).toEqual([
          { key: 'tasks', label: 'Upcoming tasks', count: 0 },
          { key: 'invoices', label: 'Your invoices', count: 2 },
        ]);
        // Only the section that is on was asked, and for this client only.
        expect(loaded).toEqual([['invoices', client.contactId]]);

        await setFeature('visitors', true).expect(200);
        expect(await sectionKeys()).toEqual(['invoices', 'visits']);
        await setFeature('invoicing', false).expect(200);
        expect(await sectionKeys()).toEqual(['visits']);

        removers.pop()!();
        removers.pop()!();
        expect(await sectionKeys()).toEqual([]);
      } finally {
        for (const remove of removers) remove();
        await setFeature('invoicing', false).expect(200);
        await setFeature('visitors', false).expect(200);
      }
    });
  });
});
