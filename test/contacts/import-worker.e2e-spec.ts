import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { register, Session } from '../support/actors';
import { createDatabase, dropDatabase, startTestApp, TestApp, TEST_REDIS_URL } from '../support/test-app';
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
        JWT_SECRET: 'test-secret-that-is-long-enough-for-hs256-signing',
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
