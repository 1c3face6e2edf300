/**
 * Contacts list benchmark: the API against a bare node:http + pg server running the same
 * SQL, on a database with (by default) 1M contacts and 5M activities. Prints requests/s,
 * latency percentiles and the API/baseline ratio per route. Not a test: the figures depend
 * on the machine; bench/README.md keeps the last run's.
 *
 *   npm run bench:contacts                     # seeds maestro_bench once, then measures
 *   BENCH_CONTACTS=100000 npm run bench:contacts
 */
import autocannon from 'autocannon';
import { ChildProcess, fork } from 'node:child_process';
import { benchUser, DATABASE, databaseUrl, PASSWORD, prepareDatabase, query, ROOT, stop, waitForHealth } from './bench-database';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Each route is loaded this many times on each server, the two alternating, so drift on a shared machine hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const API_PORT = 3298;
const BARE_PORT = 3299;

function start(script: string, env: Record<string, string>, ready: (child: ChildProcess) => Promise<void>): Promise<ChildProcess> {
  const child = fork(script, [], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  return ready(child).then(() => child);
}


interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(url: string, headers: Record<string, string> = {}): Promise<Figures> {
  await autocannon({ url, connections: CONNECTIONS, duration: 2, headers }); // warm-up
  const result = await autocannon({ url, connections: CONNECTIONS, duration: DURATION, headers });
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors };
}

/** The mean of several runs' figures (errors summed). */
function mean(runs: Figures[]): Figures {
  const average = (pick: (f: Figures) => number) => runs.reduce((sum, f) => sum + pick(f), 0) / runs.length;
  return { rps: average((f) => f.rps), p50: average((f) => f.p50), p99: average((f) => f.p99), errors: runs.reduce((sum, f) => sum + f.errors, 0) };
}

