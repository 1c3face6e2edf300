/**
 * Segments benchmark: a dynamic segment with three clauses (stage is customer, has any of the
 * two most used tags, last contacted more than 30 days ago) on the seeded benchmark database
 * (by default 1M contacts, 5M activities). Its count (`GET /segments/:id`), first page and
 * deep pages by keyset cursor (`GET /segments/:id/contacts`; a hundred consecutive pages from
 * the middle of the segment, asked for in turn, as scrolling clients would) are loaded through the API, then
 * the same count and pages written by hand in SQL (below, not built by the product's rule
 * compiler) are loaded the same way through a bare node:http + pg server. Prints req/s,
 * p50/p99, the API/hand-SQL time ratios (target: at most 1.2×) and single-request EXPLAIN
 * ANALYZE times of both. The segment is deleted at the end. Not a test: the figures depend
 * on the machine; exits non-zero when the answers differ or a ratio misses its target.
 *
 *   npm run bench:segments                     # seeds maestro_bench once, then measures
 *   BENCH_CONTACTS=20000 BENCH_DATABASE=maestro_segments_bench BENCH_SECONDS=3 npm run bench:segments
 */
import autocannon from 'autocannon';
import { ChildProcess, fork } from 'node:child_process';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { Pool } from 'pg';
import { buildAbility } from '../src/core/access/app-ability';
import { compileSelection, contactOrder, decodeCursor, encodeCursor, listPlan, listStatements, type SqlStatement } from '../src/modules/contacts/contacts.queries';
import type { FilterNode } from '../src/modules/contacts/filters/contact-filter.types';
import { dynamicCountStatement } from '../src/modules/segments/segments.queries';
import { benchUser, DATABASE, databaseUrl, PASSWORD, prepareDatabase, query, ROOT, stop, waitForHealth } from './bench-database';

const DURATION = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
/** Each route is loaded this many times on each server, the two alternating, so drift on a shared machine hits both alike. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const EXPLAIN_RUNS = Number(process.env.BENCH_EXPLAIN_RUNS ?? 7);
const POOL_SIZE = 20;
const API_PORT = 3296;
const BARE_PORT = 3295;
const TARGET_RATIO = 1.2;
const PAGE = 25;
/** How many different deep pages the deep-page run asks for, in turn. */
const DEEP_PAGES = 100;
const NAME_PREFIX = 'Benchmark segment';
const BARE_APPLICATION = 'maestro-segments-bench';
const API_APPLICATION = 'maestro-crm';

/** What both sides query: the picked tags and the cut-off, fixed for the whole run. */
interface Picks {
  tags: [string, string];
  cutoff: string;
}

// ---------------------------------------------------------------------------------------------
// The hand-written SQL
// ---------------------------------------------------------------------------------------------

const HAND_WHERE = `
  c.deleted_at IS NULL
  AND c.last_contacted_at < $1::timestamptz
  AND EXISTS (SELECT 1 FROM contact_tags ct WHERE ct.contact_id = c.id AND ct.tag_id IN ($2::uuid, $3::uuid))`;

const HAND_COUNT = `
  SELECT count(*)::int AS count
    FROM contacts c JOIN contact_statuses st ON st.id = c.status_id AND st.stage = 'customer'
   WHERE ${HAND_WHERE}`;

/** A page as the list shows it: the contact, its status, assignee and source names, whether it has an account, its tags. */
const handPage = (afterCursor: boolean) => `
  SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.company, c.job_title, c.city, c.country,
         c.status_id, st.name AS status_name, st.stage AS status_stage,
         c.assigned_to_id, a.first_name AS assignee_first_name, a.last_name AS assignee_last_name,
         c.traffic_source_id, ts.name AS traffic_source_name,
         c.custom_fields, c.last_contacted_at, c.created_at, c.updated_at, c.version,
         to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key,
         EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id) AS has_account,
         (SELECT coalesce(json_agg(json_build_object('id', t.id, 'name', t.name, 'color', t.color) ORDER BY t.name_key), '[]'::json)
            FROM contact_tags ct2 JOIN tags t ON t.id = ct2.tag_id WHERE ct2.contact_id = c.id) AS tags
    FROM contacts c
    JOIN contact_statuses st ON st.id = c.status_id AND st.stage = 'customer'
    LEFT JOIN users a ON a.id = c.assigned_to_id
    LEFT JOIN traffic_sources ts ON ts.id = c.traffic_source_id
   WHERE ${HAND_WHERE}${afterCursor ? ' AND (c.created_at, c.id) < ($4::timestamptz, $5::uuid)' : ''}
   ORDER BY c.created_at DESC, c.id DESC
   LIMIT ${PAGE}`;

