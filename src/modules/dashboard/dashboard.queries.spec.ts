import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import type { QueryRunner } from 'typeorm';
import { Foundation1763700000000 } from '../../database/migrations/1763700000000-Foundation';
import { ContactsCore1763800000000 } from '../../database/migrations/1763800000000-ContactsCore';
import { ContactImports1764200000000 } from '../../database/migrations/1764200000000-ContactImports';
import { DashboardSnapshots1764300000000 } from '../../database/migrations/1764300000000-DashboardSnapshots';
import { StatusHistoryKeepsDeletedStatuses1765000000000 } from '../../database/migrations/1765000000000-StatusHistoryKeepsDeletedStatuses';
import { RevertedImportsConvertNobody1765220000000 } from '../../database/migrations/1765220000000-RevertedImportsConvertNobody';
import { StatusHistoryKeepsStages1765240000000 } from '../../database/migrations/1765240000000-StatusHistoryKeepsStages';
import { HistoryKeepsItsAuthors1765340000000 } from '../../database/migrations/1765340000000-HistoryKeepsItsAuthors';
import { memoryDatabase } from '../../database/testing/memory-database';
import { METRICS, MY_METRICS } from './dashboard.definitions';
import { myMetrics, snapshotMetrics } from './dashboard.metrics';
import {
  BreakdownSeriesRow,
  ContactCountsRow,
  INSERT_SNAPSHOT_SQL,
  LastContactedRow,
  LATEST_SNAPSHOT_SQL,
  MyCountsRow,
  myActivitiesStatement,
  myCountsStatement,
  PRUNE_SNAPSHOTS_SQL,
  SeriesRow,
  snapshotStatements,
  Statement,
  WITHOUT_JIT_SQL,
} from './dashboard.queries';

/**
 * The dashboard statements against a real embedded PostgreSQL built from the migrations, at a
 * pinned moment (Wednesday 2026-03-18 12:00 UTC), with rows on both sides of every boundary:
 * the 7/14/30-day buckets, the first month and week of the series, trashed contacts, future
 * activities and deleted authors.
 */

const NOW = new Date('2026-03-18T12:00:00Z');
const uuid = (prefix: string, n: number) => `${prefix}-0000-4000-8000-${String(n).padStart(12, '0')}`;
const STATUS = { lead: uuid('5a000000', 1), prospect: uuid('5a000000', 2), customer: uuid('5a000000', 3), vip: uuid('5a000000', 4), inactive: uuid('5a000000', 5) };
const SOURCE = { web: uuid('50000000', 1), fair: uuid('50000000', 2) };
const USER = { alice: uuid('a0000000', 1), bob: uuid('b0000000', 2) };
/** The id an activity keeps of an account deleted since: no user has it. */
const DELETED_USER = uuid('de000000', 1);
const C = {
  c1: uuid('c0000000', 1), c2: uuid('c0000000', 2), c3: uuid('c0000000', 3), c4: uuid('c0000000', 4), c5: uuid('c0000000', 5),
  c6: uuid('c0000000', 6), c7: uuid('c0000000', 7), l1: uuid('c0000000', 8), l2: uuid('c0000000', 9), p1: uuid('c0000000', 10),
  o1: uuid('c0000000', 11), n1: uuid('c0000000', 12), ua: uuid('c0000000', 13), ub: uuid('c0000000', 14),
};
const A = { a1: uuid('ac000000', 1) };

let db: PGliteClass;

async function one<T>(statement: Statement): Promise<T> {
  const result = await db.query<T>(statement.sql, statement.params);
  return result.rows[0]!;
}

