import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { register, Session } from '../support/actors';
import { createDatabase, dropDatabase, startTestApp, TestApp, TEST_REDIS_URL, TEST_JWT_SECRET } from '../support/test-app';
import { until } from '../support/wait';

const ROOT = resolve(__dirname, '..', '..');
const ROWS = 30_000;

/**
 * The API only queues; separate worker processes run the import. One is killed with SIGKILL
 * half-way; another takes the job over and the import ends with exactly the right contacts.
 */
describe('an import whose worker is killed mid-run', () => {
  let database: string;
  let t: TestApp;
  let admin: Session;
  const workers: ChildProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(resolve(ROOT, 'dist/worker.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
    database = await createDatabase();
    t = await startTestApp({ JOBS_PROCESS: 'false' }, database);
    admin = await register(t, 'admin');
  }, 120_000);

  afterAll(async () => {
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    await t.close();
    await dropDatabase(database);
  });

  const startWorker = () => {
    const worker = spawn(process.execPath, [resolve(ROOT, 'dist/worker.js')], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: t.databaseUrl,
        REDIS_URL: TEST_REDIS_URL,
        JOBS_PREFIX: database,
        JWT_SECRET: TEST_JWT_SECRET,
        LOG_LEVEL: process.env.DEBUG_IMPORT ? 'info' : 'error',
      },
      stdio: process.env.DEBUG_IMPORT ? ['ignore', openSync('/tmp/worker-debug.log', 'a'), openSync('/tmp/worker-debug.log', 'a')] : ['ignore', 'ignore', 'inherit'],
    });
    workers.push(worker);
    return worker;
  };

  it('resumes from its checkpoint in another worker: no row lost, none doubled', async () => {
    const marker = `kill${Date.now().toString(36)}`;
    const lines = ['First Name,Last Name,Email,Tags'];
    for (let i = 0; i < ROWS; i += 1) lines.push(`Person${i},${marker},p${i}.${marker}@example.com,batch ${i % 3}`);
    const uploaded = (await t.http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', Buffer.from(lines.join('\n')), 'big.csv').expect(201)).body;
    expect(uploaded.totalRows).toBe(ROWS);
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(admin.auth).expect(202);

    const first = startWorker();
    const progress = () => t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(admin.auth).expect(200).then((r) => r.body);
    const midway = await until(async () => {
      const body = await progress();
      if (body.status === 'failed') throw new Error(`The import failed: ${body.error}`);
      if (process.env.DEBUG_IMPORT) console.log(JSON.stringify(body.status), body.processedRows, JSON.stringify((await t.http.get('/api/v1/jobs').set(admin.auth)).body));
      return body.processedRows >= 4000 ? body : undefined;
    }, 60_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(midway.processedRows).toBeLessThan(ROWS);

    startWorker();
    const done = await until(async () => {
      const body = await progress();
      return body.status === 'completed' ? body : undefined;
    }, 90_000);
    expect(done).toMatchObject({ processedRows: ROWS, counts: { created: ROWS, updated: 0, skipped: 0, failed: 0 } });
    const [{ contacts, distinct }] = await t.db.query('SELECT count(*)::int AS contacts, count(DISTINCT email_key)::int AS distinct FROM contacts WHERE last_name = $1', [marker]);
    expect({ contacts, distinct }).toEqual({ contacts: ROWS, distinct: ROWS });
    // Every created contact is recorded once, by the chunk that created it: what a revert removes.
    const [{ recorded, distinctRecorded, imported }] = await t.db.query(
      `SELECT count(*)::int AS recorded, count(DISTINCT x.id)::int AS "distinctRecorded", count(c.id)::int AS imported
         FROM contact_import_batches b CROSS JOIN unnest(b.created_ids) AS x(id) LEFT JOIN contacts c ON c.id = x.id AND c.last_name = $2
        WHERE b.import_id = $1`,
      [uploaded.id, marker],
    );
    expect({ recorded, distinctRecorded, imported }).toEqual({ recorded: ROWS, distinctRecorded: ROWS, imported: ROWS });
    const [{ withOutcome }] = await t.db.query('SELECT count(*)::int AS "withOutcome" FROM contact_import_rows WHERE import_id = $1 AND outcome IS NOT NULL', [uploaded.id]);
    expect(withOutcome).toBe(0);
    const [{ tagged }] = await t.db.query('SELECT count(*)::int AS tagged FROM contact_tags ct JOIN contacts c ON c.id = ct.contact_id WHERE c.last_name = $1', [marker]);
    expect(tagged).toBe(ROWS);
  }, 240_000);
});

/**
 * The default install: the built API on embedded PGlite, no Redis, jobs in-process. Run as a
 * child process, since PGlite cannot load inside the test runner's module system.
 */
