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

  it("sends helmet's security headers on every answer: success, refusal, unknown route, bad input, CORS preflight", async () => {
    const expected = {
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'strict-transport-security': 'max-age=31536000; includeSubDomains',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'x-dns-prefetch-control': 'off',
      'x-download-options': 'noopen',
      'x-permitted-cross-domain-policies': 'none',
      'x-xss-protection': '0',
      'origin-agent-cluster': '?1',
    };
    const answers = [
      await t.http.get('/health').expect(200),
      await t.http.get('/api/v1/auth/me').expect(401),
      await t.http.get('/api/v1/no-such-route').expect(404),
      await t.http.post('/api/v1/auth/login').send({ email: 'not-an-email' }).expect(400),
      await t.http.options('/api/v1/contacts').set('Origin', 'http://localhost:5173').set('Access-Control-Request-Method', 'GET'),
    ];
    for (const answer of answers) {
      expect(answer.headers).toMatchObject(expected);
      expect(answer.headers).not.toHaveProperty('x-powered-by');
      expect(answer.headers).not.toHaveProperty('content-security-policy');
    }
  });
});
