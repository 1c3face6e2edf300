import { randomUUID } from 'node:crypto';
import { createUserWithRoles, newPerson, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * The authorization matrix: every route of the API against every kind of caller, with
 * the route's module on and off. A route served in /docs-json without a row here fails
 * the suite, so a new route cannot ship without its permissions being stated.
 */

type Actor = 'anonymous' | 'client' | 'otherClient' | 'staff' | 'restricted' | 'admin';
const ACTORS: Actor[] = ['anonymous', 'client', 'otherClient', 'staff', 'restricted', 'admin'];

interface Fixture {
  t: TestApp;
  sessions: Record<Exclude<Actor, 'anonymous'>, Session>;
  clientRoleId: string;
  adminRoleId: string;
  staffRoleId: string;
  loginEmail: string;
  contactId: string;
  activityId: string;
  customFieldId: string;
  lookupIds: Record<LookupPath, string>;
}

type LookupPath = 'contact-statuses' | 'tags' | 'services' | 'traffic-sources';
type FeatureKey = 'users' | 'contacts';

interface MatrixRow {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** As in the OpenAPI document; `{id}`-style parameters are filled by `params`. */
  path: string;
  feature?: FeatureKey;
  /** Path parameters; may create a fresh record per call, so state-changing rows repeat cleanly. */
  params?: (f: Fixture) => Record<string, string> | Promise<Record<string, string>>;
  body?: (f: Fixture) => unknown;
  query?: Record<string, string>;
  expect: Record<Actor, number>;
}

let sequence = 0;
const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${(sequence += 1)}`;

/** Records made through the API as admin, one per call, for rows that change or remove them. */
const fresh = {
  contact: async (f: Fixture, extra: Record<string, unknown> = {}) =>
    (await f.t.http.post('/api/v1/contacts').set(f.sessions.admin.auth).send({ firstName: 'Matrix', lastName: unique('c'), ...extra }).expect(201)).body.id as string,
  trashedContact: async (f: Fixture) => {
    const id = await fresh.contact(f);
    await f.t.http.delete(`/api/v1/contacts/${id}`).set(f.sessions.admin.auth).expect(204);
    return id;
  },
  activity: async (f: Fixture) =>
    (await f.t.http.post(`/api/v1/contacts/${f.contactId}/activities`).set(f.sessions.admin.auth).send({ type: 'note', subject: 'matrix' }).expect(201)).body.id as string,
  customField: async (f: Fixture, removed = false) => {
    const id = (await f.t.http.post('/api/v1/custom-fields').set(f.sessions.admin.auth).send({ key: unique('m'), label: 'Matrix', type: 'text' }).expect(201)).body.id as string;
    if (removed) await f.t.http.delete(`/api/v1/custom-fields/${id}`).set(f.sessions.admin.auth).expect(204);
    return id;
  },
  lookup: async (f: Fixture, path: LookupPath) =>
    (await f.t.http.post(`/api/v1/${path}`).set(f.sessions.admin.auth).send(lookupBody(path)).expect(201)).body.id as string,
};

const lookupBody = (path: LookupPath) => (path === 'contact-statuses' ? { name: unique('Status '), stage: 'other' } : { name: unique('Item ') });
const backOffice = (status: number, staffStatus = status): Record<Actor, number> => ({ anonymous: 401, client: 403, otherClient: 403, staff: staffStatus, restricted: 403, admin: status });

const all = (status: number): Record<Actor, number> => Object.fromEntries(ACTORS.map((a) => [a, status])) as Record<Actor, number>;
const signedIn = (status: number): Record<Actor, number> => ({ ...all(status), anonymous: 401 });
const adminOnly = (status: number): Record<Actor, number> => ({ anonymous: 401, client: 403, otherClient: 403, staff: 403, restricted: 403, admin: status });

const MATRIX: MatrixRow[] = [
  // Public routes: the same answer for everyone.
  { method: 'get', path: '/health', expect: all(200) },
  { method: 'get', path: '/health/ready', expect: all(200) },
  { method: 'post', path: '/api/v1/auth/register', body: () => newPerson('matrix'), expect: all(201) },
  { method: 'post', path: '/api/v1/auth/login', body: (f) => ({ email: f.loginEmail, password: 'a-long-enough-password' }), expect: all(200) },
  { method: 'post', path: '/api/v1/auth/refresh', body: () => ({ refreshToken: 'not-a-real-refresh-token' }), expect: all(401) },
  { method: 'post', path: '/api/v1/auth/logout', body: () => ({ refreshToken: 'not-a-real-refresh-token' }), expect: all(204) },
  { method: 'post', path: '/api/v1/auth/forgot-password', body: () => ({ email: 'nobody@example.com' }), expect: all(202) },
  { method: 'post', path: '/api/v1/auth/reset-password', body: () => ({ token: 'not-a-real-reset-token', password: 'another-long-password' }), expect: all(400) },

  // Any signed-in account.
  { method: 'get', path: '/api/v1/auth/me', expect: signedIn(200) },
  { method: 'post', path: '/api/v1/auth/change-password', body: () => ({ currentPassword: 'wrong-password', password: 'another-long-password' }), expect: signedIn(400) },
  { method: 'get', path: '/api/v1/features', expect: signedIn(200) },

  // Admin only.
  { method: 'patch', path: '/api/v1/features/{key}', params: () => ({ key: 'visitors' }), body: () => ({ enabled: false }), expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/mail/outbox', expect: adminOnly(200) },

  // Users module. Staff read users (to pick assignees); the restricted role reads only itself.
  { method: 'get', path: '/api/v1/users', feature: 'users', expect: { anonymous: 401, client: 403, otherClient: 403, staff: 200, restricted: 200, admin: 200 } },
  {
    method: 'get',
    path: '/api/v1/users/{id}',
    feature: 'users',
    params: (f) => ({ id: f.sessions.client.userId }),
    expect: { anonymous: 401, client: 403, otherClient: 403, staff: 200, restricted: 404, admin: 200 },
  },
  // An unknown role id: admin gets past authorization to the business rule (422).
  { method: 'post', path: '/api/v1/users', feature: 'users', body: () => ({ ...newPerson('nouser'), password: undefined, phone: undefined, roleIds: [randomUUID()], sendInvite: false }), expect: adminOnly(422) },
  { method: 'patch', path: '/api/v1/users/{id}', feature: 'users', params: (f) => ({ id: f.sessions.client.userId }), body: () => ({ lastName: 'Renamed' }), expect: adminOnly(200) },
  { method: 'put', path: '/api/v1/users/{id}/roles', feature: 'users', params: (f) => ({ id: f.sessions.client.userId }), body: (f) => ({ roleIds: [f.clientRoleId] }), expect: adminOnly(200) },
  // Deleting the only admin is refused after authorization (409).
  { method: 'delete', path: '/api/v1/users/{id}', feature: 'users', params: (f) => ({ id: f.sessions.admin.userId }), expect: adminOnly(409) },
  { method: 'post', path: '/api/v1/users/{id}/password-reset', feature: 'users', params: (f) => ({ id: f.sessions.otherClient.userId }), body: () => ({ mode: 'send' }), expect: adminOnly(202) },
  { method: 'get', path: '/api/v1/roles', feature: 'users', expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/roles/subjects', feature: 'users', expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/roles/{id}', feature: 'users', params: (f) => ({ id: f.staffRoleId }), expect: adminOnly(200) },
  // Rules naming an unknown subject: admin reaches rule validation (400).
  { method: 'post', path: '/api/v1/roles', feature: 'users', body: () => ({ name: `Matrix ${randomUUID()}`, rules: [{ action: 'read', subject: 'Nothing' }] }), expect: adminOnly(400) },
  { method: 'patch', path: '/api/v1/roles/{id}', feature: 'users', params: (f) => ({ id: f.clientRoleId }), body: () => ({ description: 'Customers with portal access.' }), expect: adminOnly(200) },
  { method: 'delete', path: '/api/v1/roles/{id}', feature: 'users', params: (f) => ({ id: f.adminRoleId }), expect: adminOnly(422) },

  // Contacts: the back office. Clients use the portal; the restricted role has no contact rights.
  { method: 'get', path: '/api/v1/contacts', feature: 'contacts', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts', feature: 'contacts', body: () => ({ firstName: 'Matrix' }), expect: backOffice(201) },
  { method: 'post', path: '/api/v1/contacts/search', feature: 'contacts', body: () => ({ q: 'matrix' }), expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contacts/trash', feature: 'contacts', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/bulk', feature: 'contacts', body: (f) => ({ selection: { ids: [f.contactId] }, action: 'unassign' }), expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contacts/{id}', feature: 'contacts', params: (f) => ({ id: f.contactId }), expect: backOffice(200) },
  { method: 'patch', path: '/api/v1/contacts/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.contact(f) }), body: () => ({ version: 1, city: 'Matrixville' }), expect: backOffice(200) },
  { method: 'delete', path: '/api/v1/contacts/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.contact(f) }), expect: backOffice(204) },
  { method: 'post', path: '/api/v1/contacts/{id}/restore', feature: 'contacts', params: async (f) => ({ id: await fresh.trashedContact(f) }), expect: backOffice(200) },
  { method: 'delete', path: '/api/v1/contacts/{id}/purge', feature: 'contacts', params: async (f) => ({ id: await fresh.trashedContact(f) }), expect: backOffice(204, 403) },
  {
    method: 'post',
    path: '/api/v1/contacts/{id}/account',
    feature: 'contacts',
    params: async (f) => ({ id: await fresh.contact(f, { email: `${unique('acct')}@example.com` }) }),
    body: () => ({ accountType: 'client', sendInvite: false }),
    expect: backOffice(201),
  },
  { method: 'get', path: '/api/v1/contacts/{contactId}/activities', feature: 'contacts', params: (f) => ({ contactId: f.contactId }), expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/{contactId}/activities', feature: 'contacts', params: (f) => ({ contactId: f.contactId }), body: () => ({ type: 'call', subject: 'Matrix call' }), expect: backOffice(201) },
  { method: 'get', path: '/api/v1/activities/{id}', feature: 'contacts', params: (f) => ({ id: f.activityId }), expect: backOffice(200) },
  // Someone else's activity: only its author or an admin edits or deletes it.
  { method: 'patch', path: '/api/v1/activities/{id}', feature: 'contacts', params: (f) => ({ id: f.activityId }), body: () => ({ subject: 'Edited' }), expect: backOffice(200, 403) },
  { method: 'delete', path: '/api/v1/activities/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.activity(f) }), expect: backOffice(204, 403) },
  // Custom field definitions: staff read them, admins manage them.
  { method: 'get', path: '/api/v1/custom-fields', feature: 'contacts', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/custom-fields', feature: 'contacts', body: () => ({ key: unique('k'), label: 'Matrix', type: 'text' }), expect: backOffice(201, 403) },
  { method: 'get', path: '/api/v1/custom-fields/{id}', feature: 'contacts', params: (f) => ({ id: f.customFieldId }), expect: backOffice(200) },
  { method: 'patch', path: '/api/v1/custom-fields/{id}', feature: 'contacts', params: (f) => ({ id: f.customFieldId }), body: () => ({ label: 'Renamed' }), expect: backOffice(200, 403) },
  { method: 'delete', path: '/api/v1/custom-fields/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.customField(f) }), expect: backOffice(204, 403) },
  { method: 'post', path: '/api/v1/custom-fields/{id}/restore', feature: 'contacts', params: async (f) => ({ id: await fresh.customField(f, true) }), expect: backOffice(200, 403) },
  { method: 'delete', path: '/api/v1/custom-fields/{id}/purge', feature: 'contacts', params: async (f) => ({ id: await fresh.customField(f, true) }), expect: backOffice(204, 403) },
  // Statuses, tags, services and traffic sources: staff read them, admins manage them.
  ...(['contact-statuses', 'tags', 'services', 'traffic-sources'] as LookupPath[]).flatMap((path): MatrixRow[] => [
    { method: 'get', path: `/api/v1/${path}`, feature: 'contacts', expect: backOffice(200) },
    { method: 'post', path: `/api/v1/${path}`, feature: 'contacts', body: () => lookupBody(path), expect: backOffice(201, 403) },
    { method: 'get', path: `/api/v1/${path}/{id}`, feature: 'contacts', params: (f) => ({ id: f.lookupIds[path] }), expect: backOffice(200) },
    { method: 'patch', path: `/api/v1/${path}/{id}`, feature: 'contacts', params: (f) => ({ id: f.lookupIds[path] }), body: () => lookupBody(path), expect: backOffice(200, 403) },
    { method: 'delete', path: `/api/v1/${path}/{id}`, feature: 'contacts', params: async (f) => ({ id: await fresh.lookup(f, path) }), expect: backOffice(204, 403) },
  ]),
  { method: 'get', path: '/api/v1/tags/{id}/contacts', feature: 'contacts', params: (f) => ({ id: f.lookupIds.tags }), expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contact-statuses/{id}/contacts', feature: 'contacts', params: (f) => ({ id: f.lookupIds['contact-statuses'] }), expect: backOffice(200) },
];

/** Switching a feature off first switches off the features that need it. */
const DEPENDENTS: Record<FeatureKey, string[]> = { users: [], contacts: ['segments', 'dashboard', 'client-portal'] };

/** Documentation routes are served outside the API document itself. */
const UNDOCUMENTED = new Set(['get /docs-json', 'get /docs-yaml', 'get /docs']);

describe('authorization matrix', () => {
  let t: TestApp;
  let fixture: Fixture;

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await register(t, 'admin');
    const client = await register(t, 'client');
    const otherClient = await register(t, 'other');
    const staffRoleId = await systemRoleId(t, 'staff');
    const restrictedRole = await t.http
      .post('/api/v1/roles')
      .set(admin.auth)
      .send({ name: 'Self only', audience: 'staff', rules: [{ action: 'read', subject: 'User', conditions: { id: '${user.id}' } }] })
      .expect(201);
    const staff = await createUserWithRoles(t, admin, [staffRoleId], 'staff');
    const restricted = await createUserWithRoles(t, admin, [restrictedRole.body.id], 'restricted');
    const loginUser = await register(t, 'login');
    fixture = {
      t,
      sessions: { admin, client, otherClient, staff, restricted },
      clientRoleId: await systemRoleId(t, 'client'),
      adminRoleId: await systemRoleId(t, 'admin'),
      staffRoleId,
      loginEmail: loginUser.email,
      contactId: '',
      activityId: '',
      customFieldId: '',
      lookupIds: { 'contact-statuses': '', tags: '', services: '', 'traffic-sources': '' },
    };
    fixture.contactId = await fresh.contact(fixture);
    fixture.activityId = await fresh.activity(fixture);
    fixture.customFieldId = await fresh.customField(fixture);
    for (const path of Object.keys(fixture.lookupIds) as LookupPath[]) fixture.lookupIds[path] = await fresh.lookup(fixture, path);
  });
  afterAll(() => t.close());

  /** With the row's module off nothing can be created through it, so ids are placeholders then. */
  async function call(row: MatrixRow, actor: Actor, featureOff = false) {
    let path = row.path;
    const params = featureOff ? {} : ((await row.params?.(fixture)) ?? {});
    for (const [name, value] of Object.entries(params)) path = path.replace(`{${name}}`, value);
    path = path.replace(/\{[A-Za-z]+\}/g, '00000000-0000-4000-8000-000000000000');
    let req = t.http[row.method](path);
    if (actor !== 'anonymous') req = req.set(fixture.sessions[actor].auth);
    if (row.query) req = req.query(row.query);
    if (row.body) req = req.send(row.body(fixture) as object);
    return req;
  }

  async function setFeature(key: string, enabled: boolean) {
    await t.http.patch(`/api/v1/features/${key}`).set(fixture.sessions.admin.auth).send({ enabled }).expect(200);
  }

  it('has a row for every operation in the OpenAPI document', async () => {
    const document = (await t.http.get('/docs-json').expect(200)).body as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((method) => ['get', 'post', 'put', 'patch', 'delete'].includes(method))
        .map((method) => `${method} ${path}`),
    );
    const covered = new Set(MATRIX.map((row) => `${row.method} ${row.path}`));
    expect(documented.filter((operation) => !covered.has(operation) && !UNDOCUMENTED.has(operation))).toEqual([]);
    expect([...covered].filter((operation) => !documented.includes(operation))).toEqual([]);
  });

  describe('with every module on', () => {
    for (const row of MATRIX) {
      for (const actor of ACTORS) {
        it(`${row.method.toUpperCase()} ${row.path} as ${actor} → ${row.expect[actor]}`, async () => {
          const response = await call(row, actor);
          expect({ status: response.status, body: response.status >= 400 ? response.body : undefined }).toMatchObject({ status: row.expect[actor] });
        });
      }
    }
  });

  for (const feature of ['users', 'contacts'] as FeatureKey[]) {
    describe(`with the ${feature} module off`, () => {
      beforeAll(async () => {
        for (const key of [...DEPENDENTS[feature], feature]) await setFeature(key, false);
      });
      afterAll(async () => {
        for (const key of [feature, ...DEPENDENTS[feature]]) await setFeature(key, true);
      });

      for (const row of MATRIX) {
        for (const actor of ACTORS) {
          const expected = row.feature === feature ? 404 : row.expect[actor];
          it(`${row.method.toUpperCase()} ${row.path} as ${actor} → ${expected}`, async () => {
            const response = await call(row, actor, row.feature === feature);
            expect(response.status).toBe(expected);
            if (row.feature === feature) expect(response.body).toMatchObject({ statusCode: 404, code: 'feature_disabled', feature });
          });
        }
      }
    });
  }
});
