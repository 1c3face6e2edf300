import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp, withTwoApps } from '../support/test-app';

describe('features', () => {
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    t = await startTestApp({ FEATURES: '-visitors,inventory' });
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  const toggle = (key: string, enabled: boolean, session = admin) => t.http.patch(`/api/v1/features/${key}`).set(session.auth).send({ enabled });

  it('lists all nine modules, seeded from config/features.json and FEATURES', async () => {
    const response = await t.http.get('/api/v1/features').set(admin.auth).expect(200);
    const byKey = Object.fromEntries(response.body.map((f: { key: string; enabled: boolean }) => [f.key, f.enabled]));
    expect(Object.keys(byKey).sort()).toEqual(['accounting', 'client-portal', 'contacts', 'dashboard', 'inventory', 'invoicing', 'segments', 'users', 'visitors']);
    expect(byKey).toMatchObject({ users: true, contacts: true, visitors: false, inventory: true, accounting: false });
    expect(response.body.find((f: { key: string }) => f.key === 'segments').requires).toEqual(['contacts']);
  });

  it('refuses to disable a module another enabled module needs, naming it', async () => {
    const response = await toggle('contacts', false).expect(409);
    expect(response.body).toMatchObject({ code: 'feature_needed_by_other' });
    expect(['segments', 'dashboard', 'client-portal', 'invoicing']).toContain(response.body.feature);
    expect(response.body.message).toContain(response.body.feature);
  });

  it('refuses to enable a module whose dependency is off, naming it', async () => {
    for (const key of ['segments', 'dashboard', 'client-portal']) await toggle(key, false).expect(200);
    await toggle('contacts', false).expect(200);
    const response = await toggle('segments', true).expect(409);
    expect(response.body).toMatchObject({ code: 'feature_dependency_off', feature: 'contacts' });
    await toggle('contacts', true).expect(200);
    await toggle('segments', true).expect(200);
    for (const key of ['dashboard', 'client-portal']) await toggle(key, true).expect(200);
  });

  it('answers 404 for an unknown key and 400 for a non-boolean', async () => {
    await toggle('nope', true).expect(404);
    await t.http.patch('/api/v1/features/users').set(admin.auth).send({ enabled: 'yes' }).expect(400);
  });

  it('writes an audit row per toggle with who, before and after', async () => {
    await toggle('visitors', true).expect(200);
    await toggle('visitors', false).expect(200);
    const rows: Array<{ actor_id: string; before: { enabled: boolean }; after: { enabled: boolean } }> = await t.db.query(
      `SELECT actor_id, before, after FROM audit_logs WHERE action = 'feature.toggle' AND subject_id = 'visitors' ORDER BY created_at`,
    );
    expect(rows.slice(-2)).toEqual([
      { actor_id: admin.userId, before: { enabled: false }, after: { enabled: true } },
      { actor_id: admin.userId, before: { enabled: true }, after: { enabled: false } },
    ]);
  });

  it('hides a disabled module from its routes and from /docs-json, while login keeps working', async () => {
    await t.http.get('/api/v1/users').set(admin.auth).expect(200);
    expect(Object.keys((await t.http.get('/docs-json').expect(200)).body.paths)).toContain('/api/v1/users');

    await toggle('users', false).expect(200);
    const off = await t.http.get('/api/v1/users').set(admin.auth).expect(404);
    expect(off.body).toMatchObject({ statusCode: 404, error: 'Not Found', code: 'feature_disabled', feature: 'users' });
    await t.http.get('/api/v1/users').expect(404);
    const document = (await t.http.get('/docs-json').expect(200)).body;
    expect(Object.keys(document.paths).filter((path: string) => path.startsWith('/api/v1/users') || path.startsWith('/api/v1/roles'))).toEqual([]);
    expect(document.tags.map((tag: { name: string }) => tag.name)).not.toContain('users');
    expect(document.components.schemas.CreateUserDto).toBeUndefined();
    expect(document.components.schemas.TokensDto).toBeDefined();
    await t.http.post('/api/v1/auth/login').send({ email: admin.email, password: 'a-long-enough-password' }).expect(200);

    await toggle('users', true).expect(200);
    await t.http.get('/api/v1/users').set(admin.auth).expect(200);
  });

  it('keeps table values over deployment defaults once a row exists', async () => {
    await toggle('inventory', false).expect(200);
    const restarted = await startTestApp({ FEATURES: 'inventory' }, new URL(t.databaseUrl).pathname.slice(1));
    try {
      const response = await restarted.http.get('/api/v1/features').set(admin.auth).expect(200);
      expect(response.body.find((f: { key: string }) => f.key === 'inventory').enabled).toBe(false);
    } finally {
      await restarted.close();
    }
  });

  describe('rule conditions', () => {
    const createRole = async (name: string, rules: unknown[]): Promise<string> =>
      (await t.http.post('/api/v1/roles').set(admin.auth).send({ name, rules }).expect(201)).body.id;
    const enabledInDb = async (key: string): Promise<boolean> =>
      ((await t.db.query('SELECT enabled FROM features WHERE key = $1', [key])) as Array<{ enabled: boolean }>)[0]!.enabled;
    const togglesBy = async (session: Session): Promise<string[]> =>
      ((await t.db.query(`SELECT subject_id FROM audit_logs WHERE action = 'feature.toggle' AND actor_id = $1 ORDER BY created_at`, [session.userId])) as Array<{ subject_id: string }>).map(
        (row) => row.subject_id,
      );

    // Puts back what a failing case may have switched, so each case starts from the same state.
    afterEach(async () => {
      for (const key of ['users', 'contacts', 'dashboard']) if (!(await enabledInDb(key))) await toggle(key, true).expect(200);
      if (await enabledInDb('visitors')) await toggle('visitors', false).expect(200);
    });

    it('a role that may update only the dashboard switches it, and no other module (403, nothing changed)', async () => {
      const roleId = await createRole('Dashboard switch', [{ action: 'update', subject: 'Feature', conditions: { key: 'dashboard' } }]);
      // Staff may read every feature, so another one is there to see but not to change.
      const operator = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff'), roleId], 'dashop');

      const users = await toggle('users', false, operator).expect(403);
      expect(users.body).toMatchObject({ code: 'forbidden' });
      // Refused for the rights, not for the dependency it would also break.
      await toggle('contacts', false, operator).expect(403);
      expect({ users: await enabledInDb('users'), contacts: await enabledInDb('contacts') }).toEqual({ users: true, contacts: true });
      await t.http.get('/api/v1/users').set(admin.auth).expect(200);
      expect(await togglesBy(operator)).toEqual([]);

      expect((await toggle('dashboard', false, operator).expect(200)).body).toMatchObject({ key: 'dashboard', enabled: false });
      expect(await enabledInDb('dashboard')).toBe(false);
      await toggle('dashboard', true, operator).expect(200);
      expect(await enabledInDb('dashboard')).toBe(true);
      expect(await togglesBy(operator)).toEqual(['dashboard', 'dashboard']);
    });

    it('a role that may read and update only the dashboard gets 404 for another module, and still sees which modules are on', async () => {
      const roleId = await createRole('Dashboard only', [
        { action: 'read', subject: 'Feature', conditions: { key: 'dashboard' } },
        { action: 'update', subject: 'Feature', conditions: { key: 'dashboard' } },
      ]);
      const operator = await createUserWithRoles(t, admin, [roleId], 'dashonly');

      // Which modules are on is what any signed-in front end needs to draw itself.
      const listed = await t.http.get('/api/v1/features').set(operator.auth).expect(200);
      expect(listed.body.map((f: { key: string }) => f.key)).toEqual(expect.arrayContaining(['dashboard', 'users', 'contacts']));

      const users = await toggle('users', false, operator).expect(404);
      expect(users.body.statusCode).toBe(404);
      expect(await enabledInDb('users')).toBe(true);
      expect(await togglesBy(operator)).toEqual([]);

      await toggle('dashboard', false, operator).expect(200);
      await toggle('dashboard', true, operator).expect(200);
      expect(await enabledInDb('dashboard')).toBe(true);
    });

    it("checks a condition on `enabled` against the module's current state", async () => {
      const roleId = await createRole('Switch off only', [{ action: 'update', subject: 'Feature', conditions: { enabled: true } }]);
      const operator = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff'), roleId], 'offonly');

      expect(await enabledInDb('visitors')).toBe(false);
      await toggle('visitors', true, operator).expect(403);
      expect(await enabledInDb('visitors')).toBe(false);

      await toggle('dashboard', false, operator).expect(200);
      await toggle('dashboard', true, operator).expect(403);
      expect(await enabledInDb('dashboard')).toBe(false);
      await toggle('dashboard', true).expect(200);
    });
  });
});

describe('a toggle on one API process', () => {
  it('is seen by another process on the same database within a second', async () => {
    await withTwoApps(async (first, second) => {
      const admin = await register(first, 'admin');
      await second.http.get('/api/v1/users').set(admin.auth).expect(200);
      await first.http.patch('/api/v1/features/users').set(admin.auth).send({ enabled: false }).expect(200);
      const started = Date.now();
      let status = 200;
      while (Date.now() - started < 1000) {
        status = (await second.http.get('/api/v1/users').set(admin.auth)).status;
        if (status === 404) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      expect(status).toBe(404);
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });
});
