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
  sessions: Record<Exclude<Actor, 'anonymous'>, Session>;
  clientRoleId: string;
  adminRoleId: string;
  staffRoleId: string;
  loginEmail: string;
}

interface MatrixRow {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** As in the OpenAPI document; `{id}`-style parameters are filled by `params`. */
  path: string;
  feature?: 'users';
  params?: (f: Fixture) => Record<string, string>;
  body?: (f: Fixture) => unknown;
  query?: Record<string, string>;
  expect: Record<Actor, number>;
}

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
];

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
      sessions: { admin, client, otherClient, staff, restricted },
      clientRoleId: await systemRoleId(t, 'client'),
      adminRoleId: await systemRoleId(t, 'admin'),
      staffRoleId,
      loginEmail: loginUser.email,
    };
  });
  afterAll(() => t.close());

  async function call(row: MatrixRow, actor: Actor) {
    let path = row.path;
    for (const [name, value] of Object.entries(row.params?.(fixture) ?? {})) path = path.replace(`{${name}}`, value);
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

  describe('with the users module off', () => {
    beforeAll(() => setFeature('users', false));
    afterAll(() => setFeature('users', true));

    for (const row of MATRIX) {
      for (const actor of ACTORS) {
        const expected = row.feature === 'users' ? 404 : row.expect[actor];
        it(`${row.method.toUpperCase()} ${row.path} as ${actor} → ${expected}`, async () => {
          const response = await call(row, actor);
          expect(response.status).toBe(expected);
          if (row.feature === 'users') expect(response.body).toMatchObject({ statusCode: 404, code: 'feature_disabled', feature: 'users' });
        });
      }
    }
  });
});
