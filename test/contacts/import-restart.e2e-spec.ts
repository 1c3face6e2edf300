import { Queue } from 'bullmq';
import { Client } from 'pg';
import request from 'supertest';
import { DASHBOARD_REFRESH_QUEUE, DASHBOARD_SCHEDULE_ID } from '../../src/modules/dashboard/jobs/dashboard-refresh.job';
import { register, Session } from '../support/actors';
import { Child, ensureBuilt, freePort, startNode, startRedis } from '../support/processes';
import { createDatabase, dropDatabase, startTestApp, TestApp, TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_JWT_SECRET } from '../support/test-app';
import { until } from '../support/wait';

/**
 * Nothing is lost when the services under an import go away mid-run: PostgreSQL refusing
 * connections for a while, Redis restarting without its data, or an embedded process dying.
 * Each import ends `completed` with exactly the counts a calm run gives, one contact per email,
 * and every imported contact whole (its status and tags are there).
 */

const JWT_SECRET = TEST_JWT_SECRET;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type Http = ReturnType<typeof request>;
interface Counts {
  created: number;
  updated: number;
  skipped: number;
  failed: number;
}
interface Progress {
  id: string;
  status: string;
  processedRows: number;
  totalRows: number;
  counts: Counts;
  error: string | null;
}

/** Children started by a test; killed after it whatever happened. */
const children: Child[] = [];
afterEach(async () => {
  await Promise.all(children.splice(0).map((child) => child.kill()));
});

function adminQuery<T = Record<string, unknown>>(sql: string, params: unknown[] = [], database?: string): Promise<T[]> {
  const url = new URL(TEST_POSTGRES_URL);
  if (database) url.pathname = `/${database}`;
  const client = new Client({ connectionString: url.toString() });
  return client
    .connect()
    .then(() => client.query(sql, params))
    .then((result) => result.rows as T[])
    .finally(() => client.end());
}

function startWorker(databaseUrl: string, redisUrl: string, prefix: string): Child {
  const worker = startNode('worker.js', { NODE_ENV: 'test', DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, JOBS_PREFIX: prefix, JWT_SECRET, LOG_LEVEL: 'warn', FEATURES_POLL_MS: '60000' });
  children.push(worker);
  return worker;
}

/** Fails at once, with the child's last output, when a process the test relies on died. */
function alive(...processes: Child[]): void {
  for (const child of processes) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(`A child process exited (${child.process.exitCode ?? child.process.signalCode}):\n${child.output()}`);
    }
  }
}

/**
 * An upsert file against `existing` contacts already in the database (the first `trashed` of
 * them in the trash): new rows, rows updating, rows skipped, repeated emails and invalid
 * emails, spread through the file so every chunk has some of each.
 */
function upsertFile(marker: string, sizes: { fresh: number; existing: number; trashed: number; repeats: number; invalid: number }) {
  const special: string[] = [];
  for (let j = 0; j < sizes.existing; j += 1) special.push(`Updated${j},${marker},e${j}.${marker}@example.com,batch ${j % 3},Customer`);
  for (let k = 0; k < sizes.repeats; k += 1) special.push(`Again${k},${marker},p${k * 7}.${marker}@example.com,batch 1,Customer`);
  for (let k = 0; k < sizes.invalid; k += 1) special.push(`Broken${k},${marker},not-an-email-${k},batch 2,Customer`);
  const lines = ['First Name,Last Name,Email,Tags,Status'];
  const every = Math.max(1, Math.floor(sizes.fresh / (special.length + 1)));
  let next = 0;
  for (let i = 0; i < sizes.fresh; i += 1) {
    lines.push(`Person${i},${marker},p${i}.${marker}@example.com,batch ${i % 3},Customer`);
    // Repeats come after the row they repeat (p{k*7} with k*7 < i), so the first one is the new contact.
    if (i % every === every - 1 && next < special.length && (!special[next]!.startsWith('Again') || Number(/p(\d+)\./.exec(special[next]!)![1]) < i)) lines.push(special[next++]!);
  }
  while (next < special.length) lines.push(special[next++]!);
  return {
    csv: Buffer.from(lines.join('\n')),
    total: lines.length - 1,
    counts: { created: sizes.fresh, updated: sizes.existing - sizes.trashed, skipped: sizes.trashed, failed: sizes.repeats + sizes.invalid },
  };
}

