import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { QueryRunner } from 'typeorm';
import { JobsService } from '../../src/core/jobs/jobs.service';
import { LastContactedAccuracy1764800000000 } from '../../src/database/migrations/1764800000000-LastContactedAccuracy';
import { ActivitiesService, LAST_CONTACTED_CATCH_UP_MS, LAST_CONTACTED_QUEUE, LAST_CONTACTED_SCHEDULE_ID } from '../../src/modules/contacts/activities.service';
import { startTestApp, TEST_REDIS_URL, TestApp } from '../support/test-app';
import { until, untilWaitingForLocks } from '../support/wait';

/**
 * contacts.last_contacted_at as the database keeps it: under concurrent activity writes (two
 * sessions, the second blocked by the first until it commits), and for future-dated
 * activities once their time has passed. Arranged with SQL: the trigger must hold for every
 * write path.
 */

/** A DataSource or one session's QueryRunner. */
interface Queryable {
  query(sql: string, parameters?: unknown[]): Promise<unknown>;
}

const HOUR = 3600_000;
/** A whole-second instant `hours` from now, as PostgreSQL returns it. */
function hoursFromNow(hours: number): string {
  return new Date(Math.floor((Date.now() + hours * HOUR) / 1000) * 1000).toISOString();
}

let counter = 0;
async function insertContact(db: Queryable): Promise<string> {
  counter += 1;
  const tag = `lastcontacted${counter}x${Date.now().toString(36)}`;
  const rows = (await db.query(`INSERT INTO contacts (first_name, last_name, email) VALUES ('Last', $1, $2) RETURNING id`, [tag, `${tag}@example.com`])) as Array<{ id: string }>;
  return rows[0]!.id;
}

async function insertActivity(db: Queryable, contactId: string, occurredAt: string): Promise<string> {
  const rows = (await db.query(`INSERT INTO activities (contact_id, type, occurred_at) VALUES ($1, 'call', $2) RETURNING id`, [contactId, occurredAt])) as Array<{ id: string }>;
  return rows[0]!.id;
}

/** An activity `seconds` ahead of the database's clock; returns its id and time. */
async function insertSoonActivity(db: Queryable, contactId: string, seconds: number): Promise<{ id: string; at: string }> {
  const rows = (await db.query(
    `INSERT INTO activities (contact_id, type, subject, occurred_at) VALUES ($1, 'task', 'Call back', date_trunc('second', now()) + make_interval(secs => $2)) RETURNING id, occurred_at`,
    [contactId, seconds],
  )) as Array<{ id: string; occurred_at: Date | string }>;
  return { id: rows[0]!.id, at: new Date(rows[0]!.occurred_at).toISOString() };
}

async function lastContactedAt(db: Queryable, contactId: string): Promise<string | null> {
  const rows = (await db.query('SELECT last_contacted_at FROM contacts WHERE id = $1', [contactId])) as Array<{ last_contacted_at: Date | string | null }>;
  const value = rows[0]!.last_contacted_at;
  return value === null ? null : new Date(value).toISOString();
}

async function dueTimes(db: Queryable, contactId: string): Promise<string[]> {
  const rows = (await db.query('SELECT due_at FROM last_contacted_due WHERE contact_id = $1 ORDER BY due_at', [contactId])) as Array<{ due_at: Date | string }>;
  return rows.map((row) => new Date(row.due_at).toISOString());
}

/** Waits until the database's clock has passed `at`. */
async function passed(db: Queryable, at: string): Promise<void> {
  await until(async () => ((await db.query('SELECT now() > $1::timestamptz AS passed', [at])) as Array<{ passed: boolean }>)[0]!.passed || undefined, 10_000, `${at} to pass`);
}

/** The catch-up job's BullMQ scheduler, if any. */
async function catchUpScheduler(t: TestApp): Promise<unknown> {
  const connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  // The app's queues live under its JOBS_PREFIX, which the test harness sets to the database name.
  const queue = new Queue(LAST_CONTACTED_QUEUE, { connection, prefix: new URL(t.databaseUrl).pathname.slice(1) });
  try {
    return (await queue.getJobSchedulers()).find((entry) => entry.key === LAST_CONTACTED_SCHEDULE_ID);
  } finally {
    await queue.close();
    await connection.quit();
  }
}