async function main(): Promise<void> {
  const url = databaseUrl(DATABASE);
  await prepareDatabase(url);
  const user = await benchUser(url);
  const [picks] = await query<{ customer: string; tag: string; assignee: string; contact: string; term: string; common: string }>(
    url,
    `SELECT (SELECT id FROM contact_statuses WHERE name_key = 'customer') AS customer,
            (SELECT tag_id FROM contact_tags GROUP BY tag_id ORDER BY count(*) DESC LIMIT 1) AS tag,
            (SELECT assigned_to_id FROM contacts WHERE assigned_to_id IS NOT NULL GROUP BY assigned_to_id ORDER BY count(*) DESC LIMIT 1) AS assignee,
            (SELECT contact_id FROM activities ORDER BY occurred_at DESC LIMIT 1) AS contact,
            (SELECT lower(left(first_name, 3)) FROM contacts ORDER BY created_at DESC LIMIT 1) AS term,
            (SELECT lower(last_name) FROM contacts GROUP BY 1 ORDER BY count(*) DESC LIMIT 1) AS common`,
  );
  const [{ total }] = await query<{ total: number }>(url, 'SELECT count(*)::int AS total FROM contacts');
  const [{ activities }] = await query<{ activities: number }>(url, 'SELECT count(*)::int AS activities FROM activities');

  const routes: Array<{ name: string; path: string; list: boolean }> = [
    { name: 'default list', path: '/contacts', list: true },
    { name: 'status + tag + assignee', path: `/contacts?status=${picks!.customer}&tags=${picks!.tag}&assignedTo=${picks!.assignee}`, list: true },
    // A rare term (the newest contact's first name, usually the bench account) and the commonest last name.
    { name: `q search, rare ("${picks!.term}")`, path: `/contacts?q=${encodeURIComponent(picks!.term)}`, list: true },
    { name: `q search, common ("${picks!.common}")`, path: `/contacts?q=${encodeURIComponent(picks!.common)}`, list: true },
    { name: 'profile', path: `/contacts/${picks!.contact}`, list: false },
  ];

  const common = { DATABASE_URL: url, DATABASE_POOL_SIZE: '20', LOG_LEVEL: 'warn' };
  const api = await start(resolve(ROOT, 'dist/main.js'), {
    ...common,
    PORT: String(API_PORT),
    HOST: '127.0.0.1',
    REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
    // No dashboard refresh (a second of both cores at 1M contacts) in the middle of a load run.
    DASHBOARD_REFRESH_MS: '86400000',
    JWT_SECRET: 'benchmark-secret-benchmark-secret-benchmark',
    NODE_ENV: 'production',
    SWAGGER_ENABLED: 'false',
  }, () => waitForHealth(API_PORT));
  const results: Array<{ name: string; api: Figures; bare: Figures }> = [];
  let deep: { keyset: Figures; offsetMs: number; keysetMs: number } | undefined;
  try {
    const login = await fetch(`http://127.0.0.1:${API_PORT}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: PASSWORD }) });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const auth = { authorization: `Bearer ${accessToken}` };
    // Both servers run side by side (the one not loaded sits idle); each route alternates between them.
    const bare = await start(resolve(__dirname, 'bare-contacts-server.js'), { ...common, PORT: String(BARE_PORT), BENCH_USER_ID: user.id }, (child) => new Promise((ok) => child.once('message', () => ok())));
    try {
      for (const route of routes) {
        const apiRuns: Figures[] = [];
        const bareRuns: Figures[] = [];
        for (let round = 0; round < ROUNDS; round += 1) {
          apiRuns.push(await load(`http://127.0.0.1:${API_PORT}/api/v1${route.path}`, auth));
          bareRuns.push(await load(`http://127.0.0.1:${BARE_PORT}${route.path}`));
        }
        results.push({ name: route.name, api: mean(apiRuns), bare: mean(bareRuns) });
      }
    } finally {
      await stop(bare);
    }

    // Deep pages: offset 100k against a keyset cursor at the same depth. The keyset page is
    // loaded like the other routes; the offset page one request at a time, since 50 of them at
    // once queue up in the database for longer than any client waits.
    const deepPage = await fetch(`http://127.0.0.1:${API_PORT}/api/v1/contacts?limit=25&page=4001`, { headers: auth });
    const deepBody = (await deepPage.json()) as { meta: { nextCursor: string } };
    const keysetUrl = `http://127.0.0.1:${API_PORT}/api/v1/contacts?limit=25&cursor=${encodeURIComponent(deepBody.meta.nextCursor)}`;
    const single = async (url: string) => {
      const times: number[] = [];
      for (let i = 0; i < 15; i += 1) {
        const started = performance.now();
        const response = await fetch(url, { headers: auth });
        await response.arrayBuffer();
        if (!response.ok) throw new Error(`${url} answered ${response.status}`);
        times.push(performance.now() - started);
      }
      return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
    };
    deep = {
      keyset: await load(keysetUrl, auth),
      offsetMs: await single(`http://127.0.0.1:${API_PORT}/api/v1/contacts?limit=25&page=4000`),
      keysetMs: await single(keysetUrl),
    };
  } finally {
    if (api.exitCode === null) await stop(api);
  }

  const ms = (value: number) => `${value.toFixed(1)} ms`;
  console.log(
    `\nContacts benchmark: ${total} contacts, ${activities} activities, ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} runs per route and server (alternating; means shown), node ${process.version}\n`,
  );
  console.log('| route | API req/s | API p50 | API p99 | bare req/s | bare p99 | ratio | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of results) {
    console.log(
      `| ${row.name} | ${row.api.rps.toFixed(0)} | ${ms(row.api.p50)} | ${ms(row.api.p99)} | ${row.bare.rps.toFixed(0)} | ${ms(row.bare.p99)} | ${(row.api.rps / row.bare.rps).toFixed(2)}× | ${row.api.errors + row.bare.errors} |`,
    );
  }
  if (deep) {
    console.log(
      `\nDeep pages (API), 100k rows in: keyset cursor ${deep.keyset.rps.toFixed(0)} req/s at ${CONNECTIONS} connections, p99 ${ms(deep.keyset.p99)}, errors ${deep.keyset.errors}; ` +
        `one request at a time (median of 15): keyset ${ms(deep.keysetMs)}, offset ${ms(deep.offsetMs)}`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
