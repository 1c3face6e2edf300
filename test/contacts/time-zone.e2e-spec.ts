import { Client } from 'pg';
import { register, Session } from '../support/actors';
import { createDatabase, dropDatabase, startTestApp, TEST_POSTGRES_URL, TestApp } from '../support/test-app';

/**
 * Date-only filters mean UTC days: the API's sessions run in UTC whatever zone the database
 * server or the database itself defaults to (here one twelve or thirteen hours ahead).
 */
describe('contacts on a database whose default time zone is not UTC', () => {
  let name: string;
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    name = await createDatabase();
    const client = new Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`ALTER DATABASE ${name} SET TimeZone = 'Pacific/Auckland'`);
    } finally {
      await client.end();
    }
    t = await startTestApp({}, name);
    admin = await register(t, 'zone');
  });

  afterAll(async () => {
    await t?.close();
    if (name) await dropDatabase(name);
  });

  it('runs its sessions in UTC', async () => {
    expect(await t.db.query(`SELECT current_setting('TimeZone') AS zone`)).toEqual([{ zone: 'UTC' }]);
  });

  it('starts a date-only range at midnight UTC', async () => {
    const create = async (firstName: string, createdAt: string) => {
      const id = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName, lastName: 'Zoned' }).expect(201)).body.id as string;
      await t.db.query('UPDATE contacts SET created_at = $2 WHERE id = $1', [id, createdAt]);
    };
    // The evening before in UTC is already the 15th in Auckland.
    await create('Before', '2026-01-14T12:00:00Z');
    await create('Within', '2026-01-15T01:00:00Z');
    const listed = (await t.http.get('/api/v1/contacts').set(admin.auth).query({ q: 'Zoned', createdFrom: '2026-01-15' }).expect(200)).body;
    expect(listed.data.map((contact: { firstName: string }) => contact.firstName)).toEqual(['Within']);
  });
});