function handStatements(picks: Picks, cursor?: { value: string; id: string }): Record<'count' | 'page', SqlStatement> {
  const base = [picks.cutoff, ...picks.tags];
  return {
    count: { sql: HAND_COUNT, params: base },
    page: cursor ? { sql: handPage(true), params: [...base, cursor.value, cursor.id] } : { sql: handPage(false), params: base },
  };
}

/**
 * The bare server: the hand-written statements behind node:http, no framework, auth or
 * authorization. `/count` counts, `/page` answers the first page, `/page?cursor=` a later one.
 */
function serveBare(): void {
  const picks = JSON.parse(process.env.BENCH_PICKS!) as Picks;
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: POOL_SIZE, application_name: BARE_APPLICATION });
  const page = async (cursor?: { value: string; id: string }) => {
    const statement = handStatements(picks, cursor).page;
    const rows = (await pool.query(statement.sql, statement.params)).rows as Array<{ id: string; created_key: string }>;
    const last = rows[rows.length - 1];
    return { data: rows, meta: { nextCursor: last && rows.length === PAGE ? encodeCursor({ value: last.created_key, id: last.id }) : null } };
  };
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const cursor = url.searchParams.get('cursor');
    const work =
      url.pathname === '/count'
        ? pool.query(HAND_COUNT, handStatements(picks).count.params).then((result) => ({ contactCount: result.rows[0].count }))
        : page(cursor ? (decodeCursor(cursor) as { value: string; id: string }) : undefined);
    work.then(
      (body) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      },
      (error: Error) => {
        response.writeHead(500);
        response.end(error.message);
      },
    );
  });
  server.listen(BARE_PORT, '127.0.0.1', () => process.send?.('ready'));
  process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
}

// ---------------------------------------------------------------------------------------------
// Measuring
// ---------------------------------------------------------------------------------------------

interface Figures {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/**
 * A warm-up, then the measured run; `settle` lets what a run left queued in the database
 * finish first. Requests go to `urls` in turn (the deep page: a different cursor each time,
 * as a scrolling client sends).
 */
async function load(urls: string[], headers: Record<string, string>, settle: () => Promise<void>): Promise<Figures> {
  let next = 0;
  const paths = urls.map((url) => {
    const parsed = new URL(url);
    return parsed.pathname + parsed.search;
  });
  const options = {
    url: urls[0]!,
    connections: CONNECTIONS,
    headers,
    // A generous timeout: 50 hand-written counts at once take seconds each, and they must finish to be measured.
    timeout: 60,
    requests: [{ setupRequest: (request: autocannon.Request) => ({ ...request, path: paths[next++ % paths.length]! }) }],
  };
  await autocannon({ ...options, duration: 2 }); // warm-up
  await settle();
  const result = await autocannon({ ...options, duration: DURATION });
  await settle();
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.non2xx + result.errors + result.timeouts };
}

/** The mean of several runs' figures (errors summed). */
function mean(runs: Figures[]): Figures {
  const average = (pick: (f: Figures) => number) => runs.reduce((sum, f) => sum + pick(f), 0) / runs.length;
  return { rps: average((f) => f.rps), p50: average((f) => f.p50), p99: average((f) => f.p99), errors: runs.reduce((sum, f) => sum + f.errors, 0) };
}

/**
 * Requests still queued when a load run ends keep the database busy into the next one (an
 * uncached count at 1M rows takes longer than a run): the bare server's are cancelled, and
 * the API's waited for, before the next run starts.
 */
