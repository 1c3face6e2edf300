import { PooledSql } from '../../src/database/pooled-sql';
import { register, Session } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

const POOL_SIZE = 2;

/**
 * Hot reads whose plan does not depend on their values (a profile, an unfiltered first page)
 * are prepared once per pooled session; filtered pages are not. What each session holds is
 * in its pg_prepared_statements: as many slow statements as there are pooled sessions run at
 * once, so each session answers one.
 */
describe('prepared statements', () => {
  const preparedTexts = async (t: TestApp): Promise<string[]> => {
    const sessions = await Promise.all(
      Array.from({ length: POOL_SIZE }, () =>
        t.app
          .get(PooledSql)
          .query<{ pid: number; statements: string[] }>(
            `SELECT pg_backend_pid() AS pid, ARRAY(SELECT statement FROM pg_prepared_statements WHERE name LIKE 'm\\_%' ORDER BY statement) AS statements FROM pg_sleep(0.3)`,
          ),
      ),
    );
    expect(new Set(sessions.map(([row]) => row!.pid)).size).toBe(POOL_SIZE);
    return sessions.flatMap(([row]) => row!.statements).sort();
  };

  describe('on (the default)', () => {
    let t: TestApp;
    let admin: Session;
    let contactId: string;

    beforeAll(async () => {
      t = await startTestApp({ DATABASE_POOL_SIZE: String(POOL_SIZE) });
      admin = await register(t, 'admin');
      const created = await t.http
        .post('/api/v1/contacts')
        .set(admin.auth)
        .send({ firstName: 'Ada', lastName: 'Lovelace', email: `ada-${Date.now()}@example.com`, newTags: ['Engines'] })
        .expect(201);
      contactId = created.body.id;
    });
    afterAll(() => t.close());

    it('prepares the profile and the unfiltered list once and answers the same from them', async () => {
      const first = await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200);
      const again = await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200);
      expect(again.body).toEqual(first.body);
      const firstList = await t.http.get('/api/v1/contacts').set(admin.auth).expect(200);
      const listAgain = await t.http.get('/api/v1/contacts').set(admin.auth).expect(200);
      expect(listAgain.body.data).toEqual(firstList.body.data);

      const texts = await preparedTexts(t);
      for (const table of ['contacts c', 'contact_services cs', 'activities a', 'contact_status_history h']) {
        expect(texts.filter((text) => text.includes(`FROM ${table}`) && text.includes('$1')).length).toBeGreaterThanOrEqual(1);
      }
      expect(texts.some((text) => text.includes('ORDER BY c.created_at DESC, c.id DESC LIMIT 25 OFFSET 0'))).toBe(true);
      // At most once per session: a second read reused what its session had.
      for (const text of new Set(texts)) expect(texts.filter((other) => other === text).length).toBeLessThanOrEqual(POOL_SIZE);
    });

    it('reads what changed since the statement was prepared', async () => {
      await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200);
      const current = await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200);
      await t.http.patch(`/api/v1/contacts/${contactId}`).set(admin.auth).send({ company: 'Analytical Engines', version: current.body.version }).expect(200);
      const after = await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200);
      expect(after.body).toMatchObject({ company: 'Analytical Engines', version: current.body.version + 1 });
      const listed = await t.http.get('/api/v1/contacts').set(admin.auth).expect(200);
      expect(listed.body.data.find((c: { id: string }) => c.id === contactId)).toMatchObject({ company: 'Analytical Engines' });
    });

    it('keeps answering when a column a prepared statement returns changes type under it (a newer release migrating)', async () => {
      // Prepared on both pooled sessions first.
      await Promise.all([1, 2, 3, 4].map(() => t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200)));
      await t.db.query('ALTER TABLE contacts ALTER COLUMN job_title TYPE varchar(200)');
      for (let i = 0; i < 4; i += 1) {
        const profile = await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200);
        expect(profile.body).toMatchObject({ id: contactId, firstName: 'Ada' });
      }
    });

    it('leaves filtered pages and offset pages unprepared: their best plan depends on the values', async () => {
      const before = await preparedTexts(t);
      await t.http.get('/api/v1/contacts').query({ q: 'ada' }).set(admin.auth).expect(200);
      await t.http.get('/api/v1/contacts').query({ page: 2, limit: 10 }).set(admin.auth).expect(200);
      expect(new Set(await preparedTexts(t))).toEqual(new Set(before));
    });
  });

  describe('off (DATABASE_PREPARED_STATEMENTS=false, e.g. behind an older PgBouncer)', () => {
    let t: TestApp;
    let admin: Session;

    beforeAll(async () => {
      t = await startTestApp({ DATABASE_POOL_SIZE: String(POOL_SIZE), DATABASE_PREPARED_STATEMENTS: 'false' });
      admin = await register(t, 'admin');
    });
    afterAll(() => t.close());

    it('runs every statement unnamed', async () => {
      const created = await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Alan', email: `alan-${Date.now()}@example.com` }).expect(201);
      await t.http.get(`/api/v1/contacts/${created.body.id}`).set(admin.auth).expect(200);
      await t.http.get('/api/v1/contacts').set(admin.auth).expect(200);
      expect(await preparedTexts(t)).toEqual([]);
    });
  });
});
