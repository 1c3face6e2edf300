import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { PGlite, type Results } from '@electric-sql/pglite';
import { DataDirLock, lockDataDir } from './data-dir-lock';

type ConnectCallback = (err: Error | null, client: PGliteClient | null, release: (err?: unknown) => void) => void;

interface PgStyleResult {
  rows: unknown[];
  rowCount: number;
  command?: string;
  fields: Results<unknown>['fields'];
}

/**
 * A node-postgres compatible pool over one embedded PGlite database.
 *
 * PGlite is a single session, so two TypeORM query runners sharing it would see each
 * other's transactions. This pool hands the session to one query runner at a time:
 * `connect` waits until the previous holder releases it, which makes every
 * transaction on the embedded database isolated the way it is on a server.
 */
export class PGlitePool extends EventEmitter {
  private static instances = new Map<string, Promise<PGlite>>();
  /** Each directory this process opened, held until it is closed: PGlite itself takes no lock. */
  private static locks = new Map<string, DataDirLock>();
  private static openPools = new Map<string, number>();
  private queue: Array<() => void> = [];
  private held = false;
  readonly options: { dataDir: string; acquireTimeoutMs: number };

  constructor(options: { dataDir?: string; acquireTimeoutMs?: number; connectionString?: string }) {
    super();
    this.options = { dataDir: options.dataDir ?? 'memory://', acquireTimeoutMs: options.acquireTimeoutMs ?? 30000 };
    PGlitePool.openPools.set(this.options.dataDir, (PGlitePool.openPools.get(this.options.dataDir) ?? 0) + 1);
  }

  static database(dataDir: string): Promise<PGlite> {
    let instance = PGlitePool.instances.get(dataDir);
    if (!instance) {
      instance = PGlitePool.open(dataDir);
      PGlitePool.instances.set(dataDir, instance);
      // A failed opening is not kept: the next connection tries again.
      const opening = instance;
      opening.catch(() => {
        if (PGlitePool.instances.get(dataDir) === opening) PGlitePool.instances.delete(dataDir);
      });
    }
    return instance;
  }

  private static async open(dataDir: string): Promise<PGlite> {
    if (dataDir.startsWith('memory://')) return PGlite.create(dataDir);
    mkdirSync(dataDir, { recursive: true });
    const lock = lockDataDir(dataDir);
    try {
      const db = await PGlite.create(dataDir);
      PGlitePool.locks.set(dataDir, lock);
      return db;
    } catch (error) {
      lock.release();
      throw error;
    }
  }

  static async closeAll(): Promise<void> {
    for (const dataDir of [...PGlitePool.instances.keys()]) await PGlitePool.close(dataDir);
  }

  connect(callback?: ConnectCallback): Promise<PGliteClient> | void {
    const promise = this.acquire().then(async (release) => {
      const db = await PGlitePool.database(this.options.dataDir);
      return { client: new PGliteClient(db), release };
    });
    if (!callback) return promise.then(({ client }) => client);
    promise.then(
      ({ client, release }) => callback(null, client, release),
      (err: Error) => callback(err, null, () => undefined),
    );
  }

  async query(sql: string, params?: unknown[]): Promise<PgStyleResult> {
    const release = await this.acquire();
    try {
      return await new PGliteClient(await PGlitePool.database(this.options.dataDir)).query(sql, params);
    } finally {
      release();
    }
  }

  /** Closes the embedded database when the last pool on it ends, so everything is flushed to disk. */
  end(callback?: (err?: Error) => void): Promise<void> {
    const remaining = (PGlitePool.openPools.get(this.options.dataDir) ?? 1) - 1;
    PGlitePool.openPools.set(this.options.dataDir, remaining);
    const closing = remaining > 0 ? Promise.resolve() : PGlitePool.close(this.options.dataDir);
    return closing.then(
      () => callback?.(),
      (error: Error) => {
        callback?.(error);
        if (!callback) throw error;
      },
    );
  }

  private static async close(dataDir: string): Promise<void> {
    const instance = PGlitePool.instances.get(dataDir);
    PGlitePool.instances.delete(dataDir);
    PGlitePool.openPools.delete(dataDir);
    try {
      if (instance) await (await instance).close();
    } finally {
      PGlitePool.locks.get(dataDir)?.release();
      PGlitePool.locks.delete(dataDir);
    }
  }

  get totalCount(): number {
    return 1;
  }

  get idleCount(): number {
    return this.held ? 0 : 1;
  }

  get waitingCount(): number {
    return this.queue.length;
  }

  private acquire(): Promise<(err?: unknown) => void> {
    return new Promise((resolvePromise, reject) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        const next = this.queue.shift();
        if (next) next();
        else this.held = false;
      };
      const grant = () => {
        clearTimeout(timer);
        this.held = true;
        resolvePromise(release);
      };
      const timer = setTimeout(() => {
        const index = this.queue.indexOf(grant);
        if (index >= 0) this.queue.splice(index, 1);
        reject(new Error(`Timed out after ${this.options.acquireTimeoutMs} ms waiting for the embedded database`));
      }, this.options.acquireTimeoutMs);
      timer.unref();
      if (!this.held) grant();
      else this.queue.push(grant);
    });
  }
}

/** The part of a node-postgres client that TypeORM's postgres driver uses. */
export class PGliteClient extends EventEmitter {
  constructor(private readonly db: PGlite) {
    super();
  }

  async query(sql: string, params?: unknown[]): Promise<PgStyleResult> {
    if (params && params.length > 0) {
      const result = await this.db.query(sql, params);
      return toPgResult(sql, result);
    }
    // Parameterless strings may hold several statements (migrations do); the last result is the answer.
    const results = await this.db.exec(sql);
    const last = results[results.length - 1];
    return last ? toPgResult(sql, last) : { rows: [], rowCount: 0, fields: [] };
  }

  release(): void {
    /* released through the pool's callback */
  }
}

function toPgResult(sql: string, result: Results<unknown>): PgStyleResult {
  const command = /^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase();
  return {
    rows: result.rows,
    rowCount: command === 'SELECT' || command === 'WITH' ? result.rows.length : (result.affectedRows ?? result.rows.length),
    command,
    fields: result.fields,
  };
}

/** The module shape TypeORM expects from `driver`: it only constructs `Pool`. */
export function pgliteDriver(dataDir: string) {
  return {
    Pool: class extends PGlitePool {
      constructor(options: Record<string, unknown>) {
        super({ ...options, dataDir });
      }
    },
    defaults: {},
  };
}