describe('an import on the embedded database (no DATABASE_URL, no Redis)', () => {
  const port = 3400 + (process.pid % 500);
  const base = `http://127.0.0.1:${port}/api/v1`;
  let dataDir: string;
  let api: ChildProcess;
  let auth: Record<string, string>;

  beforeAll(async () => {
    if (!existsSync(resolve(ROOT, 'dist/main.js'))) execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore' });
    dataDir = mkdtempSync(join(tmpdir(), 'maestro-import-embedded-'));
    api = spawn(process.execPath, [resolve(ROOT, 'dist/main.js')], {
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: '', REDIS_URL: '', DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'error', JWT_SECRET: TEST_JWT_SECRET },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    await until(async () => (await fetch(`${base.replace('/api/v1', '')}/health`).catch(() => undefined))?.ok || undefined, 90_000);
    const registered = await fetch(`${base}/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ firstName: 'Embedded', lastName: 'Admin', email: 'embedded.admin@example.com', password: 'a-long-enough-password' }),
    });
    expect(registered.status).toBe(201);
    auth = { authorization: `Bearer ${((await registered.json()) as { accessToken: string }).accessToken}` };
  }, 120_000);

  afterAll(async () => {
    if (api && api.exitCode === null) {
      api.kill('SIGTERM');
      await new Promise((r) => api.once('exit', r));
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any; text: string }> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body instanceof FormData || body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
      body: body instanceof FormData ? body : body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, text, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : undefined };
  };

  it('stages, dry-runs, imports, reports rejected rows and reverts', async () => {
    const rows = ['First Name,Last Name,Email,Status,Tags'];
    for (let i = 0; i < 2500; i += 1) rows.push(`E${i},Embedded,e${i}@embedded.example.com,${i % 2 ? 'Customer' : ''},pglite; batch ${i % 2}`);
    rows.push('Again,Embedded,E7@EMBEDDED.example.com,,', 'Bad,Embedded,not-an-email,,', ',Embedded,nofirst@embedded.example.com,,');
    // A NUL the database cannot store rejects its row; the text \u0000 is just text.
    rows.push('Nul,Embedded,nul@embedded.example.com,,a\u0000b', '\\u0000Lit,Embedded,lit@embedded.example.com,,');
    const form = new FormData();
    form.append('file', new Blob([rows.join('\r\n')], { type: 'text/csv' }), 'embedded.csv');
    const uploaded = await call('POST', '/contacts/imports', form);
    expect(uploaded.status).toBe(201);
    expect(uploaded.body.totalRows).toBe(2505);
    expect((await call('PUT', `/contacts/imports/${uploaded.body.id}/settings`, { columns: uploaded.body.columns, mode: 'upsert' })).status).toBe(200);
    const dry = await call('POST', `/contacts/imports/${uploaded.body.id}/dry-run`);
    expect(dry.body).toMatchObject({ counts: { created: 2501, updated: 0, skipped: 0, failed: 4 }, duplicates: 1 });
    expect((await call('POST', `/contacts/imports/${uploaded.body.id}/run`)).status).toBe(202);
    const done = await until(async () => {
      const body = (await call('GET', `/contacts/imports/${uploaded.body.id}`)).body;
      if (body.status === 'failed') throw new Error(`The import failed: ${body.error}`);
      return body.status === 'completed' ? body : undefined;
    }, 60_000);
    expect(done).toMatchObject({ processedRows: 2505, counts: { created: 2501, updated: 0, skipped: 0, failed: 4 } });
    const customer = (await call('GET', '/contacts?q=e1@embedded.example.com')).body.data.find((c: { email: string }) => c.email === 'e1@embedded.example.com');
    expect(customer).toMatchObject({ firstName: 'E1', status: { name: 'Customer' }, lastContactedAt: null });
    expect(customer.tags.map((tag: { name: string }) => tag.name)).toEqual(['Batch 1', 'Pglite']);
    const rejected = await call('GET', `/contacts/imports/${uploaded.body.id}/rejected`);
    expect(rejected.text.split('\n').filter(Boolean).slice(1).map((line) => line.split(',')[0])).toEqual(['Again', 'Bad', '', 'Nul']);
    expect(rejected.text).toMatch(/duplicate email in the file \(first at row 9\)/);
    expect(rejected.text).toContain('a\ufffdb,"row 2505: ""Tags"" must not contain the NUL character (\\u0000)"');
    expect((await call('GET', '/contacts?q=lit@embedded.example.com')).body.data[0].firstName).toBe('\\u0000Lit');

    expect((await call('POST', `/contacts/imports/${uploaded.body.id}/revert`)).body.status).toBe('reverted');
    expect((await call('GET', '/contacts?q=Embedded&limit=5')).body.data.filter((c: { lastName: string }) => c.lastName === 'Embedded')).toEqual([]);
  }, 120_000);
});
