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
