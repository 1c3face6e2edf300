import { FEATURE_CATALOG, FEATURE_KEYS } from '../../src/core/features/feature-catalog';
import { createUserWithRoles, register, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { Actor, ACTORS, Fixture, MatrixRow } from './matrix-support';
import { MATRIX } from './rows';

/**
 * The authorization matrix: every route of the API against every kind of caller, with
 * the route's module on and off. A route served in /docs-json without a row fails the
 * suite, so a new route cannot ship without its permissions being stated.
 */

/** Every feature that needs `key`, directly or through another, deepest first. */
function dependentsOf(key: string): string[] {
  const direct = FEATURE_KEYS.filter((other) => (FEATURE_CATALOG[other].requires as string[]).includes(key));
  return [...new Set(direct.flatMap((other) => [...dependentsOf(other), other]))];
}

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
      shared: new Map(),
    };
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
    if (row.body) req = req.send((await row.body(fixture)) as object);
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

  const features = [...new Set(MATRIX.map((row) => row.feature).filter((key): key is string => Boolean(key)))];
  for (const feature of features) {
    describe(`with the ${feature} module off`, () => {
      // Everything that needs the feature goes off first, and comes back in reverse order.
      const chain = [...dependentsOf(feature), feature];
      const before: Record<string, boolean> = {};
      beforeAll(async () => {
        const states = (await t.http.get('/api/v1/features').set(fixture.sessions.admin.auth).expect(200)).body as Array<{ key: string; enabled: boolean }>;
        for (const state of states) before[state.key] = state.enabled;
        for (const key of chain) if (before[key]) await setFeature(key, false);
      });
      afterAll(async () => {
        for (const key of [...chain].reverse()) if (before[key]) await setFeature(key, true);
      });

      for (const row of MATRIX) {
        // Routes of the feature, and of every feature that needs it, are switched off together.
        const off = row.feature !== undefined && chain.includes(row.feature);
        for (const actor of ACTORS) {
          const expected = off ? 404 : row.expect[actor];
          it(`${row.method.toUpperCase()} ${row.path} as ${actor} → ${expected}`, async () => {
            const response = await call(row, actor, off);
            expect(response.status).toBe(expected);
            if (off) expect(response.body).toMatchObject({ statusCode: 404, code: 'feature_disabled', feature: row.feature });
          });
        }
      }
    });
  }
});
