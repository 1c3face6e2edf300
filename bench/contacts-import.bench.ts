/**
 * Contacts CSV import benchmark. Generates a contacts CSV (names, email, phone, company, job
 * title, city, country, status, "tag1; tag2" tags and a numeric custom field), then measures:
 *
 * - baseline: in a scratch database with the app's schema, COPY of the file into an unlogged
 *   staging table, then one hand-written set-based merge (contacts INSERT … ON CONFLICT
 *   (email_key) with the status looked up by name, tags created and linked);
 * - the product: in another fresh database, the built API and a separate worker process, over
 *   HTTP: multipart upload, mapping + mode upsert, run, poll until completed. The worker's
 *   peak RSS (VmHWM) is read from /proc.
 *
 * Prints the figures and the ratio API/baseline (target ≤ 1.5×, worker peak RSS < 300 MB), checks
 * the counts (every row a contact, with its status and tags), drops the scratch databases. Not a
 * test: the figures depend on the machine.
 *
 *   npm run bench:import                          # 1M rows
 *   BENCH_IMPORT_ROWS=100000 npm run bench:import
 *   BENCH_WORKER_NODE_ARGS=--max-old-space-size=128 npm run bench:import   # node options for the worker
 *                                                 # (default: the heap cap of `npm run start:worker`)
 */
import { ChildProcess, fork } from 'node:child_process';
import { createReadStream, createWriteStream, openAsBlob, readFileSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { once } from 'node:events';
import Redis from 'ioredis';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { ADMIN_URL, databaseUrl, query, ROOT, stop } from './bench-database';

const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000);
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const API_PORT = Number(process.env.BENCH_IMPORT_PORT ?? 3291);
const TARGET_RATIO = 1.5;
const TARGET_RSS_MB = 300;
/** The worker runs as `npm run start:worker` and the compose file run it. */
const WORKER_NODE_ARGS = '--max-old-space-size=192';
const RUN = `${process.pid}_${Date.now().toString(36)}`;
const BASE_DB = `maestro_import_base_${RUN}`;
const API_DB = `maestro_import_api_${RUN}`;
const PASSWORD = 'benchmark-password';

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken', 'Margaret', 'Linus', 'Radia', 'Tim', 'Sophie', 'Hedy', 'Katherine', 'John'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson', 'Hamilton', 'Torvalds', 'Perlman', 'Berners-Lee', 'Wilson', 'Lamarr', 'Johnson', "O'Neil"];
const COMPANIES = ['Analytical Engines Ltd', 'Navy Research', 'Bletchley Park', 'Mathematisch Centrum', 'Acme, Inc.', 'Initech', 'Globex', 'Umbrella Corp', 'Stark Industries', 'Wayne Enterprises'];
const TITLES = ['CEO', 'CTO', 'Engineer', 'Sales Manager', 'Consultant', 'Analyst', 'Head of "Growth"', 'Buyer', 'Designer', 'Founder'];
const CITIES = [
  ['London', 'United Kingdom'],
  ['Lisbon', 'Portugal'],
  ['Paris', 'France'],
  ['Berlin', 'Germany'],
  ['New York', 'United States'],
  ['São Paulo', 'Brazil'],
  ['Kraków', 'Poland'],
  ['Tokyo', 'Japan'],
  ['Nairobi', 'Kenya'],
  ['Sydney', 'Australia'],
] as const;
const STATUSES = ['Lead', 'Prospect', 'Customer', 'lead', ''];
const TAGS = Array.from({ length: 40 }, (_, i) => `segment ${i + 1}`).concat(['vip', 'newsletter', 'trade show', 'partner', 'churn risk']);

