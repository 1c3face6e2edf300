import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** What a lock file says of the process that holds the data directory. */
export interface DataDirHolder {
  pid: number;
  host: string;
  since: string;
  command: string;
}

/** How often the holder touches its lock file, for processes on other hosts to judge it by. */
const HEARTBEAT_MS = 15_000;
/** A lock from another host whose holder has not touched it for this long is taken over. */
const OTHER_HOST_STALE_MS = 120_000;
/** A lock that does not read as one yet may be half written (see createWith): it is left this long. */
const BEING_WRITTEN_MS = 2_000;
const ATTEMPTS = 40;
/** Error codes of file systems without hard links (FAT, some network shares). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/**
 * The embedded database's directory is in use by another process. Two processes writing one
 * PGlite directory lose each other's committed rows, and PGlite itself takes no lock, so this
 * one refuses to open it.
 */
export class EmbeddedDatabaseInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly lockFile: string,
    readonly holder: DataDirHolder,
  ) {
    const where = holder.host === hostname() ? `process ${holder.pid}` : `process ${holder.pid} on ${holder.host}`;
    super(
      `The embedded database in ${dataDir} is in use by ${where} (${holder.command}, since ${holder.since}). ` +
        `One process at a time may use it: stop that one, or point DATA_DIR elsewhere. ` +
        `If no such process is running, delete ${lockFile}.`,
    );
    this.name = 'EmbeddedDatabaseInUseError';
  }
}

/** A held data directory: `release` gives it up (once; later calls do nothing). */
export interface DataDirLock {
  readonly lockFile: string;
  release(): void;
}

/**
 * Takes the embedded data directory for this process, as PostgreSQL's postmaster.pid does for
 * a server: a lock file beside it names the holder. A lock whose holder is gone (a crash, a
 * kill) is taken over at once; one held by a live process refuses with EmbeddedDatabaseInUseError.
 * On another host the holder's pid means nothing here, so its lock counts as held while the
 * holder keeps touching it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const lockFile = `${dataDir}.lock`;
  const mine: DataDirHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString(), command: commandLine() };
  const content = JSON.stringify(mine);
  for (let attempt = 0; attempt < ATTEMPTS; attempt += 1) {
    if (createWith(lockFile, content)) return held(lockFile, content);
    const found = readLock(lockFile);
    if (found === undefined) continue; // released meanwhile
    const holder = parseHolder(found.text);
    if (holder && holdsIt(holder, found.touchedAt)) throw new EmbeddedDatabaseInUseError(dataDir, lockFile, holder);
    if (!holder && Date.now() - found.touchedAt < BEING_WRITTEN_MS) {
      pause(100);
      continue;
    }
    takeOver(lockFile, found.text);
  }
  throw new Error(`Could not take ${lockFile}: other processes kept taking it`);
}

/**
 * Creates the lock file with its content in one step, so a reader never sees it empty, or
 * returns false when it exists. Where the file system has no hard links, it is created
 * exclusively and then written: a reader may find it empty for a moment (see BEING_WRITTEN_MS).
 */
function createWith(lockFile: string, content: string): boolean {
  const draft = `${lockFile}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, content, { flag: 'wx' });
  try {
    linkSync(draft, lockFile);
    return true;
  } catch (error) {
    const code = errnoOf(error) ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
  } finally {
    unlinkSync(draft);
  }
  try {
    writeFileSync(lockFile, content, { flag: 'wx' });
    return true;
  } catch (error) {
    if (errnoOf(error) === 'EEXIST') return false;
    throw error;
  }
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The lock's text and when its holder last touched it; undefined when there is none. */
function readLock(lockFile: string): { text: string; touchedAt: number } | undefined {
  try {
    const touchedAt = statSync(lockFile).mtimeMs;
    return { text: readFileSync(lockFile, 'utf8'), touchedAt };
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function parseHolder(text: string): DataDirHolder | undefined {
  try {
    const value = JSON.parse(text) as Partial<DataDirHolder>;
    if (typeof value.pid !== 'number' || typeof value.host !== 'string') return undefined;
    return { pid: value.pid, host: value.host, since: String(value.since ?? 'an unknown time'), command: String(value.command ?? 'an unknown command') };
  } catch {
    return undefined;
  }
}

function holdsIt(holder: DataDirHolder, touchedAt: number): boolean {
  if (holder.host !== hostname()) return Date.now() - touchedAt < OTHER_HOST_STALE_MS;
  // This very pid is this process: a lock left by an earlier run that had the same pid (a container's first process).
  if (holder.pid === process.pid) return false;
  return isRunning(holder.pid);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return errnoOf(error) === 'EPERM';
  }
}

/**
 * Removes a stale lock, unless another process replaced it since it was read: the file is moved
 * aside first and put back when it is not the one judged stale.
 */
function takeOver(lockFile: string, staleText: string): void {
  const aside = `${lockFile}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(lockFile, aside);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return;
    throw error;
  }
  try {
    if (readFileSync(aside, 'utf8') !== staleText) linkSync(aside, lockFile);
  } catch (error) {
    // EEXIST: yet another process took the directory meanwhile; the next attempt reads its lock.
    if (errnoOf(error) !== 'EEXIST') throw error;
  } finally {
    unlinkSync(aside);
  }
}

function held(lockFile: string, content: string): DataDirLock {
  let released = false;
  const heartbeat = setInterval(() => {
    const now = new Date();
    try {
      utimesSync(lockFile, now, now);
    } catch {
      // Gone (deleted by hand): nothing to keep fresh.
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const release = () => {
    if (released) return;
    released = true;
    clearInterval(heartbeat);
    process.off('exit', release);
    try {
      // Only this process's own lock: never one another process took after this one's was deleted by hand.
      if (readFileSync(lockFile, 'utf8') === content) unlinkSync(lockFile);
    } catch {
      // Already gone.
    }
  };
  // A process that exits without closing the database (an uncaught error) still lets go of it.
  process.on('exit', release);
  return { lockFile, release };
}

function commandLine(): string {
  return process.argv
    .slice(1)
    .map((part) => part.replace(/^.*[\\/](?=[^\\/]+$)/, ''))
    .join(' ')
    .slice(0, 200);
}
