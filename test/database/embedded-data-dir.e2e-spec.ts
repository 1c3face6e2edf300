/**
 * The embedded database's directory belongs to one process at a time. Two PGlite instances on
 * one directory (a second `npm start`, a worker, `seed:demo` or the command line beside a
 * running API) each commit into their own copy of its pages and lose the other's rows, so every
 * other process refuses to open it, at once and saying who holds it; one that was killed holds
 * nothing. These run the built entry points as a newcomer does, on the embedded default.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Child, ensureBuilt, freePort, startNode } from '../support/processes';
import { until } from '../support/wait';

jest.setTimeout(180_000);

describe('the embedded database directory', () => {
  let dir: string;
  const started: Child[] = [];

  beforeAll(() => {
    ensureBuilt('main.js');
    dir = mkdtempSync(join(tmpdir(), 'embedded-data-dir-'));
  });
  afterAll(async () => {
    for (const child of started) await child.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The embedded default: no DATABASE_URL, no REDIS_URL, everything in DATA_DIR. */
  const embedded = (extra: Record<string, string> = {}) => ({
    DATABASE_URL: '',
    REDIS_URL: '',
    JWT_SECRET: '',
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    ...extra,
  });

  async function startApi(): Promise<{ child: Child; url: string }> {
    const port = await freePort();
    const child = startNode('main.js', embedded({ PORT: String(port) }));
    started.push(child);
    const url = `http://127.0.0.1:${port}`;
    await until(
      async () => {
        if (child.process.exitCode !== null) throw new Error(`the API exited: ${child.output()}`);
        return (await fetch(`${url}/health`).catch(() => undefined))?.ok || undefined;
      },
      90_000,
      'the embedded API to answer /health',
    );
    return { child, url };
  }

  /** Runs a built entry point to its end, failing if it is still running after `withinMs`. */
  async function runToEnd(script: string, args: string[], env: Record<string, string>, withinMs: number): Promise<{ code: number | null; output: string }> {
    const child = startNode(script, env, args);
    started.push(child);
    let timer: NodeJS.Timeout | undefined;
    try {
      const code = await Promise.race([
        new Promise<number | null>((ended) => child.process.once('exit', (exitCode) => ended(exitCode))),
        new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`${script} still running after ${withinMs} ms: ${child.output()}`)), withinMs))),
      ]);
      return { code, output: child.output() };
    } finally {
      clearTimeout(timer);
    }
  }

  const post = (url: string, path: string, body: unknown) => fetch(`${url}/api/v1${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const admin = { firstName: 'Ada', lastName: 'Admin', email: 'ada@example.com', password: 'a-long-enough-password' };

  it('is refused to a second API at once, naming the running one, which goes on serving', async () => {
    const first = await startApi();
    expect((await post(first.url, '/auth/register', admin)).status).toBe(201);
    const holder = JSON.parse(readFileSync(join(dir, 'pglite.lock'), 'utf8')) as { pid: number };
    expect(holder.pid).toBe(first.child.process.pid);

    const port = await freePort();
    const second = await runToEnd('main.js', [], embedded({ PORT: String(port) }), 30_000);
    expect(second.code).toBe(1);
    expect(second.output).toContain(`The embedded database in ${join(dir, 'pglite')} is in use by process ${first.child.process.pid}`);
    // Refused, not retried as an unreachable server would be (ten tries, three seconds apart).
    expect(second.output).not.toContain('Retrying');
    expect(second.output).not.toMatch(/\n\s+at /);

    // The seeder and the command line meet the same refusal; the running API is untouched.
    const seed = await runToEnd('scripts/seed-demo.js', ['--contacts', '10'], embedded(), 30_000);
    expect(seed.code).toBe(1);
    expect(seed.output).toContain(`seed:demo failed: The embedded database in ${join(dir, 'pglite')} is in use by process ${first.child.process.pid}`);
    const csv = join(dir, 'contacts.csv');
    writeFileSync(csv, 'email,first_name\nbea@example.com,Bea\n');
    const cli = await runToEnd('cli/main.js', ['import', csv, '--mode', 'create', '--yes'], embedded(), 30_000);
    expect(cli.code).toBe(1);
    expect(cli.output).toContain(`The embedded database in ${join(dir, 'pglite')} is in use by process ${first.child.process.pid}`);
    expect(cli.output).not.toMatch(/\n\s+at /);
    // A worker needs a database server; on the embedded default the API runs the jobs.
    const worker = await runToEnd('worker.js', [], embedded({ REDIS_URL: 'redis://127.0.0.1:6379/0' }), 30_000);
    expect(worker.code).toBe(1);
    expect(worker.output).toContain('DATABASE_URL must be set for a worker process');
    expect((await post(first.url, '/auth/login', { email: admin.email, password: admin.password })).status).toBe(200);
  });

  it('is taken over from a killed process, with everything it committed', async () => {
    const [first] = started;
    await first!.kill();
    expect(existsSync(join(dir, 'pglite.lock'))).toBe(true);

    const again = await startApi();
    expect((await post(again.url, '/auth/login', { email: admin.email, password: admin.password })).status).toBe(200);
    expect(JSON.parse(readFileSync(join(dir, 'pglite.lock'), 'utf8'))).toMatchObject({ pid: again.child.process.pid });

    // A clean stop closes the database and gives the directory back.
    const stopped = new Promise((ended) => again.child.process.once('exit', ended));
    again.child.process.kill('SIGTERM');
    expect(await stopped).toBe(0);
    expect(existsSync(join(dir, 'pglite.lock'))).toBe(false);
  });
});