async function drain(pool: Pool, application: string, cancel: boolean): Promise<void> {
  for (let i = 0; i < 240; i += 1) {
    const [{ active }] = (
      await pool.query(
        `SELECT count(*)::int AS active${cancel ? ', bool_and(pg_cancel_backend(pid)) AS cancelled' : ''}
           FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND state = 'active' AND pid <> pg_backend_pid()`,
        [application],
      )
    ).rows as Array<{ active: number }>;
    if (!active) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}


/**
 * Median planning + execution time of EXPLAIN ANALYZE for two statements, run in turns so
 * that neither always runs on the caches the other warmed; and whether JIT was used.
 */
async function explainBoth(pool: Pool, a: SqlStatement, b: SqlStatement): Promise<Array<{ ms: number; jit: boolean }>> {
  const runs = [a, b].map(() => ({ times: [] as number[], jit: false }));
  for (let run = 0; run < EXPLAIN_RUNS; run += 1) {
    for (const [i, statement] of (run % 2 ? [b, a] : [a, b]).entries()) {
      const which = run % 2 ? 1 - i : i;
      const [row] = (await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.sql}`, statement.params)).rows as Array<{ 'QUERY PLAN': Array<Record<string, unknown>> }>;
      const plan = row!['QUERY PLAN'][0]!;
      runs[which]!.times.push((plan['Planning Time'] as number) + (plan['Execution Time'] as number));
      runs[which]!.jit ||= plan.JIT !== undefined;
    }
  }
  return runs.map(({ times, jit }) => ({ ms: [...times].sort((x, y) => x - y)[Math.floor(times.length / 2)]!, jit }));
}

type Route = 'count' | 'first page' | 'deep page';

async function main(): Promise<void> {
  const url = databaseUrl(DATABASE);
  await prepareDatabase(url);
  const user = await benchUser(url);
  const topTags = await query<{ tag_id: string }>(url, 'SELECT tag_id FROM contact_tags GROUP BY tag_id ORDER BY count(*) DESC, tag_id LIMIT 2');
  if (topTags.length < 2) throw new Error('The benchmark database has fewer than two tags in use');
  const picks: Picks = { tags: [topTags[0]!.tag_id, topTags[1]!.tag_id], cutoff: new Date(Date.now() - 30 * 86_400_000).toISOString() };
  const rule: FilterNode = {
    and: [
      { field: 'stage', op: 'is', value: 'customer' },
      { field: 'tags', op: 'hasAny', value: picks.tags },
      { field: 'lastContactedAt', op: 'before', value: picks.cutoff },
    ],
  };
  // Leftovers of an interrupted run.
  await query(url, 'DELETE FROM segments WHERE name LIKE $1', [`${NAME_PREFIX} %`]);

  const pool = new Pool({ connectionString: url, max: POOL_SIZE });
  const hand = handStatements(picks);
  const [{ count: expectedCount }] = (await pool.query(hand.count.sql, hand.count.params)).rows as Array<{ count: number }>;
  // Deep pages start half-way through the segment: DEEP_PAGES consecutive pages, each cursor the row just before its page.
  const depth = Math.max(0, Math.floor(expectedCount / 2) - 1);
  const befores = (await pool.query(`${hand.page.sql.replace(`LIMIT ${PAGE}`, '')} OFFSET ${depth} LIMIT ${DEEP_PAGES * PAGE}`, hand.page.params)).rows as Array<{ id: string; created_key: string }>;
  const cursors = befores.filter((_, i) => i % PAGE === 0).map((row) => ({ value: row.created_key, id: row.id }));
  const cursor = cursors[0];
  const cursorTokens = cursors.map(encodeCursor);
  const routes: Route[] = cursor ? ['count', 'first page', 'deep page'] : ['count', 'first page'];

  const common = { DATABASE_URL: url, DATABASE_POOL_SIZE: String(POOL_SIZE), LOG_LEVEL: 'warn' };
  const api = fork(resolve(ROOT, 'dist/main.js'), [], {
    env: {
      ...process.env,
      ...common,
      PORT: String(API_PORT),
      HOST: '127.0.0.1',
      REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
      JOBS_PREFIX: `bench_${DATABASE}`,
      // No dashboard refresh in the middle of a load run.
      DASHBOARD_REFRESH_MS: '86400000',
      JWT_SECRET: 'benchmark-secret-benchmark-secret-benchmark',
      NODE_ENV: 'production',
      SWAGGER_ENABLED: 'false',
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const apiFigures = new Map<Route, Figures>();
  const handFigures = new Map<Route, Figures>();
  const mismatches: string[] = [];
  let bare: ChildProcess | undefined;
  try {
    await waitForHealth(API_PORT);
    const base = `http://127.0.0.1:${API_PORT}/api/v1`;
    const login = await fetch(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: PASSWORD }) });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const auth = { authorization: `Bearer ${accessToken}` };
    const created = await fetch(`${base}/segments`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${NAME_PREFIX} ${new Date().toISOString()}`, description: 'Made and deleted by bench/segments.bench.ts', kind: 'dynamic', rule }),
    });
    if (created.status !== 201) throw new Error(`POST /segments answered ${created.status}: ${await created.text()}`);
    const segment = (await created.json()) as { id: string; contactCount: number };
    try {
      const apiPaths: Record<Route, string[]> = {
        count: [`/segments/${segment.id}`],
        'first page': [`/segments/${segment.id}/contacts?limit=${PAGE}`],
        'deep page': cursorTokens.map((token) => `/segments/${segment.id}/contacts?limit=${PAGE}&cursor=${token}`),
      };
      // Same answers as the hand-written SQL before timing anything.
      const handFirst = (await pool.query(hand.page.sql, hand.page.params)).rows as Array<{ id: string }>;
      const apiFirst = (await (await fetch(`${base}${apiPaths['first page'][0]}`, { headers: auth })).json()) as { data: Array<{ id: string }>; meta: { total: number } };
      if (segment.contactCount !== expectedCount) mismatches.push(`count: API ${segment.contactCount}, hand SQL ${expectedCount}`);
      if (apiFirst.meta.total !== expectedCount) mismatches.push(`page total: API ${apiFirst.meta.total}, hand SQL ${expectedCount}`);
      if (apiFirst.data.map((c) => c.id).join() !== handFirst.map((c) => c.id).join()) mismatches.push('first page: different contacts');
      if (cursor) {
        const handDeep = handStatements(picks, cursor).page;
        const handRows = (await pool.query(handDeep.sql, handDeep.params)).rows as Array<{ id: string }>;
        const apiDeep = (await (await fetch(`${base}${apiPaths['deep page'][0]}`, { headers: auth })).json()) as { data: Array<{ id: string }> };
        if (apiDeep.data.map((c) => c.id).join() !== handRows.map((c) => c.id).join()) mismatches.push('deep page: different contacts');
      }
      // Both servers run side by side (the one not loaded sits idle); each route alternates between them.
      bare = fork(__filename, [], { env: { ...process.env, ...common, SEGMENTS_BENCH_BARE: '1', BENCH_PICKS: JSON.stringify(picks) }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      await new Promise<void>((ok) => bare!.once('message', () => ok()));
      const barePaths: Record<Route, string[]> = { count: ['/count'], 'first page': ['/page'], 'deep page': cursorTokens.map((token) => `/page?cursor=${token}`) };
      for (const route of routes) {
        const apiRuns: Figures[] = [];
        const handRuns: Figures[] = [];
        for (let round = 0; round < ROUNDS; round += 1) {
          apiRuns.push(await load(apiPaths[route].map((path) => `${base}${path}`), auth, () => drain(pool, API_APPLICATION, false)));
          handRuns.push(await load(barePaths[route].map((path) => `http://127.0.0.1:${BARE_PORT}${path}`), {}, () => drain(pool, BARE_APPLICATION, true)));
        }
        apiFigures.set(route, mean(apiRuns));
        handFigures.set(route, mean(handRuns));
      }
    } finally {
      const deleted = await fetch(`${base}/segments/${segment.id}`, { method: 'DELETE', headers: auth });
      if (deleted.status !== 204) console.error(`Could not delete the benchmark segment ${segment.id}: ${deleted.status}`);
    }
  } finally {
    if (bare && bare.exitCode === null) await stop(bare);
    if (api.exitCode === null) await stop(api);
  }

  // Single requests on a quiet pool: what the API runs (built by the product) against the hand SQL.
  const ability = buildAbility([{ action: 'read', subject: 'Contact' }]);
  const selection = compileSelection({ ability, action: 'read', filter: rule }, []);
  const order = contactOrder(undefined, []);
  // The page is read as the API reads it for a segment of this size (over 5000 matches: walked, whatever the count took).
  const plan = listPlan(true, { total: expectedCount, countMs: 0 }, expectedCount, PAGE);
  const productStatements: Record<Route, SqlStatement> = {
    count: dynamicCountStatement(ability, rule, []),
    'first page': listStatements(selection, order, { limit: PAGE, offset: 0 }, plan).rows,
    'deep page': listStatements(selection, order, { limit: PAGE, offset: 0, cursor }, plan).rows,
  };
  const handSingles: Record<Route, SqlStatement> = { count: hand.count, 'first page': hand.page, 'deep page': handStatements(picks, cursor).page };
  const singles = new Map<Route, { product: { ms: number; jit: boolean }; hand: { ms: number; jit: boolean } }>();
  for (const route of routes) {
    const [product, handSingle] = await explainBoth(pool, productStatements[route], handSingles[route]);
    singles.set(route, { product: product!, hand: handSingle! });
  }
  const [{ contacts }] = (await pool.query('SELECT count(*)::int AS contacts FROM contacts WHERE deleted_at IS NULL')).rows as Array<{ contacts: number }>;
  await pool.end();

  const ms = (value: number) => `${value.toFixed(1)} ms`;
  console.log(`\nSegments benchmark: ${contacts} live contacts; segment of ${expectedCount} (stage customer, any of 2 tags, last contacted before ${picks.cutoff.slice(0, 10)}); ${CONNECTIONS} connections, ${DURATION} s per run, ${ROUNDS} runs per route and server (alternating; means shown), node ${process.version}\n`);
  console.log('| route | API req/s | API p50 | API p99 | hand SQL req/s | hand p50 | hand p99 | API/hand time | errors |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  let ok = mismatches.length === 0;
  for (const route of routes) {
    const a = apiFigures.get(route)!;
    const h = handFigures.get(route)!;
    // Time per request under the same load: the inverse of the throughput ratio.
    const ratio = a.rps > 0 ? h.rps / a.rps : Infinity;
    const shown = a.rps > 0 && h.rps > 0 ? `${ratio.toFixed(2)}×` : '–';
    ok &&= ratio <= TARGET_RATIO && a.errors + h.errors === 0;
    // No request finished within the run: latencies unknown.
    const figures = (f: Figures) => (f.rps > 0 ? `${f.rps.toFixed(0)} | ${ms(f.p50)} | ${ms(f.p99)}` : '0 | – | –');
    console.log(`| ${route} | ${figures(a)} | ${figures(h)} | ${shown} | ${a.errors + h.errors} |`);
  }
  console.log(`\nSingle requests, EXPLAIN ANALYZE planning + execution (median of ${EXPLAIN_RUNS}):`);
  console.log('| route | product SQL | hand SQL | ratio |');
  console.log('|---|---:|---:|---:|');
  for (const route of routes) {
    const single = singles.get(route)!;
    const jit = (x: { jit: boolean }) => (x.jit ? ' (JIT)' : '');
    console.log(`| ${route} | ${ms(single.product.ms)}${jit(single.product)} | ${ms(single.hand.ms)}${jit(single.hand)} | ${(single.product.ms / single.hand.ms).toFixed(2)}× |`);
  }
  console.log('\nThe API keeps a slow segment count (and a list total) for 2 s; the hand SQL counts on every request.');
  for (const mismatch of mismatches) console.log(`MISMATCH ${mismatch}`);
  console.log(`\nCount and pages within ${TARGET_RATIO}× of the hand-written SQL, same answers: ${ok ? 'PASS' : 'FAIL'}`);
  if (!ok) process.exitCode = 1;
}

if (process.env.SEGMENTS_BENCH_BARE) {
  serveBare();
} else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