beforeAll(async () => {
  db = await memoryDatabase([new Foundation1763700000000(), new ContactsCore1763800000000(), new ContactImports1764200000000(), new DashboardSnapshots1764300000000(), new StatusHistoryKeepsDeletedStatuses1765000000000(), new RevertedImportsConvertNobody1765220000000(), new HistoryKeepsItsAuthors1765340000000()]);

  await db.query(
    `INSERT INTO contact_statuses (id, name, stage, position) VALUES
       ($1, 'Lead', 'lead', 0), ($2, 'Prospect', 'prospect', 1), ($3, 'Customer', 'customer', 2), ($4, 'Vip', 'customer', 3), ($5, 'Inactive', 'other', 4)`,
    [STATUS.lead, STATUS.prospect, STATUS.customer, STATUS.vip, STATUS.inactive],
  );
  await db.query(`INSERT INTO traffic_sources (id, name) VALUES ($1, 'Web'), ($2, 'Fair')`, [SOURCE.web, SOURCE.fair]);
  // The staff members' own contacts (no status, created before the series start).
  for (const [id, name] of [[C.ua, 'Alice'], [C.ub, 'Bob']]) {
    await db.query(`INSERT INTO contacts (id, first_name, last_name, created_at) VALUES ($1, $2, 'Staff', '2025-01-01T00:00:00Z')`, [id, name]);
  }
  await db.query(
    `INSERT INTO users (id, contact_id, email, first_name, last_name) VALUES ($1, $2, 'alice@example.com', 'Alice', 'Staff'), ($3, $4, 'bob@example.com', 'Bob', 'Staff')`,
    [USER.alice, C.ua, USER.bob, C.ub],
  );

  // id, status, assignee, source, created_at, trashed
  const contacts: Array<[string, string | null, string | null, string | null, string, boolean]> = [
    [C.c1, STATUS.customer, USER.alice, SOURCE.web, '2026-03-02T10:00:00Z', false],
    [C.c2, STATUS.customer, null, SOURCE.web, '2026-02-10T10:00:00Z', false],
    [C.c3, STATUS.vip, USER.bob, SOURCE.fair, '2025-12-15T10:00:00Z', false],
    // Created at the very first instant of the monthly series.
    [C.c4, STATUS.customer, USER.alice, null, '2025-04-01T00:00:00Z', false],
    // Created one second before it.
    [C.c5, STATUS.vip, null, SOURCE.fair, '2025-03-31T23:59:59Z', false],
    [C.c6, STATUS.customer, USER.alice, SOURCE.web, '2026-03-01T10:00:00Z', true],
    [C.c7, STATUS.customer, USER.alice, SOURCE.web, '2026-03-01T10:00:00Z', false],
    [C.l1, STATUS.lead, USER.alice, SOURCE.web, '2026-03-18T11:59:00Z', false],
    [C.l2, STATUS.lead, null, null, '2026-01-05T10:00:00Z', true],
    [C.p1, STATUS.prospect, USER.alice, SOURCE.fair, '2025-11-11T10:00:00Z', false],
    [C.o1, STATUS.inactive, null, null, '2024-06-01T10:00:00Z', false],
    [C.n1, null, USER.bob, SOURCE.web, '2026-02-01T10:00:00Z', false],
  ];
  for (const [id, status, assignee, source, createdAt, trashed] of contacts) {
    await db.query(
      `INSERT INTO contacts (id, first_name, last_name, status_id, assigned_to_id, traffic_source_id, created_at, deleted_at)
       VALUES ($1, 'Contact', $2, $3, $4, $5, $6, CASE WHEN $7::boolean THEN $6::timestamptz + interval '1 day' END)`,
      [id, Object.entries(C).find(([, value]) => value === id)![0], status, assignee, source, createdAt, trashed],
    );
  }

  // contact, author, occurred_at, type, subject
  const activities: Array<[string, string | null, string, string, string]> = [
    [C.c1, USER.alice, '2026-03-17T12:00:00Z', 'call', 'Renewal call'], // 1 day before: the last contact
    [C.c2, USER.bob, '2026-03-08T12:00:00Z', 'email', 'Quote'], // 10 days; a Sunday, so the week of 03-02
    [C.c3, USER.bob, '2026-02-26T12:00:00Z', 'meeting', 'Review'], // 20 days
    [C.c4, USER.alice, '2026-01-30T12:00:00Z', 'note', 'Old note'], // 47 days; in the first week of the series
    [C.c6, USER.alice, '2026-03-18T11:00:00Z', 'call', 'Trashed'], // more recent, but the contact is trashed
    [C.c7, USER.alice, '2026-03-11T12:00:00Z', 'sms', 'Exactly a week'], // exactly 7 days: not "more than a week"
    [C.c1, USER.alice, '2026-03-25T09:00:00Z', 'task', 'Future task'], // after the moment described
    [C.p1, DELETED_USER, '2026-03-16T00:00:00Z', 'note', 'By a deleted account'], // first instant of this week
    [C.p1, USER.bob, '2026-01-25T23:59:59Z', 'call', 'Before the series'], // last second before it
    [C.c1, USER.alice, '2026-03-16T08:00:00Z', 'email', 'Monday email'],
  ];
  for (const [index, [contact, author, occurredAt, type, subject]] of activities.entries()) {
    await db.query(`INSERT INTO activities (id, contact_id, author_id, occurred_at, type, subject) VALUES ($1, $2, $3, $4, $5, $6)`, [
      uuid('ac000000', index + 1),
      contact,
      author,
      occurredAt,
      type,
      subject,
    ]);
  }
  // The trigger dates last contacts against the real clock; the world described here is the one at NOW.
  await db.query(`UPDATE contacts c SET last_contacted_at = (SELECT max(occurred_at) FROM activities a WHERE a.contact_id = c.id AND a.occurred_at <= $1)`, [NOW.toISOString()]);

  // from, to, contact, changed_at
  const history: Array<[string | null, string, string, string]> = [
    [STATUS.lead, STATUS.customer, C.c1, '2026-03-02T12:00:00Z'], // counts, 2026-03
    [STATUS.lead, STATUS.vip, C.c3, '2025-12-20T12:00:00Z'], // counts, 2025-12 (any customer-stage status)
    [STATUS.prospect, STATUS.customer, C.c2, '2026-02-11T12:00:00Z'], // not from the lead stage
    [STATUS.lead, STATUS.customer, C.c6, '2026-03-05T12:00:00Z'], // trashed contact
    [STATUS.lead, STATUS.customer, C.c4, '2025-03-31T23:59:59Z'], // one second before the series
    [STATUS.lead, STATUS.customer, C.c4, '2025-04-01T00:00:00Z'], // counts, first month
    [STATUS.lead, STATUS.prospect, C.p1, '2025-11-12T12:00:00Z'], // not to the customer stage
    [STATUS.lead, STATUS.customer, C.c7, '2026-03-10T12:00:00Z'], // counts, 2026-03
    [null, STATUS.customer, C.c5, '2026-03-10T12:00:00Z'], // created as a customer: no conversion
  ];
  for (const [from, to, contact, changedAt] of history) {
    await db.query('INSERT INTO contact_status_history (from_status_id, to_status_id, contact_id, changed_at) VALUES ($1, $2, $3, $4)', [from, to, contact, changedAt]);
  }
  // An import's change its revert put back, and the revert's own: neither converts anybody.
  await db.query(`INSERT INTO contact_status_history (from_status_id, to_status_id, contact_id, changed_at, source, undone) VALUES ($1, $2, $3, $4, 'import', true)`, [
    STATUS.lead,
    STATUS.customer,
    C.c1,
    '2026-01-05T12:00:00Z',
  ]);
  await db.query(`INSERT INTO contact_status_history (from_status_id, to_status_id, contact_id, changed_at, source) VALUES ($1, $2, $3, $4, 'revert')`, [
    STATUS.lead,
    STATUS.customer,
    C.c1,
    '2026-01-06T12:00:00Z',
  ]);
  // A lead-stage status merged into a customer-stage one: no sale.
  await db.query(`INSERT INTO contact_status_history (from_status_id, to_status_id, contact_id, changed_at, source) VALUES ($1, $2, $3, $4, 'lookup')`, [
    STATUS.lead,
    STATUS.customer,
    C.c7,
    '2026-03-11T12:00:00Z',
  ]);
  // The rows above are history recorded before changes kept their stages: the migration gives them the current ones.
  await new StatusHistoryKeepsStages1765240000000().up({ query: (sql: string) => db.exec(sql) } as unknown as QueryRunner);
});