/** Stops the periodic catch-up and waits for a run already queued, so catch-ups happen only when a test asks. */
async function withoutScheduledCatchUp(t: TestApp): Promise<void> {
  const jobs = t.app.get(JobsService);
  await jobs.unschedule(LAST_CONTACTED_QUEUE, LAST_CONTACTED_SCHEDULE_ID);
  await until(
    async () => {
      const counts = (await jobs.counts()).find((queue) => queue.queue === LAST_CONTACTED_QUEUE)!.counts;
      return counts.waiting + counts.active + counts.delayed === 0 || undefined;
    },
    10_000,
    'the queued catch-up to finish',
  );
}

describe('last-contacted time under concurrent activity writes', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  async function begin(): Promise<QueryRunner> {
    const runner = t.db.createQueryRunner();
    await runner.connect();
    await runner.startTransaction('READ COMMITTED');
    return runner;
  }

  /**
   * Runs `first` in one transaction, then `second` in another while the first is still open.
   * The second must end up waiting for a lock the first holds (otherwise the test would not
   * exercise the race at all); then the first commits, and the second finishes and commits.
   */
  async function race(first: (db: QueryRunner) => Promise<unknown>, second: (db: QueryRunner) => Promise<unknown>): Promise<void> {
    const one = await begin();
    const two = await begin();
    let pending: Promise<unknown> | undefined;
    try {
      await first(one);
      const [{ pid }] = (await two.query('SELECT pg_backend_pid() AS pid')) as Array<{ pid: number }>;
      pending = second(two);
      // Awaited below; until then a failure must not surface as an unhandled rejection.
      pending.catch(() => undefined);
      await until(
        async () => {
          const [{ blocked }] = (await t.db.query('SELECT $1::int = ANY (ARRAY(SELECT pid FROM pg_locks WHERE NOT granted)) AS blocked', [pid])) as Array<{ blocked: boolean }>;
          return blocked || undefined;
        },
        5000,
        'the second transaction to wait for the first',
      );
      await one.commitTransaction();
      await pending;
      await two.commitTransaction();
    } finally {
      if (one.isTransactionActive) await one.rollbackTransaction();
      if (pending) await pending.catch(() => undefined);
      if (two.isTransactionActive) await two.rollbackTransaction();
      await one.release();
      await two.release();
    }
  }

  it('an older activity logged while a newer one is being logged does not win', async () => {
    const contactId = await insertContact(t.db);
    const newer = hoursFromNow(-24);
    await race(
      (db) => insertActivity(db, contactId, newer),
      (db) => insertActivity(db, contactId, hoursFromNow(-48)),
    );
    expect(await lastContactedAt(t.db, contactId)).toBe(newer);
  });

  it('an activity logged "now" by a transaction that began later still counts for one that began earlier and waited behind it', async () => {
    const contactId = await insertContact(t.db);
    const early = await begin();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const late = await begin();
    let pending: Promise<unknown> | undefined;
    try {
      // The later transaction logs a call at its own start: past for it, future for the earlier one's start.
      const [{ now: called }] = (await late.query('SELECT now()')) as Array<{ now: Date }>;
      await insertActivity(late, contactId, called.toISOString());
      pending = insertActivity(early, contactId, hoursFromNow(-48));
      pending.catch(() => undefined);
      await untilWaitingForLocks(t.db, 1, 'the earlier writer to wait for the contact');
      await late.commitTransaction();
      await pending;
      await early.commitTransaction();
      expect(await lastContactedAt(t.db, contactId)).toBe(called.toISOString());
    } finally {
      for (const runner of [late, early]) {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
      }
      if (pending) await pending.catch(() => undefined);
      for (const runner of [late, early]) await runner.release();
    }
  });

  it('a newer activity deleted while an older one is being logged is not kept', async () => {
    const contactId = await insertContact(t.db);
    const newest = await insertActivity(t.db, contactId, hoursFromNow(-24));
    await insertActivity(t.db, contactId, hoursFromNow(-72));
    const logged = hoursFromNow(-48);
    await race(
      (db) => db.query('DELETE FROM activities WHERE id = $1', [newest]),
      (db) => insertActivity(db, contactId, logged),
    );
    expect(await lastContactedAt(t.db, contactId)).toBe(logged);
  });

  it('an activity moved back in time meanwhile is seen at its new time', async () => {
    const contactId = await insertContact(t.db);
    const moved = await insertActivity(t.db, contactId, hoursFromNow(-24));
    const logged = hoursFromNow(-48);
    await race(
      (db) => db.query('UPDATE activities SET occurred_at = $2 WHERE id = $1', [moved, hoursFromNow(-72)]),
      (db) => insertActivity(db, contactId, logged),
    );
    expect(await lastContactedAt(t.db, contactId)).toBe(logged);
  });

  it('an activity moved forward in time meanwhile is seen at its new time', async () => {
    const contactId = await insertContact(t.db);
    const moved = await insertActivity(t.db, contactId, hoursFromNow(-72));
    const later = hoursFromNow(-24);
    await race(
      (db) => db.query('UPDATE activities SET occurred_at = $2 WHERE id = $1', [moved, later]),
      (db) => insertActivity(db, contactId, hoursFromNow(-48)),
    );
    expect(await lastContactedAt(t.db, contactId)).toBe(later);
  });

  it('an activity moved to another contact meanwhile counts for that contact only', async () => {
    const from = await insertContact(t.db);
    const to = await insertContact(t.db);
    const movedAt = hoursFromNow(-24);
    const moved = await insertActivity(t.db, from, movedAt);
    const logged = hoursFromNow(-48);
    await race(
      (db) => db.query('UPDATE activities SET contact_id = $2 WHERE id = $1', [moved, to]),
      (db) => insertActivity(db, from, logged),
    );
    expect(await lastContactedAt(t.db, from)).toBe(logged);
    expect(await lastContactedAt(t.db, to)).toBe(movedAt);
  });

  it('two deletes at once leave the time of the activity that is left', async () => {
    const contactId = await insertContact(t.db);
    const newest = await insertActivity(t.db, contactId, hoursFromNow(-24));
    const middle = await insertActivity(t.db, contactId, hoursFromNow(-48));
    const oldest = hoursFromNow(-72);
    await insertActivity(t.db, contactId, oldest);
    await race(
      (db) => db.query('DELETE FROM activities WHERE id = $1', [newest]),
      (db) => db.query('DELETE FROM activities WHERE id = $1', [middle]),
    );
    expect(await lastContactedAt(t.db, contactId)).toBe(oldest);
  });
});

