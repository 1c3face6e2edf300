import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import { abilityToSql, UntranslatableRuleError } from './ability-to-sql';
import { AppAbility, buildAbility, PreciseInstant, subjectOf } from './app-ability';
import { interpolateRules, lowerCaseUuids } from './rule-interpolation';
import type { StoredRule, SubjectField } from './rule.types';
import { loadPGlite } from '../../database/testing/memory-database';

/**
 * The SQL predicate is executed against a real (embedded) PostgreSQL and its result is
 * compared with what CASL itself decides for each row, so the list query and the
 * single-record check can never disagree.
 */

const FIELDS: Record<string, SubjectField> = {
  id: { column: '{alias}.id', type: 'uuid' },
  assignedToId: { column: '{alias}.assigned_to_id', type: 'uuid' },
  statusId: { column: '{alias}.status_id', type: 'uuid' },
  email: { column: '{alias}.email', type: 'string' },
  score: { column: '{alias}.score', type: 'number' },
  tags: { column: '{alias}.tags', type: 'string[]' },
  createdAt: { column: '{alias}.created_at', type: 'date' },
};

const USER = {
  alice: 'a11ce000-0000-4000-8000-000000000001',
  bob: 'b0b00000-0000-4000-8000-000000000002',
};
const STATUS = {
  lead: '5a000000-0000-4000-8000-00000000000a',
  won: '5b000000-0000-4000-8000-00000000000b',
  lost: '5c000000-0000-4000-8000-00000000000c',
};

interface ContactRow {
  id: string;
  assigned_to_id: string | null;
  status_id: string | null;
  email: string | null;
  score: number | null;
  tags: string[] | null;
  /** The first of month n of 2024, UTC. */
  created_at: Date;
}

