import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import { AppAbility, buildAbility } from '../../core/access/app-ability';
import { Foundation1763700000000 } from '../../database/migrations/1763700000000-Foundation';
import { ContactsCore1763800000000 } from '../../database/migrations/1763800000000-ContactsCore';
import { Segments1764100000000 } from '../../database/migrations/1764100000000-Segments';
import { memoryDatabase } from '../../database/testing/memory-database';
import { compileSelection, fieldResolver } from '../contacts/contacts.queries';
import type { CustomField } from '../contacts/entities/custom-field.entity';
import type { FilterNode } from '../contacts/filters/contact-filter.types';
import {
  addMembersStatement,
  contactsWithIds,
  dynamicCountStatement,
  explainStatement,
  membersOf,
  missingReferencesStatement,
  missingReferenceWarnings,
  referencesOf,
  removeMembersStatement,
  staticCountsStatement,
  usableRule,
} from './segments.queries';

/**
 * The segment statements run against a real embedded PostgreSQL built from the project's
 * migrations, with a restricted ability, so parameter numbering across the ability, the
 * filter and the member restriction is checked by the database itself.
 */

const uuid = (prefix: string, n: number) => `${prefix}-0000-4000-8000-${String(n).padStart(12, '0')}`;
const USER = { alice: uuid('a0000000', 1), bob: uuid('b0000000', 2) };
const STATUS = { lead: uuid('5a000000', 1), customer: uuid('5a000000', 2) };
const TAG = { vip: uuid('7a000000', 1) };
const SEGMENT = { members: uuid('5e000000', 1), other: uuid('5e000000', 2) };
const C = { ann: uuid('c0000000', 1), ben: uuid('c0000000', 2), cat: uuid('c0000000', 3), dan: uuid('c0000000', 4), eve: uuid('c0000000', 5) };
const NAME = new Map(Object.entries(C).map(([name, id]) => [id, name]));

const definition = (key: string, type: CustomField['type'], deleted = false): CustomField =>
  ({ id: uuid('cf000000', key.length), key, label: key, type, required: false, options: [], internal: false, position: 0, deletedAt: deleted ? new Date() : null, createdAt: new Date(), updatedAt: new Date() }) as CustomField;
const DEFINITIONS = [definition('budget', 'number'), definition('old', 'text', true)];


let db: PGliteClass;
const everyone = buildAbility([{ action: 'read', subject: 'Contact' }]);
const alicesOnly = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice } }]);

beforeAll(async () => {
  db = await memoryDatabase([new Foundation1763700000000(), new ContactsCore1763800000000(), new Segments1764100000000()]);
  await db.query(`INSERT INTO contact_statuses (id, name, stage) VALUES ($1, 'Lead', 'lead'), ($2, 'Customer', 'customer')`, [STATUS.lead, STATUS.customer]);
  await db.query(`INSERT INTO tags (id, name) VALUES ($1, 'VIP')`, [TAG.vip]);
  const contacts: Array<[string, string, string | null, string | null, Record<string, unknown>, boolean]> = [
    [C.ann, 'Ann', STATUS.customer, null, { budget: 10 }, false],
    [C.ben, 'Ben', STATUS.lead, null, { budget: 500 }, false],
    [C.cat, 'Cat', STATUS.customer, null, {}, false],
    [C.dan, 'Dan', STATUS.lead, null, { old: 'x' }, false],
    [C.eve, 'Eve', STATUS.customer, null, { budget: 900 }, true],
  ];
  for (const [id, name, status, , custom, deleted] of contacts) {
    await db.query(
      `INSERT INTO contacts (id, first_name, last_name, status_id, custom_fields, deleted_at) VALUES ($1, $2, 'Test', $3, $4::jsonb, CASE WHEN $5::boolean THEN now() END)`,
      [id, name, status, JSON.stringify(custom), deleted],
    );
  }
  await db.query(`INSERT INTO users (id, contact_id, email, first_name, last_name) VALUES ($1, $2, 'ann@example.com', 'Ann', 'Test'), ($3, $4, 'ben@example.com', 'Ben', 'Test')`, [
    USER.alice,
    C.ann,
    USER.bob,
    C.ben,
  ]);
  // Alice looks after Ann, Cat and Eve; Bob after Ben.
  await db.query('UPDATE contacts SET assigned_to_id = $1 WHERE id = ANY($2::uuid[])', [USER.alice, [C.ann, C.cat, C.eve]]);
  await db.query('UPDATE contacts SET assigned_to_id = $1 WHERE id = $2', [USER.bob, C.ben]);
  await db.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2), ($3, $2)', [C.ann, TAG.vip, C.ben]);
  await db.query(`INSERT INTO segments (id, name, kind) VALUES ($1, 'Members', 'static'), ($2, 'Other', 'static')`, [SEGMENT.members, SEGMENT.other]);
  await db.query('INSERT INTO segment_members (segment_id, contact_id) SELECT $1, unnest($2::uuid[])', [SEGMENT.members, [C.ann, C.ben, C.dan, C.eve]]);
}, 120000);

