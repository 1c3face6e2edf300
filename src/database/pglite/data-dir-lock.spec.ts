import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedDatabaseInUseError, lockDataDir } from './data-dir-lock';

describe('lockDataDir', () => {
  let dir: string;
  let dataDir: string;
  let lockFile: string;
  const children: ChildProcess[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'data-dir-lock-'));
    dataDir = join(dir, 'pglite');
    lockFile = `${dataDir}.lock`;
  });
  afterEach(() => {
    for (const child of children.splice(0)) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** A process that runs until killed. */
  async function liveProcess(): Promise<number> {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(child);
    await new Promise((ready) => child.once('spawn', ready));
    return child.pid!;
  }

  /** The pid of a process that has ended. */
  async function endedProcess(): Promise<number> {
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((ended) => child.once('exit', ended));
    return child.pid!;
  }

  const writeLock = (holder: Record<string, unknown>) => writeFileSync(lockFile, JSON.stringify({ host: hostname(), since: '2026-01-01T00:00:00.000Z', command: 'main.js', ...holder }));
  const holderInFile = () => JSON.parse(readFileSync(lockFile, 'utf8')) as { pid: number; host: string };

  it('takes a free directory, names this process in the lock, and lets go of it on release', () => {
    const lock = lockDataDir(dataDir);
    expect(lock.lockFile).toBe(lockFile);
    expect(holderInFile()).toMatchObject({ pid: process.pid, host: hostname() });
    lock.release();
    expect(existsSync(lockFile)).toBe(false);
    // Nothing is left beside it.
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses a directory a running process holds, naming it and the lock file', async () => {
    const pid = await liveProcess();
    writeLock({ pid });
    let refusal: unknown;
    try {
      lockDataDir(dataDir);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(EmbeddedDatabaseInUseError);
    expect((refusal as Error).message).toContain(`in use by process ${pid} (main.js`);
    expect((refusal as Error).message).toContain(`delete ${lockFile}`);
    // The holder's lock is untouched.
    expect(holderInFile().pid).toBe(pid);
  });

  it("takes over a lock whose process is gone (a crash or a kill)", async () => {
    writeLock({ pid: await endedProcess() });
    const lock = lockDataDir(dataDir);
    expect(holderInFile().pid).toBe(process.pid);
    lock.release();
  });

  it('takes over a lock naming this very pid, left by an earlier run that had it', () => {
    writeLock({ pid: process.pid, since: 'an earlier run' });
    const lock = lockDataDir(dataDir);
    expect(JSON.parse(readFileSync(lockFile, 'utf8'))).not.toMatchObject({ since: 'an earlier run' });
    lock.release();
  });

  it('takes over a lock it cannot read as one', () => {
    writeFileSync(lockFile, 'not a lock');
    const earlier = new Date(Date.now() - 5_000);
    utimesSync(lockFile, earlier, earlier);
    lockDataDir(dataDir).release();
    expect(existsSync(lockFile)).toBe(false);
  });

  it('leaves a lock that does not read as one yet for two seconds: its holder may be writing it', () => {
    writeFileSync(lockFile, '');
    const began = Date.now();
    const lock = lockDataDir(dataDir);
    expect(Date.now() - began).toBeGreaterThanOrEqual(1_900);
    expect(holderInFile().pid).toBe(process.pid);
    lock.release();
  });

  it('takes the directory on a file system without hard links, by creating the lock exclusively', async () => {
    // The module's own fs: the same object this module's calls go through.
    const link = jest.spyOn(jest.requireActual<typeof import('node:fs')>('node:fs'), 'linkSync').mockImplementation(() => {
      throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
    });
    try {
      const lock = lockDataDir(dataDir);
      expect(holderInFile().pid).toBe(process.pid);
      expect(readdirSync(dir)).toEqual(['pglite.lock']);
      lock.release();
      writeLock({ pid: await liveProcess() });
      expect(() => lockDataDir(dataDir)).toThrow(EmbeddedDatabaseInUseError);
      expect(link).toHaveBeenCalled();
    } finally {
      link.mockRestore();
    }
  });

  it("judges another host's lock by when its holder last touched it", async () => {
    writeLock({ pid: await liveProcess(), host: 'another-host' });
    expect(() => lockDataDir(dataDir)).toThrow(/in use by process \d+ on another-host/);
    const longAgo = new Date(Date.now() - 10 * 60_000);
    utimesSync(lockFile, longAgo, longAgo);
    const lock = lockDataDir(dataDir);
    expect(holderInFile()).toMatchObject({ pid: process.pid, host: hostname() });
    lock.release();
  });

  it("never removes a lock another process took after this one's was deleted by hand", async () => {
    const lock = lockDataDir(dataDir);
    unlinkSync(lockFile);
    const pid = await liveProcess();
    writeLock({ pid });
    lock.release();
    expect(holderInFile().pid).toBe(pid);
  });

  /** A node process running `body` with `lockDataDir` loaded from this module's source (compiled on the fly). */
  function withLockModule(body: string): ChildProcess {
    const script = `
      const source = require('node:fs').readFileSync(${JSON.stringify(require.resolve('./data-dir-lock'))}, 'utf8');
      const compiled = require('typescript').transpileModule(source, { compilerOptions: { module: 1, target: 9 } }).outputText;
      const loaded = { exports: {} };
      new Function('require', 'module', 'exports', compiled)(require, loaded, loaded.exports);
      const { lockDataDir } = loaded.exports;
      ${body}`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: process.cwd() });
    children.push(child);
    return child;
  }

  it('lets go of the directory when the process exits without closing it', async () => {
    const child = withLockModule(`lockDataDir(${JSON.stringify(dataDir)}); process.exit(3);`);
    const code = await new Promise((ended) => child.once('exit', ended));
    expect(code).toBe(3);
    expect(existsSync(lockFile)).toBe(false);
  });

  it('hands a stale lock to exactly one of several processes taking it at once', async () => {
    writeLock({ pid: await endedProcess() });
    const racers = Array.from({ length: 6 }, () =>
      withLockModule(`
        let said = 'won';
        try { lockDataDir(${JSON.stringify(dataDir)}); } catch (error) { said = error.name; }
        process.stdout.write(said);
        setTimeout(() => process.exit(0), 1500);`),
    );
    const said = await Promise.all(
      racers.map((child) => new Promise<string>((done) => {
        let out = '';
        child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.once('exit', () => done(out));
      })),
    );
    expect(said.filter((word) => word === 'won')).toHaveLength(1);
    expect(said.filter((word) => word === 'EmbeddedDatabaseInUseError')).toHaveLength(5);
  });
});