afterAll(() => db?.close());

const MONTHS = ['2025-04-01', '2025-05-01', '2025-06-01', '2025-07-01', '2025-08-01', '2025-09-01', '2025-10-01', '2025-11-01', '2025-12-01', '2026-01-01', '2026-02-01', '2026-03-01'];
const WEEKS = ['2026-01-26', '2026-02-02', '2026-02-09', '2026-02-16', '2026-02-23', '2026-03-02', '2026-03-09', '2026-03-16'];

describe('the snapshot statements', () => {
  const statements = snapshotStatements(NOW);

  it('count live contacts, customers, leads, quiet and unassigned customers, per status and per stage', async () => {
    const row = await one<ContactCountsRow>(statements.counts);
    expect(row).toEqual({
      // c1 c2 c3 c4 c5 c7 l1 p1 o1 n1 and the two staff contacts; c6 and l2 are trashed.
      contacts: 12,
      customers: 6,
      leads: 1,
      customers_quiet_week: 4, // c2 (10 days), c3 (20), c4 (47), c5 (never); not c1 (1 day) nor c7 (exactly 7)
      customers_quiet_two_weeks: 3, // c3, c4, c5
      customers_quiet_month: 2, // c4, c5
      customers_unassigned: 2, // c2, c5
      per_status: [
        { statusId: STATUS.lead, name: 'Lead', stage: 'lead', value: 1 },
        { statusId: STATUS.prospect, name: 'Prospect', stage: 'prospect', value: 1 },
        { statusId: STATUS.customer, name: 'Customer', stage: 'customer', value: 4 },
        { statusId: STATUS.vip, name: 'Vip', stage: 'customer', value: 2 },
        { statusId: STATUS.inactive, name: 'Inactive', stage: 'other', value: 1 },
        { statusId: null, name: 'No status', stage: null, value: 3 },
      ],
      per_stage: [
        { stage: 'lead', name: 'Lead', value: 1 },
        { stage: 'prospect', name: 'Prospect', value: 1 },
        { stage: 'customer', name: 'Customer', value: 6 },
        { stage: 'other', name: 'Other', value: 1 },
        { stage: null, name: 'No status', value: 3 },
      ],
    });
  });

  it('find the last contacted live contact and the activity that did it, not a future or a trashed one', async () => {
    const row = await one<LastContactedRow>(statements.lastContacted);
    expect(row).toMatchObject({
      contact_id: C.c1,
      last_name: 'c1',
      activity_id: A.a1,
      activity_type: 'call',
      activity_subject: 'Renewal call',
      author_id: USER.alice,
      author_first_name: 'Alice',
      author_last_name: 'Staff',
    });
    expect(new Date(row.last_contacted_at).toISOString()).toBe('2026-03-17T12:00:00.000Z');
  });

  it('name no author for the last contact made by an account deleted since', async () => {
    await db.query('BEGIN');
    try {
      await db.query('UPDATE activities SET author_id = $2 WHERE id = $1', [A.a1, DELETED_USER]);
      expect(await one<LastContactedRow>(statements.lastContacted)).toMatchObject({ activity_id: A.a1, author_id: null, author_first_name: null, author_last_name: null });
    } finally {
      await db.query('ROLLBACK');
    }
  });

  it('count lead → customer conversions per month over twelve months, trashed contacts, reverted imports and merged statuses left out', async () => {
    const row = await one<SeriesRow>(statements.conversions);
    expect(row).toEqual({ periods: MONTHS, values: [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2], total: 4 });
  });

  it('still count conversions from and into statuses deleted since', async () => {
    await db.query('BEGIN');
    try {
      // Vip merged into Customer, and Lead deleted with its contacts detached (both recorded as status changes now).
      await db.query('UPDATE contacts SET status_id = $2 WHERE status_id = $1', [STATUS.vip, STATUS.customer]);
      await db.query('UPDATE contacts SET status_id = NULL WHERE status_id = $1', [STATUS.lead]);
      await db.query('DELETE FROM contact_statuses WHERE id = ANY($1::uuid[])', [[STATUS.vip, STATUS.lead]]);
      const row = await one<SeriesRow>(statements.conversions);
      expect(row).toEqual({ periods: MONTHS, values: [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2], total: 4 });
      // Its changes, not the entry of its creation.
      const kept = await db.query(
        'SELECT from_status_id, from_status_name, from_status_stage, to_status_id, to_status_name, to_status_stage FROM contact_status_history WHERE contact_id = $1 AND changed_at < $2 AND from_status_name IS NOT NULL',
        [C.c3, NOW.toISOString()],
      );
      expect(kept.rows).toEqual([{ from_status_id: null, from_status_name: 'Lead', from_status_stage: 'lead', to_status_id: null, to_status_name: 'Vip', to_status_stage: 'customer' }]);
    } finally {
      await db.query('ROLLBACK');
    }
  });

  it('count conversions with the stages the statuses had when they changed, whatever their stages are now', async () => {
    const converted = { periods: MONTHS, values: [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 3], total: 5 };
    await db.query('BEGIN');
    try {
      // A lead converted through the trigger (dated inside the series), then Customer moved out of the customer stage and Lead into it.
      await db.query('UPDATE contacts SET status_id = $2 WHERE id = $1', [C.l1, STATUS.customer]);
      const recorded = await db.query(
        `UPDATE contact_status_history SET changed_at = '2026-03-12T12:00:00Z' WHERE contact_id = $1 AND from_status_id IS NOT NULL RETURNING from_status_stage, to_status_stage`,
        [C.l1],
      );
      expect(recorded.rows).toEqual([{ from_status_stage: 'lead', to_status_stage: 'customer' }]);
      expect(await one<SeriesRow>(statements.conversions)).toEqual(converted);
      await db.query(`UPDATE contact_statuses SET stage = 'other' WHERE id = $1`, [STATUS.customer]);
      await db.query(`UPDATE contact_statuses SET stage = 'customer' WHERE id = $1`, [STATUS.lead]);
      expect(await one<SeriesRow>(statements.conversions)).toEqual(converted);
      // Deleted once in another stage: the changes keep the stage they were made with.
      await db.query('UPDATE contacts SET status_id = $2 WHERE status_id = $1', [STATUS.customer, STATUS.vip]);
      await db.query('DELETE FROM contact_statuses WHERE id = $1', [STATUS.customer]);
      expect(await one<SeriesRow>(statements.conversions)).toEqual(converted);
    } finally {
      await db.query('ROLLBACK');
    }
  });

  it('count new contacts per month and traffic source, every source listed, then those without one', async () => {
    const row = await one<BreakdownSeriesRow>(statements.newContacts);
    expect(row).toEqual({
      periods: MONTHS,
      series: [
        { id: SOURCE.fair, name: 'Fair', values: [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0], total: 2 },
        { id: SOURCE.web, name: 'Web', values: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3], total: 5 },
        { id: null, name: 'No traffic source', values: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], total: 1 },
      ],
    });
  });

  it('count activities per author and Monday-based week over eight weeks, up to the moment described', async () => {
    const row = await one<BreakdownSeriesRow>(statements.activities);
    expect(row).toEqual({
      periods: WEEKS,
      series: [
        { id: USER.alice, name: 'Alice Staff', values: [1, 0, 0, 0, 0, 0, 1, 2], total: 4 },
        { id: USER.bob, name: 'Bob Staff', values: [0, 0, 0, 0, 1, 1, 0, 0], total: 2 },
        { id: null, name: 'Deleted account', values: [0, 0, 0, 0, 0, 0, 0, 1], total: 1 },
      ],
    });
  });

  it('are shaped into metrics that each carry their key, label and definition', async () => {
    const metrics = snapshotMetrics({
      counts: await one(statements.counts),
      lastContacted: await one(statements.lastContacted),
      conversions: await one(statements.conversions),
      newContacts: await one(statements.newContacts),
      activities: await one(statements.activities),
    });
    expect(Object.keys(metrics).sort()).toEqual(Object.keys(METRICS).sort());
    for (const [key, metric] of Object.entries(metrics)) {
      expect(metric).toMatchObject({ key, label: METRICS[key as keyof typeof METRICS].label, definition: METRICS[key as keyof typeof METRICS].definition });
      expect(metric.definition.length).toBeGreaterThan(40);
    }
    expect(metrics.customersNotContacted1Week.definition).toMatch(/never contacted is included/);
    expect(metrics.lastContacted.value).toEqual({
      at: '2026-03-17T12:00:00.000Z',
      contactId: C.c1,
      contactName: 'Contact c1',
      activityId: A.a1,
      activityType: 'call',
      activitySubject: 'Renewal call',
      authorId: USER.alice,
      authorName: 'Alice Staff',
    });
    expect(metrics.conversionsPerMonth).toMatchObject({ interval: 'month', total: 4 });
    expect(metrics.activitiesPerStaffPerWeek).toMatchObject({ interval: 'week', periods: WEEKS });
  });

  it('run as the service runs them, each in a transaction with JIT off, on the embedded database too', async () => {
    const counts = await db.transaction(async (tx) => {
      await tx.query(WITHOUT_JIT_SQL);
      const jit = await tx.query<{ jit: string }>(`SELECT current_setting('jit') AS jit`);
      expect(jit.rows).toEqual([{ jit: 'off' }]);
      return (await tx.query<ContactCountsRow>(statements.counts.sql, statements.counts.params)).rows[0];
    });
    expect(counts).toMatchObject({ contacts: 12, customers: 6 });
  });

  it('report nobody as last contacted and zero-filled series on an empty database', async () => {
    const empty = await memoryDatabase([new Foundation1763700000000(), new ContactsCore1763800000000(), new ContactImports1764200000000(), new StatusHistoryKeepsDeletedStatuses1765000000000(), new RevertedImportsConvertNobody1765220000000(), new StatusHistoryKeepsStages1765240000000()]);
    try {
      const run = async <T>(statement: Statement) => (await empty.query<T>(statement.sql, statement.params)).rows;
      expect(await run(statements.lastContacted)).toEqual([]);
      expect((await run<ContactCountsRow>(statements.counts))[0]).toMatchObject({ contacts: 0, customers: 0, leads: 0, per_status: [{ statusId: null, value: 0 }] });
      expect((await run<SeriesRow>(statements.conversions))[0]).toEqual({ periods: MONTHS, values: Array(12).fill(0), total: 0 });
      expect((await run<BreakdownSeriesRow>(statements.activities))[0]).toEqual({ periods: WEEKS, series: [] });
    } finally {
      await empty.close();
    }
  });
});

