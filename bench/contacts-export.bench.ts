/**
 * Contacts CSV export benchmark: downloads GET /api/v1/contacts/export from the built API as a
 * stream (time to first and last byte, bytes, records, throughput, the API process's peak RSS),
 * against the database writing the same rows with COPY … TO STDOUT through pg-copy-streams,
 * drained here: once the very statement the export runs, once the plain contact columns alone.
 * Then a filtered export (one status). Not a test: the figures depend on the machine.
 *
 *   npm run bench:export                                           # maestro_bench, 1M contacts
 *   BENCH_DATABASE=maestro_export_small BENCH_CONTACTS=100000 npm run bench:export
 */
import { ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { COPY_SETTINGS } from '../src/modules/contacts/contacts-export.copy';
import { exportSelectSql } from '../src/modules/contacts/contacts-export.sql';
import { benchUser, CONTACTS, DATABASE, databaseUrl, PASSWORD, prepareDatabase, query, ROOT, stop, waitForHealth } from './bench-database';

const API_PORT = 3296;
const QUOTE = 0x22;
const LF = 0x0a;

interface Download {
  status: number;
  firstByteMs: number;
  totalMs: number;
  bytes: number;
  records: number;
  peakRssMb: number;
}

/** Counts CSV records (line ends outside quotes) chunk by chunk, as they stream in. */
function recordCounter() {
  let quoted = false;
  let records = 0;
  return {
    add(bytes: Uint8Array) {
      // indexOf keeps the client's own work small next to the API's, on the same cores.
      const chunk = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let quote = chunk.indexOf(QUOTE);
      for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, lf + 1)) {
        while (quote !== -1 && quote < lf) {
          quoted = !quoted;
          quote = chunk.indexOf(QUOTE, quote + 1);
        }
        if (!quoted) records += 1;
      }
      while (quote !== -1) {
        quoted = !quoted;
        quote = chunk.indexOf(QUOTE, quote + 1);
      }
    },
    get records() {
      return records;
    },
  };
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}


/** Streams one export to its end, sampling the API's resident memory meanwhile. */
async function download(url: string, headers: Record<string, string>, apiPid: number): Promise<Download> {
  let peak = rssMb(apiPid);
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb(apiPid));
  }, 25);
  const started = performance.now();
  try {
    const response = await fetch(url, { headers });
    if (!response.body) throw new Error(`No body (${response.status})`);
    const counter = recordCounter();
    let bytes = 0;
    let firstByteMs = 0;
    for await (const chunk of response.body) {
      if (!bytes) firstByteMs = performance.now() - started;
      bytes += chunk.length;
      counter.add(chunk);
    }
    const totalMs = performance.now() - started;
    peak = Math.max(peak, rssMb(apiPid));
    return { status: response.status, firstByteMs, totalMs, bytes, records: counter.records, peakRssMb: peak };
  } finally {
    clearInterval(sampler);
  }
}

