import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import { Foundation1763700000000 } from '../../database/migrations/1763700000000-Foundation';
import { ContactsCore1763800000000 } from '../../database/migrations/1763800000000-ContactsCore';
import { ContactLookupEpoch1764600000000 } from '../../database/migrations/1764600000000-ContactLookupEpoch';
import { memoryDatabase } from '../../database/testing/memory-database';
import { ContactLookupDirectory, type LookupReferences, LOOKUPS_EPOCH_COLUMN, tagsOf } from './contact-lookups';


const STATUS = '10000000-0000-4000-8000-000000000001';
const SOURCE = '20000000-0000-4000-8000-000000000001';
const TAG = { zeta: '30000000-0000-4000-8000-000000000001', alpha: '30000000-0000-4000-8000-000000000002' };
const CONTACT = '40000000-0000-4000-8000-000000000001';

describe('ContactLookupDirectory on the database', () => {
  let db: PGliteClass;
  let statements: string[];
  let directory: ContactLookupDirectory;

  /** The contact's row as contact statements read it: ids and the epoch. */
  const readRow = async (): Promise<LookupReferences> =>
    (
      await db.query<LookupReferences>(
        `SELECT c.status_id, c.traffic_source_id, ARRAY(SELECT ct.tag_id FROM contact_tags ct WHERE ct.contact_id = c.id) AS tag_ids, ${LOOKUPS_EPOCH_COLUMN}
           FROM contacts c WHERE c.id = $1`,
        [CONTACT],
      )
    ).rows[0]!;

  beforeAll(async () => {
    db = await memoryDatabase([new Foundation1763700000000(), new ContactsCore1763800000000(), new ContactLookupEpoch1764600000000()]);
    await db.query(`INSERT INTO contact_statuses (id, name, stage) VALUES ($1, 'Lead', 'lead')`, [STATUS]);
    await db.query(`INSERT INTO traffic_sources (id, name) VALUES ($1, 'Referral')`, [SOURCE]);
    await db.query(`INSERT INTO tags (id, name, color) VALUES ($1, 'Zeta', '#112233'), ($2, 'Alpha', NULL)`, [TAG.zeta, TAG.alpha]);
    await db.query(`INSERT INTO contacts (id, first_name, last_name, status_id, traffic_source_id) VALUES ($1, 'Ada', 'Lovelace', $2, $3)`, [CONTACT, STATUS, SOURCE]);
    await db.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2), ($1, $3)', [CONTACT, TAG.zeta, TAG.alpha]);
  }, 120000);

  afterAll(async () => {
    await db?.close();
  });

  beforeEach(() => {
    statements = [];
    directory = new ContactLookupDirectory(async (sql, params) => {
      statements.push(sql);
      return (await db.query<Record<string, unknown>>(sql, params)).rows;
    });
  });

  it('names what a row refers to, reading each entry once', async () => {
    const row = await readRow();
    const lookups = await directory.resolve([row]);
    expect(lookups.statuses.get(STATUS)).toEqual({ id: STATUS, name: 'Lead', stage: 'lead' });
    expect(lookups.trafficSources.get(SOURCE)).toEqual({ id: SOURCE, name: 'Referral' });
    expect(tagsOf(row.tag_ids, lookups)).toEqual([
      { id: TAG.alpha, name: 'Alpha', color: null },
      { id: TAG.zeta, name: 'Zeta', color: '#112233' },
    ]);
    expect(statements).toHaveLength(1);

    await directory.resolve([await readRow(), await readRow()]);
    expect(statements).toHaveLength(1);
  });

  it('reads renamed entries again once a row shows the epoch moved, whoever renamed them', async () => {
    await directory.resolve([await readRow()]);
    const before = (await readRow()).lookups_epoch;
    await db.query(`UPDATE tags SET name = 'Omega' WHERE id = $1`, [TAG.zeta]);
    await db.query(`UPDATE contact_statuses SET stage = 'customer' WHERE id = $1`, [STATUS]);
    await db.query(`UPDATE traffic_sources SET name = 'Partner' WHERE id = $1`, [SOURCE]);
    const row = await readRow();
    expect(BigInt(row.lookups_epoch)).toBe(BigInt(before) + 3n);

    const lookups = await directory.resolve([row]);
    expect(tagsOf(row.tag_ids, lookups).map((tag) => tag.name)).toEqual(['Alpha', 'Omega']);
    expect(lookups.statuses.get(STATUS)?.stage).toBe('customer');
    expect(lookups.trafficSources.get(SOURCE)?.name).toBe('Partner');
    expect(statements).toHaveLength(2);
  });

  it('does not move the epoch for new or deleted entries', async () => {
    const before = (await readRow()).lookups_epoch;
    await db.query(`INSERT INTO tags (name) VALUES ('Brand New')`);
    await db.query(`INSERT INTO tags (name) VALUES ('brand new') ON CONFLICT (name_key) DO NOTHING`);
    await db.query(`DELETE FROM tags WHERE name_key = 'brand new'`);
    expect((await readRow()).lookups_epoch).toBe(before);
  });
});

