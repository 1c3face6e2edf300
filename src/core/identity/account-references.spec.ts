import type { EntityManager } from 'typeorm';
import { AccountReferences } from './account-references';

/** A manager that records its statements and answers each count with the next of `counts`. */
function recording(counts: number[]) {
  const statements: Array<[string, unknown[]]> = [];
  const manager = {
    query: async (sql: string, params: unknown[]) => {
      statements.push([sql, params]);
      const value = counts.shift() ?? 0;
      return [{ rows: value, count: value }];
    },
  } as unknown as EntityManager;
  return { manager, statements };
}

describe('AccountReferences', () => {
  it('locks every table in name order, whatever the order registered, and counts the rows held', async () => {
    const references = new AccountReferences();
    references.register('segments', 'created_by_id = $1');
    references.register('contact_imports', 'created_by_id = $1 OR started_by_id = $1');
    const { manager, statements } = recording([2, 3]);
    expect(await references.hold(manager, 'u1')).toBe(5);
    expect(statements).toEqual([
      ['SELECT count(*)::int AS rows FROM (SELECT id FROM contact_imports WHERE created_by_id = $1 OR started_by_id = $1 ORDER BY id FOR NO KEY UPDATE) held', ['u1']],
      ['SELECT count(*)::int AS rows FROM (SELECT id FROM segments WHERE created_by_id = $1 ORDER BY id FOR NO KEY UPDATE) held', ['u1']],
    ]);
  });

  it('counts the rows naming the account without locking them', async () => {
    const references = new AccountReferences();
    references.register('segments', 'created_by_id = $1');
    references.register('contact_imports', 'created_by_id = $1');
    const { manager, statements } = recording([1, 4]);
    expect(await references.count(manager, 'u1')).toBe(5);
    expect(statements.map(([sql]) => sql)).toEqual(['SELECT count(*)::int AS count FROM contact_imports WHERE created_by_id = $1', 'SELECT count(*)::int AS count FROM segments WHERE created_by_id = $1']);
  });

  it('refuses a table registered twice', () => {
    const references = new AccountReferences();
    references.register('segments', 'created_by_id = $1');
    expect(() => references.register('segments', 'created_by_id = $1')).toThrow('registered twice');
  });
});
