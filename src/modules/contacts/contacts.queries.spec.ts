import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import { buildAbility } from '../../core/access/app-ability';
import { interpolateRules } from '../../core/access/rule-interpolation';
import type { StoredRule } from '../../core/access/rule.types';
import { RequestValidationError } from '../../core/http/validation';
import { Foundation1763700000000 } from '../../database/migrations/1763700000000-Foundation';
import { ContactsCore1763800000000 } from '../../database/migrations/1763800000000-ContactsCore';
import { ContactLookupEpoch1764600000000 } from '../../database/migrations/1764600000000-ContactLookupEpoch';
import { memoryDatabase } from '../../database/testing/memory-database';
import {
  compileSelection,
  ContactSelection,
  contactOrder,
  CONTACT_SORTS,
  decodeCursor,
  encodeCursor,
  fieldResolver,
  listPlan,
  listStatements,
  mentionsCustomFields,
  preparable,
  SPARSE_SELECTION_ROWS,
} from './contacts.queries';
import type { CustomField, CustomFieldType } from './entities/custom-field.entity';
import type { FilterNode } from './filters/contact-filter.types';
import { CONTACT_FILTER_FIELDS } from './filters/contact-fields';
import { queryToFilter } from './filters/query-to-filter';
import type { ContactQueryDto } from './dto/contact.dto';

/**
 * The shared WHERE clause (scope + CASL + filter) and ORDER BY, executed against an embedded
 * PostgreSQL built from the project's migrations.
 */

const uuid = (prefix: string, n: number) => `${prefix}-0000-4000-8000-${String(n).padStart(12, '0')}`;

const STATUS = { lead: uuid('5a000000', 1), customer: uuid('5a000000', 2) };
const TAG = { vip: uuid('7a000000', 1) };
const USER = { alice: uuid('a0000000', 1), bob: uuid('b0000000', 2) };
const SOURCE = { web: uuid('50000000', 1), ads: uuid('50000000', 2) };

type Key = 'ada' | 'grace' | 'alan' | 'trash1' | 'trash2' | 'alice' | 'bob';

interface Row {
  key: Key;
  first: string;
  last: string;
  city: string | null;
  status: string | null;
  assignee: string | null;
  tags: string[];
  custom: Record<string, unknown>;
  createdAt: string;
  deleted?: boolean;
}

// Ids follow the order of this list, so id order is easy to read in the assertions.
const ROWS: Row[] = [
  { key: 'alice', first: 'Alice', last: 'Admin', city: null, status: null, assignee: null, tags: [], custom: {}, createdAt: '2023-01-01T00:00:00Z' },
  { key: 'bob', first: 'Bob', last: 'Staff', city: null, status: null, assignee: null, tags: [], custom: {}, createdAt: '2023-01-01T00:00:00Z' },
  { key: 'ada', first: 'Ada', last: 'Lovelace', city: 'London', status: STATUS.lead, assignee: USER.alice, tags: [TAG.vip], custom: { score: 10, plan: 'pro', interests: ['a'] }, createdAt: '2024-01-01T00:00:00Z' },
  { key: 'grace', first: 'Grace', last: 'Hopper', city: null, status: STATUS.customer, assignee: USER.bob, tags: [], custom: { score: 9, plan: 'basic' }, createdAt: '2024-02-01T00:00:00Z' },
  { key: 'alan', first: 'Alan', last: 'Turing', city: 'london', status: null, assignee: null, tags: [], custom: { score: 100 }, createdAt: '2024-03-01T00:00:00Z' },
  { key: 'trash1', first: 'Trash', last: 'One', city: 'London', status: STATUS.lead, assignee: USER.alice, tags: [TAG.vip], custom: { score: 50 }, createdAt: '2024-04-01T00:00:00Z', deleted: true },
  { key: 'trash2', first: 'Trash', last: 'Two', city: null, status: null, assignee: USER.bob, tags: [], custom: {}, createdAt: '2024-05-01T00:00:00Z', deleted: true },
];
const ID = Object.fromEntries(ROWS.map((r, i) => [r.key, uuid('c0000000', i + 1)])) as Record<Key, string>;
const KEY_OF = new Map(Object.entries(ID).map(([key, id]) => [id, key as Key]));
const LIVE = ROWS.filter((r) => !r.deleted).map((r) => r.key).sort();

const definition = (n: number, key: string, type: CustomFieldType, extra: Partial<CustomField> = {}): CustomField =>
  ({ id: uuid('cf000000', n), key, label: key, type, required: false, options: [], internal: false, position: n, deletedAt: null, ...extra }) as CustomField;

const DEFINITIONS: CustomField[] = [
  definition(1, 'score', 'number'),
  definition(2, 'plan', 'select', { options: ['basic', 'pro'] }),
  definition(3, 'interests', 'multi_select', { options: ['a', 'b'] }),
  definition(4, 'old', 'text', { deletedAt: new Date('2024-01-01T00:00:00Z') }),
];


let db: PGliteClass;

