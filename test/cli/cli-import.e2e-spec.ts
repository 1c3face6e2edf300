import { parse } from 'csv-parse/sync';
import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { register, Session } from '../support/actors';
import { clearQueues, createDatabase, dropDatabase, startTestApp, TestApp, TEST_REDIS_URL, TEST_JWT_SECRET } from '../support/test-app';
import { until } from '../support/wait';
import { CliResult, ensureCliBuilt, ROOT, runCli, startCli } from './cli-runner';

const JWT_SECRET = TEST_JWT_SECRET;
/** A progress line as printed when stdout is not a terminal. */
const PROGRESS_LINE = /^\[\d\d:\d\d:\d\d\] (queued|running|completed)[a-z ,]* [\d,]+\/[\d,]+ rows \(\d+%\) \| created [\d,]+ updated [\d,]+ skipped [\d,]+ failed [\d,]+ \| (-|[\d,]+) rows\/s \| ETA \S+$/;

/** The command line against its own fresh database; the API app in this process only checks results. */
describe('admin command line: import', () => {
  let database: string;
  let t: TestApp;
  let admin: Session;
  let client: Session;
  let dir: string;
  const marker = `cli${Date.now().toString(36)}`;

  beforeAll(async () => {
    ensureCliBuilt();
    database = await createDatabase();
    // The API here only queues: jobs run in the command line's process or in a worker.
    t = await startTestApp({ JOBS_PROCESS: 'false' }, database);
    admin = await register(t, 'admin');
    client = await register(t, 'client');
    dir = mkdtempSync(join(tmpdir(), 'maestro-cli-'));
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    if (database) {
      await dropDatabase(database);
      await clearQueues(database);
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The environment of an embedded-queue deployment (no REDIS_URL): the job runs in the command's process. */
  const env = (extra: Record<string, string> = {}) => ({ NODE_ENV: 'test', DATABASE_URL: t.databaseUrl, JWT_SECRET, DATA_DIR: join(dir, 'data'), JOBS_PREFIX: database, ...extra });
  const cli = (args: string[], extra?: Record<string, string>) => runCli(args, env(extra));
  const file = (name: string, lines: string[]) => {
    const path = join(dir, name);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  };
  const contactsWith = async (lastName: string) => {
    const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM contacts WHERE last_name = $1 AND deleted_at IS NULL', [lastName]);
    return count as number;
  };
  const findContact = async (email: string) => (await t.http.get('/api/v1/contacts').set(admin.auth).query({ q: email }).expect(200)).body.data[0];
  const errorLines = (result: CliResult) => result.stderr.split('\n').filter((line) => line.startsWith('error: '));

  it('upserts a file: prints the mapping, progress lines and the final counts; the contacts are in the database', async () => {
    const existing = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Before', lastName: marker, email: `existing.${marker}@example.com`, company: 'Old Co' }).expect(201)).body;
    const rows = 5000;
    const lines = ['First Name,Last Name,Email,Company,Notes'];
    for (let i = 0; i < rows; i += 1) lines.push(`Person${i},${marker},p${i}.${marker}@example.com,Acme ${i % 7},note`);
    lines.push(`Changed,${marker},EXISTING.${marker}@example.com,New Co,note`);
    lines.push(`Broken,${marker},not-an-email,,`);
    const path = file('upsert.csv', lines);

    const result = await cli(['import', path, '--mode', 'upsert', '--yes', '--progress-every', '0.2']);
    expect({ code: result.code, errors: errorLines(result) }).toEqual({ code: 0, errors: [] });
    const out = result.stdout;
    expect(out).toContain(`Acting as ${admin.email} (admin)`);
    expect(out).toMatch(/^\s+3\s+Email\s+email\s+p0\./m);
    expect(out).toMatch(/^\s+5\s+Notes\s+\(ignored\)/m);
    expect(out).toContain('Mode: upsert — create or update');
    expect(out).toContain('Running the import in this process (no REDIS_URL)');
    // Not a terminal: plain lines, no bar redrawn with control characters.
    expect(out).not.toMatch(/\u001b\[/);
    const progress = out.split('\n').filter((line) => line.startsWith('['));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (const line of progress) expect(line).toMatch(PROGRESS_LINE);
    expect(progress[progress.length - 1]).toMatch(/^\[[\d:]+\] completed 5,002\/5,002 rows \(100%\) \| created 5,000 updated 1 skipped 0 failed 1 /);
    const id = /Import ([0-9a-f-]{36}) completed in [\d.]+s/.exec(out)?.[1];
    expect(id).toBeDefined();
    expect(out).toMatch(/^\s+created\s+5,000$/m);
    expect(out).toMatch(/^\s+updated\s+1$/m);
    expect(out).toMatch(/^\s+skipped\s+0$/m);
    expect(out).toMatch(/^\s+rejected\s+1$/m);
    expect(out).toContain(`--resume ${id} --rejected <out.csv>`);

    const report = (await t.http.get(`/api/v1/contacts/imports/${id}`).set(admin.auth).expect(200)).body;
    expect(report).toMatchObject({ status: 'completed', mode: 'upsert', fileName: 'upsert.csv', processedRows: 5002, counts: { created: 5000, updated: 1, skipped: 0, failed: 1 } });
    expect(await contactsWith(marker)).toBe(5001);
    expect(await findContact(`p4999.${marker}@example.com`)).toMatchObject({ firstName: 'Person4999', lastName: marker, company: 'Acme 1' });
    expect((await t.http.get(`/api/v1/contacts/${existing.id}`).set(admin.auth).expect(200)).body).toMatchObject({ firstName: 'Changed', company: 'New Co' });
    // The acting admin is the author, as with an upload through the API.
    const [{ created_by_id }] = await t.db.query('SELECT created_by_id FROM contact_imports WHERE id = $1', [id]);
    expect(created_by_id).toBe(admin.userId);
  }, 120_000);

  it('a dry run reports what would happen, with sample reasons, and writes nothing', async () => {
    const dryMarker = `${marker}dry`;
    const path = file('dry.csv', ['Given name,Surname,E-mail', `Ann,${dryMarker},ann.${dryMarker}@example.com`, `Bob,${dryMarker},bad-address`, `Cid,${dryMarker},ANN.${dryMarker}@example.com`, `Dee,${dryMarker},dee.${dryMarker}@example.com`]);
    const [{ before }] = await t.db.query('SELECT count(*)::int AS before FROM contact_imports');

    const result = await cli(['import', path, '--mode', 'create', '--dry-run']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Dry run of 4 rows (nothing was written)');
    expect(result.stdout).toMatch(/would create\s+2$/m);
    expect(result.stdout).toMatch(/would reject\s+2 \(1 repeat an earlier row's email\)$/m);
    expect(result.stdout).toMatch(/^\s+row 3: .*email/m);
    expect(result.stdout).toMatch(/^\s+row 4: duplicate email in the file \(first at row 2\)$/m);

    expect(await contactsWith(dryMarker)).toBe(0);
    // The staged upload is dropped as well: no import is left behind.
    const [{ after }] = await t.db.query('SELECT count(*)::int AS after FROM contact_imports');
    expect(after).toBe(before);
  }, 60_000);

  it('--rejected writes the rejected rows with their reasons; --map and a saved --mapping change the mapping', async () => {
    const rejMarker = `${marker}rej`;
    await t.http
      .post('/api/v1/contacts/import-mappings')
      .set(admin.auth)
      .send({ name: 'Fair leads', columns: [{ index: 0, header: 'Who', target: 'firstName' }, { index: 1, header: 'Family', target: 'lastName' }, { index: 2, header: 'Reach me', target: 'email' }, { index: 3, header: 'Org', target: 'ignore' }] })
      .expect(201);
    const path = file('rejects.csv', [
      'Who,Family,Reach me,Org',
      `Eve,${rejMarker},eve.${rejMarker}@example.com,Eve Co`,
      `Fay,${rejMarker},no-at-sign,Fay Co`,
      `Gus,${rejMarker},EVE.${rejMarker}@example.com,Gus Co`,
      `,${rejMarker},nameless.${rejMarker}@example.com,`,
    ]);
    const out = join(dir, 'rejected.csv');

    const result = await cli(['import', path, '--mode', 'create', '--mapping', 'fair LEADS', '--map', 'Org=company', '--yes', '--rejected', out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Mapping (saved mapping "fair LEADS")');
    expect(result.stdout).toMatch(/^\s+4\s+Org\s+company \(--map\)\s+Eve Co$/m);
    expect(result.stdout).toMatch(/^\s+created\s+1$/m);
    expect(result.stdout).toMatch(/^\s+rejected\s+3$/m);
    expect(result.stdout).toContain(`Rejected rows (3) written to ${out}`);

    const rejected = parse(readFileSync(out), { columns: true }) as Array<Record<string, string>>;
    expect(rejected.map((row) => [row.Who, row['Reach me'], row.Error])).toEqual([
      ['Fay', 'no-at-sign', expect.stringMatching(/^row 3: .*email/)],
      ['Gus', `EVE.${rejMarker}@example.com`, 'row 4: duplicate email in the file (first at row 2)'],
      ['', `nameless.${rejMarker}@example.com`, expect.stringMatching(/^row 5: first name/)],
    ]);
    expect(await findContact(`eve.${rejMarker}@example.com`)).toMatchObject({ firstName: 'Eve', company: 'Eve Co' });
  }, 60_000);

  describe('refuses bad input with one clear line and a non-zero exit', () => {
    let good: string;
    beforeAll(() => {
      good = file('good.csv', ['First Name,Email', `Hal,hal.${marker}@example.com`]);
    });

    const refused = async (args: string[], message: RegExp | string, code = 2) => {
      const result = await cli(args);
      expect({ code: result.code, errors: errorLines(result) }).toEqual({ code, errors: [expect.stringMatching(message)] });
      // A user error is never a stack trace.
      expect(result.stderr).not.toMatch(/^\s+at /m);
      return result;
    };

    it('a bad mode names the accepted ones', async () => {
      await refused(['import', good, '--mode', 'merge', '--yes'], /^error: --mode must be one of create, upsert, update \(got "merge"\)$/);
      await refused(['import', good, '--yes'], /^error: --mode is required: create .*upsert .*update/);
      await refused(['import', good, '--mode', 'constructor', '--yes'], /^error: --mode must be one of create, upsert, update \(got "constructor"\)$/);
      await refused(['import', good, '--mode', 'create', '--dry-run', '--rejected', join(dir, 'r.csv')], /^error: --rejected applies to a real run/);
    });

    it('a missing file, a folder, an unknown option', async () => {
      await refused(['import', join(dir, 'nope.csv'), '--mode', 'create', '--yes'], /^error: cannot read .*nope\.csv: no such file$/);
      await refused(['import', dir, '--mode', 'create', '--yes'], /^error: cannot read .*: it is a folder, not a CSV file$/);
      await refused(['import', good, '--mode', 'create', '--yes', '--force'], /^error: unknown option "--force"$/);
    });

    it('a non-admin --as, or an unknown one', async () => {
      const result = await refused(['import', good, '--mode', 'create', '--yes', '--as', client.email], new RegExp(`^error: --as ${client.email}: .* is not an admin \\(roles: Client\\)`));
      expect(result.stdout).not.toContain('Reading');
      await refused(['import', good, '--mode', 'create', '--yes', '--as', `ghost.${marker}@example.com`], /^error: --as \S+: there is no user with this email$/);
    });

    it('no terminal to confirm on and no --yes', async () => {
      await refused(['import', good, '--mode', 'create'], /^error: there is no terminal to confirm the mapping on: .*--yes$/);
    });

    it('an unknown saved mapping, a --map to an unknown column or target, a mapping the mode cannot use', async () => {
      const [{ before }] = await t.db.query('SELECT count(*)::int AS before FROM contact_imports');
      await refused(['import', good, '--mode', 'create', '--yes', '--mapping', 'No such'], /^error: --mapping "No such": no saved mapping has this name or id \(saved: .*\)$/);
      await refused(['import', good, '--mode', 'create', '--yes', '--map', 'Mail=email'], /^error: --map "Mail=email": the file has no column "Mail" \(its columns: "First Name", "Email"\)$/);
      await refused(['import', good, '--mode', 'create', '--yes', '--map', 'Email=e-mail'], /^error: column 2 "Email": must be ignore, a contact field or custom\.<key>$/);
      await refused(['import', good, '--mode', 'update', '--yes', '--map', 'Email=ignore'], /^error: mapping: mode "update" matches contacts by email: map a column to email$/);
      await refused(['import', file('empty.csv', ['First Name,Email']), '--mode', 'create', '--yes'], /^error: \S+empty\.csv: has a header row but no data rows$/);
      await refused(['import', '--resume', '00000000-0000-4000-8000-000000000000'], /^error: --resume 00000000-0000-4000-8000-000000000000: there is no import with this id$/);
      await refused(['import', '--resume', 'last'], /^error: --resume needs an import id \(a UUID\), got "last"$/);
      // Refused uploads are not left behind.
      const [{ after }] = await t.db.query('SELECT count(*)::int AS after FROM contact_imports');
      expect(after).toBe(before);
    });
  });

  it('--help lists the commands and the import options', async () => {
    const main = await cli(['--help']);
    expect(main.code).toBe(0);
    expect(main.stdout).toMatch(/^\s+import\s+Import contacts from a CSV file/m);
    const help = await cli(['import', '--help']);
    expect(help.code).toBe(0);
    for (const option of ['--mode', '--mapping', '--map', '--dry-run', '--as', '--rejected', '--yes', '--resume', '--help']) expect(help.stdout).toContain(`${option} `);
  });

  it('Ctrl-C stops an import running in this process; --resume continues it from its checkpoint', async () => {
    const intMarker = `${marker}int`;
    const rows = 100_000;
    const lines = ['First Name,Last Name,Email'];
    for (let i = 0; i < rows; i += 1) lines.push(`Ivy${i},${intMarker},i${i}.${intMarker}@example.com`);
    const path = file('interrupt.csv', lines);

    const running = startCli(['import', path, '--mode', 'create', '--yes', '--progress-every', '0.2'], env());
    await until(async () => (/^\[[\d:]+\] running /m.test(running.stdout()) ? true : undefined), 60_000, 'the import to run');
    running.child.kill('SIGINT');
    const stopped = await running.done;
    expect(stopped.code).toBe(130);
    const id = /--resume ([0-9a-f-]{36})/.exec(stopped.stdout)?.[1];
    expect(id).toBeDefined();
    expect(stopped.stdout).toMatch(/Stopped\. The import ran in this process, so it stops with it; the rows already committed \([\d,]+ of 100,000\) stay imported\./);
    const halfway = (await t.http.get(`/api/v1/contacts/imports/${id}`).set(admin.auth).expect(200)).body;
    expect(halfway.processedRows).toBeLessThan(rows);
    expect(await contactsWith(intMarker)).toBe(halfway.counts.created);

    const resumed = await cli(['import', '--resume', id!, '--progress-every', '0.5']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`Import ${id} (interrupt.csv) is `);
    expect(resumed.stdout).toMatch(/^\s+created\s+100,000$/m);
    const [{ contacts, distinct }] = await t.db.query('SELECT count(*)::int AS contacts, count(DISTINCT email_key)::int AS distinct FROM contacts WHERE last_name = $1', [intMarker]);
    expect({ contacts, distinct }).toEqual({ contacts: rows, distinct: rows });
  }, 240_000);

  it('an import that fails for good exits non-zero with the reason; --resume runs it again once the cause is fixed', async () => {
    const failMarker = `${marker}fail`;
    // The database refuses these contacts, as a broken constraint or a full disk would: every attempt fails.
    await t.db.query(`CREATE FUNCTION cli_refuse_contact() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.last_name = '${failMarker}' THEN RAISE EXCEPTION 'refused by the database'; END IF; RETURN NEW; END $$`);
    await t.db.query('CREATE TRIGGER cli_refuse_contact BEFORE INSERT ON contacts FOR EACH ROW EXECUTE FUNCTION cli_refuse_contact()');
    const lines = ['First Name,Last Name,Email'];
    for (let i = 0; i < 50; i += 1) lines.push(`Kim${i},${failMarker},k${i}.${failMarker}@example.com`);
    const path = file('fails.csv', lines);
    try {
      const failed = await cli(['import', path, '--mode', 'create', '--yes', '--progress-every', '1']);
      const id = /\(import ([0-9a-f-]{36})\)/.exec(failed.stdout)?.[1];
      expect({ code: failed.code, errors: errorLines(failed) }).toEqual({
        code: 1,
        errors: [
          expect.stringMatching(new RegExp(`^error: import ${id} failed after 0 of 50 rows: .*refused by the database`)),
          `error: fix the cause, then continue from the last checkpoint with: npm run cli -- import --resume ${id}`,
        ],
      });
      expect(failed.stderr).not.toMatch(/^\s+at /m);
      // The job's own retries were waited for, not taken for the end.
      expect(failed.stdout).toMatch(/^\[[\d:]+\] retrying after an error 0\/50 rows/m);
      expect(await contactsWith(failMarker)).toBe(0);

      await t.db.query('DROP TRIGGER cli_refuse_contact ON contacts');
      const resumed = await cli(['import', '--resume', id!]);
      expect(resumed.code).toBe(0);
      // A process that runs jobs may also put a recently failed import back on its own as it starts.
      expect(resumed.stdout).toMatch(new RegExp(`Import ${id} \\(fails\\.csv\\) is (failed|queued|running|completed): [\\d,]+/50 rows`));
      expect(resumed.stdout).toMatch(/^\s+created\s+50$/m);
      expect(await contactsWith(failMarker)).toBe(50);
    } finally {
      await t.db.query('DROP TRIGGER IF EXISTS cli_refuse_contact ON contacts');
      await t.db.query('DROP FUNCTION IF EXISTS cli_refuse_contact()');
    }
  }, 180_000);

  it('--resume of a cancelled import says there is nothing to resume, and writes nothing', async () => {
    const cancelMarker = `${marker}cancel`;
    const uploaded = (
      await t.http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', Buffer.from(`First Name,Last Name,Email\nNia,${cancelMarker},nia.${cancelMarker}@example.com\n`), 'cancel.csv').expect(201)
    ).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/cancel`).set(admin.auth).expect(200);

    const resumed = await cli(['import', '--resume', uploaded.id]);
    expect({ code: resumed.code, errors: errorLines(resumed) }).toEqual({ code: 1, errors: ['error: the import was cancelled; there is nothing to resume'] });
    expect(resumed.stdout).toContain(`Import ${uploaded.id} (cancel.csv) is cancelled: 0/1 rows`);
    expect(await contactsWith(cancelMarker)).toBe(0);
  }, 60_000);

  describe('with REDIS_URL', () => {
    let worker: ChildProcess | undefined;
    afterAll(async () => {
      if (worker && worker.exitCode === null && worker.signalCode === null) {
        const gone = new Promise((done) => worker!.once('exit', done));
        worker.kill('SIGKILL');
        await gone;
      }
    });

    it('enqueues the import, a worker process runs it, and the command follows it to the end', async () => {
      const queuedMarker = `${marker}q`;
      const lines = ['First Name,Last Name,Email'];
      for (let i = 0; i < 3000; i += 1) lines.push(`Jo${i},${queuedMarker},j${i}.${queuedMarker}@example.com`);
      const running = startCli(['import', file('queued.csv', lines), '--mode', 'upsert', '--yes', '--progress-every', '0.2'], env({ REDIS_URL: TEST_REDIS_URL }));
      await until(async () => (/^\[[\d:]+\] queued 0\/3,000 rows/m.test(running.stdout()) ? true : undefined), 60_000, 'the import to be queued');
      const id = /\(import ([0-9a-f-]{36})\)/.exec(running.stdout())![1];
      // With Redis the command only enqueues: until a worker starts, nothing runs the import.
      await new Promise((done) => setTimeout(done, 1500));
      expect((await t.http.get(`/api/v1/contacts/imports/${id}`).set(admin.auth).expect(200)).body).toMatchObject({ status: 'queued', processedRows: 0 });

      worker = spawn(process.execPath, [resolve(ROOT, 'dist/worker.js')], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...env({ REDIS_URL: TEST_REDIS_URL, LOG_LEVEL: 'error' }) },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const result = await running.done;
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Queued for the workers (REDIS_URL); following its progress');
      expect(result.stdout).toContain(`Import ${id} completed`);
      expect(result.stdout).toMatch(/^\s+created\s+3,000$/m);
      expect(await contactsWith(queuedMarker)).toBe(3000);
    }, 120_000);
  });
});
