import type { DataSource } from 'typeorm';

/** Any constant will do; it only has to be the same in every process of one deployment. */
const MIGRATION_LOCK_KEY = 7_316_482_113;

/**
 * Runs pending migrations. On a shared PostgreSQL an advisory lock makes concurrent
 * starts (N API + M worker processes) wait for one another instead of racing.
 */
export async function runPendingMigrations(dataSource: DataSource, shared: boolean): Promise<void> {
  if (!shared) {
    await dataSource.runMigrations({ transaction: 'each' });
    return;
  }
  const lockRunner = dataSource.createQueryRunner();
  try {
    await lockRunner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await lockRunner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    await lockRunner.release();
  }
}