beforeAll(async () => {
  db = await memoryDatabase([new Foundation1763700000000(), new ContactsCore1763800000000(), new ContactLookupEpoch1764600000000()]);
  await db.query(`INSERT INTO contact_statuses (id, name, stage) VALUES ($1, 'Lead', 'lead'), ($2, 'Customer', 'customer')`, [STATUS.lead, STATUS.customer]);
  await db.query(`INSERT INTO tags (id, name) VALUES ($1, 'VIP')`, [TAG.vip]);
  for (const r of ROWS) {
    await db.query(
      `INSERT INTO contacts (id, first_name, last_name, city, status_id, custom_fields, created_at, updated_at, deleted_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::timestamptz, $7::timestamptz, CASE WHEN $8::boolean THEN $7::timestamptz + interval '1 day' ELSE NULL END)`,
      [ID[r.key], r.first, r.last, r.city, r.status, JSON.stringify(r.custom), r.createdAt, r.deleted ?? false],
    );
    for (const tag of r.tags) await db.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2)', [ID[r.key], tag]);
  }
  const role = uuid('70000000', 1);
  await db.query(`INSERT INTO roles (id, system_key, name, audience) VALUES ($1, 'staff', 'Staff', 'staff')`, [role]);
  for (const [userId, key] of [
    [USER.alice, 'alice'],
    [USER.bob, 'bob'],
  ] as const) {
    const r = ROWS.find((x) => x.key === key)!;
    await db.query('INSERT INTO users (id, contact_id, email, first_name, last_name) VALUES ($1, $2, $3, $4, $5)', [userId, ID[key], `${key}@maestro.test`, r.first, r.last]);
    await db.query('INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)', [userId, role]);
  }
  for (const r of ROWS) if (r.assignee) await db.query('UPDATE contacts SET assigned_to_id = $2 WHERE id = $1', [ID[r.key], r.assignee]);
  // Columns only the sorts look at.
  await db.query(`INSERT INTO traffic_sources (id, name) VALUES ($1, 'Website'), ($2, 'ads')`, [SOURCE.web, SOURCE.ads]);
  for (const [key, phone, jobTitle, source] of [
    ['ada', '+44 20', 'Countess', SOURCE.web],
    ['grace', '+1 555', 'admiral', SOURCE.web],
    ['alan', null, 'Mathematician', SOURCE.ads],
  ] as const) {
    await db.query('UPDATE contacts SET phone = $2, job_title = $3, traffic_source_id = $4 WHERE id = $1', [ID[key], phone, jobTitle, source]);
  }
}, 120000);

afterAll(async () => {
  await db?.close();
});

const everything = buildAbility([{ action: 'manage', subject: 'all' }]);