/** COPY … TO STDOUT of `select`, drained: the database's own time for the same rows. */
async function copyBaseline(url: string, select: string, settings: string[]): Promise<{ totalMs: number; bytes: number; rows: number }> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`BEGIN READ ONLY; ${settings.map((setting) => `SET LOCAL ${setting};`).join(' ')}`);
    const started = performance.now();
    const stream = client.query(copyTo(`COPY (${select}) TO STDOUT (FORMAT csv)`));
    let bytes = 0;
    for await (const chunk of stream) bytes += (chunk as Buffer).length;
    const totalMs = performance.now() - started;
    await client.query('COMMIT');
    return { totalMs, bytes, rows: stream.rowCount };
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const url = databaseUrl(DATABASE);
  await prepareDatabase(url);
  const user = await benchUser(url);
  const [{ total }] = await query<{ total: number }>(url, 'SELECT count(*)::int AS total FROM contacts WHERE deleted_at IS NULL');
  const [{ customer }] = await query<{ customer: string }>(url, `SELECT id AS customer FROM contact_statuses WHERE name_key = 'customer'`);
  const customKeys = (await query<{ key: string }>(url, 'SELECT key FROM custom_fields WHERE deleted_at IS NULL ORDER BY position, key')).map((row) => row.key);

  const api = fork(resolve(ROOT, 'dist/main.js'), [], {
    env: {
      ...process.env,
      DATABASE_URL: url,
      DATABASE_POOL_SIZE: '10',
      LOG_LEVEL: 'warn',
      PORT: String(API_PORT),
      HOST: '127.0.0.1',
      REDIS_URL: process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0',
      JWT_SECRET: 'benchmark-secret-benchmark-secret-benchmark',
      NODE_ENV: 'production',
      SWAGGER_ENABLED: 'false',
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  }) as ChildProcess;
  const results: Array<{ name: string; figures: Download }> = [];
  let idleRss = 0;
  try {
    await waitForHealth(API_PORT);
    const login = await fetch(`http://127.0.0.1:${API_PORT}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: user.email, password: PASSWORD }) });
    const { accessToken } = (await login.json()) as { accessToken: string };
    const auth = { authorization: `Bearer ${accessToken}` };
    idleRss = rssMb(api.pid!);
    const base = `http://127.0.0.1:${API_PORT}/api/v1/contacts/export`;
    results.push({ name: 'all contacts (default sort, newest first)', figures: await download(base, auth, api.pid!) });
    results.push({ name: 'one status (customer)', figures: await download(`${base}?status=${customer}`, auth, api.pid!) });
  } finally {
    await stop(api);
  }
  for (const { name, figures } of results) if (figures.status !== 200) throw new Error(`${name}: HTTP ${figures.status}`);

  // The statement the API runs for a caller who may read and export every contact, and its settings.
  const sameStatement = exportSelectSql({ where: 'c.deleted_at IS NULL', params: [], orderBy: 'c.created_at DESC, c.id DESC', customKeys, assignee: 'email' });
  const sameCopy = await copyBaseline(url, sameStatement, COPY_SETTINGS);
  const plainCopy = await copyBaseline(
    url,
    `SELECT c.first_name, c.last_name, c.email, c.phone, c.company, c.job_title, c.address_line1, c.address_line2, c.city, c.region, c.postal_code, c.country
       FROM contacts c WHERE c.deleted_at IS NULL ORDER BY c.created_at DESC, c.id DESC`,
    [],
  );

  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  console.log(`\nContacts export benchmark: ${total} live contacts (${CONTACTS} asked), ${customKeys.length} custom fields, database ${DATABASE}, node ${process.version}\n`);
  console.log('| export | records | size | first byte | last byte | rows/s | MB/s | API peak RSS |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const { name, figures } of results) {
    const records = figures.records - 1;
    console.log(
      `| ${name} | ${records} | ${mb(figures.bytes)} | ${s(figures.firstByteMs)} | ${s(figures.totalMs)} | ${Math.round(records / (figures.totalMs / 1000))} | ${(figures.bytes / 1024 / 1024 / (figures.totalMs / 1000)).toFixed(1)} | ${figures.peakRssMb.toFixed(0)} MB |`,
    );
  }
  console.log(`\nAPI RSS when idle: ${idleRss.toFixed(0)} MB`);
  const all = results[0]!.figures;
  console.log(`Baseline, COPY of the export's own statement, drained: ${s(sameCopy.totalMs)}, ${sameCopy.rows} rows, ${mb(sameCopy.bytes)} (API/baseline ${(all.totalMs / sameCopy.totalMs).toFixed(2)}×)`);
  console.log(`Baseline, COPY of the plain contact columns, drained: ${s(plainCopy.totalMs)}, ${plainCopy.rows} rows, ${mb(plainCopy.bytes)} (API/baseline ${(all.totalMs / plainCopy.totalMs).toFixed(2)}×)`);
  if (total < 1_000_000) console.log(`Projected to 1M contacts (linear): ${s((all.totalMs * 1_000_000) / total)}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