const csvCell = (value: string) => (/[",\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value);

/** A realistic file: quoting where needed, accents, empty cells, one to three tags. */
async function writeCsv(path: string): Promise<{ bytes: number; tagLinks: number }> {
  const out = createWriteStream(path);
  let tagLinks = 0;
  out.write('First Name,Last Name,Email,Phone,Company,Job Title,City,Country,Status,Tags,Budget\n');
  let buffer = '';
  for (let i = 0; i < ROWS; i += 1) {
    const first = FIRST[i % FIRST.length]!;
    const last = LAST[(i * 7) % LAST.length]!;
    const [city, country] = CITIES[(i * 3) % CITIES.length]!;
    const tagCount = 1 + (i % 3);
    const tags: string[] = [];
    for (let t = 0; t < tagCount; t += 1) tags.push(TAGS[(i * 13 + t * 17) % TAGS.length]!);
    tagLinks += new Set(tags).size;
    buffer +=
      [
        first,
        last,
        `${first.toLowerCase()}.${i}@import-bench.example.com`,
        i % 5 === 0 ? '' : `+44 20 ${String(7000_0000 + i).slice(0, 4)} ${String(i % 10000).padStart(4, '0')}`,
        COMPANIES[i % COMPANIES.length]!,
        TITLES[(i * 5) % TITLES.length]!,
        city,
        country,
        STATUSES[i % STATUSES.length]!,
        tags.join('; '),
        i % 4 === 0 ? '' : String((i % 997) * 100),
      ]
        .map(csvCell)
        .join(',') + '\n';
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain');
      buffer = '';
    }
  }
  out.end(buffer);
  await once(out, 'finish');
  return { bytes: statSync(path).size, tagLinks };
}

async function waitForHealth(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i += 1) {
    if (child.exitCode !== null) throw new Error('The API exited while starting');
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error('The API did not come up');
}

const appEnv = (database: string) => ({
  ...process.env,
  DATABASE_URL: databaseUrl(database),
  LOG_LEVEL: 'warn',
  PORT: String(API_PORT),
  HOST: '127.0.0.1',
  REDIS_URL,
  JOBS_PREFIX: `bench_${database}`.slice(0, 50),
  JWT_SECRET: 'benchmark-secret-benchmark-secret-benchmark',
  NODE_ENV: 'production',
  SWAGGER_ENABLED: 'false',
  IMPORT_MAX_BYTES: String(2 * 1024 * 1024 * 1024),
  // No dashboard refresh (every 5 minutes by default) in the middle of a measured import.
  DASHBOARD_REFRESH_MS: '86400000',
});

/** The API on a fresh database: migrations, then the first sign-up (an admin; puts the starter statuses in place). */
async function startApi(database: string, extra: Record<string, string> = {}): Promise<{ api: ChildProcess; token: string; userId: string }> {
  await query(ADMIN_URL, `CREATE DATABASE ${database}`);
  const api = fork(resolve(ROOT, 'dist/main.js'), [], { env: { ...appEnv(database), ...extra }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    await waitForHealth(API_PORT, api);
    const response = await fetch(`http://127.0.0.1:${API_PORT}/api/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ firstName: 'Bench', lastName: 'Admin', email: 'bench.admin@bench.maestro.test', password: PASSWORD }),
    });
    if (response.status !== 201) throw new Error(`Sign-up answered ${response.status} (is another server on port ${API_PORT}? set BENCH_IMPORT_PORT): ${await response.text()}`);
    const { accessToken, user } = (await response.json()) as { accessToken: string; user: { id: string } };
    await query(databaseUrl(database), `INSERT INTO custom_fields (key, label, type) VALUES ('budget', 'Budget', 'number')`);
    return { api, token: accessToken, userId: user.id };
  } catch (error) {
    if (api.exitCode === null) await stop(api);
    throw error;
  }
}

/** COPY into an unlogged staging table, then one set-based merge, each timed. */
async function baseline(csvPath: string): Promise<{ copyMs: number; mergeMs: number }> {
  const { api, userId } = await startApi(BASE_DB);
  await stop(api);
  const client = new Client({ connectionString: databaseUrl(BASE_DB) });
  await client.connect();
  try {
    await client.query(`CREATE UNLOGGED TABLE staging (first_name text, last_name text, email text, phone text, company text, job_title text,
                          city text, country text, status text, tags text, budget text)`);
    const copyStarted = performance.now();
    await pipeline(createReadStream(csvPath), client.query(copyFrom('COPY staging FROM STDIN (FORMAT csv, HEADER true)')));
    const copyMs = performance.now() - copyStarted;

    const mergeStarted = performance.now();
    const steps: string[] = [];
    const step = async (name: string, sql: string) => {
      const at = performance.now();
      await client.query(sql);
      steps.push(`${name} ${((performance.now() - at) / 1000).toFixed(2)} s`);
    };
    await step('analyze', 'ANALYZE staging');
    await client.query('BEGIN');
    // The same record of who did it as the product keeps: creator, and the status history's actor and source.
    await client.query(`SELECT set_config('maestro.actor_id', $1, true), set_config('maestro.change_source', 'import', true)`, [userId]);
    await step(
      'tags',
      `INSERT INTO tags (name)
       SELECT DISTINCT initcap(trim(t)) FROM staging, unnest(string_to_array(tags, ';')) t WHERE trim(t) <> ''
       ON CONFLICT (name_key) DO NOTHING`,
    );
    await step(
      'contacts',
      `INSERT INTO contacts (first_name, last_name, email, phone, company, job_title, city, country, status_id, custom_fields, created_by_id)
       SELECT s.first_name, coalesce(s.last_name, ''), s.email, s.phone, s.company, s.job_title, s.city, s.country,
              coalesce(st.id, (SELECT id FROM contact_statuses WHERE name_key = 'lead')),
              CASE WHEN s.budget IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('budget', s.budget::numeric) END,
              nullif(current_setting('maestro.actor_id'), '')::uuid
         FROM staging s LEFT JOIN contact_statuses st ON st.name_key = lower(s.status)
       ON CONFLICT (email_key) DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name, phone = coalesce(excluded.phone, contacts.phone),
              company = excluded.company, job_title = excluded.job_title, city = excluded.city, country = excluded.country,
              status_id = excluded.status_id, custom_fields = contacts.custom_fields || excluded.custom_fields, updated_at = now()`,
    );
    await step(
      'links',
      `INSERT INTO contact_tags (contact_id, tag_id)
       SELECT c.id, t.id FROM staging s JOIN contacts c ON c.email_key = lower(s.email)
              CROSS JOIN unnest(string_to_array(s.tags, ';')) x JOIN tags t ON t.name_key = lower(trim(x))
       ON CONFLICT DO NOTHING`,
    );
    await step('commit', 'COMMIT');
    console.log(`Baseline merge: ${steps.join(', ')}`);
    const mergeMs = performance.now() - mergeStarted;
    const [counted] = (await client.query(`SELECT count(*)::int AS n FROM contacts WHERE email LIKE '%@import-bench.example.com'`)).rows as Array<{ n: number }>;
    if (counted!.n !== ROWS) throw new Error(`Baseline made ${counted!.n} contacts from ${ROWS} rows`);
    return { copyMs, mergeMs };
  } finally {
    await client.end();
  }
}

function peakRssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

interface ImportBody {
  id: string;
  status: string;
  error: string | null;
  totalRows: number;
  processedRows: number;
  counts: { created: number; updated: number; skipped: number; failed: number };
  columns: Array<{ index: number; header: string; target: string }>;
}

/** Upload → mapping → run → completed, through the API, with the job in a separate worker process. */
async function throughApi(csvPath: string): Promise<{ uploadMs: number; jobMs: number; totalMs: number; workerRssMb: number; apiRssMb: number; body: ImportBody }> {
  const { api, token } = await startApi(API_DB, { JOBS_PROCESS: 'false' });
  const worker = fork(resolve(ROOT, 'dist/worker.js'), [], { env: appEnv(API_DB), execArgv: (process.env.BENCH_WORKER_NODE_ARGS ?? WORKER_NODE_ARGS).split(' ').filter(Boolean), stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    // The worker is up once its queues are listed; give it a moment rather than time its start-up.
    await new Promise((r) => setTimeout(r, 3000));
    if (worker.exitCode !== null) throw new Error('The worker exited while starting');
    const base = `http://127.0.0.1:${API_PORT}/api/v1/contacts`;
    const auth = { authorization: `Bearer ${token}` };
    const json = async <T>(response: Response, expected: number): Promise<T> => {
      if (response.status !== expected) throw new Error(`${response.url} answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as T;
    };

    const started = performance.now();
    const form = new FormData();
    form.append('file', await openAsBlob(csvPath, { type: 'text/csv' }), 'contacts.csv');
    const uploaded = await json<ImportBody>(await fetch(`${base}/imports`, { method: 'POST', headers: auth, body: form }), 201);
    const uploadMs = performance.now() - started;
    if (uploaded.totalRows !== ROWS) throw new Error(`The upload counted ${uploaded.totalRows} rows, not ${ROWS}`);
    const columns = uploaded.columns.map((column) => (column.header === 'Budget' ? { ...column, target: 'custom.budget' } : column));
    await json(await fetch(`${base}/imports/${uploaded.id}/settings`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ columns, mode: 'upsert' }) }), 200);
    await json(await fetch(`${base}/imports/${uploaded.id}/run`, { method: 'POST', headers: auth }), 202);
    const jobStarted = performance.now();
    let body: ImportBody;
    for (;;) {
      body = await json<ImportBody>(await fetch(`${base}/imports/${uploaded.id}`, { headers: auth }), 200);
      if (body.status === 'completed') break;
      if (body.status === 'failed' && body.error) throw new Error(`The import failed: ${body.error}`);
      if (worker.exitCode !== null) throw new Error('The worker exited during the import');
      await new Promise((r) => setTimeout(r, 100));
    }
    const done = performance.now();
    return { uploadMs, jobMs: done - jobStarted, totalMs: done - started, workerRssMb: peakRssMb(worker.pid!), apiRssMb: peakRssMb(api.pid!), body };
  } finally {
    if (worker.exitCode === null) await stop(worker);
    if (api.exitCode === null) await stop(api);
  }
}

async function clearQueues(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  try {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const csvPath = join(tmpdir(), `maestro-import-bench-${RUN}.csv`);
  let ok = true;
  try {
    const generated = performance.now();
    const { bytes, tagLinks } = await writeCsv(csvPath);
    console.log(`Generated ${ROWS} rows, ${(bytes / 1e6).toFixed(1)} MB in ${((performance.now() - generated) / 1000).toFixed(1)} s: ${csvPath}`);

    const base = await baseline(csvPath);
    const product = await throughApi(csvPath);

    const url = databaseUrl(API_DB);
    const [check] = await query<{ contacts: number; tagged: number; statused: number; budgets: number; history: number }>(
      url,
      `SELECT count(*)::int AS contacts,
              (SELECT count(*)::int FROM contact_tags ct JOIN contacts c2 ON c2.id = ct.contact_id WHERE c2.email LIKE '%@import-bench.example.com') AS tagged,
              count(*) FILTER (WHERE status_id IS NOT NULL)::int AS statused,
              count(*) FILTER (WHERE custom_fields ? 'budget')::int AS budgets,
              (SELECT count(*)::int FROM contact_status_history WHERE source = 'import') AS history
         FROM contacts WHERE email LIKE '%@import-bench.example.com'`,
    );
    const expectedBudgets = ROWS - Math.ceil(ROWS / 4);
    const counts = product.body.counts;
    const countsOk =
      check!.contacts === ROWS &&
      counts.created === ROWS &&
      counts.failed === 0 &&
      check!.tagged === tagLinks &&
      check!.statused === ROWS &&
      check!.budgets === expectedBudgets &&
      check!.history === ROWS;

    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const rate = (ms: number) => `${Math.round(ROWS / (ms / 1000)).toLocaleString('en')} rows/s`;
    const baselineMs = base.copyMs + base.mergeMs;
    const ratio = product.totalMs / baselineMs;
    console.log(`\nContacts import benchmark: ${ROWS} rows, ${(bytes / 1e6).toFixed(1)} MB, node ${process.version}\n`);
    console.log('| path | step | time | rows/s |');
    console.log('|---|---|---:|---:|');
    console.log(`| baseline | COPY into staging | ${s(base.copyMs)} | ${rate(base.copyMs)} |`);
    console.log(`| baseline | SQL merge (contacts, tags) | ${s(base.mergeMs)} | ${rate(base.mergeMs)} |`);
    console.log(`| baseline | total | ${s(baselineMs)} | ${rate(baselineMs)} |`);
    console.log(`| API | upload (multipart, parsed, staged) | ${s(product.uploadMs)} | ${rate(product.uploadMs)} |`);
    console.log(`| API | job (run → completed, worker) | ${s(product.jobMs)} | ${rate(product.jobMs)} |`);
    console.log(`| API | total, upload → completed | ${s(product.totalMs)} | ${rate(product.totalMs)} |`);
    console.log(`\nPeak RSS: worker ${product.workerRssMb.toFixed(0)} MB, API ${product.apiRssMb.toFixed(0)} MB`);
    console.log(`Counts: ${JSON.stringify(counts)}; contacts ${check!.contacts}, tag links ${check!.tagged}/${tagLinks}, with status ${check!.statused}, with budget ${check!.budgets}/${expectedBudgets}, status history (import) ${check!.history}`);
    console.log(`\nRatio API/baseline: ${ratio.toFixed(2)}×`);
    const ratioOk = ratio <= TARGET_RATIO;
    const rssOk = product.workerRssMb < TARGET_RSS_MB;
    console.log(`Import ≤ ${TARGET_RATIO}× COPY + merge: ${ratioOk ? 'PASS' : 'FAIL'} (${ratio.toFixed(2)}×)`);
    console.log(`Worker peak RSS < ${TARGET_RSS_MB} MB: ${rssOk ? 'PASS' : 'FAIL'} (${product.workerRssMb.toFixed(0)} MB)`);
    console.log(`Counts match the file: ${countsOk ? 'PASS' : 'FAIL'}`);
    ok = ratioOk && rssOk && countsOk;
  } finally {
    try {
      unlinkSync(csvPath);
    } catch {
      /* never written */
    }
    for (const database of [BASE_DB, API_DB]) {
      await query(ADMIN_URL, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await clearQueues(`bench_${database}`.slice(0, 50)).catch(() => undefined);
    }
  }
  if (!ok) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