describe('future-dated activities count once their time has passed', () => {
  let t: TestApp;
  let activities: ActivitiesService;
  let scheduler: unknown;

  beforeAll(async () => {
    t = await startTestApp();
    activities = t.app.get(ActivitiesService);
    scheduler = await catchUpScheduler(t);
    await withoutScheduledCatchUp(t);
  });
  afterAll(() => t.close());

  it('is scheduled every minute', () => {
    expect(scheduler).toMatchObject({ every: LAST_CONTACTED_CATCH_UP_MS });
  });

  it('a scheduled call is not a contact yet; the catch-up job makes it the last contact once its time has passed', async () => {
    const contactId = await insertContact(t.db);
    const earlier = hoursFromNow(-48);
    await insertActivity(t.db, contactId, earlier);
    const scheduled = await insertSoonActivity(t.db, contactId, 2);
    expect(await lastContactedAt(t.db, contactId)).toBe(earlier);
    expect(await dueTimes(t.db, contactId)).toEqual([scheduled.at]);

    await passed(t.db, scheduled.at);
    await t.app.get(JobsService).enqueue(LAST_CONTACTED_QUEUE, {});
    await until(async () => ((await lastContactedAt(t.db, contactId)) === scheduled.at ? true : undefined), 10_000, 'the job to count the call');
    expect(await dueTimes(t.db, contactId)).toEqual([]);
  });

  it('a due time whose activity was deleted or moved further ahead changes nothing', async () => {
    const contactId = await insertContact(t.db);
    const earlier = hoursFromNow(-48);
    await insertActivity(t.db, contactId, earlier);
    const cancelled = await insertSoonActivity(t.db, contactId, 1);
    const postponed = await insertSoonActivity(t.db, contactId, 2);
    await t.db.query('DELETE FROM activities WHERE id = $1', [cancelled.id]);
    const nextWeek = hoursFromNow(24 * 7);
    await t.db.query('UPDATE activities SET occurred_at = $2 WHERE id = $1', [postponed.id, nextWeek]);

    await passed(t.db, postponed.at);
    await activities.catchUpLastContacted();
    expect(await lastContactedAt(t.db, contactId)).toBe(earlier);
    expect(await dueTimes(t.db, contactId)).toEqual([nextWeek]);
  });

  it('leaves a contact another transaction holds for a later pass instead of waiting for it', async () => {
    const contactId = await insertContact(t.db);
    const scheduled = await insertSoonActivity(t.db, contactId, 1);
    await passed(t.db, scheduled.at);

    const holder = t.db.createQueryRunner();
    await holder.connect();
    try {
      await holder.startTransaction();
      await holder.query('SELECT 1 FROM contacts WHERE id = $1 FOR NO KEY UPDATE', [contactId]);
      await t.db.query('SELECT catch_up_last_contacted(100)');
      expect(await lastContactedAt(t.db, contactId)).toBeNull();
      expect(await dueTimes(t.db, contactId)).toEqual([scheduled.at]);
      await holder.commitTransaction();
    } finally {
      if (holder.isTransactionActive) await holder.rollbackTransaction();
      await holder.release();
    }

    await activities.catchUpLastContacted();
    expect(await lastContactedAt(t.db, contactId)).toBe(scheduled.at);
    expect(await dueTimes(t.db, contactId)).toEqual([]);
  });

  it('settles more due contacts than one batch holds in one run', async () => {
    const contactIds: string[] = (
      (await t.db.query(
        `INSERT INTO contacts (first_name, last_name) SELECT 'Batch', 'Contact ' || g FROM generate_series(1, 1200) AS g RETURNING id`,
      )) as Array<{ id: string }>
    ).map((row) => row.id);
    const [{ at }] = (await t.db.query(
      `INSERT INTO activities (contact_id, type, occurred_at) SELECT id, 'task', date_trunc('second', now()) + interval '1 second' FROM unnest($1::uuid[]) AS id RETURNING occurred_at AS at`,
      [contactIds],
    )) as Array<{ at: Date }>;
    await passed(t.db, at.toISOString());
    await activities.catchUpLastContacted();
    const [{ behind }] = (await t.db.query('SELECT count(*)::int AS behind FROM contacts WHERE id = ANY($1::uuid[]) AND last_contacted_at IS DISTINCT FROM $2', [contactIds, at])) as Array<{
      behind: number;
    }>;
    expect(behind).toBe(0);
  });
});

