import { register } from './support/actors';
import { startTestApp, TestApp } from './support/test-app';

describe('the application boots on PostgreSQL and Redis', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('answers liveness and readiness with both dependencies up', async () => {
    await t.http.get('/health').expect(200, { status: 'ok' });
    const ready = await t.http.get('/health/ready').expect(200);
    expect(ready.body.details.database.status).toBe('up');
    expect(ready.body.details.redis).toMatchObject({ status: 'up', configured: true });
  });

  it('makes the first registered user admin', async () => {
    const admin = await register(t, 'first');
    const me = await t.http.get('/api/v1/auth/me').set(admin.auth).expect(200);
    expect(me.body.accountType).toBe('staff');
    expect(me.body.roles.map((r: { systemKey: string }) => r.systemKey)).toEqual(['admin']);
  });
});
