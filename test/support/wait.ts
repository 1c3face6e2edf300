/** Polls `probe` until it returns a value; fails after `timeoutMs`, naming what it waited for. */
export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'a condition'): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Something that runs SQL: the spec's DataSource. */
interface Queryable {
  query(sql: string): Promise<unknown>;
}

/**
 * Waits until `count` sessions of the spec's own database wait for a lock (a request caught on
 * a row the test holds), or until `settled` says the request finished without waiting.
 */
export async function untilWaitingForLocks(db: Queryable, count: number, what: string, settled: () => boolean = () => false): Promise<void> {
  await until(
    async () => {
      if (settled()) return true;
      const [{ waiting }] = (await db.query(
        `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      )) as Array<{ waiting: number }>;
      return waiting >= count ? true : undefined;
    },
    10_000,
    what,
  );
}

/** Something that opens a transaction of its own: the spec's DataSource. */
interface Transactional {
  createQueryRunner(): {
    connect(): Promise<unknown>;
    startTransaction(): Promise<void>;
    commitTransaction(): Promise<void>;
    rollbackTransaction(): Promise<void>;
    release(): Promise<void>;
    query(sql: string, params?: unknown[]): Promise<unknown>;
    isTransactionActive: boolean;
  };
}

/**
 * Races a request against a transaction the test holds: `lock` takes rows (a SELECT … FOR …),
 * the request is sent and awaited until it waits for them, `meanwhile` runs (given the held
 * transaction's query), the transaction commits, and the request's answer is returned.
 */
export async function whileHolding<T>(
  db: Transactional & Queryable,
  lock: { sql: string; params: unknown[] },
  request: () => PromiseLike<T>,
  meanwhile: (query: (sql: string, params?: unknown[]) => Promise<unknown>) => Promise<unknown>,
): Promise<T> {
  const holding = db.createQueryRunner();
  await holding.connect();
  let pending: Promise<T> | undefined;
  try {
    await holding.startTransaction();
    await holding.query(lock.sql, lock.params);
    pending = Promise.resolve(request());
    pending.catch(() => undefined);
    await untilWaitingForLocks(db, 1, 'the request to wait for the held rows');
    await meanwhile((sql, params) => holding.query(sql, params));
    await holding.commitTransaction();
  } finally {
    if (holding.isTransactionActive) await holding.rollbackTransaction();
    await holding.release();
  }
  return pending!;
}

/**
 * Makes two writers meet partway through their locks: `first` is sent and stops on the row
 * `lock` holds; `second` is sent and either waits too or finishes; then the row is let go. Two
 * writers taking the same rows in opposite orders are then caught in a deadlock every time.
 *
 * PostgreSQL looks for a deadlock once per wait, `deadlock_timeout` (1 s) after it began, and the
 * waiter that finds one is the one aborted. `settleMs` keeps the row that long after both wait,
 * so the waits begun before it is let go are past their look: a circle formed afterwards is
 * found, and answered, by the writer that waits anew (a request, say, where a job would retry
 * unseen).
 */
export async function behindHeldRow<A, B>(
  db: Transactional & Queryable,
  lock: { sql: string; params: unknown[] },
  first: () => PromiseLike<A>,
  second: () => PromiseLike<B>,
  options: { settleMs?: number } = {},
): Promise<[A, B]> {
  const holding = db.createQueryRunner();
  await holding.connect();
  try {
    await holding.startTransaction();
    await holding.query(lock.sql, lock.params);
    let firstDone = false;
    let secondDone = false;
    const firstAnswer = Promise.resolve(first()).finally(() => (firstDone = true));
    firstAnswer.catch(() => undefined);
    await untilWaitingForLocks(db, 1, 'the first writer to wait for the held row', () => firstDone);
    if (firstDone) throw new Error('The first writer did not wait for the held row');
    const secondAnswer = Promise.resolve(second()).finally(() => (secondDone = true));
    secondAnswer.catch(() => undefined);
    await untilWaitingForLocks(db, 2, 'the second writer to wait or finish', () => secondDone);
    if (options.settleMs) await new Promise((resolve) => setTimeout(resolve, options.settleMs));
    await holding.commitTransaction();
    return await Promise.all([firstAnswer, secondAnswer]);
  } finally {
    if (holding.isTransactionActive) await holding.rollbackTransaction();
    await holding.release();
  }
}

/** Something that runs SQL with parameters: the spec's DataSource. */
interface Parameterised {
  query(sql: string, params?: unknown[]): Promise<unknown>;
}

/**
 * Stops a writer partway through a statement: a trigger named `name` makes each row `when`
 * selects (BEFORE `event` ON `table`) wait for a shared advisory lock of that name. `run` is
 * given the statement that holds the lock exclusively (for `behindHeldRow`, or a transaction of
 * the test's own): rows wait while it is held. The trigger is removed afterwards.
 */
export async function withPausedRows<T>(
  db: Parameterised,
  pause: { name: string; table: string; event: 'INSERT' | 'UPDATE' | 'DELETE'; when: string },
  run: (hold: { sql: string; params: unknown[] }) => Promise<T>,
): Promise<T> {
  const { name, table, event, when } = pause;
  await db.query(
    `CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(hashtext('${name}')); RETURN ${event === 'DELETE' ? 'OLD' : 'NEW'}; END $$`,
  );
  await db.query(`CREATE TRIGGER ${name} BEFORE ${event} ON ${table} FOR EACH ROW WHEN (${when}) EXECUTE FUNCTION ${name}()`);
  try {
    return await run({ sql: 'SELECT pg_advisory_xact_lock(hashtext($1))', params: [name] });
  } finally {
    await db.query(`DROP TRIGGER ${name} ON ${table}`);
    await db.query(`DROP FUNCTION ${name}()`);
  }
}
