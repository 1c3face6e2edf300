import { execFile, execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { createDatabase, dropDatabase, TEST_POSTGRES_URL, TEST_JWT_SECRET } from '../support/test-app';

/**
 * The demo-data command (`npm run seed:demo`), run as the compiled script against fresh
 * PostgreSQL databases; the data is checked with SQL.
 */

const ROOT = join(__dirname, '..', '..');
const SCRIPT = join(ROOT, 'dist', 'scripts', 'seed-demo.js');
const SOURCE = join(ROOT, 'src', 'scripts', 'seed-demo.ts');
const CONTACTS = 2000;
const PER_CONTACT = 3;
const STAFF = 20;
const DEMO_EMAIL = String.raw`^[a-z0-9]+\.[a-z0-9]+\.[0-9]+@demo\.maestro\.test$`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function urlOf(database: string): string {
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${database}`;
  return url.toString();
}

function seed(database: string, args: string[]): Promise<Run> {
  const env = {
    ...process.env,
    NODE_ENV: 'test',
    DATABASE_URL: urlOf(database),
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'error',
  };
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, ...args], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function query<T>(database: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: urlOf(database) });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

async function one<T>(database: string, sql: string, params: unknown[] = []): Promise<T> {
  return (await query<T>(database, sql, params))[0]!;
}

/** Everything seeded that does not depend on the run time or on generated ids. */
function fingerprint(database: string): Promise<{ md5: string }> {
  return one(
    database,
    `SELECT md5(string_agg(concat_ws('|', c.email, c.first_name, c.last_name, c.phone, c.company, c.city, s.name,
                                     (SELECT count(*) FROM activities a WHERE a.contact_id = c.id),
                                     (SELECT string_agg(t.name, ',' ORDER BY t.name) FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_id = c.id)),
                           ';' ORDER BY c.email_key)) AS md5
       FROM contacts c LEFT JOIN contact_statuses s ON s.id = c.status_id
      WHERE c.email_key ~ $1`,
    [DEMO_EMAIL],
  );
}

function firstNames(database: string): Promise<Array<{ first_name: string; last_name: string }>> {
  return query(
    database,
    `SELECT first_name, last_name FROM contacts WHERE email_key ~ $1
      ORDER BY substring(email_key FROM '\\.([0-9]+)@')::int LIMIT 10`,
    [DEMO_EMAIL],
  );
}

describe('seed:demo', () => {
  const databases: string[] = [];
  let main: string;
  let run: Run;

  beforeAll(async () => {
    // The command runs compiled, as `npm run seed:demo` runs it; build only when the output is missing or stale.
    if (!existsSync(SCRIPT) || statSync(SCRIPT).mtimeMs < statSync(SOURCE).mtimeMs) {
      try {
        execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
      } catch {
        // Type errors elsewhere in the tree still emit JavaScript; what matters is the script below.
      }
    }
    if (!existsSync(SCRIPT)) throw new Error(`${SCRIPT} is missing after npm run build`);
    main = await createDatabase();
    databases.push(main);
    run = await seed(main, ['--contacts', String(CONTACTS), '--activities-per-contact', String(PER_CONTACT), '--yes']);
    if (run.code !== 0) throw new Error(`seed:demo failed (${run.code}):\n${run.stdout}\n${run.stderr}`);
  }, 300_000);

  afterAll(async () => {
    for (const database of databases) await dropDatabase(database);
  });

  it('prints progress and a summary with timings', () => {
    expect(run.stdout).toMatch(/Done\./);
    expect(run.stdout).toMatch(/contacts\s+2,000 rows/);
    expect(run.stdout).toMatch(/bulk load\s+[\d.]+s/);
    expect(run.stdout).toMatch(/rows\/s/);
  });

  it('creates the demo contacts next to the staff, with unique lower-case e-mails', async () => {
    const counts = await one<{ total: number; demo: number; emails: number; staff_contacts: number }>(
      main,
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE email_key ~ $1)::int AS demo,
              count(DISTINCT email)::int AS emails,
              count(*) FILTER (WHERE email_key LIKE 'staff%@demo.maestro.test')::int AS staff_contacts
         FROM contacts`,
      [DEMO_EMAIL],
    );
    expect(counts).toEqual({ total: CONTACTS + STAFF, demo: CONTACTS, emails: CONTACTS + STAFF, staff_contacts: STAFF });
    const upper = await one<{ n: number }>(main, `SELECT count(*)::int AS n FROM contacts WHERE email <> lower(email)`);
    expect(upper.n).toBe(0);
  });

  it('makes staff users with the staff role and no password, and assigns about 70% of the contacts to them', async () => {
    const staff = await one<{ users: number; with_role: number; with_password: number }>(
      main,
      `SELECT count(*)::int AS users,
              count(*) FILTER (WHERE EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id AND r.system_key = 'staff'))::int AS with_role,
              count(*) FILTER (WHERE password_hash IS NOT NULL)::int AS with_password
         FROM users u WHERE email_key ~ '^staff[0-9]+@demo\\.maestro\\.test$'`,
    );
    expect(staff).toEqual({ users: STAFF, with_role: STAFF, with_password: 0 });
    const shares = await one<{ assigned: number; sourced: number; staff_only: boolean }>(
      main,
      `SELECT avg((assigned_to_id IS NOT NULL)::int)::float AS assigned,
              avg((traffic_source_id IS NOT NULL)::int)::float AS sourced,
              bool_and(assigned_to_id IS NULL OR assigned_to_id IN (SELECT id FROM users WHERE email_key LIKE 'staff%')) AS staff_only
         FROM contacts WHERE email_key ~ $1`,
      [DEMO_EMAIL],
    );
    expect(shares.assigned).toBeGreaterThan(0.65);
    expect(shares.assigned).toBeLessThan(0.75);
    expect(shares.sourced).toBeGreaterThan(0.75);
    expect(shares.sourced).toBeLessThan(0.85);
    expect(shares.staff_only).toBe(true);
  });

  it('spreads statuses about 50/25/20/5 with a few contacts without one, and 0–3 tags and 0–2 services each', async () => {
    const statuses = await query<{ stage: string | null; share: number }>(
      main,
      `SELECT s.stage, count(*)::float / ${CONTACTS} AS share FROM contacts c LEFT JOIN contact_statuses s ON s.id = c.status_id
        WHERE c.email_key ~ $1 GROUP BY s.stage`,
      [DEMO_EMAIL],
    );
    // Wide bounds: 2000 hashed draws land a few points off the targets.
    const share = Object.fromEntries(statuses.map((row) => [row.stage ?? 'none', row.share]));
    expect(share.lead).toBeGreaterThan(0.42);
    expect(share.lead).toBeLessThan(0.58);
    expect(share.prospect).toBeGreaterThan(0.18);
    expect(share.prospect).toBeLessThan(0.32);
    expect(share.customer).toBeGreaterThan(0.13);
    expect(share.customer).toBeLessThan(0.27);
    expect(share.other).toBeGreaterThan(0.02);
    expect(share.other).toBeLessThan(0.09);
    expect(share.none).toBeGreaterThan(0);
    expect(share.none).toBeLessThan(0.03);

    const links = await one<{ max_tags: number; max_services: number; tags: number; tagged: number }>(
      main,
      `SELECT (SELECT max(n) FROM (SELECT count(*) AS n FROM contact_tags GROUP BY contact_id) t)::int AS max_tags,
              (SELECT max(n) FROM (SELECT count(*) AS n FROM contact_services GROUP BY contact_id) s)::int AS max_services,
              (SELECT count(*) FROM tags)::int AS tags,
              (SELECT count(DISTINCT contact_id) FROM contact_tags)::int AS tagged`,
    );
    expect(links.max_tags).toBe(3);
    expect(links.max_services).toBe(2);
    expect(links.tags).toBe(50);
    expect(links.tagged).toBeGreaterThan(CONTACTS * 0.6);
    expect(links.tagged).toBeLessThan(CONTACTS * 0.9);
  });

  it('adds 0..2N activities per contact, dated between the contact creation and now, by staff users', async () => {
    const activities = await one<{ total: number; max_per_contact: number; misdated: number; foreign_authors: number; types: string[] }>(
      main,
      `SELECT count(*)::int AS total,
              (SELECT max(n) FROM (SELECT count(*) AS n FROM activities GROUP BY contact_id) x)::int AS max_per_contact,
              count(*) FILTER (WHERE a.occurred_at < c.created_at OR a.occurred_at > now())::int AS misdated,
              count(*) FILTER (WHERE a.author_id IS NULL OR a.author_id NOT IN (SELECT id FROM users WHERE email_key LIKE 'staff%'))::int AS foreign_authors,
              array_agg(DISTINCT a.type ORDER BY a.type) AS types
         FROM activities a JOIN contacts c ON c.id = a.contact_id`,
    );
    expect(activities.total).toBeGreaterThan(CONTACTS * PER_CONTACT * 0.9);
    expect(activities.total).toBeLessThan(CONTACTS * PER_CONTACT * 1.1);
    expect(activities.max_per_contact).toBe(2 * PER_CONTACT);
    expect(activities.misdated).toBe(0);
    expect(activities.foreign_authors).toBe(0);
    expect(activities.types).toEqual(['call', 'email', 'meeting', 'note', 'sms', 'task']);
  });

  it('sets last_contacted_at to the latest activity of every contact, as the trigger would', async () => {
    const check = await one<{ wrong: number; contacted: number }>(
      main,
      `SELECT count(*) FILTER (WHERE c.last_contacted_at IS DISTINCT FROM m.latest)::int AS wrong,
              count(m.latest)::int AS contacted
         FROM contacts c
         LEFT JOIN (SELECT contact_id, max(occurred_at) AS latest FROM activities WHERE occurred_at <= now() GROUP BY contact_id) m
           ON m.contact_id = c.id`,
    );
    expect(check.wrong).toBe(0);
    expect(check.contacted).toBeGreaterThan(CONTACTS * 0.8);
  });

  it('writes status history: a creation row per contact, then transitions ending at the current status, with lead → customer conversions', async () => {
    const history = await one<{ contacts: number; created: number; misdated: number; conversions: number; last_mismatch: number; unstaged: number }>(
      main,
      `WITH h AS (SELECT h.*, c.created_at, c.status_id AS current FROM contact_status_history h JOIN contacts c ON c.id = h.contact_id)
       SELECT (SELECT count(*) FROM contacts)::int AS contacts,
              -- Each change keeps the stages its statuses had, as the app's trigger writes them.
              count(*) FILTER (WHERE to_status_stage IS DISTINCT FROM (SELECT stage FROM contact_statuses WHERE id = to_status_id)
                                  OR from_status_stage IS DISTINCT FROM (SELECT stage FROM contact_statuses WHERE id = from_status_id))::int AS unstaged,
              count(*) FILTER (WHERE from_status_id IS NULL AND changed_at = created_at)::int AS created,
              count(*) FILTER (WHERE changed_at < created_at OR changed_at > now())::int AS misdated,
              count(*) FILTER (WHERE from_status_id = (SELECT id FROM contact_statuses WHERE name_key = 'lead')
                                 AND to_status_id = (SELECT id FROM contact_statuses WHERE name_key = 'customer'))::int AS conversions,
              (SELECT count(*) FROM contacts c
                WHERE (SELECT h2.to_status_id FROM contact_status_history h2 WHERE h2.contact_id = c.id ORDER BY h2.changed_at DESC LIMIT 1)
                      IS DISTINCT FROM c.status_id)::int AS last_mismatch
         FROM h`,
    );
    expect(history.created).toBe(history.contacts);
    expect(history.misdated).toBe(0);
    expect(history.conversions).toBeGreaterThan(CONTACTS * 0.05);
    expect(history.last_mismatch).toBe(0);
    expect(history.unstaged).toBe(0);
  });

  it('leaves the bookkeeping triggers enabled', async () => {
    const triggers = await query<{ tgname: string; tgenabled: string }>(
      main,
      `SELECT tgname, tgenabled FROM pg_trigger WHERE tgname IN ('activities_last_contacted', 'contacts_status_history') ORDER BY tgname`,
    );
    expect(triggers).toEqual([
      { tgname: 'activities_last_contacted', tgenabled: 'O' },
      { tgname: 'contacts_status_history', tgenabled: 'O' },
    ]);
  });

  it('refuses a database with more than 1000 contacts unless --yes is given', async () => {
    const refused = await seed(main, ['--contacts', '10']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/already has 2,020 contacts.*--yes/);
    const after = await one<{ n: number }>(main, 'SELECT count(*)::int AS n FROM contacts');
    expect(after.n).toBe(CONTACTS + STAFF);
  });

  it('rejects bad arguments with a usage message', async () => {
    const bad = await seed(main, ['--contacts', 'many']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--contacts must be a whole number/);
    expect(bad.stderr).toMatch(/Usage:/);
  });

  it('is deterministic: the same seed gives the same data on another database, with or without per-row checks', async () => {
    const again = await createDatabase();
    const checked = await createDatabase();
    databases.push(again, checked);
    const args = ['--contacts', String(CONTACTS), '--activities-per-contact', String(PER_CONTACT), '--yes'];
    const [second, third] = await Promise.all([seed(again, args), seed(checked, [...args, '--per-row-checks'])]);
    expect(second.code).toBe(0);
    expect(third.code).toBe(0);
    expect(third.stdout).toMatch(/foreign keys checked per row/);

    expect(await firstNames(again)).toEqual(await firstNames(main));
    expect(await fingerprint(again)).toEqual(await fingerprint(main));
    expect(await fingerprint(checked)).toEqual(await fingerprint(main));
    const history = await one<{ n: number }>(checked, 'SELECT count(*)::int AS n FROM contact_status_history');
    const mainHistory = await one<{ n: number }>(main, 'SELECT count(*)::int AS n FROM contact_status_history');
    expect(history.n).toBe(mainHistory.n);
  }, 300_000);

  it('loads a nearly empty database without its indexes and ends with the very same indexes and constraints', async () => {
    const bulk = await createDatabase();
    databases.push(bulk);
    const result = await seed(bulk, ['--contacts', '12000', '--activities-per-contact', '1']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/contacts, contact_tags, contact_services, activities, contact_status_history: nearly empty, so loaded without their secondary indexes/);
    const schema = async (database: string) => ({
      indexes: (await query<{ def: string }>(database, `SELECT indexdef AS def FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`)).map((row) => row.def),
      constraints: (
        await query<{ def: string }>(
          database,
          `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1`,
        )
      ).map((row) => row.def),
    });
    const rebuilt = await schema(bulk);
    expect(rebuilt).toEqual(await schema(main));
    expect(rebuilt.constraints).toContainEqual(expect.stringMatching(/^contacts contacts_email_key_key UNIQUE \(email_key\)$/));
    // The unique e-mail constraint is enforced again.
    const [{ email }] = await query<{ email: string }>(bulk, `SELECT email FROM contacts WHERE email_key ~ $1 LIMIT 1`, [DEMO_EMAIL]);
    await expect(query(bulk, `INSERT INTO contacts (first_name, last_name, email) VALUES ('Twin', 'Copy', upper($1))`, [email])).rejects.toThrow(/contacts_email_key_key/);
  }, 300_000);

  it('gives different data for a different seed', async () => {
    const other = await createDatabase();
    databases.push(other);
    const result = await seed(other, ['--contacts', '50', '--activities-per-contact', '1', '--seed', '7']);
    expect(result.code).toBe(0);
    expect(await firstNames(other)).not.toEqual(await firstNames(main));
  }, 120_000);
});
