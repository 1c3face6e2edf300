import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * PGlite for unit tests. It does `await import('fs/promises')` internally, which Jest's module
 * sandbox only allows with --experimental-vm-modules, so the package is loaded by Node's own
 * module loader (the real `Module._load`, reached through process.getBuiltinModule).
 */
export function loadPGlite(): typeof PGliteClass {
  const NodeModule = process.getBuiltinModule('node:module') as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown };
  return (NodeModule._load(require.resolve('@electric-sql/pglite'), null, false) as { PGlite: typeof PGliteClass }).PGlite;
}

/** An in-memory database with these migrations applied, in order. */
export async function memoryDatabase(migrations: MigrationInterface[]): Promise<PGliteClass> {
  const db = await loadPGlite().create('memory://');
  const runner = { query: (sql: string) => db.exec(sql) } as unknown as QueryRunner;
  for (const migration of migrations) await migration.up(runner);
  return db;
}
