import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import Redis from 'ioredis';
import { until } from './wait';

/** The repository root, where `dist/` and `node_modules/` live. */
export const ROOT = resolve(__dirname, '..', '..');

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** Compiles `src` to `dist` when `dist/<entry>` is missing or older than a source file, for specs that start child processes. */
export function ensureBuilt(entry = 'worker.js'): void {
  const target = resolve(ROOT, 'dist', entry);
  if (existsSync(target) && statSync(target).mtimeMs >= newestSource(resolve(ROOT, 'src'))) return;
  try {
    execFileSync(resolve(ROOT, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    // tsc still writes its output when it reports type errors; the check below is what matters.
  }
  if (!existsSync(target)) throw new Error(`Could not build dist/${entry}`);
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** A child process whose output is kept (the last lines) to explain a failure. */
export interface Child {
  process: ChildProcess;
  output(): string;
  /** SIGKILL unless it already exited; resolves once it is gone. */
  kill(): Promise<void>;
}

function keepOutput(child: ChildProcess, lines = 200): () => string {
  const kept: string[] = [];
  const take = (chunk: Buffer) => {
    kept.push(...chunk.toString().split('\n').filter(Boolean));
    if (kept.length > lines) kept.splice(0, kept.length - lines);
  };
  child.stdout?.on('data', take);
  child.stderr?.on('data', take);
  return () => kept.join('\n');
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function killer(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (exited(child)) return;
    const gone = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await gone;
  };
}

/** Runs `dist/<script>` with `args`, and `env` on top of this process's environment. */
export function startNode(script: string, env: Record<string, string>, args: string[] = []): Child {
  const child = spawn(process.execPath, [resolve(ROOT, 'dist', script), ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return { process: child, output: keepOutput(child), kill: killer(child) };
}

/**
 * A private Redis without persistence, like the machine's own: killing it loses every key,
 * as a real restart would. Resolves once it answers PING.
 */
export async function startRedis(port: number): Promise<Child & { url: string }> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const handle = { process: child, output: keepOutput(child), kill: killer(child), url: `redis://127.0.0.1:${port}/0` };
  const probe = new Redis(handle.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await until(
      async () => {
        if (exited(child)) throw new Error(`redis-server exited: ${handle.output()}`);
        try {
          if (probe.status !== 'ready') await probe.connect();
          return (await probe.ping()) === 'PONG' ? true : undefined;
        } catch {
          return undefined;
        }
      },
      15_000,
      `redis-server on port ${port}`,
    );
  } catch (error) {
    await handle.kill();
    throw error;
  } finally {
    probe.disconnect();
  }
  return handle;
}