function createFile(marker: string, prefix: string, rows: number) {
  const lines = ['First Name,Last Name,Email,Tags,Status'];
  for (let i = 0; i < rows; i += 1) lines.push(`Person${i},${marker},${prefix}${i}.${marker}@example.com,batch ${i % 3},Customer`);
  return { csv: Buffer.from(lines.join('\n')), total: rows, counts: { created: rows, updated: 0, skipped: 0, failed: 0 } };
}

async function runImport(http: Http, admin: Session, csv: Buffer, mode: 'create' | 'upsert'): Promise<string> {
  const uploaded = (await http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', csv, 'contacts.csv').expect(201)).body;
  await http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns: uploaded.columns, mode }).expect(200);
  await http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(admin.auth).expect(202);
  return uploaded.id;
}

async function progress(http: Http, admin: Session, id: string): Promise<Progress> {
  return (await http.get(`/api/v1/contacts/imports/${id}`).set(admin.auth).expect(200)).body;
}

/** Waits until the import is at least `share` done, and says how far it was. */
async function reached(http: Http, admin: Session, id: string, share: number, watch: Child[]): Promise<Progress> {
  return until(
    async () => {
      alive(...watch);
      const body = await progress(http, admin, id);
      if (body.status === 'completed' || body.processedRows >= body.totalRows) throw new Error(`The import finished before the outage could begin (${body.processedRows} rows)`);
      return body.processedRows >= body.totalRows * share ? body : undefined;
    },
    60_000,
    `import ${id} to reach ${share * 100}%`,
  );
}

async function completed(http: Http, admin: Session, id: string, watch: Child[], timeoutMs = 90_000): Promise<Progress> {
  try {
    return await until(
      async () => {
        alive(...watch);
        const body = await progress(http, admin, id);
        return body.status === 'completed' ? body : undefined;
      },
      timeoutMs,
      `import ${id} to complete`,
    );
  } catch (error) {
    const last = await progress(http, admin, id).catch(() => undefined);
    throw new Error(`${(error as Error).message}; last seen ${JSON.stringify(last)}\n${watch.map((child) => child.output()).join('\n---\n')}`);
  }
}

/** One contact per email, each whole: a status and a tag from the file on every one the file created or updated. */
async function expectWholeContacts(query: (sql: string, params: unknown[]) => Promise<Array<Record<string, number>>>, marker: string, contacts: number, fromFile: number) {
  const [row] = await query(
    `SELECT count(*)::int AS contacts, count(DISTINCT email_key)::int AS emails,
            count(*) FILTER (WHERE c.deleted_at IS NULL AND s.name = 'Customer'
                               AND EXISTS (SELECT 1 FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_id = c.id AND t.name LIKE 'Batch %')
                               AND c.first_name NOT LIKE 'Old%')::int AS whole
       FROM contacts c LEFT JOIN contact_statuses s ON s.id = c.status_id
      WHERE c.last_name = $1`,
    [marker],
  );
  expect(row).toEqual({ contacts, emails: contacts, whole: fromFile });
}