afterAll(async () => {
  await db?.close();
});

async function selected(ability: AppAbility, filter?: FilterNode, restrict?: { sql: string; params: unknown[] }): Promise<string[]> {
  const selection = compileSelection({ ability, action: 'read', filter, restrict }, DEFINITIONS);
  const rows = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE ${selection.where}`, selection.params);
  return rows.rows.map((row) => NAME.get(row.id)!).sort();
}

describe('the member restriction inside the contact selection', () => {
  it('is renumbered after the ability and the filter parameters', () => {
    const selection = compileSelection({ ability: alicesOnly, action: 'read', filter: { field: 'firstName', op: 'startsWith', value: 'a' }, restrict: membersOf(SEGMENT.members) }, []);
    expect(selection.params).toEqual([USER.alice, 'a%', SEGMENT.members]);
    expect(selection.where).toContain('m.segment_id = $3::uuid');
    const many = compileSelection({ ability: everyone, action: 'read', restrict: { sql: 'c.id = ANY(ARRAY[$1, $2, $3, $4, $5, $6, $7, $8, $9, $10]::uuid[])', params: Object.values(C).concat(Object.values(C)) } }, [], 5);
    expect(many.where).toContain('ARRAY[$5, $6, $7, $8, $9, $10, $11, $12, $13, $14]');
  });

  it('limits the live contacts to members, and still to what the caller may read', async () => {
    expect(await selected(everyone, undefined, membersOf(SEGMENT.members))).toEqual(['ann', 'ben', 'dan']);
    expect(await selected(alicesOnly, undefined, membersOf(SEGMENT.members))).toEqual(['ann']);
    expect(await selected(everyone, { field: 'stage', op: 'is', value: 'lead' }, membersOf(SEGMENT.members))).toEqual(['ben', 'dan']);
    expect(await selected(alicesOnly, { field: 'tags', op: 'hasAny', value: [TAG.vip] }, membersOf(SEGMENT.members))).toEqual(['ann']);
    expect(await selected(everyone, undefined, membersOf(SEGMENT.other))).toEqual([]);
  });
});

describe('member changes', () => {
  it('add only what the selection finds and report what was new; remove only what the caller may read', async () => {
    const run = async (statement: { sql: string; params: unknown[] }) => (await db.query<Record<string, number>>(statement.sql, statement.params)).rows[0]!;
    const byIds = compileSelection({ ability: alicesOnly, action: 'read', restrict: contactsWithIds([C.ann, C.ben, C.cat, C.eve]) }, []);
    expect(await run(addMembersStatement(byIds, SEGMENT.other, USER.alice))).toEqual({ matched: 2, added: 2 });
    expect(await run(addMembersStatement(byIds, SEGMENT.other, USER.alice))).toEqual({ matched: 2, added: 0 });
    const addedBy = await db.query<{ added_by_id: string }>('SELECT DISTINCT added_by_id FROM segment_members WHERE segment_id = $1', [SEGMENT.other]);
    expect(addedBy.rows).toEqual([{ added_by_id: USER.alice }]);

    const everyoneIds = compileSelection({ ability: everyone, action: 'read', restrict: contactsWithIds([C.ben]) }, []);
    await run(addMembersStatement(everyoneIds, SEGMENT.other, USER.bob));
    const removal = compileSelection({ ability: alicesOnly, action: 'read', restrict: contactsWithIds([C.ann, C.ben]) }, []);
    expect(await run(removeMembersStatement(removal, SEGMENT.other))).toEqual({ removed: 1 });
    expect(await selected(everyone, undefined, membersOf(SEGMENT.other))).toEqual(['ben', 'cat']);
  });
});

describe('counts', () => {
  it('count visible live members of many static segments at once', async () => {
    const count = async (ability: AppAbility) => {
      const statement = staticCountsStatement(ability, [SEGMENT.members, SEGMENT.other]);
      const rows = await db.query<{ segment_id: string; count: number }>(statement.sql, statement.params);
      return Object.fromEntries(rows.rows.map((row) => [row.segment_id, row.count]));
    };
    const members = await selected(everyone, undefined, membersOf(SEGMENT.members));
    const other = await selected(everyone, undefined, membersOf(SEGMENT.other));
    expect(await count(everyone)).toEqual({ [SEGMENT.members]: members.length, [SEGMENT.other]: other.length });
    expect(await count(alicesOnly)).toEqual({ [SEGMENT.members]: 1, [SEGMENT.other]: 1 });
  });

  it('count a rule as the list would, within what the caller may read', async () => {
    const rules: FilterNode[] = [
      { field: 'stage', op: 'is', value: 'customer' },
      { or: [{ field: 'custom.budget', op: 'gt', value: 100 }, { field: 'tags', op: 'hasAny', value: [TAG.vip] }] },
      { not: { field: 'custom.old', op: 'is', value: 'x' } },
      { and: [{ field: 'stage', op: 'in', value: ['customer', 'lead'] }, { field: 'tags', op: 'hasAll', value: [TAG.vip] }] },
    ];
    const counted: number[] = [];
    for (const ability of [everyone, alicesOnly]) {
      for (const rule of rules) {
        const statement = dynamicCountStatement(ability, rule, DEFINITIONS);
        const [row] = (await db.query<{ count: number }>(statement.sql, statement.params)).rows;
        expect(row!.count).toBe((await selected(ability, rule)).length);
        counted.push(row!.count);
      }
    }
    // Ann and Cat are live customers (Eve is in the trash); Alice reads Ann, Cat and Eve; the deleted field matches nothing, so its negation everything.
    expect(counted).toEqual([2, 2, 4, 2, 2, 1, 2, 1]);
  });
});

describe('rules that name things that are gone', () => {
  it('turn clauses on purged custom fields into clauses that match nothing, and report deleted ones', () => {
    const rule: FilterNode = { and: [{ field: 'custom.purged', op: 'is', value: 'x' }, { or: [{ field: 'custom.old', op: 'is', value: 'x' }, { field: 'stage', op: 'is', value: 'lead' }] }] };
    const usable = usableRule(rule, DEFINITIONS);
    expect(usable.rule).toEqual({ and: [{ field: 'id', op: 'empty' }, { or: [{ field: 'custom.old', op: 'is', value: 'x' }, { field: 'stage', op: 'is', value: 'lead' }] }] });
    expect(usable.warnings).toEqual([
      'rule.and.0: the custom field "custom.purged" no longer exists; this condition holds for no contact',
      'rule.and.1.or.0: the custom field "custom.old" was deleted; this condition holds for no contact',
    ]);
    expect(usableRule({ field: 'stage', op: 'is', value: 'lead' }, DEFINITIONS)).toEqual({ rule: { field: 'stage', op: 'is', value: 'lead' }, warnings: [] });
  });

  it('turn clauses on a custom field defined again with another type into clauses that match nothing', () => {
    // "budget" is a number now; the rule was saved when it was text.
    const rule: FilterNode = { or: [{ field: 'custom.budget', op: 'contains', value: 'vip' }, { field: 'custom.budget', op: 'gt', value: 5 }] };
    const usable = usableRule(rule, DEFINITIONS);
    expect(usable.rule).toEqual({ or: [{ field: 'id', op: 'empty' }, { field: 'custom.budget', op: 'gt', value: 5 }] });
    expect(usable.warnings).toEqual(['rule.or.0: the custom field "custom.budget" changed type since this rule was saved; this condition holds for no contact']);
    // What the lists run: it compiles, and PostgreSQL takes it.
    expect(() => dynamicCountStatement(everyone, usable.rule, DEFINITIONS)).not.toThrow();
  });

  it('say what a clause on a custom field that is gone does under a negative operator or a `not`, and run it so', async () => {
    // Live: Ann, Ben, Cat, Dan. "budget" is a number now (a text operator on it changed type), "old" is deleted, "purged" is gone.
    const cases: Array<[FilterNode, FilterNode, string, number]> = [
      [
        { field: 'custom.purged', op: 'isNot', value: 'x' },
        { field: 'id', op: 'notEmpty' },
        'rule: the custom field "custom.purged" no longer exists; it excludes no contact, so this condition now holds for every contact, those it used to exclude included',
        4,
      ],
      [
        { not: { field: 'custom.purged', op: 'is', value: 'x' } },
        { not: { field: 'id', op: 'empty' } },
        'rule.not: the custom field "custom.purged" no longer exists; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included',
        4,
      ],
      [
        { not: { field: 'custom.purged', op: 'empty' } },
        { not: { field: 'id', op: 'notEmpty' } },
        'rule.not: the custom field "custom.purged" no longer exists; this condition now holds for every contact, so the "not" around it holds for no contact',
        0,
      ],
      [
        { and: [{ field: 'stage', op: 'is', value: 'lead' }, { not: { field: 'custom.budget', op: 'contains', value: 'vip' } }] },
        { and: [{ field: 'stage', op: 'is', value: 'lead' }, { not: { field: 'id', op: 'empty' } }] },
        'rule.and.1.not: the custom field "custom.budget" changed type since this rule was saved; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included',
        2,
      ],
      [
        { field: 'custom.budget', op: 'notContains', value: 'vip' },
        { field: 'id', op: 'notEmpty' },
        'rule: the custom field "custom.budget" changed type since this rule was saved; it excludes no contact, so this condition now holds for every contact, those it used to exclude included',
        4,
      ],
      [
        { not: { field: 'custom.old', op: 'is', value: 'x' } },
        { not: { field: 'custom.old', op: 'is', value: 'x' } },
        'rule.not: the custom field "custom.old" was deleted; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included',
        4,
      ],
      [
        { field: 'custom.old', op: 'isNot', value: 'x' },
        { field: 'custom.old', op: 'isNot', value: 'x' },
        'rule: the custom field "custom.old" was deleted; it excludes no contact, so this condition now holds for every contact, those it used to exclude included',
        4,
      ],
      [
        { not: { not: { field: 'custom.old', op: 'is', value: 'x' } } },
        { not: { not: { field: 'custom.old', op: 'is', value: 'x' } } },
        'rule.not.not: the custom field "custom.old" was deleted; this condition holds for no contact',
        0,
      ],
    ];
    for (const [rule, runs, warning, count] of cases) {
      const usable = usableRule(rule, DEFINITIONS);
      expect(usable).toEqual({ rule: runs, warnings: [warning] });
      // What the warning says is what the rule does.
      const counted = dynamicCountStatement(everyone, usable.rule, DEFINITIONS);
      expect([rule, (await db.query<{ count: number }>(counted.sql, counted.params)).rows[0]!.count]).toEqual([rule, count]);
    }
  });

  it('report tag, status, service, traffic source and assignee ids that no longer exist, by clause', async () => {
    const ghost = uuid('dead0000', 1);
    const rule: FilterNode = {
      or: [
        { field: 'tags', op: 'hasAll', value: [TAG.vip, ghost.toUpperCase()] },
        { not: { field: 'status', op: 'is', value: STATUS.lead } },
        { field: 'services', op: 'hasNone', value: [ghost] },
        { field: 'trafficSource', op: 'in', value: [ghost] },
        { field: 'assignedTo', op: 'isNot', value: USER.bob },
        { field: 'assignedTo', op: 'empty' },
        { field: 'id', op: 'is', value: ghost },
      ],
    };
    const references = referencesOf(rule);
    expect(references.map((ref) => ref.path)).toEqual(['rule.or.0', 'rule.or.0', 'rule.or.1.not', 'rule.or.2', 'rule.or.3', 'rule.or.4']);
    const statement = missingReferencesStatement(references);
    const missing = (await db.query<{ field: string; id: string }>(statement.sql, statement.params)).rows;
    expect(missingReferenceWarnings(references, missing)).toEqual([
      `rule.or.0: the tag ${ghost.toUpperCase()} no longer exists; no contact matches it`,
      `rule.or.2: the service ${ghost} no longer exists; it excludes no contact, so this condition now holds for every contact, those it used to exclude included`,
      `rule.or.3: the traffic source ${ghost} no longer exists; no contact matches it`,
    ]);
  });

  it('say what a clause leaving contacts out does once its record is gone: it leaves nobody out', async () => {
    const ghost = uuid('dead0000', 3);
    const cases: Array<[FilterNode, string, number]> = [
      [{ field: 'tags', op: 'hasNone', value: [ghost] }, `rule: the tag ${ghost} no longer exists; it excludes no contact, so this condition now holds for every contact, those it used to exclude included`, 4],
      [{ field: 'status', op: 'isNot', value: ghost }, `rule: the status ${ghost} no longer exists; it excludes no contact, so this condition now holds for every contact, those it used to exclude included`, 4],
      [{ field: 'status', op: 'notIn', value: [STATUS.lead, ghost] }, `rule: the status ${ghost} no longer exists; it excludes no contact, so contacts it alone used to exclude now pass this condition`, 2],
      [{ not: { field: 'tags', op: 'hasAny', value: [ghost] } }, `rule.not: the tag ${ghost} no longer exists; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included`, 4],
      [{ not: { field: 'tags', op: 'hasAll', value: [TAG.vip, ghost] } }, `rule.not: the tag ${ghost} no longer exists; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included`, 4],
      [{ not: { field: 'assignedTo', op: 'in', value: [USER.alice, ghost] } }, `rule.not: the assignee ${ghost} no longer exists; it excludes no contact, so contacts it alone used to exclude now pass the "not" around it`, 2],
      [{ not: { not: { field: 'tags', op: 'hasAny', value: [ghost] } } }, `rule.not.not: the tag ${ghost} no longer exists; no contact matches it`, 0],
      [{ not: { field: 'tags', op: 'hasNone', value: [ghost] } }, `rule.not: the tag ${ghost} no longer exists; no contact matches it`, 0],
    ];
    for (const [rule, warning, count] of cases) {
      const references = referencesOf(rule);
      const statement = missingReferencesStatement(references);
      const missing = (await db.query<{ field: string; id: string }>(statement.sql, statement.params)).rows;
      expect(missingReferenceWarnings(references, missing)).toEqual([warning]);
      // What the warning says is what the rule does.
      const counted = dynamicCountStatement(everyone, rule, []);
      expect([rule, (await db.query<{ count: number }>(counted.sql, counted.params)).rows[0]!.count]).toEqual([rule, count]);
    }
  });

  it('look only in the tables of the kinds a rule names', async () => {
    const ghost = uuid('dead0000', 2);
    const references = referencesOf({ and: [{ field: 'tags', op: 'hasAny', value: [TAG.vip, ghost] }, { field: 'stage', op: 'is', value: 'lead' }] });
    const statement = missingReferencesStatement(references);
    expect(statement.sql).toContain('FROM tags t');
    expect(statement.sql).not.toMatch(/services|contact_statuses|traffic_sources|users/);
    expect(statement.params).toEqual([[TAG.vip, ghost]]);
    const missing = (await db.query<{ field: string; id: string }>(statement.sql, statement.params)).rows;
    expect(missingReferenceWarnings(references, missing)).toEqual([`rule.and.0: the tag ${ghost} no longer exists; no contact matches it`]);
  });
});

describe('explain', () => {
  const explain = async (shown: FilterNode, contactId: string) => {
    const usable = usableRule(shown, DEFINITIONS);
    const { statement, annotate } = explainStatement(shown, usable.rule, fieldResolver(DEFINITIONS), contactId);
    const [row] = (await db.query<Record<string, boolean>>(statement.sql, statement.params)).rows;
    return annotate(row!);
  };

  it('evaluates every group and condition for one contact, NULL counting as false', async () => {
    const rule: FilterNode = {
      and: [
        { field: 'stage', op: 'is', value: 'customer' },
        { or: [{ field: 'custom.budget', op: 'gt', value: 5 }, { not: { field: 'tags', op: 'hasAny', value: [TAG.vip] } }] },
      ],
    };
    expect(await explain(rule, C.cat)).toEqual({
      matched: true,
      and: [
        { field: 'stage', op: 'is', value: 'customer', matched: true },
        // Cat has no budget: NULL > 5 is unknown, reported as false.
        { matched: true, or: [{ field: 'custom.budget', op: 'gt', value: 5, matched: false }, { matched: true, not: { field: 'tags', op: 'hasAny', value: [TAG.vip], matched: false } }] },
      ],
    });
    const ben = await explain(rule, C.ben);
    expect(ben.matched).toBe(false);
    expect(ben.and!.map((node) => node.matched)).toEqual([false, true]);
  });

  it('shows a clause on a field that is gone under `not` or a negative operator as it runs: excluding nobody', async () => {
    const rule: FilterNode = {
      and: [
        { not: { field: 'custom.purged', op: 'is', value: 'x' } },
        { not: { field: 'custom.old', op: 'is', value: 'x' } },
        { field: 'custom.old', op: 'isNot', value: 'x' },
        { field: 'custom.purged', op: 'notIn', value: ['x'] },
      ],
    };
    // Dan still holds "x" in the deleted field: no clause on it leaves him out any more.
    expect(await explain(rule, C.dan)).toEqual({
      matched: true,
      and: [
        { matched: true, not: { field: 'custom.purged', op: 'is', value: 'x', matched: false } },
        { matched: true, not: { field: 'custom.old', op: 'is', value: 'x', matched: false } },
        { field: 'custom.old', op: 'isNot', value: 'x', matched: true },
        { field: 'custom.purged', op: 'notIn', value: ['x'], matched: true },
      ],
    });
  });

  it('shows clauses on purged fields as saved, evaluated as matching nothing', async () => {
    const rule: FilterNode = { or: [{ field: 'custom.purged', op: 'is', value: 'x' }, { field: 'custom.old', op: 'is', value: 'x' }, { field: 'assignedTo', op: 'empty' }] };
    expect(await explain(rule, C.dan)).toEqual({
      matched: true,
      or: [
        { field: 'custom.purged', op: 'is', value: 'x', matched: false },
        { field: 'custom.old', op: 'is', value: 'x', matched: false },
        { field: 'assignedTo', op: 'empty', matched: true },
      ],
    });
  });
});

describe('the tables', () => {
  const error = async (sql: string, params: unknown[] = []) => {
    try {
      await db.query(sql, params);
      return undefined;
    } catch (e) {
      return (e as { code?: string }).code;
    }
  };

  it('keep a rule exactly on dynamic segments, and names unique regardless of case', async () => {
    expect(await error(`INSERT INTO segments (name, kind) VALUES ('No rule', 'dynamic')`)).toBe('23514');
    expect(await error(`INSERT INTO segments (name, kind, rule) VALUES ('Has rule', 'static', '{"field":"id","op":"empty"}')`)).toBe('23514');
    expect(await error(`INSERT INTO segments (name, kind, rule) VALUES ('Array rule', 'dynamic', '[]')`)).toBe('23514');
    expect(await error(`INSERT INTO segments (name, kind) VALUES ('Other kind', 'smart')`)).toBe('23514');
    expect(await error(`INSERT INTO segments (name, kind) VALUES ('MEMBERS', 'static')`)).toBe('23505');
    expect(await error(`INSERT INTO segments (name, kind, rule) VALUES ('Fine', 'dynamic', '{"field":"id","op":"empty"}')`)).toBeUndefined();
  });

  it('drop members with their contact or their segment', async () => {
    const contact = uuid('c0000000', 99);
    const segment = uuid('5e000000', 99);
    await db.query(`INSERT INTO contacts (id, first_name, last_name) VALUES ($1, 'Tmp', 'Tmp')`, [contact]);
    await db.query(`INSERT INTO segments (id, name, kind) VALUES ($1, 'Tmp', 'static')`, [segment]);
    await db.query('INSERT INTO segment_members (segment_id, contact_id) VALUES ($1, $2), ($3, $2)', [segment, contact, SEGMENT.members]);
    await db.query('DELETE FROM contacts WHERE id = $1', [contact]);
    expect((await db.query('SELECT 1 FROM segment_members WHERE contact_id = $1', [contact])).rows).toEqual([]);
    await db.query('INSERT INTO segment_members (segment_id, contact_id) VALUES ($1, $2)', [segment, C.ann]);
    await db.query('DELETE FROM segments WHERE id = $1', [segment]);
    expect((await db.query('SELECT 1 FROM segment_members WHERE segment_id = $1', [segment])).rows).toEqual([]);
    expect((await db.query('SELECT 1 FROM contacts WHERE id = $1', [C.ann])).rows).toHaveLength(1);
  });
});
