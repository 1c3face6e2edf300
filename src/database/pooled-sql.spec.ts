import { Pool } from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { MAX_NAMED_STATEMENTS, PooledSql, statementName } from './pooled-sql';

const postgres = (preparedStatements: boolean) => ({ database: { kind: 'postgres', url: 'postgres://x/y', poolSize: 2, preparedStatements, runMigrations: false } }) as AppConfig;
const embedded = { database: { kind: 'pglite', dataDir: '/tmp/x', runMigrations: false } } as AppConfig;

function withPool(pool: object, config: AppConfig) {
  const query = jest.fn().mockResolvedValue({ rows: [{ ok: 1 }] });
  Object.assign(pool, { query });
  return { sql: new PooledSql({ driver: { master: pool } } as unknown as DataSource, config), query };
}

describe('PooledSql', () => {
  it('names a statement after its text, the same in every process', () => {
    expect(statementName('SELECT 1')).toBe(statementName('SELECT 1'));
    expect(statementName('SELECT 1')).not.toBe(statementName('SELECT 2'));
    expect(statementName('SELECT 1')).toMatch(/^m_[0-9a-f]{24}$/);
  });

  it('sends a prepared statement by name on a pg pool', async () => {
    const { sql, query } = withPool(new Pool(), postgres(true));
    await expect(sql.prepared('SELECT $1::int AS ok', [1])).resolves.toEqual([{ ok: 1 }]);
    expect(query).toHaveBeenCalledWith({ name: statementName('SELECT $1::int AS ok'), text: 'SELECT $1::int AS ok', values: [1] });
  });

  it('names at most MAX_NAMED_STATEMENTS texts and runs the rest unnamed', async () => {
    const { sql, query } = withPool(new Pool(), postgres(true));
    for (let i = 0; i <= MAX_NAMED_STATEMENTS; i += 1) await sql.prepared(`SELECT ${i}`);
    expect(query.mock.calls.filter(([statement]) => typeof statement === 'object')).toHaveLength(MAX_NAMED_STATEMENTS);
    expect(query).toHaveBeenLastCalledWith(`SELECT ${MAX_NAMED_STATEMENTS}`, undefined);
    // A text named before the cap keeps its name.
    await sql.prepared('SELECT 0');
    expect(query).toHaveBeenLastCalledWith({ name: statementName('SELECT 0'), text: 'SELECT 0', values: undefined });
  });

  it('runs unnamed when turned off, and on the embedded database', async () => {
    for (const [pool, config] of [
      [new Pool(), postgres(false)],
      [{}, embedded],
    ] as const) {
      const { sql, query } = withPool(pool, config);
      await sql.prepared('SELECT 1', []);
      expect(query).toHaveBeenCalledWith('SELECT 1', []);
    }
  });

  it('runs a statement unnamed from then on when its prepared copies no longer fit its result type', async () => {
    const { sql, query } = withPool(new Pool(), postgres(true));
    query.mockRejectedValueOnce(Object.assign(new Error('cached plan must not change result type'), { code: '0A000' }));
    await expect(sql.prepared('SELECT x FROM t WHERE id = $1', [1])).resolves.toEqual([{ ok: 1 }]);
    expect(query).toHaveBeenLastCalledWith('SELECT x FROM t WHERE id = $1', [1]);
    await sql.prepared('SELECT x FROM t WHERE id = $1', [2]);
    expect(query).toHaveBeenLastCalledWith('SELECT x FROM t WHERE id = $1', [2]);
    expect(query).toHaveBeenCalledTimes(3);
  });

  it('reports failures as QueryFailedError with the statement, as DataSource.query does', async () => {
    const { sql, query } = withPool(new Pool(), postgres(true));
    query.mockRejectedValue(Object.assign(new Error('relation "nope" does not exist'), { code: '42P01' }));
    const failure = await sql.prepared('SELECT * FROM nope').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(QueryFailedError);
    expect(failure).toMatchObject({ query: 'SELECT * FROM nope', driverError: { code: '42P01' } });
  });
});