describe("a staff member's own statements", () => {
  it("count only the caller's live assigned contacts, by stage, and their quiet customers", async () => {
    expect(await one<MyCountsRow>(myCountsStatement(NOW, USER.alice))).toEqual({
      contacts: 5, // c1 c4 c7 l1 p1; c6 is trashed
      customers_quiet_week: 1, // c4
      customers_quiet_two_weeks: 1,
      customers_quiet_month: 1,
      per_stage: [
        { stage: 'lead', name: 'Lead', value: 1 },
        { stage: 'prospect', name: 'Prospect', value: 1 },
        { stage: 'customer', name: 'Customer', value: 3 },
        { stage: 'other', name: 'Other', value: 0 },
        { stage: null, name: 'No status', value: 0 },
      ],
    });
    expect(await one<MyCountsRow>(myCountsStatement(NOW, USER.bob))).toMatchObject({
      contacts: 2, // c3, n1
      customers_quiet_week: 1,
      customers_quiet_two_weeks: 1,
      customers_quiet_month: 0,
      per_stage: [
        { stage: 'lead', value: 0 },
        { stage: 'prospect', value: 0 },
        { stage: 'customer', value: 1 },
        { stage: 'other', value: 0 },
        { stage: null, value: 1 },
      ],
    });
  });

  it('count the activities the caller logged per week', async () => {
    expect(await one<SeriesRow>(myActivitiesStatement(NOW, USER.alice))).toEqual({ periods: WEEKS, values: [1, 0, 0, 0, 0, 0, 1, 2], total: 4 });
    expect(await one<SeriesRow>(myActivitiesStatement(NOW, USER.bob))).toEqual({ periods: WEEKS, values: [0, 0, 0, 0, 1, 1, 0, 0], total: 2 });
  });

  it('are shaped into metrics with their own definitions', async () => {
    const mine = myMetrics(NOW, USER.alice, await one(myCountsStatement(NOW, USER.alice)), await one(myActivitiesStatement(NOW, USER.alice)));
    expect(mine).toMatchObject({ computedAt: NOW.toISOString(), userId: USER.alice, contacts: { key: 'contacts', value: 5 }, activitiesPerWeek: { interval: 'week', total: 4 } });
    for (const key of Object.keys(MY_METRICS) as Array<keyof typeof MY_METRICS>) expect(mine[key]).toMatchObject({ key, ...MY_METRICS[key] });
  });
});

describe('snapshots', () => {
  it('are read newest first and pruned to the newest N', async () => {
    for (let minute = 0; minute < 5; minute += 1) {
      await db.query(INSERT_SNAPSHOT_SQL, [`2026-03-18T12:0${minute}:00Z`, 10 + minute, JSON.stringify({ n: minute }), minute % 2 ? 'manual' : 'schedule']);
    }
    await db.query(PRUNE_SNAPSHOTS_SQL, [3]);
    const kept = await db.query<{ metrics: { n: number } }>('SELECT metrics FROM dashboard_snapshots ORDER BY computed_at');
    expect(kept.rows.map((row) => row.metrics.n)).toEqual([2, 3, 4]);
    const latest = await db.query<{ duration_ms: number; trigger: string; metrics: { n: number } }>(LATEST_SNAPSHOT_SQL);
    expect(latest.rows).toEqual([expect.objectContaining({ duration_ms: 14, trigger: 'schedule', metrics: { n: 4 } })]);
  });
});