const row = (n: number, assigned_to_id: string | null, status_id: string | null, email: string | null, score: number | null, tags: string[] | null): ContactRow => ({
  id: `c0000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  assigned_to_id,
  status_id,
  email,
  score,
  tags,
  created_at: new Date(Date.UTC(2024, n - 1, 1)),
});

const ROWS: ContactRow[] = [
  row(1, USER.alice, STATUS.lead, 'one@example.test', 10, ['vip', 'eu']),
  row(2, USER.bob, STATUS.won, 'two@example.test', 50, ['us']),
  row(3, null, null, null, null, null),
  row(4, USER.alice, STATUS.lost, 'four@example.test', 50.5, []),
  row(5, USER.bob, STATUS.lead, null, 99, ['vip']),
  row(6, null, STATUS.won, 'six@example.test', 0, ['eu', 'blocked']),
  row(7, USER.alice, null, 'seven@example.test', -5, null),
  row(8, USER.bob, STATUS.lost, 'eight@example.test', 49.99, ['blocked']),
];
const [R1, R2, R3, R4, R5, R6, R7, R8] = ROWS.map((r) => r.id) as [string, string, string, string, string, string, string, string];
const ALL_IDS = ROWS.map((r) => r.id).sort();

/** The record as the application hands it to CASL: camelCase fields, NULL columns as null. */
const toSubject = (r: ContactRow) => ({
  id: r.id,
  assignedToId: r.assigned_to_id,
  statusId: r.status_id,
  email: r.email,
  score: r.score,
  tags: r.tags,
  createdAt: r.created_at,
});

const sorted = (ids: string[]) => [...ids].sort();

const PGlite = loadPGlite();

let db: PGliteClass;

beforeAll(async () => {
  db = await PGlite.create('memory://');
  await db.exec(`
    CREATE TABLE contacts (
      id uuid PRIMARY KEY,
      assigned_to_id uuid NULL,
      status_id uuid NULL,
      email text NULL,
      score numeric NULL,
      tags text[] NULL,
      created_at timestamptz NOT NULL
    );
  `);
  for (const r of ROWS) {
    await db.query('INSERT INTO contacts (id, assigned_to_id, status_id, email, score, tags, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [
      r.id,
      r.assigned_to_id,
      r.status_id,
      r.email,
      r.score,
      r.tags,
      r.created_at.toISOString(),
    ]);
  }
}, 60000);

afterAll(async () => {
  await db?.close();
});

function caslVisible(ability: AppAbility): string[] {
  return sorted(ROWS.filter((r) => ability.can('read', subjectOf('Contact', toSubject(r)))).map((r) => r.id));
}

async function sqlVisible(ability: AppAbility, firstParam?: number): Promise<{ ids: string[]; sql: string; params: unknown[] }> {
  const { sql, params } = abilityToSql(ability, 'read', 'Contact', FIELDS, 'c', firstParam);
  const result = await db.query<{ id: string }>(`SELECT id FROM contacts c WHERE ${sql}`, params);
  return { ids: sorted(result.rows.map((r) => r.id)), sql, params };
}

/** Runs the predicate and checks it selects exactly the rows CASL lets the user read. */
async function expectSqlMatchesCasl(rules: StoredRule[]) {
  const ability = buildAbility(rules);
  const fromSql = await sqlVisible(ability);
  const fromCasl = caslVisible(ability);
  expect(fromSql.ids).toEqual(fromCasl);
  return { ...fromSql, casl: fromCasl };
}

/** Guards against a vacuous comparison: the rule must select some rows but not all of them. */
function expectProperSubset(ids: string[]) {
  expect(ids.length).toBeGreaterThan(0);
  expect(ids.length).toBeLessThan(ROWS.length);
}

describe('abilityToSql (executed against PostgreSQL, compared with CASL)', () => {
  it('the fixture holds what the tests rely on', async () => {
    const result = await db.query<{ n: number; nulls: number }>(
      'SELECT count(*)::int AS n, count(*) FILTER (WHERE assigned_to_id IS NULL AND status_id IS NULL AND email IS NULL AND score IS NULL AND tags IS NULL)::int AS nulls FROM contacts',
    );
    expect(result.rows[0]).toEqual({ n: ROWS.length, nulls: 1 });
  });

  it('an unconditional rule lets every row through', async () => {
    const { ids, sql, params } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact' }]);
    expect(ids).toEqual(ALL_IDS);
    expect(sql).toBe('TRUE');
    expect(params).toEqual([]);
  });

  it('manage on all counts as an unconditional read', async () => {
    const { ids } = await expectSqlMatchesCasl([{ action: 'manage', subject: 'all' }]);
    expect(ids).toEqual(ALL_IDS);
  });

  it('without a matching rule nothing is visible and the predicate is FALSE', async () => {
    const rules: StoredRule[] = [
      { action: 'update', subject: 'Contact' },
      { action: 'read', subject: 'Invoice' },
    ];
    const { ids, sql, params } = await expectSqlMatchesCasl(rules);
    expect(sql).toBe('FALSE');
    expect(params).toEqual([]);
    expect(ids).toEqual([]);
  });

  it('with no rules at all nothing is visible', async () => {
    const { ids, sql } = await expectSqlMatchesCasl([]);
    expect(sql).toBe('FALSE');
    expect(ids).toEqual([]);
  });

  it('an unconditional cannot overrides an earlier can', async () => {
    const { ids, sql } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice } },
      { action: 'read', subject: 'Contact', inverted: true },
    ]);
    expect(sql).toBe('FALSE');
    expect(ids).toEqual([]);
  });

  it('$eq with a value interpolated from a ${user.id} placeholder', async () => {
    const stored: StoredRule[] = [{ action: 'read', subject: 'Contact', conditions: { assignedToId: { $eq: '${user.id}' } } }];
    const rules = interpolateRules(stored, { id: USER.alice, contactId: R1, email: 'alice@example.test' });
    const ability = buildAbility(rules);
    const { ids, params } = await sqlVisible(ability);
    expect(ids).toEqual(caslVisible(ability));
    expect(ids).toEqual(sorted([R1, R4, R7]));
    expect(params).toEqual([USER.alice]);
  });

  it('timestamps compared with ISO text agree with CASL (a loaded record holds Dates)', async () => {
    const after = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { createdAt: { $gte: '2024-03-01T00:00:00Z' } } }]);
    expect(after.ids).toEqual(sorted([R3, R4, R5, R6, R7, R8]));
    // The same instant written with an offset, and a date alone (midnight UTC).
    const before = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { createdAt: { $lt: '2024-03-01T01:00:00+01:00' } } }]);
    expect(before.ids).toEqual(sorted([R1, R2]));
    const exact = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { createdAt: '2024-02-01' } }]);
    expect(exact.ids).toEqual([R2]);
  });

  it('timestamps agree with CASL to the microsecond, and text without an offset is UTC whatever the process zone', async () => {
    // Stored to the microsecond, as PostgreSQL keeps them: 400 µs either side of a rule's instant.
    const instants = ['2024-06-01T00:00:00.0004Z', '2024-05-31T23:59:59.9996Z', '2024-06-01T00:00:00Z', '2024-06-01T04:00:00.000001Z'];
    await db.exec('CREATE TEMP TABLE instants (id int PRIMARY KEY, created_at timestamptz NOT NULL)');
    for (const [index, instant] of instants.entries()) await db.query('INSERT INTO instants VALUES ($1, $2)', [index, instant]);
    // The record as the API loads it: the creation time as UTC text to the microsecond.
    const loaded = await db.query<{ id: number; created_key: string }>(
      `SELECT id, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_key FROM instants ORDER BY id`,
    );
    // jest.config.js runs this process in America/New_York: text without an offset would be 04:00 UTC to Date.parse.
    try {
      const conditions = [
        { $gt: '2024-06-01T00:00:00Z' },
        { $lte: '2024-06-01T00:00:00Z' },
        { $gte: '2024-06-01T00:00:00.0004Z' },
        { $lt: '2024-06-01T00:00:00.000400+00:00' },
        // No offset: UTC, as in the API's UTC sessions (here it would be 04:00 UTC otherwise).
        { $gte: '2024-06-01T00:00:00' },
        { $lt: '2024-06-01T04:00:00.000001' },
        '2024-06-01T00:00:00',
        { $gt: '2024-06-01' },
      ];
      for (const condition of conditions) {
        const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { createdAt: condition } }]);
        const { sql, params } = abilityToSql(ability, 'read', 'Contact', FIELDS, 'c');
        const fromSql = (await db.query<{ id: number }>(`SELECT id FROM instants c WHERE ${sql} ORDER BY id`, params)).rows.map((row) => row.id);
        const fromCasl = loaded.rows.filter((row) => ability.can('read', subjectOf('Contact', { createdAt: PreciseInstant.fromIso(row.created_key) }))).map((row) => row.id);
        expect({ condition, ids: fromCasl }).toEqual({ condition, ids: fromSql });
        expect(fromSql.length).toBeGreaterThan(0);
        expect(fromSql.length).toBeLessThan(instants.length);
      }
    } finally {
      await db.exec('DROP TABLE instants');
    }
  });

  it('reads ISO text to the microsecond as PostgreSQL does', async () => {
    const cases = ['2024-02-29T12:34:56.1234565Z', '2024-02-29T12:34:56.0000125Z', '2024-02-29T12:34:56.9999996Z', '1969-12-31T23:59:59.9999994Z', '0099-03-01T00:00:00+05:30', '2024-03-01T24:00:00Z', '2024-06-30T10:00-02:00'];
    for (const text of cases) {
      const [{ key }] = (await db.query<{ key: string }>(`SELECT to_char($1::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS key`, [text])).rows as [{ key: string }];
      const instant = PreciseInstant.fromIso(text)!;
      const microseconds = instant.microseconds;
      const whole = new Date(Number((microseconds - (((microseconds % 1_000_000n) + 1_000_000n) % 1_000_000n)) / 1000n));
      const fraction = String(((microseconds % 1_000_000n) + 1_000_000n) % 1_000_000n).padStart(6, '0');
      expect({ text, key: `${whole.toISOString().slice(0, 19)}.${fraction}` }).toEqual({ text, key });
    }
    expect(PreciseInstant.fromIso('2024-02-30T00:00:00Z')).toBeUndefined();
    expect(PreciseInstant.fromIso('not a date')).toBeUndefined();
  });

  it('UUIDs written in capitals agree with CASL once the rules are lower-cased as the factory does', async () => {
    const typeOf = (_subject: string, field: string) => FIELDS[field]?.type;
    const rules = lowerCaseUuids(
      [
        { action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice.toUpperCase() } },
        { action: 'read', subject: 'Contact', conditions: { $or: [{ statusId: { $in: [STATUS.won.toUpperCase()] } }] } },
        { action: 'read', subject: 'Contact', conditions: { email: 'EIGHT@example.test' } },
      ],
      typeOf,
    );
    const { ids } = await expectSqlMatchesCasl(rules);
    // Text fields keep their case: SQL compares them as written.
    expect(ids).toEqual(sorted([R1, R2, R4, R6, R7]));
  });

  it('a plain value is an implicit $eq', async () => {
    const { ids } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { statusId: STATUS.won } }]);
    expect(ids).toEqual(sorted([R2, R6]));
  });

  it('$in on a scalar field', async () => {
    const { ids, params } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { statusId: { $in: [STATUS.won, STATUS.lost] } } },
    ]);
    expect(ids).toEqual(sorted([R2, R4, R6, R8]));
    expect(params).toEqual([[STATUS.won, STATUS.lost]]);
  });

  it('$nin on a scalar field keeps rows whose column is NULL, as CASL does', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { statusId: { $nin: [STATUS.won, STATUS.lost] } } },
    ]);
    expect(ids).toEqual(sorted([R1, R3, R5, R7]));
  });

  it('$in whose list contains null agrees with CASL on rows where the column is NULL', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { statusId: { $in: [STATUS.won, null] } } },
    ]);
    expect(ids).toEqual(expect.arrayContaining([R2, R6]));
    expectProperSubset(ids);
  });

  it('$ne keeps rows whose column is NULL (NULL is "not equal")', async () => {
    const { ids } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { assignedToId: { $ne: USER.alice } } }]);
    expect(ids).toEqual(sorted([R2, R3, R5, R6, R8]));
  });

  it('$eq null and $ne null select the NULL and non-NULL rows', async () => {
    const isNull = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { email: null } }]);
    expect(isNull.ids).toEqual(sorted([R3, R5]));
    expect(isNull.params).toEqual([]);
    const notNull = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { email: { $ne: null } } }]);
    expect(notNull.ids).toEqual(sorted([R1, R2, R4, R6, R7, R8]));
  });

  it('$exists: true agrees with CASL', async () => {
    const { casl } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { email: { $exists: true } } }]);
    expect(casl).toEqual(expect.arrayContaining([R1, R2, R4, R6, R7, R8]));
  });

  it('$exists: false agrees with CASL', async () => {
    const { casl } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { email: { $exists: false } } }]);
    expect(casl).not.toContain(R1);
  });

  it('$gt and $lte on numbers (rows that have a score)', async () => {
    const scored = (extra: Record<string, unknown>) => ({ score: { $ne: null, ...extra } });
    const gt = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: scored({ $gt: 49.99 }) }]);
    expect(gt.ids).toEqual(sorted([R2, R4, R5]));
    const lte = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: scored({ $lte: 50 }) }]);
    expect(lte.ids).toEqual(sorted([R1, R2, R6, R7, R8]));
    const range = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { score: { $gt: 0, $lte: 50 } } }]);
    expect(range.ids).toEqual(sorted([R1, R2, R8]));
  });

  it('$gt with a NULL score present agrees with CASL', async () => {
    const { ids } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { score: { $gt: 10 } } }]);
    expect(ids).toEqual(sorted([R2, R4, R5, R8]));
  });

  it('$lte / $lt with a NULL score present agree with CASL', async () => {
    const lte = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { score: { $lte: 10 } } }]);
    expect(lte.ids).toEqual(expect.arrayContaining([R1, R6, R7]));
    expectProperSubset(lte.ids);
    const lt = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { score: { $lt: 0 } } }]);
    expect(lt.ids).toEqual(expect.arrayContaining([R7]));
  });

  it('a cannot rule on $lt does not let a row with a NULL score through that CASL denies', async () => {
    const { casl } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact' },
      { action: 'read', subject: 'Contact', inverted: true, conditions: { score: { $lt: 5 } } },
    ]);
    expectProperSubset(casl);
  });

  it('a cannot rule removes matching rows from an unconditional can; NULL columns do not match the cannot', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact' },
      { action: 'read', subject: 'Contact', inverted: true, conditions: { statusId: STATUS.won } },
    ]);
    expect(ids).toEqual(sorted([R1, R3, R4, R5, R7, R8]));
  });

  it('cannot rules restrict a conditional can, with NULL columns treated as not equal', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { statusId: { $ne: STATUS.lost } } },
      { action: 'read', subject: 'Contact', inverted: true, conditions: { tags: 'blocked' } },
      { action: 'read', subject: 'Contact', inverted: true, conditions: { assignedToId: USER.bob, score: { $gt: 60 } } },
    ]);
    // 6 is blocked, 5 is bob's with a score over 60; 3 and 7 have NULL status, which is "not lost".
    expect(ids).toEqual(sorted([R1, R2, R3, R7]));
  });

  it('a cannot with $ne hides rows whose column is NULL', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact' },
      { action: 'read', subject: 'Contact', inverted: true, conditions: { assignedToId: { $ne: USER.alice } } },
    ]);
    expect(ids).toEqual(sorted([R1, R4, R7]));
  });

  it('a can rule defined after a cannot rule takes priority over it', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', inverted: true, conditions: { statusId: STATUS.lead } },
      { action: 'read', subject: 'Contact', conditions: { assignedToId: USER.bob } },
    ]);
    expect(ids).toEqual(sorted([R2, R5, R8]));
  });

  it('several can rules are OR-ed', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice } },
      { action: 'read', subject: 'Contact', conditions: { statusId: STATUS.won } },
      { action: 'read', subject: 'Contact', conditions: { tags: 'vip' } },
    ]);
    expect(ids).toEqual(sorted([R1, R2, R4, R5, R6, R7]));
  });

  it('$or inside one rule', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { $or: [{ assignedToId: USER.bob }, { statusId: null }] } },
    ]);
    expect(ids).toEqual(sorted([R2, R3, R5, R7, R8]));
  });

  it('$and inside one rule', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { $and: [{ assignedToId: USER.alice }, { email: { $ne: null } }, { tags: { $ne: 'eu' } }] } },
    ]);
    expect(ids).toEqual(sorted([R4, R7]));
  });

  it('$nor inside one rule, next to a field condition', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact', conditions: { assignedToId: { $ne: USER.alice }, $nor: [{ tags: 'blocked' }, { score: { $gt: 90 } }] } },
    ]);
    // Not alice's: 2, 3, 5, 6, 8; 6 and 8 are blocked, 5 scores 99. Row 3 (all NULL) matches neither branch of the $nor.
    expect(ids).toEqual(sorted([R2, R3]));
  });

  it('an array field with $eq matches rows whose array contains the value', async () => {
    const { ids, params } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { tags: { $eq: 'vip' } } }]);
    expect(ids).toEqual(sorted([R1, R5]));
    expect(params).toEqual(['vip']);
  });

  it('an array field with $in matches rows whose array overlaps the list', async () => {
    const { ids } = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { tags: { $in: ['eu', 'us'] } } }]);
    expect(ids).toEqual(sorted([R1, R2, R6]));
  });

  it('an array field with $ne and $nin keeps NULL and empty arrays', async () => {
    const ne = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { tags: { $ne: 'blocked' } } }]);
    expect(ne.ids).toEqual(sorted([R1, R2, R3, R4, R5, R7]));
    const nin = await expectSqlMatchesCasl([{ action: 'read', subject: 'Contact', conditions: { tags: { $nin: ['vip', 'us'] } } }]);
    expect(nin.ids).toEqual(sorted([R3, R4, R6, R7, R8]));
  });

  it('a cannot on an array field leaves rows with NULL arrays visible', async () => {
    const { ids } = await expectSqlMatchesCasl([
      { action: 'read', subject: 'Contact' },
      { action: 'read', subject: 'Contact', inverted: true, conditions: { tags: { $in: ['blocked', 'us'] } } },
    ]);
    expect(ids).toEqual(sorted([R1, R3, R4, R5, R7]));
  });

  it('numbers parameters from firstParam so the predicate can follow existing parameters', async () => {
    const ability = buildAbility([
      { action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice } },
      { action: 'read', subject: 'Contact', conditions: { tags: { $in: ['us'] } } },
    ]);
    const { sql, params } = abilityToSql(ability, 'read', 'Contact', FIELDS, 'c', 3);
    expect(sql).toContain('$3');
    expect(sql).toContain('$4');
    expect(sql).not.toMatch(/\$[125]\b/);
    expect(params).toHaveLength(2);
    const result = await db.query<{ id: string }>(`SELECT id FROM contacts c WHERE c.id <> $1::uuid AND $2::int = 2 AND (${sql})`, [R4, 2, ...params]);
    expect(sorted(result.rows.map((r) => r.id))).toEqual(sorted([R1, R2, R7]));
  });

  it('replaces every {alias} in a column expression', async () => {
    const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { email: 'two@example.test' } }]);
    const fields = { email: { column: "lower({alias}.email || '')", type: 'string' as const } };
    const { sql } = abilityToSql(ability, 'read', 'Contact', fields, 'x');
    expect(sql).not.toContain('{alias}');
    const result = await db.query<{ id: string }>(`SELECT id FROM contacts x WHERE ${sql}`, abilityToSql(ability, 'read', 'Contact', fields, 'x').params);
    expect(result.rows.map((r) => r.id)).toEqual([R2]);
  });

  it('a field outside the whitelist throws UntranslatableRuleError', () => {
    const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { nickname: 'bob' } }]);
    expect(() => abilityToSql(ability, 'read', 'Contact', FIELDS, 'c')).toThrow(UntranslatableRuleError);
    expect(() => abilityToSql(ability, 'read', 'Contact', FIELDS, 'c')).toThrow(/nickname/);
  });

  it('an unknown field inside a cannot rule also throws', () => {
    const ability = buildAbility([
      { action: 'read', subject: 'Contact' },
      { action: 'read', subject: 'Contact', inverted: true, conditions: { secret: true } },
    ]);
    expect(() => abilityToSql(ability, 'read', 'Contact', FIELDS, 'c')).toThrow(UntranslatableRuleError);
  });

  it('an operator the translation does not support throws UntranslatableRuleError', () => {
    const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { email: { $regex: '^one' } } }]);
    expect(() => abilityToSql(ability, 'read', 'Contact', FIELDS, 'c')).toThrow(UntranslatableRuleError);
  });

  it('for one field, counts only the rules that cover it, matching CASL record by record', async () => {
    const ability = buildAbility([
      { action: 'update', subject: 'Contact', fields: ['email'] },
      { action: 'update', subject: 'Contact', fields: ['statusId'], conditions: { assignedToId: USER.alice } },
      { action: 'update', subject: 'Contact', fields: ['statusId'], conditions: { statusId: STATUS.lost }, inverted: true },
    ]);
    const updatable = async (field: string) => {
      const { sql, params } = abilityToSql(ability, 'update', 'Contact', FIELDS, 'c', 1, field);
      return sorted((await db.query<{ id: string }>(`SELECT id FROM contacts c WHERE ${sql}`, params)).rows.map((r) => r.id));
    };
    const casl = (field: string) => sorted(ROWS.filter((r) => ability.can('update', subjectOf('Contact', toSubject(r)), field)).map((r) => r.id));
    // Without a field, a rule for other fields counts as allowing the action on every row.
    expect(abilityToSql(ability, 'update', 'Contact', FIELDS, 'c').sql).toBe('TRUE');
    expect(await updatable('email')).toEqual(casl('email'));
    expect(await updatable('email')).toHaveLength(ROWS.length);
    expect(await updatable('statusId')).toEqual(casl('statusId'));
    expectProperSubset(await updatable('statusId'));
    expect(abilityToSql(ability, 'update', 'Contact', FIELDS, 'c', 1, 'score').sql).toBe('FALSE');
  });
});