describe('imports across a PostgreSQL outage', () => {
  let database: string;
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    ensureBuilt();
    database = await createDatabase();
    t = await startTestApp({ JOBS_PROCESS: 'false' }, database);
    admin = await register(t, 'admin');
  }, 180_000);

  afterAll(async () => {
    await t?.close();
    if (database) await dropDatabase(database);
  });

  it('resumes after the database dropped every connection and refused new ones, with exact counts', async () => {
    const worker = startWorker(t.databaseUrl, TEST_REDIS_URL, database);
    const marker = `pg${Date.now().toString(36)}`;
    const sizes = { fresh: 24_000, existing: 300, trashed: 60, repeats: 100, invalid: 100 };

    // Contacts the big file updates or skips (those in the trash) are there first.
    const seed = ['First Name,Last Name,Email,Tags,Status'];
    for (let j = 0; j < sizes.existing; j += 1) seed.push(`Old${j},${marker},e${j}.${marker}@example.com,old,Prospect`);
    const seedId = await runImport(t.http, admin, Buffer.from(seed.join('\n')), 'create');
    await completed(t.http, admin, seedId, [worker]);
    await t.db.query(`UPDATE contacts SET deleted_at = now() WHERE last_name = $1 AND email_key = ANY($2::text[])`, [
      marker,
      Array.from({ length: sizes.trashed }, (_, j) => `e${j}.${marker}@example.com`),
    ]);

    const file = upsertFile(marker, sizes);
    const id = await runImport(t.http, admin, file.csv, 'upsert');
    const before = await reached(t.http, admin, id, 0.1, [worker]);
    expect(before.processedRows).toBeLessThan(file.total * 0.9);

    // What a restarting server looks like to its clients, for this database only: every
    // session is cut, and new ones are refused (superusers too) until it is back.
    const outageStarted = new Date();
    await adminQuery(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS false`);
    let cut = 0;
    try {
      for (const ends = Date.now() + 5000; Date.now() < ends; await sleep(250)) {
        const [{ n }] = await adminQuery<{ n: number }>('SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
        cut += n;
      }
      await expect(adminQuery('SELECT 1', [], database)).rejects.toThrow(/not currently accepting connections/);
    } finally {
      await adminQuery(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`);
    }
    expect(cut).toBeGreaterThan(0);

    // The API's pool replaces its dead connections: it answers again, and keeps answering.
    await until(async () => ((await t.http.get(`/api/v1/contacts/imports/${id}`).set(admin.auth)).status === 200 ? true : undefined), 20_000, 'the API to answer again');
    const done = await completed(t.http, admin, id, [worker]);
    expect(done).toMatchObject({ status: 'completed', processedRows: file.total, totalRows: file.total, counts: file.counts });
    const [{ finished }] = await t.db.query('SELECT finished_at > $2 AS finished FROM contact_imports WHERE id = $1', [id, outageStarted]);
    expect(finished).toBe(true);
    await expectWholeContacts((sql, params) => t.db.query(sql, params), marker, sizes.fresh + sizes.existing, sizes.fresh + sizes.existing - sizes.trashed);
    alive(worker);
  }, 180_000);
});

describe('imports across a Redis restart that loses every queued job', () => {
  let database: string;
  let t: TestApp;
  let admin: Session;
  let redisPort: number;
  let redisUrl: string;
  /** The private Redis of this block, replaced by a new, empty one when a test restarts it. */
  let redis: (Child & { url: string }) | undefined;

  const restartRedis = async () => {
    await redis?.kill();
    redis = await startRedis(redisPort);
    return redis;
  };

  beforeAll(async () => {
    ensureBuilt();
    redisPort = await freePort();
    redisUrl = (await restartRedis()).url;
    database = await createDatabase();
    t = await startTestApp({ JOBS_PROCESS: 'false', REDIS_URL: redisUrl }, database);
    admin = await register(t, 'admin');
  }, 180_000);

  afterEach(async () => {
    if (!redis || redis.process.exitCode !== null || redis.process.signalCode !== null) await restartRedis();
  });

  afterAll(async () => {
    await t?.close();
    await redis?.kill();
    if (database) await dropDatabase(database);
  });

  it('finishes the running imports and re-enqueues the one that was waiting, each once', async () => {
    const marker = `rd${Date.now().toString(36)}`;
    const files = [createFile(marker, 'a', 12_000), createFile(marker, 'b', 12_000), createFile(marker, 'c', 3_000)];
    const ids: string[] = [];
    for (const file of files) ids.push(await runImport(t.http, admin, file.csv, 'create'));
    // Two imports run at a time in a worker: the third waits in Redis.
    const worker = startWorker(t.databaseUrl, redisUrl, database);
    const first = await reached(t.http, admin, ids[0]!, 0.1, [worker, redis!]);
    const [second, third] = [await progress(t.http, admin, ids[1]!), await progress(t.http, admin, ids[2]!)];
    expect(second.status).toBe('running');
    expect(third.status).toBe('queued');

    await redis!.kill();
    expect(first.processedRows).toBeLessThan(files[0]!.total * 0.9);
    await sleep(3000);
    alive(worker);
    await restartRedis();

    for (const [i, id] of ids.entries()) {
      const done = await completed(t.http, admin, id, [worker, redis!]);
      expect(done).toMatchObject({ status: 'completed', processedRows: files[i]!.total, counts: files[i]!.counts });
    }
    const contacts = files.reduce((sum, file) => sum + file.total, 0);
    await expectWholeContacts((sql, params) => t.db.query(sql, params), marker, contacts, contacts);
    // The new Redis only ever saw the waiting import's job: the running ones were not started again.
    const overview = (await t.http.get('/api/v1/jobs').set(admin.auth).expect(200)).body;
    expect(overview.queues.find((q: { queue: string }) => q.queue === 'contacts.import').counts).toMatchObject({ waiting: 0, active: 0, delayed: 0, completed: 1, failed: 0 });
    // Schedules were lost with the rest and are back.
    const dashboard = new Queue(DASHBOARD_REFRESH_QUEUE, { connection: { url: redisUrl }, prefix: database });
    try {
      await until(async () => ((await dashboard.getJobSchedulers()).some((s) => s.key === DASHBOARD_SCHEDULE_ID) ? true : undefined), 15_000, 'the dashboard schedule');
    } finally {
      await dashboard.close();
    }
    alive(worker, redis!);
  }, 180_000);

  it('resumes an import whose worker died while Redis was down, in the next worker', async () => {
    const marker = `rw${Date.now().toString(36)}`;
    const file = createFile(marker, 'p', 20_000);
    const id = await runImport(t.http, admin, file.csv, 'create');
    const worker = startWorker(t.databaseUrl, redisUrl, database);
    const before = await reached(t.http, admin, id, 0.1, [worker, redis!]);
    expect(before.processedRows).toBeLessThan(file.total * 0.9);

    await redis!.kill();
    await worker.kill();
    const [{ status, processed }] = await t.db.query('SELECT status, processed_rows AS processed FROM contact_imports WHERE id = $1', [id]);
    expect(status).toBe('running');
    expect(processed).toBeLessThan(file.total);
    await restartRedis();

    const next = startWorker(t.databaseUrl, redisUrl, database);
    const done = await completed(t.http, admin, id, [next, redis!]);
    expect(done).toMatchObject({ status: 'completed', processedRows: file.total, counts: file.counts });
    await expectWholeContacts((sql, params) => t.db.query(sql, params), marker, file.total, file.total);
    alive(next, redis!);
  }, 180_000);
});