/** Runs a compiled selection the way the list query does; returns the matching keys, sorted. */
async function select(selection: ContactSelection, definitions: CustomField[] = DEFINITIONS): Promise<Key[]> {
  const { where, params } = compileSelection(selection, definitions);
  const result = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE ${where}`, params);
  return result.rows.map((r) => KEY_OF.get(r.id)!).sort();
}

const keys = (...list: Key[]) => [...list].sort();

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('compileSelection', () => {
  it('the fixture holds what the tests rely on', async () => {
    const result = await db.query<{ n: number; trashed: number; users: number }>(
      'SELECT count(*)::int AS n, count(*) FILTER (WHERE deleted_at IS NOT NULL)::int AS trashed, (SELECT count(*)::int FROM users) AS users FROM contacts',
    );
    expect(result.rows[0]).toEqual({ n: 7, trashed: 2, users: 2 });
  });

  describe('scope', () => {
    it('defaults to the live contacts', async () => {
      expect(compileSelection({ ability: everything, action: 'read' }, [])).toEqual({ where: 'c.deleted_at IS NULL', params: [], warnings: [], narrowed: false });
      expect(await select({ ability: everything, action: 'read' })).toEqual(LIVE);
    });

    it('live is the contacts not in the trash', async () => {
      expect(await select({ ability: everything, action: 'read', scope: 'live' })).toEqual(LIVE);
    });

    it('trash is the deleted contacts only', async () => {
      expect(compileSelection({ ability: everything, action: 'read', scope: 'trash' }, []).where).toBe('c.deleted_at IS NOT NULL');
      expect(await select({ ability: everything, action: 'read', scope: 'trash' })).toEqual(keys('trash1', 'trash2'));
    });
  });

  describe('CASL conditions', () => {
    const mine = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice } }]);

    it('adds the conditions of the action as parameters', async () => {
      const compiled = compileSelection({ ability: mine, action: 'read' }, []);
      expect(compiled).toEqual({ where: 'c.deleted_at IS NULL AND c.assigned_to_id = $1::uuid', params: [USER.alice], warnings: [], narrowed: true });
      expect(await select({ ability: mine, action: 'read' })).toEqual(['ada']);
    });

    it('applies them in the trash as well', async () => {
      expect(await select({ ability: mine, action: 'read', scope: 'trash' })).toEqual(['trash1']);
    });

    it('uses the rules of the requested action only', async () => {
      const compiled = compileSelection({ ability: mine, action: 'update' }, []);
      expect(compiled.where).toBe('c.deleted_at IS NULL AND FALSE');
      expect(await select({ ability: mine, action: 'update' })).toEqual([]);
    });

    it('a placeholder rule interpolated for the user', async () => {
      const stored: StoredRule[] = [{ action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } }];
      const ability = buildAbility(interpolateRules(stored, { id: USER.bob, contactId: ID.bob, email: 'bob@maestro.test' }));
      expect(await select({ ability, action: 'read' })).toEqual(['grace']);
      expect(await select({ ability, action: 'read', scope: 'trash' })).toEqual(['trash2']);
    });

    it('a cannot rule removes rows (contacts with an account)', async () => {
      const ability = buildAbility([
        { action: 'read', subject: 'Contact' },
        { action: 'read', subject: 'Contact', conditions: { hasAccount: true }, inverted: true },
      ]);
      expect(await select({ ability, action: 'read' })).toEqual(keys('ada', 'alan', 'grace'));
    });

    it('a condition on the tag list', async () => {
      const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { tagIds: TAG.vip } }]);
      expect(await select({ ability, action: 'read' })).toEqual(['ada']);
      expect(await select({ ability, action: 'read', scope: 'trash' })).toEqual(['trash1']);
    });
  });

  describe('with a filter', () => {
    it('numbers the filter parameters after the CASL ones', async () => {
      const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: { $in: [USER.alice, USER.bob] } } }]);
      const filter: FilterNode = { and: [{ field: 'city', op: 'is', value: 'LONDON' }, { field: 'tags', op: 'hasAny', value: [TAG.vip] }] };
      const compiled = compileSelection({ ability, action: 'read', filter }, DEFINITIONS);
      expect(compiled.params).toEqual([[USER.alice, USER.bob], 'LONDON', [TAG.vip]]);
      expect(compiled.where).toMatch(/^c\.deleted_at IS NULL AND c\.assigned_to_id = ANY\(\$1::uuid\[\]\) AND .*\$2.*\$3/);
      expect(await select({ ability, action: 'read', filter })).toEqual(['ada']);
      expect(await select({ ability, action: 'read', filter, scope: 'trash' })).toEqual(['trash1']);
    });

    it('numbers from $1 when the ability adds no parameter', async () => {
      const filter: FilterNode = { field: 'city', op: 'is', value: 'london' };
      const compiled = compileSelection({ ability: everything, action: 'read', filter }, []);
      expect(compiled.where).toBe('c.deleted_at IS NULL AND lower(c.city) = lower($1)');
      expect(compiled.params).toEqual(['london']);
      expect(await select({ ability: everything, action: 'read', filter })).toEqual(keys('ada', 'alan'));
    });

    it('numbers from firstParam, after the caller’s own parameters', async () => {
      const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice } }]);
      const filter: FilterNode = { field: 'custom.score', op: 'gte', value: 10 };
      const compiled = compileSelection({ ability, action: 'read', filter }, DEFINITIONS, 3);
      expect(compiled.where).toContain('$3::uuid');
      expect(compiled.where).toContain('$4::numeric');
      expect(compiled.where).not.toMatch(/\$[12]\b/);
      const result = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE c.first_name <> $1 AND c.last_name <> $2 AND ${compiled.where}`, ['x', 'y', ...compiled.params]);
      expect(result.rows.map((r) => KEY_OF.get(r.id))).toEqual(['ada']);
    });

    it('keeps OR rules and OR filters apart (the parts are ANDed as groups)', async () => {
      const ability = buildAbility([
        { action: 'read', subject: 'Contact', conditions: { assignedToId: USER.alice } },
        { action: 'read', subject: 'Contact', conditions: { statusId: STATUS.customer } },
      ]);
      expect(await select({ ability, action: 'read' })).toEqual(keys('ada', 'grace'));
      const filter: FilterNode = { or: [{ field: 'city', op: 'is', value: 'london' }, { field: 'custom.score', op: 'gt', value: 50 }] };
      expect(await select({ ability: everything, action: 'read', filter })).toEqual(keys('ada', 'alan'));
      expect(await select({ ability, action: 'read', filter })).toEqual(['ada']);
      expect(await select({ ability, action: 'read', filter, scope: 'trash' })).toEqual(['trash1']);
    });

    it('a filter cannot widen what CASL allows', async () => {
      const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: USER.bob } }]);
      const filter: FilterNode = { not: { field: 'assignedTo', op: 'is', value: USER.bob } };
      expect(await select({ ability, action: 'read', filter })).toEqual([]);
    });

    it('resolves custom fields against the given definitions', async () => {
      expect(await select({ ability: everything, action: 'read', filter: { field: 'custom.score', op: 'gt', value: 9.5 } })).toEqual(keys('ada', 'alan'));
      expect(await select({ ability: everything, action: 'read', filter: { field: 'custom.interests', op: 'hasAny', value: ['a'] } })).toEqual(['ada']);
    });

    it('passes on the warnings of deleted custom fields, and such a rule matches nothing', async () => {
      const filter: FilterNode = { field: 'custom.old', op: 'is', value: 'x' };
      const compiled = compileSelection({ ability: everything, action: 'read', filter }, DEFINITIONS);
      expect(compiled.warnings).toEqual(['filter: the custom field "custom.old" was deleted; this condition holds for no contact']);
      expect(await select({ ability: everything, action: 'read', filter })).toEqual([]);
    });

    it('says that a clause on a deleted custom field under `not`, or with a negative operator, excludes nobody, and runs it so', async () => {
      for (const filter of [{ not: { field: 'custom.old', op: 'is', value: 'x' } }, { field: 'custom.old', op: 'notContains', value: 'x' }] as FilterNode[]) {
        const compiled = compileSelection({ ability: everything, action: 'read', filter }, DEFINITIONS);
        const clause = 'not' in filter ? 'the "not" around it' : 'this condition';
        expect(compiled.warnings).toEqual([
          `filter${'not' in filter ? '.not' : ''}: the custom field "custom.old" was deleted; it excludes no contact, so ${clause} now holds for every contact, those it used to exclude included`,
        ]);
        expect(await select({ ability: everything, action: 'read', filter })).toEqual(LIVE);
      }
    });

    it('renumbers a restriction’s own placeholders after the CASL and filter ones', async () => {
      const ability = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: { $in: [USER.alice, USER.bob] } } }]);
      const filter: FilterNode = { field: 'city', op: 'is', value: 'london' };
      const restrict = { sql: 'EXISTS (SELECT 1 FROM contact_tags rt WHERE rt.contact_id = c.id AND rt.tag_id = $1::uuid) OR c.first_name = $2', params: [TAG.vip, 'Grace'] };
      const compiled = compileSelection({ ability, action: 'read', filter, scope: 'trash', restrict }, DEFINITIONS, 2);
      expect(compiled.params).toEqual([[USER.alice, USER.bob], 'london', TAG.vip, 'Grace']);
      expect(compiled.where).toContain('rt.tag_id = $4::uuid) OR c.first_name = $5');
      const run = (where: string, params: unknown[]) => db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE c.id IS DISTINCT FROM $1 AND ${where}`, [ID.ada, ...params]);
      expect((await run(compiled.where, compiled.params)).rows.map((r) => KEY_OF.get(r.id))).toEqual(['trash1']);
      const live = compileSelection({ ability, action: 'read', restrict: { sql: 'c.first_name = $1', params: ['Grace'] } }, DEFINITIONS, 2);
      expect((await run(live.where, live.params)).rows.map((r) => KEY_OF.get(r.id))).toEqual(['grace']);
    });

    it('throws a RequestValidationError with the details of a bad filter', () => {
      const filter = { and: [{ field: 'city', op: 'is', value: 'x' }, { field: 'city', op: 'gt', value: 'x' }, { field: 'stage', op: 'is', value: 'won' }] } as FilterNode;
      const error = caught(() => compileSelection({ ability: everything, action: 'read', filter }, DEFINITIONS));
      expect(error).toBeInstanceOf(RequestValidationError);
      const validation = error as RequestValidationError;
      expect(validation.getStatus()).toBe(400);
      expect(validation.details).toEqual([
        { field: 'filter.and.1.op', message: expect.stringContaining('"gt" does not apply to city') },
        { field: 'filter.and.2.value', message: 'must be one of lead, prospect, customer, other' },
      ]);
      expect(validation.getResponse()).toMatchObject({ code: 'validation_failed', details: validation.details });
    });

    it('a custom field without its definition is an unknown field', () => {
      const error = caught(() => compileSelection({ ability: everything, action: 'read', filter: { field: 'custom.score', op: 'gt', value: 1 } }, []));
      expect(error).toBeInstanceOf(RequestValidationError);
      expect((error as RequestValidationError).details).toEqual([{ field: 'filter.field', message: 'unknown field "custom.score"' }]);
    });

    it('{"and": []} is every contact, on purpose: nothing narrows it; an empty "or" is still refused', async () => {
      expect(compileSelection({ ability: everything, action: 'read', filter: { and: [] } }, [])).toEqual({ where: 'c.deleted_at IS NULL', params: [], warnings: [], narrowed: false });
      expect(await select({ ability: everything, action: 'read', filter: { and: [{ field: 'city', op: 'is', value: 'london' }, { and: [] }] } })).toEqual(keys('ada', 'alan'));
      expect(await select({ ability: everything, action: 'read', filter: { not: { and: [] } } })).toEqual([]);
      const error = caught(() => compileSelection({ ability: everything, action: 'read', filter: { or: [] } }, [])) as RequestValidationError;
      expect(error.details).toEqual([{ field: 'filter.or', message: 'must be a non-empty list of rules' }]);
    });

    it('takes up to 10000 ids as one parameter (a bulk selection), 1000 values of other lists', async () => {
      const many = [ID.ada, ID.grace, ...Array.from({ length: 9998 }, (_, i) => uuid('ee000000', i))];
      const compiled = compileSelection({ ability: everything, action: 'read', filter: { field: 'id', op: 'in', value: many } }, []);
      expect(compiled.params).toEqual([many]);
      expect(await select({ ability: everything, action: 'read', filter: { field: 'id', op: 'in', value: many } })).toEqual(keys('ada', 'grace'));
      const tooMany = caught(() => compileSelection({ ability: everything, action: 'read', filter: { field: 'id', op: 'in', value: [...many, uuid('ee000000', 99999)] } }, [])) as RequestValidationError;
      expect(tooMany.details).toEqual([{ field: 'filter.value', message: 'must be a non-empty list (at most 10000 values)' }]);
      const cities = caught(() => compileSelection({ ability: everything, action: 'read', filter: { field: 'city', op: 'in', value: Array.from({ length: 1001 }, (_, i) => `c${i}`) } }, [])) as RequestValidationError;
      expect(cities.details).toEqual([{ field: 'filter.value', message: 'must be a non-empty list (at most 1000 values)' }]);
    });

    it('reports the parts of a list query under the parameters the caller sent', () => {
      const detailsOf = (query: Partial<ContactQueryDto>) =>
        (caught(() => compileSelection({ ability: everything, action: 'read', filter: queryToFilter(query as ContactQueryDto, USER.alice) }, DEFINITIONS)) as RequestValidationError).details;
      expect(detailsOf({ createdFrom: '2026-02-30' })).toEqual([{ field: 'createdFrom', message: 'must be an ISO 8601 date or date-time' }]);
      expect(detailsOf({ q: 'ada', createdTo: '2026-02-30' })).toEqual([{ field: 'createdTo', message: 'must be an ISO 8601 date or date-time' }]);
      expect(detailsOf({ q: 'ada', filter: { field: 'nope', op: 'is', value: 1 } })).toEqual([{ field: 'filter.field', message: 'unknown field "nope"' }]);
      expect(detailsOf({ q: 'ada', hasAccount: true, filter: { not: { and: [{ field: 'city', op: 'is', value: 'x' }, { field: 'city', op: 'gt', value: 1 }] } } })).toEqual([
        { field: 'filter.not.and.1.op', message: expect.any(String) },
      ]);
      expect(detailsOf({ filter: { field: 'custom.score', op: 'gt', value: 'x' } })).toEqual([{ field: 'filter.value', message: 'must be a number' }]);
    });
  });
});

describe('fieldResolver', () => {
  const resolver = fieldResolver(DEFINITIONS);

  it('resolves built-in fields, custom fields, deleted and unknown ones', () => {
    expect(resolver.resolve('city')).toBe(CONTACT_FILTER_FIELDS.city);
    expect(resolver.resolve('custom.score')).toEqual({ kind: 'number', sql: "((c.custom_fields ->> 'score')::numeric)", sortable: true });
    expect(resolver.resolve('custom.interests')).toEqual({ kind: 'textSet', sql: "c.custom_fields -> 'interests'", sortable: false });
    expect(resolver.resolve('custom.old')).toBe('deleted');
    expect(resolver.resolve('custom.nope')).toBeUndefined();
    expect(resolver.resolve('score')).toBeUndefined();
    expect(resolver.resolve('constructor')).toBeUndefined();
    expect(resolver.resolve('__proto__')).toBeUndefined();
  });

  it('mentionsCustomFields spots custom fields anywhere in a tree', () => {
    expect(mentionsCustomFields({ and: [{ field: 'city', op: 'empty' }, { not: { field: 'custom.score', op: 'empty' } }] })).toBe(true);
    expect(mentionsCustomFields({ field: 'city', op: 'is', value: 'custom' })).toBe(false);
    expect(mentionsCustomFields(undefined)).toBe(false);
  });
});

describe('contactOrder', () => {
  async function ordered(sort: string | undefined, scope: 'live' | 'trash' = 'live'): Promise<Key[]> {
    const order = contactOrder(sort, DEFINITIONS);
    const result = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE c.deleted_at IS ${scope === 'live' ? 'NULL' : 'NOT NULL'} ORDER BY ${order.sql}`);
    return result.rows.map((r) => KEY_OF.get(r.id)!);
  }

  /** NOT NULL columns may leave out the NULLS clause (it changes nothing); nullable ones must sort NULLs last. */
  const NOT_NULL = new Set(['lower(c.first_name)', 'lower(c.last_name)', 'c.created_at', 'c.updated_at']);
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const orderPattern = (...parts: Array<[string, 'ASC' | 'DESC']>) => {
    const [, last] = parts[parts.length - 1]!;
    const keysSql = parts.map(([expression, direction]) => `${escape(expression)} ${direction}${NOT_NULL.has(expression) ? '( NULLS LAST)?' : ' NULLS LAST'}`);
    return new RegExp(`^${keysSql.join(', ')}, c\\.id ${last}$`);
  };

  it('defaults to the newest first, ties broken by id descending', async () => {
    const order = contactOrder(undefined, []);
    expect(order.keys).toEqual([{ expression: 'c.created_at', descending: true }]);
    expect(order.sql).toMatch(orderPattern(['c.created_at', 'DESC']));
    // alice and bob share a creation time: bob (the higher id) comes first.
    expect(await ordered(undefined)).toEqual(['alan', 'grace', 'ada', 'bob', 'alice']);
  });

  it('an empty sort string is the default order', () => {
    expect(contactOrder('', [])).toEqual(contactOrder(undefined, []));
  });

  it.each(Object.entries(CONTACT_SORTS))('sorts by %s either way', (name, sql) => {
    const directed = (descending: boolean) => (typeof sql === 'string' ? [sql] : Array.isArray(sql) ? sql : [descending ? sql.descending : sql.ascending]);
    expect(contactOrder(name, []).sql).toMatch(orderPattern(...directed(false).map((expression) => [expression, 'ASC'] as [string, 'ASC'])));
    expect(contactOrder(`-${name}`, []).sql).toMatch(orderPattern(...directed(true).map((expression) => [expression, 'DESC'] as [string, 'DESC'])));
    expect(contactOrder(`-${name}`, []).keys).toEqual(directed(true).map((expression) => ({ expression, descending: true })));
  });

  it.each(['email', 'phone', 'company', 'jobTitle', 'city', 'country', 'stage', 'trafficSource', 'lastContactedAt', 'deletedAt'])('puts NULLs last for the nullable %s, both ways', (name) => {
    expect(contactOrder(name, []).sql).toBe(`${CONTACT_SORTS[name] as string} ASC NULLS LAST, c.id ASC`);
    expect(contactOrder(`-${name}`, []).sql).toBe(`${CONTACT_SORTS[name] as string} DESC NULLS LAST, c.id DESC`);
  });

  it.each<[string, Key[]]>([
    ['phone', ['grace', 'ada', 'alice', 'bob', 'alan']],
    ['-phone', ['ada', 'grace', 'alan', 'bob', 'alice']],
    // Case-insensitive, as the other text columns.
    ['jobTitle', ['grace', 'ada', 'alan', 'alice', 'bob']],
    ['-jobTitle', ['alan', 'ada', 'grace', 'bob', 'alice']],
    // The statuses' order: position (both 0 here), then name; Customer before Lead.
    ['status', ['grace', 'ada', 'alice', 'bob', 'alan']],
    ['-status', ['ada', 'grace', 'alan', 'bob', 'alice']],
    // The pipeline: lead before customer.
    ['stage', ['ada', 'grace', 'alice', 'bob', 'alan']],
    ['-stage', ['grace', 'ada', 'alan', 'bob', 'alice']],
    // The assignee's name: Alice Admin (ada's), Bob Staff (grace's).
    ['assignedTo', ['ada', 'grace', 'alice', 'bob', 'alan']],
    ['-assignedTo', ['grace', 'ada', 'alan', 'bob', 'alice']],
    // The source's name, case-insensitively ("ads" before "Website"); ada and grace tie, broken by id.
    ['trafficSource', ['alan', 'ada', 'grace', 'alice', 'bob']],
    ['-trafficSource', ['grace', 'ada', 'alan', 'bob', 'alice']],
    ['stage,-assignedTo', ['ada', 'grace', 'alan', 'bob', 'alice']],
  ])('sorts by a column a row shows by reference or as text: %s', async (sort, expected) => {
    expect(await ordered(sort)).toEqual(expected);
  });

  it('sorts status by position before name', async () => {
    await db.query(`UPDATE contact_statuses SET position = CASE WHEN id = $1 THEN 1 ELSE 2 END`, [STATUS.lead]);
    try {
      expect(await ordered('status')).toEqual(['ada', 'grace', 'alice', 'bob', 'alan']);
    } finally {
      await db.query('UPDATE contact_statuses SET position = 0');
    }
  });

  it('sorts by assignee names: equal names tie (broken by id), an empty last name after the others, both ways', async () => {
    const names = await db.query<{ first_name: string; last_name: string }>('SELECT first_name, last_name FROM users WHERE id = $1', [USER.bob]);
    const [kept] = names.rows;
    await db.query('UPDATE users SET (first_name, last_name) = (SELECT first_name, last_name FROM users WHERE id = $2) WHERE id = $1', [USER.bob, USER.alice]);
    try {
      // ada is alice's, grace bob's: namesakes now, so their contacts fall to the id.
      const byId = (['ada', 'grace'] as Key[]).sort((x, y) => (ID[x] < ID[y] ? -1 : 1));
      expect((await ordered('assignedTo')).slice(0, 2)).toEqual(byId);
      expect((await ordered('-assignedTo')).slice(0, 2)).toEqual([...byId].reverse());
      await db.query(`UPDATE users SET last_name = '' WHERE id = $1`, [USER.bob]);
      expect((await ordered('assignedTo')).slice(0, 2)).toEqual(['ada', 'grace']);
      expect((await ordered('-assignedTo')).slice(0, 2)).toEqual(['ada', 'grace']);
    } finally {
      await db.query('UPDATE users SET first_name = $2, last_name = $3 WHERE id = $1', [USER.bob, kept!.first_name, kept!.last_name]);
    }
  });

  it('sorts text custom fields case-insensitively, like the built-in text columns', async () => {
    const nick = definition(5, 'nick', 'text');
    const order = contactOrder('custom.nick', [...DEFINITIONS, nick]);
    expect(order.sql).toBe("lower((c.custom_fields ->> 'nick')) ASC NULLS LAST, c.id ASC");
    expect(contactOrder('custom.plan', DEFINITIONS).sql).toBe("lower((c.custom_fields ->> 'plan')) ASC NULLS LAST, c.id ASC");
    const values: Array<[Key, string]> = [
      ['ada', 'zeta'],
      ['grace', 'Beta'],
      ['alan', 'alpha'],
    ];
    for (const [key, value] of values) await db.query(`UPDATE contacts SET custom_fields = custom_fields || jsonb_build_object('nick', $2::text) WHERE id = $1`, [ID[key], value]);
    let result;
    try {
      result = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE c.deleted_at IS NULL ORDER BY ${order.sql}`);
    } finally {
      await db.query(`UPDATE contacts SET custom_fields = custom_fields - 'nick'`);
    }
    expect(result.rows.map((r) => KEY_OF.get(r.id))).toEqual(['alan', 'grace', 'ada', 'alice', 'bob']);
  });

  it('sorts text case-insensitively', async () => {
    expect(await ordered('lastName')).toEqual(['alice', 'grace', 'ada', 'bob', 'alan']);
    expect(await ordered('-firstName')).toEqual(['grace', 'bob', 'alice', 'alan', 'ada']);
  });

  it('puts contacts without a last name last, both ways', async () => {
    const [{ last_name: kept }] = (await db.query<{ last_name: string }>('SELECT last_name FROM contacts WHERE id = $1', [ID.bob])).rows;
    await db.query(`UPDATE contacts SET last_name = '' WHERE id = $1`, [ID.bob]);
    try {
      expect(await ordered('lastName')).toEqual(['alice', 'grace', 'ada', 'alan', 'bob']);
      expect(await ordered('-lastName')).toEqual(['alan', 'ada', 'grace', 'alice', 'bob']);
    } finally {
      await db.query('UPDATE contacts SET last_name = $2 WHERE id = $1', [ID.bob, kept]);
    }
  });

  it('combines several keys, in order', async () => {
    const order = contactOrder('city,-firstName', []);
    expect(order.sql).toMatch(orderPattern(['lower(c.city)', 'ASC'], ['lower(c.first_name)', 'DESC']));
    expect(order.keys).toEqual([
      { expression: 'lower(c.city)', descending: false },
      { expression: 'lower(c.first_name)', descending: true },
    ]);
    expect(await ordered('city,-firstName')).toEqual(['alan', 'ada', 'grace', 'bob', 'alice']);
  });

  it('breaks ties by id in the direction of the last key', async () => {
    expect(contactOrder('-city,createdAt', []).sql).toMatch(orderPattern(['lower(c.city)', 'DESC'], ['c.created_at', 'ASC']));
    expect(contactOrder('city,-createdAt', []).sql).toMatch(orderPattern(['lower(c.city)', 'ASC'], ['c.created_at', 'DESC']));
    expect(contactOrder('-createdAt,city', []).sql).toMatch(/, c\.id ASC$/);
    expect(contactOrder('createdAt,-city', []).sql).toMatch(/, c\.id DESC$/);
    // Only the city: "London" and "london" tie, and the three without a city tie; NULLs stay last both ways.
    expect(await ordered('city')).toEqual(['ada', 'alan', 'alice', 'bob', 'grace']);
    expect(await ordered('-city')).toEqual(['alan', 'ada', 'grace', 'bob', 'alice']);
    expect(await ordered('createdAt')).toEqual(['alice', 'bob', 'ada', 'grace', 'alan']);
  });

  it('sorts by a number custom field as a number, missing values last', async () => {
    const order = contactOrder('custom.score', DEFINITIONS);
    expect(order.sql).toBe("((c.custom_fields ->> 'score')::numeric) ASC NULLS LAST, c.id ASC");
    expect(await ordered('custom.score')).toEqual(['grace', 'ada', 'alan', 'alice', 'bob']);
    expect(await ordered('-custom.score')).toEqual(['alan', 'ada', 'grace', 'bob', 'alice']);
  });

  it('sorts by a select custom field', async () => {
    expect(await ordered('custom.plan,firstName')).toEqual(['grace', 'ada', 'alan', 'alice', 'bob']);
  });

  it('sorts the trash by deletion time', async () => {
    expect(contactOrder('-deletedAt', []).sql).toBe('c.deleted_at DESC NULLS LAST, c.id DESC');
    expect(await ordered('-deletedAt', 'trash')).toEqual(['trash2', 'trash1']);
    expect(await ordered('deletedAt', 'trash')).toEqual(['trash1', 'trash2']);
  });

  it.each([
    'password',
    'tags',
    'createdat',
    ' createdAt',
    '--createdAt',
    '+createdAt',
    'firstName,',
    ',firstName',
    '-',
    'constructor',
    '__proto__',
    'toString',
    'custom.',
    'custom.nope',
    'custom.old',
    'custom.interests',
    'custom.__proto__',
  ])('refuses to sort by %p with a 400 naming the sort parameter', (sort) => {
    const error = caught(() => contactOrder(sort, DEFINITIONS));
    expect(error).toBeInstanceOf(RequestValidationError);
    expect((error as RequestValidationError).getStatus()).toBe(400);
    const details = (error as RequestValidationError).details;
    expect(details).toHaveLength(1);
    expect(details[0]!.field).toBe('sort');
    expect(details[0]!.message).toMatch(/^cannot sort by ".*"; sortable fields: firstName, lastName, email, phone, company, jobTitle, city, country, status, stage, assignedTo, trafficSource, createdAt, updatedAt, lastContactedAt, deletedAt, custom\.<key>$/);
  });

  it('names the offending key of a multi-key sort', () => {
    const error = caught(() => contactOrder('firstName,-bogus', DEFINITIONS)) as RequestValidationError;
    expect(error.details[0]!.message).toMatch(/^cannot sort by "bogus";/);
  });
});

describe('cursors', () => {
  it('round-trip', () => {
    const cursor = { value: '2024-01-01T00:00:00.000Z', id: ID.ada };
    const raw = encodeCursor(cursor);
    expect(raw).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(raw)).toEqual(cursor);
  });

  it('round-trip with the sort they were handed out for', () => {
    const cursor = { value: '2024-01-01T00:00:00.000Z', id: ID.ada, sort: '-updatedAt' };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
  });

  it('round-trip an upper-case id, and a date-time with an offset as the UTC instant it names', () => {
    const cursor = { value: '2024-01-01T10:00:00.123+02:00', id: ID.grace.toUpperCase() };
    expect(decodeCursor(encodeCursor(cursor))).toEqual({ ...cursor, value: '2024-01-01T08:00:00.123Z' });
  });

  const b64 = (text: string) => Buffer.from(text).toString('base64url');

  it.each([
    ['an empty string', ''],
    ['plain text', 'garbage'],
    ['non-base64 characters', '!!!***'],
    ['base64 of text that is not JSON', b64('not json')],
    ['a JSON object', b64('{"value":"2024-01-01","id":"x"}')],
    ['an empty array', b64('[]')],
    ['null', b64('null')],
    ['a number', b64('42')],
    ['a string', b64('"2024-01-01T00:00:00Z"')],
    ['a value that is not a date', b64(`["soon", "${uuid('c0000000', 1)}"]`)],
    ['a null value', b64(`[null, "${uuid('c0000000', 1)}"]`)],
    ['a numeric value', b64(`[1704067200000, "${uuid('c0000000', 1)}"]`)],
    ['an id that is not a UUID', b64('["2024-01-01T00:00:00Z", "not-a-uuid"]')],
    ['a numeric id', b64('["2024-01-01T00:00:00Z", 42]')],
    ['a missing id', b64('["2024-01-01T00:00:00Z"]')],
    ['a sort keyset paging does not take', b64(`["2024-01-01T00:00:00Z", "${uuid('c0000000', 1)}", "lastName"]`)],
  ])('refuses %s with a 400 on "cursor"', (_, raw) => {
    const error = caught(() => decodeCursor(raw));
    expect(error).toBeInstanceOf(RequestValidationError);
    expect((error as RequestValidationError).getStatus()).toBe(400);
    expect((error as RequestValidationError).details).toEqual([{ field: 'cursor', message: 'is not a cursor this API handed out' }]);
  });

  it('whatever it decodes, PostgreSQL accepts as the timestamptz and uuid of the keyset condition', async () => {
    const forged = [
      ['1', ID.ada],
      ['2024-02-30T00:00:00Z', ID.ada],
      ['2024-01-01 (noon)', ID.ada],
      ['2024-01-01T00:00:00+23:59', ID.ada],
      ['2024-01-01T00:00:00Z', '-'.repeat(36)],
      ['2024-01-01T00:00:00Z', 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaa-'],
    ];
    const failures: string[] = [];
    for (const [value, id] of forged) {
      let decoded;
      try {
        decoded = decodeCursor(b64(JSON.stringify([value, id])));
      } catch (error) {
        if (error instanceof RequestValidationError) continue;
        throw error;
      }
      try {
        await db.query('SELECT $1::timestamptz AS at, $2::uuid AS id', [decoded.value, decoded.id]);
      } catch (error) {
        failures.push(`${JSON.stringify([value, id])}: ${(error as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('pages through the live contacts with the keyset condition the list uses', async () => {
    const order = contactOrder('-createdAt', []);
    const key = order.keys[0]!;
    const seen: Key[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page += 1) {
      const params: unknown[] = [];
      let where = 'c.deleted_at IS NULL';
      if (cursor) {
        const decoded = decodeCursor(cursor);
        params.push(decoded.value, decoded.id);
        where += ` AND (${key.expression}, c.id) ${key.descending ? '<' : '>'} ($1::timestamptz, $2::uuid)`;
      }
      const result = await db.query<{ id: string; created_at: string }>(
        `SELECT c.id, to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at FROM contacts c WHERE ${where} ORDER BY ${order.sql} LIMIT 2`,
        params,
      );
      seen.push(...result.rows.map((r) => KEY_OF.get(r.id)!));
      const last = result.rows[result.rows.length - 1];
      if (result.rows.length < 2 || !last) break;
      cursor = encodeCursor({ value: last.created_at, id: last.id });
    }
    // alice and bob share a creation time and are split across pages without loss or repeat.
    expect(seen).toEqual(['alan', 'grace', 'ada', 'bob', 'alice']);
  });
});

describe('listStatements', () => {
  const staff = buildAbility([{ action: 'read', subject: 'Contact' }]);

  async function pageOf(plan: 'walk' | 'sparse', filter: FilterNode | undefined, sort: string | undefined, window: { limit: number; offset: number; cursor?: string }): Promise<Key[]> {
    const selection = compileSelection({ ability: staff, action: 'read', filter }, DEFINITIONS);
    const statements = listStatements(selection, contactOrder(sort, DEFINITIONS), { ...window, cursor: window.cursor ? decodeCursor(window.cursor) : undefined }, plan);
    const result = await db.query<{ id: string }>(statements.rows.sql, statements.rows.params);
    return result.rows.map((r) => KEY_OF.get(r.id)!);
  }

  it('reads a filtered page from its matches when they are few and quick to find', () => {
    const quick = (total: number) => ({ total, countMs: 1 });
    expect(listPlan(true, quick(0), 1_000_000, 25)).toBe('sparse');
    expect(listPlan(true, quick(SPARSE_SELECTION_ROWS), 1_000_000, 25)).toBe('sparse');
    expect(listPlan(true, quick(SPARSE_SELECTION_ROWS + 1), 1_000_000, 25)).toBe('walk');
    // Without a filter every live contact matches: walking the order's index is always right.
    expect(listPlan(false, quick(3), 1_000_000, 25)).toBe('walk');
  });

  it('walks when the few matches were slow to count and the walk finds a page sooner', () => {
    // 1,500 matches in 1M rows: the walk tests ~17k rows (~33 ms); finding the matches took 200 ms.
    expect(listPlan(true, { total: 1500, countMs: 200 }, 1_000_000, 25)).toBe('walk');
    // One match in 1M rows: the walk would test the whole table, far slower than any count.
    expect(listPlan(true, { total: 1, countMs: 200 }, 1_000_000, 25)).toBe('sparse');
    // Deep offsets make the walk longer.
    expect(listPlan(true, { total: 1500, countMs: 200 }, 1_000_000, 5000)).toBe('sparse');
  });

  it('prepares the pages whose plan does not follow their values', () => {
    const first = { offset: 0 };
    // Walked pages, filtered or not: the values only decide how far the walk goes.
    expect(preparable({}, first, 'walk')).toBe(true);
    // Few matches: which filter is rarest decides the plan.
    expect(preparable({}, first, 'sparse')).toBe(false);
    // A member list, or an offset written into the text.
    expect(preparable({ restrict: { segmentId: 's' } }, first, 'walk')).toBe(false);
    expect(preparable({}, { offset: 25 }, 'walk')).toBe(false);
  });

  it('the sparse plan reads the matches apart from the order, the walk filters in place', () => {
    const selection = compileSelection({ ability: staff, action: 'read', filter: { field: 'q', op: 'matches', value: 'ada' } }, DEFINITIONS);
    const order = contactOrder(undefined, DEFINITIONS);
    expect(listStatements(selection, order, { limit: 2, offset: 0 }, 'sparse').rows.sql).toContain('FROM (SELECT c.* FROM contacts c WHERE ');
    // The walk picks the page's ids in place, then reads their rows.
    expect(listStatements(selection, order, { limit: 2, offset: 0 }).rows.sql).toContain('FROM (SELECT c.id FROM contacts c WHERE c.deleted_at IS NULL AND ');
    expect(listStatements(selection, order, { limit: 2, offset: 0 }).rows.sql).not.toContain('OFFSET 0) c');
    expect(listStatements(selection, order, { limit: 2, offset: 0 }, 'sparse').total).toEqual(listStatements(selection, order, { limit: 2, offset: 0 }).total);
  });

  it('an offset page is its slice of the whole ordered list, dressed after the page is picked', async () => {
    for (const sort of [undefined, 'lastName', '-updatedAt', 'city', 'custom.score', '-custom.score', 'custom.plan,firstName', 'phone', '-jobTitle', 'status', '-status', 'stage', 'assignedTo', '-assignedTo', 'trafficSource', '-trafficSource', 'custom.plan', 'stage,-assignedTo']) {
      const all = await pageOf('walk', undefined, sort, { limit: 100, offset: 0 });
      expect(all.length).toBeGreaterThan(4);
      for (const offset of [1, 2, 3]) {
        for (const plan of ['walk', 'sparse'] as const) expect(await pageOf(plan, undefined, sort, { limit: 2, offset })).toEqual(all.slice(offset, offset + 2));
      }
    }
    const selection = compileSelection({ ability: staff, action: 'read' }, DEFINITIONS);
    const order = contactOrder(undefined, DEFINITIONS);
    // Skipped rows are index entries: only the page's ids are read from the walk.
    expect(listStatements(selection, order, { limit: 25, offset: 50 }).rows.sql).toMatch(
      /FROM \(SELECT c\.id FROM contacts c WHERE .* LIMIT 25 OFFSET 50\) page JOIN contacts c ON c\.id = page\.id ORDER BY c\.created_at DESC, c\.id DESC$/s,
    );
    expect(listStatements(selection, order, { limit: 25, offset: 50 }, 'sparse').rows.sql).toMatch(/FROM \(SELECT c\.\* FROM \(SELECT c\.\* FROM contacts c WHERE .* OFFSET 0\) c ORDER BY .* LIMIT 25 OFFSET 50\) c ORDER BY/s);
    // An unnarrowed first page walks its 25 rows directly.
    expect(listStatements(selection, order, { limit: 25, offset: 0 }).rows.sql).not.toContain('SELECT c.');
  });

  const filters: Array<[string, FilterNode | undefined]> = [
    ['no filter', undefined],
    ['city is london', { field: 'city', op: 'is', value: 'london' }],
    ['a search', { field: 'q', op: 'matches', value: 'a' }],
    ['no status', { field: 'status', op: 'empty' }],
  ];
  it.each(filters)('both plans give the same pages, by offset and by cursor (%s)', async (_name, filter) => {
    for (const sort of [undefined, 'lastName', '-updatedAt', 'city', 'phone', '-jobTitle', 'status', '-status', 'stage', 'assignedTo', '-assignedTo', 'trafficSource', '-trafficSource', 'custom.plan', 'stage,-assignedTo']) {
      for (const offset of [0, 1, 2, 4]) {
        expect(await pageOf('sparse', filter, sort, { limit: 2, offset })).toEqual(await pageOf('walk', filter, sort, { limit: 2, offset }));
      }
    }
    const cursor = encodeCursor({ value: '2024-02-01T00:00:00Z', id: ID.grace });
    expect(await pageOf('sparse', filter, undefined, { limit: 3, offset: 0, cursor })).toEqual(await pageOf('walk', filter, undefined, { limit: 3, offset: 0, cursor }));
  });
});