describe('the migration', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
    await withoutScheduledCatchUp(t);
  });
  afterAll(() => t.close());

  async function migrate(direction: 'up' | 'down'): Promise<void> {
    const runner = t.db.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      await new LastContactedAccuracy1764800000000()[direction](runner);
      await runner.commitTransaction();
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  }

  it('queues the future activities and the contacts whose stored time is already wrong', async () => {
    await migrate('down');
    const stale = await insertContact(t.db);
    const contacted = hoursFromNow(-5);
    await insertActivity(t.db, stale, contacted);
    await t.db.query('UPDATE contacts SET last_contacted_at = NULL WHERE id = $1', [stale]);
    const ahead = await insertContact(t.db);
    const tomorrow = hoursFromNow(24);
    await insertActivity(t.db, ahead, tomorrow);
    const right = await insertContact(t.db);
    await insertActivity(t.db, right, hoursFromNow(-3));
    await migrate('up');

    expect(await dueTimes(t.db, stale)).toHaveLength(1);
    expect(await dueTimes(t.db, ahead)).toEqual([tomorrow]);
    expect(await dueTimes(t.db, right)).toEqual([]);
    await t.app.get(ActivitiesService).catchUpLastContacted();
    expect(await lastContactedAt(t.db, stale)).toBe(contacted);
    expect(await lastContactedAt(t.db, ahead)).toBeNull();
  });
});

/**
 * PGlite cannot be loaded inside Jest's module sandbox, so a plain Node process runs the SQL:
 * multi-statement text through exec, parameterised statements through query, as the app's
 * PGlite pool does. Each step's rows come back as JSON.
 */
const PGLITE_RUNNER = `
const { PGlite } = require('@electric-sql/pglite');
const steps = JSON.parse(require('node:fs').readFileSync(process.argv[1], 'utf8'));
(async () => {
  const db = await PGlite.create();
  const out = [];
  for (const step of steps) {
    if (step.sleepMs) await new Promise((resolve) => setTimeout(resolve, step.sleepMs));
    if (!step.sql) { out.push([]); continue; }
    try {
      if (step.params) out.push((await db.query(step.sql, step.params)).rows);
      else { const results = await db.exec(step.sql); out.push(results.length ? results[results.length - 1].rows : []); }
    } catch (error) {
      throw new Error(error.message + ' in: ' + step.sql.slice(0, 300));
    }
  }
  await db.close();
  process.stdout.write(JSON.stringify(out));
})().catch((error) => { console.error(error.message); process.exit(1); });
`;

interface Step {
  sql?: string;
  params?: unknown[];
  sleepMs?: number;
}