describe('an embedded-shape import (jobs in-process) whose API process dies', () => {
  let database: string;

  beforeAll(async () => {
    ensureBuilt('main.js');
    database = await createDatabase();
  }, 180_000);

  afterAll(async () => {
    if (database) await dropDatabase(database);
  });

  it('is resumed from its checkpoint when the API starts again', async () => {
    const url = new URL(TEST_POSTGRES_URL);
    url.pathname = `/${database}`;
    const port = await freePort();
    const startApi = async () => {
      // No REDIS_URL: jobs live in the API process's memory, as on a laptop.
      const api = startNode('main.js', {
        NODE_ENV: 'test',
        DATABASE_URL: url.toString(),
        REDIS_URL: '',
        PORT: String(port),
        HOST: '127.0.0.1',
        JWT_SECRET,
        LOG_LEVEL: 'warn',
        FEATURES_POLL_MS: '60000',
        DATA_DIR: `./data/test-${database}`,
      });
      children.push(api);
      const http = request(`http://127.0.0.1:${port}`);
      await until(
        async () => {
          alive(api);
          return (await http.get('/health').then((r) => r.status, () => 0)) === 200 ? true : undefined;
        },
        60_000,
        'the API to start',
      );
      return { api, http };
    };

    const first = await startApi();
    const admin = await register({ http: first.http } as TestApp, 'admin');
    const marker = `ip${Date.now().toString(36)}`;
    const file = createFile(marker, 'p', 20_000);
    const id = await runImport(first.http, admin, file.csv, 'create');
    const before = await reached(first.http, admin, id, 0.1, [first.api]);
    expect(before.processedRows).toBeLessThan(file.total * 0.9);
    await first.api.kill();
    const [left] = await adminQuery<{ status: string; processed: number }>('SELECT status, processed_rows AS processed FROM contact_imports WHERE id = $1', [id], database);
    expect(left!.status).toBe('running');
    expect(left!.processed).toBeLessThan(file.total);

    const second = await startApi();
    const done = await completed(second.http, admin, id, [second.api]);
    expect(done).toMatchObject({ status: 'completed', processedRows: file.total, counts: file.counts });
    await expectWholeContacts((sql, params) => adminQuery(sql, params, database), marker, file.total, file.total);
    alive(second.api);
  }, 180_000);
});