describe('ContactLookupDirectory answers', () => {
  const row = (epoch: number, tagIds: string[]): LookupReferences => ({ status_id: null, traffic_source_id: null, tag_ids: tagIds, lookups_epoch: String(epoch) });
  const tagRow = (epoch: number, id: string, name: string) => ({ epoch: String(epoch), kind: 'tag', id, name, stage: null, color: null, name_key: name.toLowerCase() });

  it('keeps nothing read under an older epoch than one already seen', async () => {
    // The first load was sent before a rename (epoch 1) and answers after a row of epoch 2 was seen.
    let releaseStale!: () => void;
    const staleGate = new Promise<void>((resolve) => (releaseStale = resolve));
    const loads: Array<() => Promise<Array<Record<string, unknown>>>> = [
      async () => {
        await staleGate;
        return [tagRow(1, TAG.zeta, 'Zeta')];
      },
      async () => [tagRow(2, TAG.zeta, 'Omega')],
      async () => [tagRow(2, TAG.alpha, 'Alpha')],
    ];
    const run = jest.fn(() => loads.shift()!());
    const directory = new ContactLookupDirectory(run);

    const stale = directory.resolve([row(1, [TAG.zeta])]);
    const fresh = await directory.resolve([row(2, [TAG.zeta])]);
    expect(fresh.tags.get(TAG.zeta)?.name).toBe('Omega');
    releaseStale();
    // The slow answer still names its own row, from what it read…
    expect((await stale).tags.get(TAG.zeta)?.name).toBe('Zeta');
    // …but the kept name is the new one.
    const later = await directory.resolve([row(2, [TAG.zeta, TAG.alpha])]);
    expect(later.tags.get(TAG.zeta)?.name).toBe('Omega');
    expect(later.tags.get(TAG.alpha)?.name).toBe('Alpha');
    expect(run).toHaveBeenCalledTimes(3);
  });

  it('answers rows of an older statement from newer entries without reading again', async () => {
    const run = jest.fn(async () => [tagRow(5, TAG.zeta, 'Omega')]);
    const directory = new ContactLookupDirectory(run);
    await directory.resolve([row(5, [TAG.zeta])]);
    const older = await directory.resolve([row(4, [TAG.zeta])]);
    expect(older.tags.get(TAG.zeta)?.name).toBe('Omega');
    expect(run).toHaveBeenCalledTimes(1);
  });

  it('leaves out tags deleted since the row was read', () => {
    const lookups = { statuses: new Map(), trafficSources: new Map(), tags: new Map([[TAG.alpha, { id: TAG.alpha, name: 'Alpha', color: null, nameKey: 'alpha' }]]) };
    expect(tagsOf([TAG.zeta, TAG.alpha], lookups)).toEqual([{ id: TAG.alpha, name: 'Alpha', color: null }]);
  });
});
