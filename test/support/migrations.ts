import type { PGlite } from '@electric-sql/pglite';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { MigrationInterface, QueryRunner } from 'typeorm';
import { loadPGlite } from '../../src/database/testing/memory-database';

const MIGRATIONS_DIR = join(__dirname, '../../src/database/migrations');

function migration(file: string): MigrationInterface {
  const exported = require(join(MIGRATIONS_DIR, file)) as Record<string, new () => MigrationInterface>;
  return new (Object.values(exported)[0]!)();
}

export interface MigrationUnderTest {
  db: PGlite;
  /** What the migration's up() and down() are given: statements run on `db`. */
  runner: QueryRunner;
  target: MigrationInterface;
}

/**
 * An in-memory PGlite database with every migration before `file` applied, and that migration
 * ready to run: for tests of one migration's up() and down() on the embedded database.
 */
export async function beforeMigration(file: string): Promise<MigrationUnderTest> {
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((name) => name.endsWith('.ts'))
    .sort();
  if (!files.includes(file)) throw new Error(`No migration ${file} in ${MIGRATIONS_DIR}`);
  const db = await loadPGlite().create('memory://');
  // Rows come back as TypeORM's query() gives them (the last statement's, for a script).
  const runner = {
    query: async (sql: string, params?: unknown[]) => (params ? (await db.query(sql, params)).rows : ((await db.exec(sql)).at(-1)?.rows ?? [])),
  } as unknown as QueryRunner;
  for (const earlier of files.filter((name) => name < file)) await migration(earlier).up(runner);
  return { db, runner, target: migration(file) };
}
