import { startTestApp, TestApp } from '../support/test-app';

/**
 * Rows deleted many at a time (a purge or revert of contacts, a deleted import, segment, tag or
 * service) have their dependants found by PostgreSQL's foreign-key actions, one lookup per deleted
 * row: a dependant table without an index leading with the key is read whole for each of them,
 * and such a deletion grows with both tables. Such lookups cannot use partial indexes.
 */
const DELETED_IN_BULK = ['contacts', 'contact_imports', 'segments', 'tags', 'services'];

describe('foreign keys to rows deleted in bulk', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('each has an index leading with its column, on the migrated schema', async () => {
    const keys = (await t.db.query(
      `SELECT c.conrelid::regclass::text AS dependant, c.confrelid::regclass::text AS referenced, a.attname AS column,
              EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indpred IS NULL AND i.indkey[0] = c.conkey[1]) AS indexed
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.confrelid::regclass::text = ANY($1::text[])
        ORDER BY 1, 3`,
      [DELETED_IN_BULK],
    )) as Array<{ dependant: string; referenced: string; column: string; indexed: boolean }>;
    // The list is read from the schema: a new table referring to contacts is checked as it comes.
    expect(keys.map((key) => `${key.dependant}.${key.column}`)).toEqual(expect.arrayContaining(['contact_import_changes.contact_id', 'activities.contact_id', 'contact_tags.tag_id']));
    expect(keys.filter((key) => !key.indexed).map((key) => `${key.dependant}.${key.column} → ${key.referenced}`)).toEqual([]);
  });
});
