/** What the benchmarks share: the seeded database, a staff account with a known password, child processes. */
import * as argon2 from 'argon2';
import { ChildProcess, execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from 'pg';

export const ROOT = resolve(__dirname, '..', '..');
export const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const DATABASE = process.env.BENCH_DATABASE ?? 'maestro_bench';
export const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 1_000_000);
export const PASSWORD = 'benchmark-password';

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function query<T>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Creates and seeds the benchmark database once; later runs reuse it. */
export async function prepareDatabase(url: string): Promise<void> {
  const exists = await query(ADMIN_URL, 'SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
  if (!exists.length) await query(ADMIN_URL, `CREATE DATABASE ${DATABASE}`);
  const [{ exists: seeded }] = await query<{ exists: boolean }>(url, `SELECT to_regclass('contacts') IS NOT NULL AS exists`);
  const count = seeded ? (await query<{ count: number }>(url, 'SELECT count(*)::int AS count FROM contacts'))[0]!.count : 0;
  if (count >= CONTACTS) return;
  console.log(`Seeding ${CONTACTS} contacts into ${DATABASE} (once)…`);
  execFileSync(process.execPath, [resolve(ROOT, 'dist/scripts/seed-demo.js'), '--contacts', String(CONTACTS), '--activities-per-contact', '5', '--yes'], {
    stdio: 'inherit',
    env: { ...process.env, DATABASE_URL: url },
  });
}

/** A staff account with a known password, made directly in the database. */
export async function benchUser(url: string): Promise<{ email: string; id: string }> {
  const email = 'bench.staff@bench.maestro.test';
  const existing = await query<{ id: string }>(url, 'SELECT id FROM users WHERE email_key = $1', [email]);
  if (existing[0]) return { email, id: existing[0].id };
  const hash = await argon2.hash(PASSWORD, { type: argon2.argon2id });
  const [contact] = await query<{ id: string }>(url, `INSERT INTO contacts (first_name, last_name, email) VALUES ('Bench', 'Staff', $1) RETURNING id`, [email]);
  const [user] = await query<{ id: string }>(url, `INSERT INTO users (contact_id, email, first_name, last_name, password_hash) VALUES ($1, $2, 'Bench', 'Staff', $3) RETURNING id`, [contact!.id, email, hash]);
  await query(url, `INSERT INTO user_roles (user_id, role_id) SELECT $1, id FROM roles WHERE system_key = 'staff'`, [user!.id]);
  return { email, id: user!.id };
}

/** Waits for the API's liveness route; a first start on an existing database also runs pending migrations (and builds their indexes). */
export async function waitForHealth(port: number): Promise<void> {
  for (let i = 0; i < 1200; i += 1) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('The API did not come up');
}

export function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}