/** The SQL every migration's up() (or down()) sends, in order. */
async function migrationSql(direction: 'up' | 'down', only?: string): Promise<Step[]> {
  const dir = join(__dirname, '..', '..', 'src', 'database', 'migrations');
  const files = readdirSync(dir).filter((file) => /^\d+-\w+\.ts$/.test(file) && (!only || file.startsWith(only))).sort();
  const steps: Step[] = [];
  // The database is empty while migrations run, so a migration that reads rows finds none.
  const recorder = {
    query: async (sql: string, params?: unknown[]) => {
      steps.push(params?.length ? { sql, params } : { sql });
      return [];
    },
  };
  for (const file of files) {
    // required, not imported: Jest's sandbox runs no dynamic import without --experimental-vm-modules
    const module = require(join(dir, file)) as Record<string, new () => { up(db: unknown): Promise<void>; down(db: unknown): Promise<void> }>;
    for (const Migration of Object.values(module)) await new Migration()[direction](recorder);
  }
  return steps;
}

describe('on the embedded database (PGlite)', () => {
  it('keeps the time through inserts, moves and deletes, catches up on scheduled activities, and reverts', async () => {
    const [a, b] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b'];
    const [first, second, soon] = ['00000000-0000-4000-8000-000000000001', '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003'];
    const [earlier, later] = [hoursFromNow(-48), hoursFromNow(-24)];
    const times = `SELECT id, last_contacted_at FROM contacts WHERE id IN ('${a}', '${b}') ORDER BY id`;
    const scenario: Step[] = [
      { sql: `INSERT INTO contacts (id, first_name, last_name) VALUES ('${a}', 'Embedded', 'A'), ('${b}', 'Embedded', 'B')` },
      { sql: `INSERT INTO activities (id, contact_id, type, occurred_at) VALUES ($1, $2, 'call', $3), ($4, $2, 'call', $5)`, params: [first, a, earlier, second, later] },
      { sql: times },
      { sql: 'UPDATE activities SET contact_id = $2 WHERE id = $1', params: [second, b] },
      { sql: times },
      { sql: 'DELETE FROM activities WHERE id = $1', params: [second] },
      { sql: `INSERT INTO activities (id, contact_id, type, occurred_at) VALUES ($1, $2, 'task', clock_timestamp() + interval '2 seconds') RETURNING occurred_at`, params: [soon, a] },
      { sql: `SELECT c.last_contacted_at, (SELECT count(*)::int FROM last_contacted_due d WHERE d.contact_id = c.id) AS due FROM contacts c WHERE c.id = '${a}'` },
      // Past its time, whatever the machine's pace: the catch-up counts it then.
      { sleepMs: 2500, sql: 'SELECT catch_up_last_contacted(500) AS settled' },
      { sql: times },
      ...(await migrationSql('down', '1764800000000')),
      { sql: `SELECT to_regclass('last_contacted_due') IS NULL AS gone, to_regprocedure('catch_up_last_contacted(integer)') IS NULL AS function_gone` },
      { sql: 'DELETE FROM activities WHERE id = $1', params: [soon] },
      { sql: times },
    ];
    const dir = mkdtempSync(join(tmpdir(), 'maestro-pglite-'));
    try {
      const input = join(dir, 'steps.json');
      const migrations = await migrationSql('up');
      writeFileSync(input, JSON.stringify([...migrations, ...scenario]));
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', PGLITE_RUNNER, input], { cwd: join(__dirname, '..', '..'), maxBuffer: 16 * 1024 * 1024 });
      const results = (JSON.parse(stdout) as unknown[][]).slice(migrations.length);
      const at = (value: unknown) => (value === null ? null : new Date(value as string).toISOString());
      const row = (step: number) => results[step] as Array<Record<string, unknown>>;

      expect(row(2).map((r) => at(r.last_contacted_at))).toEqual([later, null]);
      expect(row(4).map((r) => at(r.last_contacted_at))).toEqual([earlier, later]);
      const soonAt = at(row(6)[0]!.occurred_at);
      expect(row(7)).toEqual([{ last_contacted_at: expect.anything(), due: 1 }]);
      expect(at(row(7)[0]!.last_contacted_at)).toBe(earlier);
      expect(row(8)).toEqual([{ settled: 1 }]);
      expect(row(9).map((r) => at(r.last_contacted_at))).toEqual([soonAt, null]);
      expect(results[results.length - 3]).toEqual([{ gone: true, function_gone: true }]);
      // The restored trigger still works.
      expect(row(results.length - 1).map((r) => at(r.last_contacted_at))).toEqual([earlier, null]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
