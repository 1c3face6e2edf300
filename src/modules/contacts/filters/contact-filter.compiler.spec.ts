import type { PGlite as PGliteClass } from '@electric-sql/pglite';
import type { QueryRunner } from 'typeorm';
import { Foundation1763700000000 } from '../../../database/migrations/1763700000000-Foundation';
import { ContactsCore1763800000000 } from '../../../database/migrations/1763800000000-ContactsCore';
import { ContactPhoneSearch1765120000000 } from '../../../database/migrations/1765120000000-ContactPhoneSearch';
import { fieldResolver } from '../contacts.queries';
import { checkCustomValues } from '../custom-field-values';
import type { CustomField, CustomFieldType } from '../entities/custom-field.entity';
import { compileFilter, reportAs, toPrefixQuery, validateFilter } from './contact-filter.compiler';
import type { FilterNode } from './contact-filter.types';
import { loadPGlite } from '../../../database/testing/memory-database';

/**
 * The rule language is checked twice: validateFilter on its own (paths and messages of
 * every kind of mistake), and compileFilter executed against a real embedded PostgreSQL
 * built from the project's own migrations, asserting the exact set of matching contacts.
 */

// ---------------------------------------------------------------------------------------
// Fixture ids
// ---------------------------------------------------------------------------------------

const uuid = (prefix: string, n: number) => `${prefix}-0000-4000-8000-${String(n).padStart(12, '0')}`;

const STATUS = { lead: uuid('5a000000', 1), prospect: uuid('5a000000', 2), customer: uuid('5a000000', 3), vipCustomer: uuid('5a000000', 4), unused: uuid('5a000000', 5) };
const TAG = { vip: uuid('7a000000', 1), eu: uuid('7a000000', 2), us: uuid('7a000000', 3), unused: uuid('7a000000', 4) };
const SERVICE = { seo: uuid('5e000000', 1), ads: uuid('5e000000', 2), unused: uuid('5e000000', 3) };
const SOURCE = { web: uuid('50000000', 1), referral: uuid('50000000', 2) };
const USER = { alice: uuid('a0000000', 1), bob: uuid('b0000000', 2), ada: uuid('c1000000', 3) };
const ROLE = { staff: uuid('70000000', 1), client: uuid('70000000', 2) };

type Key = 'ada' | 'grace' | 'shaq' | 'zoe' | 'mj' | 'gone' | 'alice' | 'bob';

interface ContactFixture {
  key: Key;
  first: string;
  last: string;
  email: string | null;
  phone: string | null;
  company: string | null;
  city: string | null;
  status: string | null;
  tags: string[];
  services: string[];
  source: string | null;
  assignee: string | null;
  custom: Record<string, unknown>;
  /** Hours before now; null = never contacted. */
  contactedHoursAgo: number | null;
  createdAt: string;
  deleted?: boolean;
}

const CONTACTS: ContactFixture[] = [
  {
    key: 'ada',
    first: 'Ada',
    last: 'Lovelace',
    email: 'ada@example.com',
    phone: '+44 20 7946 0958',
    company: 'Analytical Engines Ltd',
    city: 'London',
    status: STATUS.lead,
    tags: [TAG.vip, TAG.eu],
    services: [SERVICE.seo],
    source: SOURCE.web,
    assignee: USER.alice,
    custom: { industry: 'Software', employees: 50, revenue: 1234.5, newsletter: true, renewal: '2025-03-01', kickoff: '2025-01-10T09:00:00.000Z', interests: ['seo', 'ads'], plan: 'pro' },
    contactedHoursAgo: 48,
    createdAt: '2024-01-01T00:00:00Z',
  },
  {
    key: 'grace',
    first: 'Grace',
    last: 'Hopper',
    email: 'GRACE@Navy.mil',
    phone: '(555) 010-9999',
    company: 'US Navy',
    city: 'Arlington',
    status: STATUS.customer,
    tags: [TAG.us],
    services: [SERVICE.seo, SERVICE.ads],
    source: SOURCE.referral,
    assignee: USER.bob,
    // 10:00 at +02:00 is 08:00Z: earlier than Ada's kickoff although it sorts later as text.
    custom: { industry: 'Defense', employees: 5000, revenue: 99.99, newsletter: false, renewal: '2024-12-31', kickoff: '2025-01-10T10:00:00+02:00', interests: ['email'], plan: 'enterprise' },
    contactedHoursAgo: 40 * 24,
    createdAt: '2024-02-01T00:00:00Z',
  },
  {
    key: 'shaq',
    first: 'Shaquille',
    last: "O'Neil",
    email: null,
    phone: null,
    company: '100% Real_Estate',
    city: '',
    status: STATUS.prospect,
    tags: [],
    services: [],
    source: null,
    assignee: null,
    custom: {},
    contactedHoursAgo: null,
    createdAt: '2024-03-01T00:00:00Z',
  },
  {
    key: 'zoe',
    first: 'Zoë',
    last: 'Ångström',
    email: 'zoe@example.org',
    phone: null,
    company: 'Acme_Corp',
    city: 'Paris',
    status: STATUS.vipCustomer,
    tags: [TAG.vip, TAG.us],
    services: [SERVICE.ads],
    source: SOURCE.web,
    assignee: USER.alice,
    custom: { industry: '', employees: 7, newsletter: true, renewal: '2025-03-02', interests: [] },
    contactedHoursAgo: 10 * 24,
    createdAt: '2024-04-01T00:00:00Z',
  },
  {
    key: 'mj',
    first: 'Mary-Jane',
    last: 'Watson',
    email: 'mj@dailybugle.com',
    phone: null,
    company: 'Daily Bugle',
    city: 'new york',
    status: null,
    tags: [TAG.eu],
    services: [],
    source: null,
    assignee: USER.bob,
    custom: { legacy: 'old value', employees: 51 },
    contactedHoursAgo: 1,
    createdAt: '2024-05-01T00:00:00Z',
  },
  {
    key: 'gone',
    first: 'Deleted',
    last: 'Person',
    email: 'gone@example.com',
    phone: null,
    company: 'Acme Corp',
    city: 'London',
    status: STATUS.lead,
    tags: [TAG.vip],
    services: [SERVICE.seo],
    source: SOURCE.web,
    assignee: USER.alice,
    custom: { employees: 60, interests: ['seo'] },
    contactedHoursAgo: 5 * 24,
    createdAt: '2024-06-01T00:00:00Z',
    deleted: true,
  },
  {
    key: 'alice',
    first: 'Alice',
    last: 'Admin',
    email: 'alice@maestro.test',
    phone: null,
    company: 'Back\\Slash Inc',
    city: null,
    status: null,
    tags: [],
    services: [],
    source: null,
    assignee: null,
    custom: {},
    contactedHoursAgo: null,
    createdAt: '2023-01-01T00:00:00Z',
  },
  {
    key: 'bob',
    first: 'Bob',
    last: 'Staff',
    email: 'bob@maestro.test',
    phone: null,
    company: 'Acme Corp',
    city: null,
    status: null,
    tags: [],
    services: [],
    source: null,
    assignee: null,
    custom: {},
    contactedHoursAgo: 400 * 24,
    createdAt: '2023-01-02T00:00:00Z',
  },
];

const ID: Record<Key, string> = Object.fromEntries(CONTACTS.map((c, i) => [c.key, uuid('c0000000', i + 1)])) as Record<Key, string>;
const KEY_OF = new Map(Object.entries(ID).map(([key, id]) => [id, key as Key]));
const LIVE: Key[] = CONTACTS.filter((c) => !c.deleted).map((c) => c.key);
const live = (...keys: Key[]) => [...keys].sort();
const liveExcept = (...keys: Key[]) => LIVE.filter((k) => !keys.includes(k)).sort();

// ---------------------------------------------------------------------------------------
// Custom field definitions
// ---------------------------------------------------------------------------------------

const definition = (n: number, key: string, type: CustomFieldType, extra: Partial<CustomField> = {}): CustomField =>
  ({
    id: uuid('cf000000', n),
    key,
    label: key,
    type,
    required: false,
    options: [],
    internal: false,
    position: n,
    deletedAt: null,
    createdAt: new Date('2024-01-01T00:00:00Z'),
    updatedAt: new Date('2024-01-01T00:00:00Z'),
    ...extra,
  }) as CustomField;

const DEFINITIONS: CustomField[] = [
  definition(1, 'industry', 'text'),
  definition(2, 'employees', 'number'),
  definition(3, 'revenue', 'decimal'),
  definition(4, 'newsletter', 'boolean'),
  definition(5, 'renewal', 'date'),
  definition(6, 'kickoff', 'datetime'),
  definition(7, 'interests', 'multi_select', { options: ['seo', 'ads', 'email'] }),
  definition(8, 'plan', 'select', { options: ['pro', 'enterprise'] }),
  definition(9, 'legacy', 'text', { deletedAt: new Date('2024-06-01T00:00:00Z') }),
];
const resolver = fieldResolver(DEFINITIONS);

// ---------------------------------------------------------------------------------------
// Embedded PostgreSQL with the real schema
// ---------------------------------------------------------------------------------------

const PGlite = loadPGlite();

let db: PGliteClass;

async function createSchema(database: PGliteClass): Promise<void> {
  const runner = { query: (sql: string) => database.exec(sql) } as unknown as QueryRunner;
  await new Foundation1763700000000().up(runner);
  await new ContactsCore1763800000000().up(runner);
  await new ContactPhoneSearch1765120000000().up(runner);
}

async function seed(database: PGliteClass): Promise<void> {
  await database.query(`INSERT INTO contact_statuses (id, name, stage) VALUES ($1, 'New lead', 'lead'), ($2, 'Qualified', 'prospect'), ($3, 'Customer', 'customer'), ($4, 'VIP customer', 'customer'), ($5, 'Unused', 'other')`, [
    STATUS.lead,
    STATUS.prospect,
    STATUS.customer,
    STATUS.vipCustomer,
    STATUS.unused,
  ]);
  await database.query(`INSERT INTO tags (id, name) VALUES ($1, 'VIP'), ($2, 'EU'), ($3, 'US'), ($4, 'Unused')`, [TAG.vip, TAG.eu, TAG.us, TAG.unused]);
  await database.query(`INSERT INTO services (id, name) VALUES ($1, 'SEO'), ($2, 'Ads'), ($3, 'Unused')`, [SERVICE.seo, SERVICE.ads, SERVICE.unused]);
  await database.query(`INSERT INTO traffic_sources (id, name) VALUES ($1, 'Website'), ($2, 'Referral')`, [SOURCE.web, SOURCE.referral]);
  for (const field of DEFINITIONS) {
    await database.query(`INSERT INTO custom_fields (id, key, label, type, options, deleted_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)`, [
      field.id,
      field.key,
      field.label,
      field.type,
      JSON.stringify(field.options),
      // Dates go as text: PGlite lives outside Jest's sandbox and does not recognise its Date objects.
      field.deletedAt?.toISOString() ?? null,
    ]);
  }
  for (const c of CONTACTS) {
    await database.query(
      `INSERT INTO contacts (id, first_name, last_name, email, phone, company, city, status_id, traffic_source_id, custom_fields, last_contacted_at, created_at, updated_at, deleted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb,
               CASE WHEN $11::int IS NULL THEN NULL ELSE now() - make_interval(hours => $11::int) END,
               $12::timestamptz, $12::timestamptz, CASE WHEN $13::boolean THEN now() ELSE NULL END)`,
      [ID[c.key], c.first, c.last, c.email, c.phone, c.company, c.city, c.status, c.source, JSON.stringify(c.custom), c.contactedHoursAgo, c.createdAt, c.deleted ?? false],
    );
    for (const tag of c.tags) await database.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2)', [ID[c.key], tag]);
    for (const service of c.services) await database.query('INSERT INTO contact_services (contact_id, service_id) VALUES ($1, $2)', [ID[c.key], service]);
  }
  await database.query(`INSERT INTO roles (id, system_key, name, audience) VALUES ($1, 'staff', 'Staff', 'staff'), ($2, 'client', 'Client', 'client')`, [ROLE.staff, ROLE.client]);
  const accounts: Array<[string, Key, string]> = [
    [USER.alice, 'alice', ROLE.staff],
    [USER.bob, 'bob', ROLE.staff],
    [USER.ada, 'ada', ROLE.client],
  ];
  for (const [userId, key, roleId] of accounts) {
    const c = CONTACTS.find((x) => x.key === key)!;
    await database.query('INSERT INTO users (id, contact_id, email, first_name, last_name) VALUES ($1, $2, $3, $4, $5)', [userId, ID[key], c.email, c.first, c.last]);
    await database.query('INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2)', [userId, roleId]);
  }
  for (const c of CONTACTS) {
    if (c.assignee) await database.query('UPDATE contacts SET assigned_to_id = $2 WHERE id = $1', [ID[c.key], c.assignee]);
  }
}

beforeAll(async () => {
  db = await PGlite.create('memory://');
  await createSchema(db);
  await seed(db);
}, 120000);

afterAll(async () => {
  await db?.close();
});

/** Validates, compiles and runs a filter over the live contacts; returns the matching keys, sorted. */
async function matching(filter: FilterNode, options: { emptyAnd?: boolean } = {}): Promise<Key[]> {
  const checked = validateFilter(filter, resolver, 'filter', options);
  expect(checked.errors).toEqual([]);
  const { sql, params } = compileFilter(filter, resolver);
  // Appended without parentheses, as compileSelection does: the fragment must stand on its own.
  const result = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE c.deleted_at IS NULL AND ${sql}`, params);
  return result.rows.map((row) => KEY_OF.get(row.id)!).sort();
}

const errorsOf = (filter: unknown) => validateFilter(filter, resolver).errors;

// =======================================================================================
// validateFilter
// =======================================================================================

describe('validateFilter', () => {
  it('accepts a valid tree using every kind of field', () => {
    const filter: FilterNode = {
      and: [
        { field: 'q', op: 'matches', value: 'ada love' },
        { field: 'id', op: 'is', value: ID.ada },
        { field: 'city', op: 'contains', value: 'lon' },
        { field: 'status', op: 'in', value: [STATUS.lead, STATUS.customer.toUpperCase()] },
        { field: 'stage', op: 'in', value: ['lead', 'prospect', 'customer', 'other'] },
        { field: 'hasAccount', op: 'is', value: true },
        { field: 'tags', op: 'hasAll', value: [TAG.vip] },
        { field: 'services', op: 'empty' },
        { field: 'createdAt', op: 'after', value: '2024-01-01' },
        { field: 'updatedAt', op: 'lte', value: '2024-01-01T10:00:00+02:00' },
        { field: 'lastContactedAt', op: 'inLastDays', value: 0 },
        { or: [{ field: 'custom.employees', op: 'gt', value: -2.5 }, { not: { field: 'custom.renewal', op: 'is', value: '2024-02-29' } }] },
        { field: 'custom.interests', op: 'hasAny', value: ['seo'] },
        { field: 'custom.plan', op: 'in', value: ['pro'] },
        { field: 'custom.kickoff', op: 'notInLastDays', value: 36500 },
        { field: 'custom.newsletter', op: 'isNot', value: false },
      ],
    };
    expect(validateFilter(filter, resolver)).toEqual({ errors: [], warnings: [] });
  });

  it.each([null, undefined, 'city', 42, true, []])('refuses a root that is not an object (%p)', (root) => {
    expect(errorsOf(root)).toEqual([{ field: 'filter', message: 'must be an object: {and}, {or}, {not} or {field, op, value}' }]);
  });

  it('uses the given path prefix', () => {
    expect(validateFilter({ and: [{ field: 'city', op: 'gt', value: 'x' }] }, resolver, 'segment.rules').errors).toEqual([
      { field: 'segment.rules.and.0.op', message: expect.stringContaining('"gt" does not apply to city') },
    ]);
  });

  it('reports a wrong operator deep in the tree at filter.and.1.op', () => {
    expect(
      errorsOf({
        and: [
          { field: 'city', op: 'is', value: 'London' },
          { field: 'city', op: 'bogus', value: 'x' },
        ],
      }),
    ).toEqual([{ field: 'filter.and.1.op', message: 'must be one of is, isNot, contains, notContains, startsWith, in, notIn, empty, notEmpty' }]);
  });

  it('reports the path through or, not and nested groups', () => {
    expect(errorsOf({ or: [{ field: 'city', op: 'empty' }, { not: { and: [{ field: 'nope', op: 'is', value: 'x' }] } }] })).toEqual([
      { field: 'filter.or.1.not.and.0.field', message: 'unknown field "nope"' },
    ]);
  });

  it('collects the errors of every branch, in order', () => {
    expect(
      errorsOf({
        and: [{ field: 'city', op: 'gt', value: 'x' }, { field: 'status', op: 'is', value: 'not-a-uuid' }, { field: 'nope', op: 'is' }, { field: 'city', op: 'is', value: 'ok' }],
      }).map((e) => e.field),
    ).toEqual(['filter.and.0.op', 'filter.and.1.value', 'filter.and.2.field']);
  });

  describe('groups', () => {
    it.each([
      [{ and: [] }, 'filter.and', 'must be a non-empty list of rules'],
      [{ or: [] }, 'filter.or', 'must be a non-empty list of rules'],
      [{ and: 'city' }, 'filter.and', 'must be a non-empty list of rules'],
      [{ or: { field: 'city', op: 'empty' } }, 'filter.or', 'must be a non-empty list of rules'],
      [{ and: [{ field: 'city', op: 'empty' }], or: [{ field: 'city', op: 'empty' }] }, 'filter', 'a group has only the "and" key'],
      [{ or: [{ field: 'city', op: 'empty' }], field: 'city' }, 'filter', 'a group has only the "or" key'],
      [{ not: { field: 'city', op: 'empty' }, field: 'city' }, 'filter', 'a negation has only the "not" key'],
      [{ not: null }, 'filter.not', 'must be an object: {and}, {or}, {not} or {field, op, value}'],
      [{ not: [{ field: 'city', op: 'empty' }] }, 'filter.not', 'must be an object: {and}, {or}, {not} or {field, op, value}'],
      [{ and: [{ field: 'city', op: 'empty' }, 'city'] }, 'filter.and.1', 'must be an object: {and}, {or}, {not} or {field, op, value}'],
    ])('%j → %s', (filter, field, message) => {
      expect(errorsOf(filter)).toEqual([{ field, message }]);
    });
  });

  describe('an empty "and" where a caller may select everything', () => {
    it('is accepted with emptyAnd, anywhere; an empty "or" never is', () => {
      const lenient = (filter: unknown) => validateFilter(filter, resolver, 'filter', { emptyAnd: true }).errors;
      expect(lenient({ and: [] })).toEqual([]);
      expect(lenient({ not: { and: [{ and: [] }] } })).toEqual([]);
      expect(lenient({ or: [] })).toEqual([{ field: 'filter.or', message: 'must be a non-empty list of rules' }]);
      expect(lenient({ and: 'city' })).toEqual([{ field: 'filter.and', message: 'must be a non-empty list of rules' }]);
    });

    it('compiles to TRUE', async () => {
      expect(compileFilter({ and: [] }, resolver)).toEqual({ sql: 'TRUE', params: [] });
      expect(await matching({ and: [] }, { emptyAnd: true })).toEqual(live(...LIVE));
      expect(await matching({ not: { and: [] } }, { emptyAnd: true })).toEqual([]);
    });
  });

  describe('nodes marked with where they came from', () => {
    it('report every error of a whole node under its name, without the operator the API chose', () => {
      const filter = { and: [reportAs({ field: 'q', op: 'matches' as const, value: 'ada' }, 'q', true), reportAs({ field: 'createdAt', op: 'lte' as const, value: '2024-02-30' }, 'createdTo', true)] };
      expect(errorsOf(filter)).toEqual([{ field: 'createdTo', message: 'must be an ISO 8601 date or date-time' }]);
      expect(errorsOf(reportAs({ field: 'status', op: 'in' as const, value: ['x'] }, 'status', true))).toEqual([{ field: 'status', message: 'must be a UUID' }]);
    });

    it('report errors inside the caller’s own tree from its name on', () => {
      const own = reportAs({ or: [{ field: 'city', op: 'empty' as const }, { field: 'nope', op: 'is' as const, value: 1 }] }, 'filter');
      expect(errorsOf({ and: [reportAs({ field: 'q', op: 'matches' as const, value: 'ada' }, 'q', true), own] })).toEqual([{ field: 'filter.or.1.field', message: 'unknown field "nope"' }]);
      expect(validateFilter({ and: [own] }, resolver).warnings).toEqual([]);
      const deleted = reportAs({ field: 'custom.legacy', op: 'is' as const, value: 'x' }, 'filter');
      expect(validateFilter({ and: [reportAs({ field: 'q', op: 'matches' as const, value: 'ada' }, 'q', true), deleted] }, resolver).warnings).toEqual([expect.stringMatching(/^filter: /)]);
    });
  });

  describe('conditions', () => {
    it('refuses unknown keys on a condition, at the condition', () => {
      expect(errorsOf({ and: [{ field: 'city', op: 'is', value: 'x', negate: true, extra: 1 }] })).toEqual([{ field: 'filter.and.0', message: 'unknown keys: negate, extra' }]);
    });

    it('needs a field name', () => {
      expect(errorsOf({ op: 'is', value: 'x' })).toEqual([{ field: 'filter.field', message: 'must be a field name' }]);
      expect(errorsOf({ field: 3, op: 'is', value: 'x' })).toEqual([{ field: 'filter.field', message: 'must be a field name' }]);
      expect(errorsOf({})).toEqual([{ field: 'filter.field', message: 'must be a field name' }]);
    });

    it.each(['nope', 'first_name', 'custom', 'custom.', 'custom.nope', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'custom.constructor', 'custom.__proto__'])(
      'refuses the unknown field %p',
      (name) => {
        expect(errorsOf({ field: name, op: 'is', value: 'x' })).toEqual([{ field: 'filter.field', message: `unknown field "${name}"` }]);
      },
    );

    it.each([undefined, 'bogus', 'IS', 42, null])('refuses the operator %p with the operators of the field', (op) => {
      expect(errorsOf({ field: 'custom.employees', op, value: 1 })).toEqual([{ field: 'filter.op', message: 'must be one of is, isNot, gt, gte, lt, lte, in, notIn, empty, notEmpty' }]);
    });
  });

  describe('operators that do not suit the field type', () => {
    it.each([
      ['city', 'gt', 'x'],
      ['firstName', 'before', '2024-01-01'],
      ['firstName', 'inLastDays', 3],
      ['firstName', 'matches', 'ada'],
      ['city', 'hasAny', ['x']],
      ['status', 'hasAny', [STATUS.lead]],
      ['status', 'contains', 'x'],
      ['stage', 'contains', 'lead'],
      ['stage', 'gt', 'lead'],
      ['custom.employees', 'contains', '5'],
      ['custom.employees', 'startsWith', '5'],
      ['custom.employees', 'hasAny', [5]],
      ['custom.revenue', 'before', '2024-01-01'],
      ['hasAccount', 'gt', true],
      ['custom.newsletter', 'in', [true]],
      ['createdAt', 'is', '2024-01-01'],
      ['createdAt', 'contains', '2024'],
      ['custom.renewal', 'contains', '2024'],
      ['tags', 'is', TAG.vip],
      ['tags', 'in', [TAG.vip]],
      ['services', 'contains', 'x'],
      ['custom.interests', 'is', 'seo'],
      ['custom.interests', 'contains', 'seo'],
      ['q', 'is', 'ada'],
      ['q', 'contains', 'ada'],
      ['id', 'startsWith', 'c0'],
    ])('%s %s', (field, op, value) => {
      const errors = errorsOf({ and: [{ field: 'city', op: 'empty' }, { field, op, value }] });
      expect(errors).toEqual([{ field: 'filter.and.1.op', message: expect.stringContaining(`"${op}" does not apply to ${field}; use one of`) }]);
    });
  });

  describe('value shapes', () => {
    it.each([
      ['a non-UUID for a uuid field', { field: 'status', op: 'is', value: 'not-a-uuid' }, 'must be a UUID'],
      ['a UUID with the wrong length', { field: 'assignedTo', op: 'is', value: `${USER.alice}0` }, 'must be a UUID'],
      ['a non-UUID in a uuid list', { field: 'trafficSource', op: 'in', value: [SOURCE.web, 'web'] }, 'must be a UUID'],
      ['a non-UUID tag', { field: 'tags', op: 'hasAny', value: ['vip'] }, 'must be a UUID'],
      ['a stage that does not exist', { field: 'stage', op: 'is', value: 'won' }, 'must be one of lead, prospect, customer, other'],
      ['a stage in the wrong case', { field: 'stage', op: 'is', value: 'Customer' }, 'must be one of lead, prospect, customer, other'],
      ['a bad stage in a list', { field: 'stage', op: 'notIn', value: ['lead', 'won'] }, 'must be one of lead, prospect, customer, other'],
      ['text for a number', { field: 'custom.employees', op: 'gt', value: '5' }, 'must be a number'],
      ['NaN for a number', { field: 'custom.employees', op: 'gt', value: Number.NaN }, 'must be a number'],
      ['Infinity for a number', { field: 'custom.revenue', op: 'lt', value: Number.POSITIVE_INFINITY }, 'must be a number'],
      ['a text in a number list', { field: 'custom.employees', op: 'in', value: [1, '2'] }, 'must be a number'],
      ['a string for a boolean', { field: 'hasAccount', op: 'is', value: 'true' }, 'must be true or false'],
      ['a number for a boolean', { field: 'custom.newsletter', op: 'is', value: 1 }, 'must be true or false'],
      ['a non-ISO date', { field: 'custom.renewal', op: 'is', value: '2025-3-1' }, 'must be a date (YYYY-MM-DD) in the years 0001 to 9999'],
      ['a date-time for a date', { field: 'custom.renewal', op: 'before', value: '2025-03-01T00:00:00Z' }, 'must be a date (YYYY-MM-DD) in the years 0001 to 9999'],
      ['an impossible month', { field: 'custom.renewal', op: 'after', value: '2025-13-01' }, 'must be a date (YYYY-MM-DD) in the years 0001 to 9999'],
      ['year 0 for a date (PostgreSQL has none)', { field: 'custom.renewal', op: 'after', value: '0000-01-01' }, 'must be a date (YYYY-MM-DD) in the years 0001 to 9999'],
      ['year 0 for a date-time', { field: 'createdAt', op: 'after', value: '0000-06-01T00:00:00Z' }, 'must be an ISO 8601 date or date-time (after)'],
      ['an offset past a day (+24:00)', { field: 'createdAt', op: 'after', value: '2024-01-01T00:00+24:00' }, 'must be an ISO 8601 date or date-time (after)'],
      ['offset minutes past 59', { field: 'lastContactedAt', op: 'before', value: '2024-01-01T00:00:00-05:60' }, 'must be an ISO 8601 date or date-time (before)'],
      ['words for a date-time', { field: 'createdAt', op: 'after', value: 'yesterday' }, 'must be an ISO 8601 date or date-time (after)'],
      ['a fraction of a second past nanoseconds', { field: 'createdAt', op: 'after', value: `2024-01-01T00:00:00.${'1'.repeat(300)}Z` }, 'must be an ISO 8601 date or date-time (after)'],
      ['a timestamp number for a date-time', { field: 'createdAt', op: 'gt', value: 1704067200000 }, 'must be an ISO 8601 date or date-time (gt)'],
      ['a US date for a date-time', { field: 'lastContactedAt', op: 'before', value: '01/02/2024' }, 'must be an ISO 8601 date or date-time (before)'],
      ['a number for text', { field: 'city', op: 'is', value: 5 }, 'must be text of at most 500 characters'],
      ['null for text', { field: 'city', op: 'is', value: null }, 'must be text of at most 500 characters'],
      ['a missing value', { field: 'city', op: 'is' }, 'must be text of at most 500 characters'],
      ['a missing UUID', { field: 'status', op: 'isNot' }, 'must be a UUID'],
      ['text over 500 characters', { field: 'city', op: 'contains', value: 'x'.repeat(501) }, 'must be text of at most 500 characters'],
      ['a number in a multi-select list', { field: 'custom.interests', op: 'hasAny', value: ['seo', 1] }, 'must be text of at most 500 characters'],
      ['an empty in list', { field: 'city', op: 'in', value: [] }, 'must be a non-empty list (at most 1000 values)'],
      ['a scalar where a list is needed', { field: 'city', op: 'notIn', value: 'London' }, 'must be a non-empty list (at most 1000 values)'],
      ['an empty hasAll list', { field: 'tags', op: 'hasAll', value: [] }, 'must be a non-empty list (at most 1000 values)'],
      ['a single UUID for hasAny', { field: 'services', op: 'hasAny', value: SERVICE.seo }, 'must be a non-empty list (at most 1000 values)'],
      ['1001 values', { field: 'city', op: 'in', value: Array.from({ length: 1001 }, (_, i) => `c${i}`) }, 'must be a non-empty list (at most 1000 values)'],
      ['a blank search', { field: 'q', op: 'matches', value: '   ' }, 'must be non-empty text of at most 200 characters'],
      ['an empty search', { field: 'q', op: 'matches', value: '' }, 'must be non-empty text of at most 200 characters'],
      ['a search over 200 characters', { field: 'q', op: 'matches', value: 'a'.repeat(201) }, 'must be non-empty text of at most 200 characters'],
      ['a number as search', { field: 'q', op: 'matches', value: 42 }, 'must be non-empty text of at most 200 characters'],
      ['fractional days', { field: 'lastContactedAt', op: 'inLastDays', value: 1.5 }, 'must be a whole number of days'],
      ['negative days', { field: 'lastContactedAt', op: 'notInLastDays', value: -1 }, 'must be a whole number of days'],
      ['more than 100 years of days', { field: 'createdAt', op: 'inLastDays', value: 36501 }, 'must be a whole number of days'],
      ['days as text', { field: 'custom.renewal', op: 'inLastDays', value: '7' }, 'must be a whole number of days'],
      ['missing days', { field: 'lastContactedAt', op: 'inLastDays' }, 'must be a whole number of days'],
      ['a value on empty', { field: 'city', op: 'empty', value: '' }, 'takes no value'],
      ['a null value on notEmpty', { field: 'tags', op: 'notEmpty', value: null }, 'takes no value'],
    ])('refuses %s at .value', (_, condition, message) => {
      expect(errorsOf({ and: [{ field: 'city', op: 'empty' }, condition] })).toEqual([{ field: 'filter.and.1.value', message }]);
    });

    it.each([
      ['an upper-case UUID', { field: 'id', op: 'is', value: ID.ada.toUpperCase() }],
      ['every stage', { field: 'stage', op: 'in', value: ['lead', 'prospect', 'customer', 'other'] }],
      ['a leap day', { field: 'custom.renewal', op: 'is', value: '2024-02-29' }],
      ['a date for a date-time', { field: 'createdAt', op: 'gte', value: '2024-02-01' }],
      ['a date-time with an offset', { field: 'createdAt', op: 'lt', value: '2024-02-01T10:00:00+02:00' }],
      ['a date-time with fractions', { field: 'custom.kickoff', op: 'after', value: '2024-02-01T10:00:00.123Z' }],
      ['a negative decimal for a number field', { field: 'custom.employees', op: 'gte', value: -0.5 }],
      ['0 days', { field: 'lastContactedAt', op: 'inLastDays', value: 0 }],
      ['36500 days', { field: 'lastContactedAt', op: 'notInLastDays', value: 36500 }],
      ['1000 values', { field: 'city', op: 'in', value: Array.from({ length: 1000 }, (_, i) => `c${i}`) }],
      ['empty text', { field: 'city', op: 'is', value: '' }],
      ['500 characters', { field: 'city', op: 'is', value: 'x'.repeat(500) }],
      ['a 200-character search', { field: 'q', op: 'matches', value: 'a'.repeat(200) }],
      ['false for a boolean', { field: 'hasAccount', op: 'is', value: false }],
    ])('accepts %s', (_, condition) => {
      expect(validateFilter(condition, resolver)).toEqual({ errors: [], warnings: [] });
    });

    // Date.parse rolls 2023-02-29 over to March 1st; PostgreSQL refuses the value, so the request would fail with a 500.
    it.each([
      ['custom.renewal', 'is', '2023-02-29'],
      ['custom.renewal', 'before', '2024-02-30'],
      ['custom.renewal', 'after', '2024-04-31'],
      ['createdAt', 'after', '2024-06-31'],
      ['lastContactedAt', 'before', '2024-02-30T10:00:00Z'],
    ])('refuses the impossible calendar date %s %s %s', (field, op, value) => {
      expect(errorsOf({ field, op, value })).toEqual([{ field: 'filter.value', message: expect.any(String) }]);
    });
  });

  describe('limits', () => {
    const nestNot = (levels: number): unknown => {
      let node: unknown = { field: 'city', op: 'empty' };
      for (let i = 0; i < levels; i += 1) node = { not: node };
      return node;
    };

    it('accepts 8 levels of nesting', () => {
      expect(errorsOf(nestNot(8))).toEqual([]);
    });

    it('refuses a 9th level, at its path', () => {
      expect(errorsOf(nestNot(9))).toEqual([{ field: `filter${'.not'.repeat(9)}`, message: 'nests deeper than 8 levels' }]);
    });

    it('counts group levels the same way', () => {
      let node: unknown = { field: 'city', op: 'empty' };
      for (let i = 0; i < 9; i += 1) node = i % 2 ? { and: [node] } : { or: [{ field: 'city', op: 'empty' }, node] };
      // The innermost group sits at depth 8; both of its children are at depth 9.
      const at = 'filter.or.1.and.0.or.1.and.0.or.1.and.0.or.1.and.0';
      expect(errorsOf(node)).toEqual([
        { field: `${at}.or.0`, message: 'nests deeper than 8 levels' },
        { field: `${at}.or.1`, message: 'nests deeper than 8 levels' },
      ]);
    });

    it('accepts 100 conditions', () => {
      const or = Array.from({ length: 100 }, (_, i) => ({ field: 'city', op: 'is', value: `c${i}` }));
      expect(errorsOf({ or })).toEqual([]);
    });

    it('refuses the 101st condition, wherever it is', () => {
      const or = Array.from({ length: 101 }, (_, i) => ({ field: 'city', op: 'is', value: `c${i}` }));
      expect(errorsOf({ or })).toEqual([{ field: 'filter.or.100', message: 'more than 100 conditions' }]);
      const split = { and: [{ or: or.slice(0, 60) }, { not: { or: or.slice(60) } }] };
      expect(errorsOf(split)).toEqual([{ field: 'filter.and.1.not.or.40', message: 'more than 100 conditions' }]);
    });

    it('tells it once, however many conditions follow', () => {
      const or = Array.from({ length: 5000 }, (_, i) => ({ field: 'city', op: 'is', value: `c${i}` }));
      expect(errorsOf({ or })).toEqual([{ field: 'filter.or.100', message: 'more than 100 conditions' }]);
    });
  });

  describe('deleted custom fields', () => {
    it('warn instead of failing, with the path and the field', () => {
      expect(validateFilter({ and: [{ field: 'city', op: 'empty' }, { field: 'custom.legacy', op: 'is', value: 'old value' }] }, resolver)).toEqual({
        errors: [],
        warnings: ['filter.and.1: the custom field "custom.legacy" was deleted; this condition holds for no contact'],
      });
    });

    it('say what the clause does under a negative operator or a `not`', () => {
      const gone = 'the custom field "custom.legacy" was deleted';
      const cases: Array<[FilterNode, string]> = [
        [{ field: 'custom.legacy', op: 'isNot', value: 'x' }, `filter: ${gone}; it excludes no contact, so this condition now holds for every contact, those it used to exclude included`],
        [{ field: 'custom.legacy', op: 'empty' }, `filter: ${gone}; it excludes no contact, so this condition now holds for every contact, those it used to exclude included`],
        [{ not: { field: 'custom.legacy', op: 'is', value: 'x' } }, `filter.not: ${gone}; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included`],
        [{ not: { and: [{ field: 'city', op: 'empty' }, { field: 'custom.legacy', op: 'contains', value: 'x' }] } }, `filter.not.and.1: ${gone}; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included`],
        [{ not: { field: 'custom.legacy', op: 'notIn', value: ['x'] } }, `filter.not: ${gone}; this condition now holds for every contact, so the "not" around it holds for no contact`],
        [{ not: { not: { field: 'custom.legacy', op: 'is', value: 'x' } } }, `filter.not.not: ${gone}; this condition holds for no contact`],
      ];
      for (const [filter, warning] of cases) expect(validateFilter(filter, resolver)).toEqual({ errors: [], warnings: [warning] });
      // A query parameter that became a condition is reported under its own name, wherever it stands.
      const asParameter = reportAs({ field: 'custom.legacy', op: 'isNot' as const, value: 'x' }, 'custom.legacy', true);
      expect(validateFilter({ not: asParameter }, resolver).warnings).toEqual([`custom.legacy: ${gone}; this condition now holds for every contact, so the "not" around it holds for no contact`]);
    });

    it('are not type-checked any more (a saved segment keeps loading)', () => {
      const checked = validateFilter({ or: [{ field: 'custom.legacy', op: 'gt', value: { weird: true } }, { field: 'custom.legacy', op: 'bogus' }] }, resolver);
      expect(checked.errors).toEqual([]);
      expect(checked.warnings).toHaveLength(2);
    });

    it('still report errors elsewhere in the tree', () => {
      const checked = validateFilter({ and: [{ field: 'custom.legacy', op: 'is', value: 'x' }, { field: 'custom.gone_forever', op: 'is', value: 'x' }] }, resolver);
      expect(checked.warnings).toHaveLength(1);
      expect(checked.errors).toEqual([{ field: 'filter.and.1.field', message: 'unknown field "custom.gone_forever"' }]);
    });
  });
});

// =======================================================================================
// compileFilter, executed
// =======================================================================================

describe('compileFilter (executed against PostgreSQL with the real schema)', () => {
  it('the fixture holds what the tests rely on', async () => {
    const counts = await db.query<{ live: number; trashed: number; accounts: number; history: number }>(
      `SELECT count(*) FILTER (WHERE deleted_at IS NULL)::int AS live, count(*) FILTER (WHERE deleted_at IS NOT NULL)::int AS trashed,
              (SELECT count(*)::int FROM users) AS accounts, (SELECT count(*)::int FROM contact_status_history) AS history FROM contacts`,
    );
    expect(counts.rows[0]).toEqual({ live: 7, trashed: 1, accounts: 3, history: CONTACTS.length });
    // The account triggers left the contacts' names and emails as inserted.
    const ada = await db.query<{ email: string; version: number }>('SELECT email, version FROM contacts WHERE id = $1', [ID.ada]);
    expect(ada.rows[0]).toEqual({ email: 'ada@example.com', version: 1 });
    expect(await matching({ field: 'id', op: 'notEmpty' })).toEqual(live(...LIVE));
  });

  it('numbers its parameters from firstParam', async () => {
    const filter: FilterNode = { and: [{ field: 'city', op: 'is', value: 'london' }, { field: 'tags', op: 'hasAny', value: [TAG.vip] }] };
    const { sql, params } = compileFilter(filter, resolver, 3);
    expect(sql).toContain('$3');
    expect(sql).toContain('$4');
    expect(sql).not.toMatch(/\$[125]\b/);
    expect(params).toEqual(['london', [TAG.vip]]);
    const result = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE c.first_name <> $1 AND c.first_name <> $2 AND ${sql}`, ['x', 'y', ...params]);
    expect(result.rows.map((r) => KEY_OF.get(r.id)).sort()).toEqual(['ada', 'gone']);
  });

  it('compiles a one-value in list as an equality (an index on the column and the sort key then gives the order), matching the same rows', async () => {
    expect(compileFilter({ field: 'status', op: 'in', value: [STATUS.lead] }, resolver)).toEqual({ sql: 'c.status_id = $1::uuid', params: [STATUS.lead] });
    expect(compileFilter({ field: 'city', op: 'in', value: ['LONDON'] }, resolver)).toEqual({ sql: 'lower(c.city) = lower($1)', params: ['LONDON'] });
    expect(compileFilter({ field: 'status', op: 'in', value: [STATUS.lead, STATUS.customer] }, resolver).sql).toBe('c.status_id = ANY($1::uuid[])');
    const keys = async (filter: FilterNode) => {
      const { sql, params } = compileFilter(filter, resolver);
      return (await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE ${sql}`, params)).rows.map((r) => KEY_OF.get(r.id)).sort();
    };
    for (const [one, many] of [
      [{ field: 'status', op: 'in', value: [STATUS.customer.toUpperCase()] }, { field: 'status', op: 'in', value: [STATUS.customer, STATUS.customer] }],
      [{ field: 'city', op: 'in', value: ['LONDON'] }, { field: 'city', op: 'in', value: ['london', 'LONDON'] }],
    ] as Array<[FilterNode, FilterNode]>) {
      expect(await keys(one)).toEqual(await keys(many));
      expect((await keys(one)).length).toBeGreaterThan(0);
    }
  });

  describe('text fields', () => {
    it('email equality compares the indexed lower-cased copy (email_key)', () => {
      expect(compileFilter({ field: 'email', op: 'is', value: 'A@B.C' }, resolver).sql).toBe('c.email_key = lower($1)');
      expect(compileFilter({ field: 'email', op: 'in', value: ['A@B.C'] }, resolver)).toEqual({ sql: 'c.email_key = ANY($1::text[])', params: [['a@b.c']] });
    });

    it.each<[string, FilterNode, Key[]]>([
      ['is, case-insensitively', { field: 'city', op: 'is', value: 'LONDON' }, ['ada']],
      ['is on an empty string', { field: 'city', op: 'is', value: '' }, ['shaq']],
      ['isNot keeps NULL rows', { field: 'city', op: 'isNot', value: 'london' }, liveExcept('ada')],
      ['contains, case-insensitively', { field: 'city', op: 'contains', value: 'ON' }, ['ada', 'grace']],
      ['notContains keeps NULL rows', { field: 'city', op: 'notContains', value: 'on' }, liveExcept('ada', 'grace')],
      ['startsWith', { field: 'city', op: 'startsWith', value: 'New' }, ['mj']],
      ['startsWith only at the start', { field: 'city', op: 'startsWith', value: 'york' }, []],
      ['in, case-insensitively', { field: 'city', op: 'in', value: ['PARIS', 'London'] }, ['ada', 'zoe']],
      ['notIn keeps NULL rows', { field: 'city', op: 'notIn', value: ['paris', 'LONDON'] }, liveExcept('ada', 'zoe')],
      ['empty treats an empty string as empty', { field: 'city', op: 'empty' }, ['alice', 'bob', 'shaq']],
      ['notEmpty', { field: 'city', op: 'notEmpty' }, ['ada', 'grace', 'mj', 'zoe']],
      ['is on an email stored in mixed case', { field: 'email', op: 'is', value: 'grace@navy.MIL' }, ['grace']],
      ['is on a unicode name', { field: 'lastName', op: 'is', value: 'ÅNGSTRÖM' }, ['zoe']],
      ['empty on a nullable column', { field: 'email', op: 'empty' }, ['shaq']],
      ['email isNot keeps contacts without one', { field: 'email', op: 'isNot', value: 'GRACE@navy.mil' }, liveExcept('grace')],
      ['email in, case-insensitively', { field: 'email', op: 'in', value: ['grace@NAVY.mil', 'ADA@example.com', 'nobody@example.com'] }, ['ada', 'grace']],
      ['email notIn keeps contacts without one', { field: 'email', op: 'notIn', value: ['grace@navy.mil'] }, liveExcept('grace')],
      ['email contains', { field: 'email', op: 'contains', value: 'NAVY' }, ['grace']],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it.each<[string, FilterNode, Key[]]>([
      ['contains "%" literally', { field: 'company', op: 'contains', value: '%' }, ['shaq']],
      ['contains "_" literally', { field: 'company', op: 'contains', value: '_' }, ['shaq', 'zoe']],
      ['contains "acme_" does not match "Acme Corp"', { field: 'company', op: 'contains', value: 'acme_' }, ['zoe']],
      ['contains "l_e" needs the underscore', { field: 'company', op: 'contains', value: 'L_E' }, ['shaq']],
      ['startsWith "100%" literally', { field: 'company', op: 'startsWith', value: '100%' }, ['shaq']],
      ['startsWith "%" is not a wildcard', { field: 'company', op: 'startsWith', value: '%' }, []],
      ['startsWith "_" is not a wildcard', { field: 'company', op: 'startsWith', value: '_cme' }, []],
      ['contains a backslash literally', { field: 'company', op: 'contains', value: 'k\\s' }, ['alice']],
      ['notContains "%" literally', { field: 'company', op: 'notContains', value: '%' }, liveExcept('shaq')],
      ['notContains "_" literally', { field: 'company', op: 'notContains', value: '_' }, liveExcept('shaq', 'zoe')],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it.each<[string, FilterNode, Key[]]>([
      ['custom text is', { field: 'custom.industry', op: 'is', value: 'software' }, ['ada']],
      ['custom text empty (missing key or "")', { field: 'custom.industry', op: 'empty' }, ['alice', 'bob', 'mj', 'shaq', 'zoe']],
      ['custom text notEmpty', { field: 'custom.industry', op: 'notEmpty' }, ['ada', 'grace']],
      ['custom text contains', { field: 'custom.industry', op: 'contains', value: 'FEN' }, ['grace']],
      ['custom text notContains keeps missing values', { field: 'custom.industry', op: 'notContains', value: 'soft' }, liveExcept('ada')],
      ['custom select in', { field: 'custom.plan', op: 'in', value: ['Enterprise'] }, ['grace']],
      ['custom select isNot', { field: 'custom.plan', op: 'isNot', value: 'pro' }, liveExcept('ada')],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });
  });

  describe('uuid and enum fields', () => {
    it.each<[string, FilterNode, Key[]]>([
      ['id is', { field: 'id', op: 'is', value: ID.grace }, ['grace']],
      ['id is with an upper-case UUID', { field: 'id', op: 'is', value: ID.grace.toUpperCase() }, ['grace']],
      ['status is', { field: 'status', op: 'is', value: STATUS.customer }, ['grace']],
      ['status isNot keeps contacts without a status', { field: 'status', op: 'isNot', value: STATUS.customer }, liveExcept('grace')],
      ['status in', { field: 'status', op: 'in', value: [STATUS.lead, STATUS.prospect] }, ['ada', 'shaq']],
      ['status notIn keeps contacts without a status', { field: 'status', op: 'notIn', value: [STATUS.lead, STATUS.prospect] }, liveExcept('ada', 'shaq')],
      ['status empty', { field: 'status', op: 'empty' }, ['alice', 'bob', 'mj']],
      ['status notEmpty', { field: 'status', op: 'notEmpty' }, ['ada', 'grace', 'shaq', 'zoe']],
      ['assignedTo is', { field: 'assignedTo', op: 'is', value: USER.alice }, ['ada', 'zoe']],
      ['assignedTo in', { field: 'assignedTo', op: 'in', value: [USER.alice, USER.bob] }, ['ada', 'grace', 'mj', 'zoe']],
      ['assignedTo isNot keeps unassigned contacts', { field: 'assignedTo', op: 'isNot', value: USER.alice }, liveExcept('ada', 'zoe')],
      ['assignedTo empty', { field: 'assignedTo', op: 'empty' }, ['alice', 'bob', 'shaq']],
      ['trafficSource is', { field: 'trafficSource', op: 'is', value: SOURCE.web }, ['ada', 'zoe']],
      ['trafficSource notIn', { field: 'trafficSource', op: 'notIn', value: [SOURCE.web] }, liveExcept('ada', 'zoe')],
      ['trafficSource empty', { field: 'trafficSource', op: 'empty' }, ['alice', 'bob', 'mj', 'shaq']],
      ['stage is, through the status (two customer statuses)', { field: 'stage', op: 'is', value: 'customer' }, ['grace', 'zoe']],
      ['stage isNot keeps contacts without a status', { field: 'stage', op: 'isNot', value: 'customer' }, liveExcept('grace', 'zoe')],
      ['stage in', { field: 'stage', op: 'in', value: ['lead', 'prospect'] }, ['ada', 'shaq']],
      ['stage notIn keeps contacts without a status', { field: 'stage', op: 'notIn', value: ['lead'] }, liveExcept('ada')],
      ['stage in a stage no status has', { field: 'stage', op: 'in', value: ['other'] }, []],
      ['stage empty', { field: 'stage', op: 'empty' }, ['alice', 'bob', 'mj']],
      ['stage notEmpty', { field: 'stage', op: 'notEmpty' }, ['ada', 'grace', 'shaq', 'zoe']],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it.each<[string, FilterNode, Key[]]>([
      ['not stage is', { not: { field: 'stage', op: 'is', value: 'customer' } }, liveExcept('grace', 'zoe')],
      ['not stage isNot', { not: { field: 'stage', op: 'isNot', value: 'customer' } }, ['grace', 'zoe']],
      ['not stage in', { not: { field: 'stage', op: 'in', value: ['lead', 'prospect'] } }, liveExcept('ada', 'shaq')],
      ['not stage notIn', { not: { field: 'stage', op: 'notIn', value: ['lead'] } }, ['ada']],
      ['not stage empty', { not: { field: 'stage', op: 'empty' } }, ['ada', 'grace', 'shaq', 'zoe']],
      ['stage is or a tag', { or: [{ field: 'stage', op: 'is', value: 'lead' }, { field: 'tags', op: 'hasAny', value: [TAG.us] }] }, ['ada', 'grace', 'zoe']],
      ['stage notIn every stage keeps only contacts without a status', { field: 'stage', op: 'notIn', value: ['lead', 'prospect', 'customer', 'other'] }, ['alice', 'bob', 'mj']],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it('stage compiles to the status column against the matching statuses, found once, not a lookup per contact', () => {
      expect(compileFilter({ field: 'stage', op: 'is', value: 'customer' }, resolver).sql).toBe('c.status_id = ANY(ARRAY(SELECT x.id FROM contact_statuses x WHERE x.stage = $1::text))');
      expect(compileFilter({ field: 'stage', op: 'notIn', value: ['lead'] }, resolver).sql).toBe(
        '(c.status_id IS NULL OR c.status_id <> ALL(ARRAY(SELECT x.id FROM contact_statuses x WHERE x.stage = ANY($1::text[]))))',
      );
    });
  });

  describe('booleans', () => {
    it.each<[string, FilterNode, Key[]]>([
      ['hasAccount is true', { field: 'hasAccount', op: 'is', value: true }, ['ada', 'alice', 'bob']],
      ['hasAccount is false', { field: 'hasAccount', op: 'is', value: false }, ['grace', 'mj', 'shaq', 'zoe']],
      ['hasAccount isNot true', { field: 'hasAccount', op: 'isNot', value: true }, ['grace', 'mj', 'shaq', 'zoe']],
      ['hasAccount notEmpty (always known)', { field: 'hasAccount', op: 'notEmpty' }, LIVE],
      ['custom boolean is true', { field: 'custom.newsletter', op: 'is', value: true }, ['ada', 'zoe']],
      ['custom boolean is false (missing is not false)', { field: 'custom.newsletter', op: 'is', value: false }, ['grace']],
      ['custom boolean isNot true keeps missing values', { field: 'custom.newsletter', op: 'isNot', value: true }, liveExcept('ada', 'zoe')],
      ['custom boolean empty', { field: 'custom.newsletter', op: 'empty' }, ['alice', 'bob', 'mj', 'shaq']],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it.each<[string, FilterNode, Key[]]>([
      ['hasAccount isNot false', { field: 'hasAccount', op: 'isNot', value: false }, ['ada', 'alice', 'bob']],
      ['hasAccount empty (never unknown)', { field: 'hasAccount', op: 'empty' }, []],
      ['not hasAccount is true', { not: { field: 'hasAccount', op: 'is', value: true } }, ['grace', 'mj', 'shaq', 'zoe']],
      ['not hasAccount empty', { not: { field: 'hasAccount', op: 'empty' } }, LIVE],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it('hasAccount is a plain EXISTS the planner can turn into a semi-join', () => {
      expect(compileFilter({ field: 'hasAccount', op: 'is', value: true }, resolver).sql).toBe('EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id)');
      expect(compileFilter({ field: 'hasAccount', op: 'is', value: false }, resolver).sql).toBe('NOT EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id)');
    });
  });

  describe('numbers (compared as numbers, not as text)', () => {
    it.each<[string, FilterNode, Key[]]>([
      ['is', { field: 'custom.employees', op: 'is', value: 50 }, ['ada']],
      ['isNot keeps missing values', { field: 'custom.employees', op: 'isNot', value: 50 }, liveExcept('ada')],
      ['gt 10 (7 is not more than 10)', { field: 'custom.employees', op: 'gt', value: 10 }, ['ada', 'grace', 'mj']],
      ['gt 50', { field: 'custom.employees', op: 'gt', value: 50 }, ['grace', 'mj']],
      ['gte 50', { field: 'custom.employees', op: 'gte', value: 50 }, ['ada', 'grace', 'mj']],
      ['lt 51 (5000 is not less than 51)', { field: 'custom.employees', op: 'lt', value: 51 }, ['ada', 'zoe']],
      ['lte 7', { field: 'custom.employees', op: 'lte', value: 7 }, ['zoe']],
      ['gt a fraction', { field: 'custom.employees', op: 'gt', value: 50.5 }, ['grace', 'mj']],
      ['in', { field: 'custom.employees', op: 'in', value: [7, 5000] }, ['grace', 'zoe']],
      ['notIn keeps missing values', { field: 'custom.employees', op: 'notIn', value: [7, 5000] }, liveExcept('grace', 'zoe')],
      ['empty', { field: 'custom.employees', op: 'empty' }, ['alice', 'bob', 'shaq']],
      ['notEmpty', { field: 'custom.employees', op: 'notEmpty' }, ['ada', 'grace', 'mj', 'zoe']],
      ['decimal is', { field: 'custom.revenue', op: 'is', value: 99.99 }, ['grace']],
      ['decimal gt', { field: 'custom.revenue', op: 'gt', value: 100 }, ['ada']],
      ['decimal lte', { field: 'custom.revenue', op: 'lte', value: 1234.5 }, ['ada', 'grace']],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });
  });

  describe('dates and date-times', () => {
    it.each<[string, FilterNode, Key[]]>([
      ['createdAt after a date-time', { field: 'createdAt', op: 'after', value: '2024-02-01T00:00:00Z' }, ['mj', 'shaq', 'zoe']],
      ['createdAt gt is after', { field: 'createdAt', op: 'gt', value: '2024-02-01T00:00:00Z' }, ['mj', 'shaq', 'zoe']],
      ['createdAt gte includes the instant', { field: 'createdAt', op: 'gte', value: '2024-02-01T00:00:00Z' }, ['grace', 'mj', 'shaq', 'zoe']],
      ['createdAt gte a plain date', { field: 'createdAt', op: 'gte', value: '2024-02-01' }, ['grace', 'mj', 'shaq', 'zoe']],
      ['createdAt before', { field: 'createdAt', op: 'before', value: '2024-01-01T00:00:00Z' }, ['alice', 'bob']],
      ['createdAt lt is before', { field: 'createdAt', op: 'lt', value: '2024-01-01T00:00:00Z' }, ['alice', 'bob']],
      ['createdAt lte includes the instant', { field: 'createdAt', op: 'lte', value: '2024-01-01T00:00:00Z' }, ['ada', 'alice', 'bob']],
      ['createdAt after with an offset', { field: 'createdAt', op: 'after', value: '2024-02-01T01:00:00+02:00' }, ['grace', 'mj', 'shaq', 'zoe']],
      ['createdAt inLastDays (none recent)', { field: 'createdAt', op: 'inLastDays', value: 30 }, []],
      ['lastContactedAt inLastDays 7', { field: 'lastContactedAt', op: 'inLastDays', value: 7 }, ['ada', 'mj']],
      ['lastContactedAt inLastDays 30', { field: 'lastContactedAt', op: 'inLastDays', value: 30 }, ['ada', 'mj', 'zoe']],
      ['lastContactedAt notInLastDays 30 counts never-contacted', { field: 'lastContactedAt', op: 'notInLastDays', value: 30 }, ['alice', 'bob', 'grace', 'shaq']],
      ['lastContactedAt notInLastDays 0 is everyone', { field: 'lastContactedAt', op: 'notInLastDays', value: 0 }, LIVE],
      ['lastContactedAt notInLastDays 36500 is the never-contacted', { field: 'lastContactedAt', op: 'notInLastDays', value: 36500 }, ['alice', 'shaq']],
      ['lastContactedAt empty', { field: 'lastContactedAt', op: 'empty' }, ['alice', 'shaq']],
      ['lastContactedAt notEmpty', { field: 'lastContactedAt', op: 'notEmpty' }, ['ada', 'bob', 'grace', 'mj', 'zoe']],
      ['lastContactedAt before ignores NULLs', { field: 'lastContactedAt', op: 'before', value: '2100-01-01' }, ['ada', 'bob', 'grace', 'mj', 'zoe']],
      ['custom date is', { field: 'custom.renewal', op: 'is', value: '2025-03-01' }, ['ada']],
      ['custom date before', { field: 'custom.renewal', op: 'before', value: '2025-03-01' }, ['grace']],
      ['custom date after', { field: 'custom.renewal', op: 'after', value: '2025-03-01' }, ['zoe']],
      ['custom date gte', { field: 'custom.renewal', op: 'gte', value: '2025-03-01' }, ['ada', 'zoe']],
      ['custom date lte', { field: 'custom.renewal', op: 'lte', value: '2025-01-01' }, ['grace']],
      ['custom date empty', { field: 'custom.renewal', op: 'empty' }, ['alice', 'bob', 'mj', 'shaq']],
      ['custom date-time after, by instant not by text', { field: 'custom.kickoff', op: 'after', value: '2025-01-10T08:30:00Z' }, ['ada']],
      ['custom date-time before, by instant not by text', { field: 'custom.kickoff', op: 'before', value: '2025-01-10T08:30:00Z' }, ['grace']],
      ['custom date-time gte with an offset', { field: 'custom.kickoff', op: 'gte', value: '2025-01-10T10:00:00+01:00' }, ['ada']],
      ['custom date-time notEmpty', { field: 'custom.kickoff', op: 'notEmpty' }, ['ada', 'grace']],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it('a date-only value against a date-time stands for that whole (UTC) day; a full date-time stays exact', async () => {
      const kickoff = (op: 'lt' | 'lte' | 'gt' | 'gte' | 'before' | 'after', value: string) => matching({ field: 'custom.kickoff', op, value });
      // Ada's kickoff is 2025-01-10 09:00Z, Grace's 08:00Z the same day.
      expect(await kickoff('lte', '2025-01-10')).toEqual(live('ada', 'grace'));
      expect(await kickoff('lte', '2025-01-09')).toEqual([]);
      expect(await kickoff('lt', '2025-01-10')).toEqual([]);
      expect(await kickoff('lt', '2025-01-11')).toEqual(live('ada', 'grace'));
      expect(await kickoff('gte', '2025-01-10')).toEqual(live('ada', 'grace'));
      expect(await kickoff('gt', '2025-01-10')).toEqual([]);
      expect(await kickoff('after', '2025-01-10')).toEqual([]);
      expect(await kickoff('gt', '2025-01-09')).toEqual(live('ada', 'grace'));
      expect(await kickoff('before', '2025-01-10')).toEqual([]);
      expect(await kickoff('lte', '2025-01-10T08:59:59Z')).toEqual(live('grace'));
      expect(await kickoff('gt', '2025-01-10T08:00:00Z')).toEqual(live('ada'));
      // The day after the last one PostgreSQL still reads as a date.
      expect(await matching({ field: 'createdAt', op: 'lte', value: '9999-12-31' })).toEqual(live(...LIVE));
      expect(await matching({ field: 'createdAt', op: 'gt', value: '9999-12-31' })).toEqual([]);
      expect(compileFilter({ field: 'createdAt', op: 'lte', value: '2024-01-01' }, resolver)).toEqual({ sql: 'c.created_at < ($1::date + 1)::timestamptz', params: ['2024-01-01'] });
      expect(compileFilter({ field: 'createdAt', op: 'lte', value: '2024-01-01T00:00:00.000456Z' }, resolver)).toEqual({ sql: 'c.created_at <= $1::timestamptz', params: ['2024-01-01T00:00:00.000456Z'] });
    });

    it('a date-time written to the millisecond stands for that millisecond; finer ones stay exact', async () => {
      // PostgreSQL keeps microseconds, the API shows milliseconds: a time read off a contact
      // must find that contact again as a bound.
      const stored = '2024-01-01T00:00:00.000456Z';
      const shown = new Date(stored).toISOString();
      const at = async (op: 'lt' | 'lte' | 'gt' | 'gte', value: string) =>
        (
          await db.query<{ hit: boolean }>(`SELECT EXISTS (SELECT 1 FROM (SELECT $${2}::timestamptz AS created_at) c WHERE ${compileFilter({ field: 'createdAt', op, value }, resolver).sql}) AS hit`, [
            sqlValue(value),
            stored,
          ])
        ).rows[0]!.hit;
      const sqlValue = (value: string) => compileFilter({ field: 'createdAt', op: 'gte', value }, resolver).params[0];
      expect(shown).toBe('2024-01-01T00:00:00.000Z');
      expect([await at('lte', shown), await at('gte', shown), await at('lt', shown), await at('gt', shown)]).toEqual([true, true, false, false]);
      expect([await at('lte', '2024-01-01T00:00:00Z'), await at('gt', '2024-01-01T00:00:00+00:00')]).toEqual([true, false]);
      expect([await at('lte', '2023-12-31T23:59:59.999Z'), await at('gt', '2023-12-31T23:59:59.999Z')]).toEqual([false, true]);
      // Written to the microsecond: exact.
      expect([await at('lte', '2024-01-01T00:00:00.000455Z'), await at('gt', '2024-01-01T00:00:00.000455Z')]).toEqual([false, true]);
      expect([await at('lte', stored), await at('gt', stored), await at('lt', stored)]).toEqual([true, false, false]);
      expect(compileFilter({ field: 'createdAt', op: 'lte', value: shown }, resolver)).toEqual({
        sql: "c.created_at < $1::timestamptz + interval '1 millisecond'",
        params: [shown],
      });
    });

    describe('inLastDays on a date custom field counts calendar days up to today', () => {
      /** Whether the rule matches a contact whose custom.renewal is today + offset days. */
      async function renewalMatches(offset: number, op: 'inLastDays' | 'notInLastDays', days: number): Promise<boolean> {
        const { sql, params } = compileFilter({ field: 'custom.renewal', op, value: days }, resolver);
        const result = await db.query<{ hit: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM (SELECT jsonb_build_object('renewal', to_char(current_date + $${params.length + 1}::int, 'YYYY-MM-DD')) AS custom_fields) c WHERE ${sql}) AS hit`,
          [...params, offset],
        );
        return result.rows[0]!.hit;
      }

      it.each<[number, 'inLastDays' | 'notInLastDays', number, boolean]>([
        [0, 'inLastDays', 7, true],
        [-3, 'inLastDays', 7, true],
        [-8, 'inLastDays', 7, false],
        [-8, 'notInLastDays', 7, true],
        [-3, 'notInLastDays', 7, false],
      ])('a date %i days from today: %s %i → %p', async (offset, op, days, expected) => {
        expect(await renewalMatches(offset, op, days)).toBe(expected);
      });

      it('the date N days ago is within the last N days (whatever the time of day)', async () => {
        expect(await renewalMatches(-1, 'inLastDays', 1)).toBe(true);
        expect(await renewalMatches(-7, 'inLastDays', 7)).toBe(true);
        expect(await renewalMatches(-7, 'notInLastDays', 7)).toBe(false);
      });

      it('a date in the future is not "in the last N days"', async () => {
        expect(await renewalMatches(10, 'inLastDays', 7)).toBe(false);
      });
    });

    it('every date value validateFilter lets through is one PostgreSQL reads (a 400, never a 500)', async () => {
      const candidates = ['2024-02-29', '2023-02-29', '2024-02-30', '2024-04-31', '2024-01-01 (noon)', '2024-01-01 Jan', '2024-01-01T10:00:00Z', '2024-01-01T24:00:00Z'];
      const failures: string[] = [];
      for (const [field, op] of [
        ['createdAt', 'after'],
        ['custom.renewal', 'is'],
        ['custom.kickoff', 'before'],
      ] as const) {
        for (const value of candidates) {
          const filter: FilterNode = { field, op, value };
          if (validateFilter(filter, resolver).errors.length) continue;
          const { sql, params } = compileFilter(filter, resolver);
          try {
            await db.query(`SELECT c.id FROM contacts c WHERE ${sql}`, params);
          } catch (error) {
            failures.push(`${field} ${op} ${value}: ${(error as Error).message}`);
          }
        }
      }
      expect(failures).toEqual([]);
    });
  });

  describe('sets: tags, services and multi-select custom fields', () => {
    it.each<[string, FilterNode, Key[]]>([
      ['tags hasAny one', { field: 'tags', op: 'hasAny', value: [TAG.vip] }, ['ada', 'zoe']],
      ['tags hasAny several', { field: 'tags', op: 'hasAny', value: [TAG.eu, TAG.us] }, ['ada', 'grace', 'mj', 'zoe']],
      ['tags hasAny an unused tag', { field: 'tags', op: 'hasAny', value: [TAG.unused] }, []],
      ['tags hasAll', { field: 'tags', op: 'hasAll', value: [TAG.vip, TAG.us] }, ['zoe']],
      ['tags hasAll one', { field: 'tags', op: 'hasAll', value: [TAG.eu] }, ['ada', 'mj']],
      ['tags hasAll with a tag nobody has', { field: 'tags', op: 'hasAll', value: [TAG.vip, TAG.unused] }, []],
      ['tags hasNone', { field: 'tags', op: 'hasNone', value: [TAG.vip] }, liveExcept('ada', 'zoe')],
      ['tags hasNone several', { field: 'tags', op: 'hasNone', value: [TAG.vip, TAG.eu] }, ['alice', 'bob', 'grace', 'shaq']],
      ['tags empty', { field: 'tags', op: 'empty' }, ['alice', 'bob', 'shaq']],
      ['tags notEmpty', { field: 'tags', op: 'notEmpty' }, ['ada', 'grace', 'mj', 'zoe']],
      ['tags hasAny with an upper-case UUID', { field: 'tags', op: 'hasAny', value: [TAG.us.toUpperCase()] }, ['grace', 'zoe']],
      ['services hasAny', { field: 'services', op: 'hasAny', value: [SERVICE.ads] }, ['grace', 'zoe']],
      ['services hasAll', { field: 'services', op: 'hasAll', value: [SERVICE.seo, SERVICE.ads] }, ['grace']],
      ['services hasNone', { field: 'services', op: 'hasNone', value: [SERVICE.seo] }, liveExcept('ada', 'grace')],
      ['services empty', { field: 'services', op: 'empty' }, ['alice', 'bob', 'mj', 'shaq']],
      ['services notEmpty', { field: 'services', op: 'notEmpty' }, ['ada', 'grace', 'zoe']],
      ['multi-select hasAny', { field: 'custom.interests', op: 'hasAny', value: ['seo'] }, ['ada']],
      ['multi-select hasAny several', { field: 'custom.interests', op: 'hasAny', value: ['email', 'ads'] }, ['ada', 'grace']],
      ['multi-select hasAll', { field: 'custom.interests', op: 'hasAll', value: ['seo', 'ads'] }, ['ada']],
      ['multi-select hasAll with an unchosen option', { field: 'custom.interests', op: 'hasAll', value: ['seo', 'email'] }, []],
      ['multi-select hasAll with a repeated option', { field: 'custom.interests', op: 'hasAll', value: ['seo', 'seo'] }, ['ada']],
      ['multi-select hasNone keeps missing values', { field: 'custom.interests', op: 'hasNone', value: ['seo'] }, liveExcept('ada')],
      ['multi-select empty (missing key or [])', { field: 'custom.interests', op: 'empty' }, ['alice', 'bob', 'mj', 'shaq', 'zoe']],
      ['multi-select notEmpty', { field: 'custom.interests', op: 'notEmpty' }, ['ada', 'grace']],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it('tags hasAll with the same tag twice still means "has that tag"', async () => {
      expect(await matching({ field: 'tags', op: 'hasAll', value: [TAG.vip, TAG.vip] })).toEqual(live('ada', 'zoe'));
      expect(await matching({ field: 'tags', op: 'hasAll', value: [TAG.vip, TAG.vip.toUpperCase()] })).toEqual(live('ada', 'zoe'));
    });

    it('tags hasAll over a long list (grouped once rather than one join per tag) means the same', async () => {
      const extra = Array.from({ length: 9 }, (_, i) => uuid('7b000000', i + 1));
      await db.query('BEGIN');
      try {
        for (const [i, id] of extra.entries()) await db.query(`INSERT INTO tags (id, name) VALUES ($1, $2)`, [id, `Extra ${i}`]);
        // Zoe gets all nine, Ada eight of them, Grace none.
        for (const id of extra) await db.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2)', [ID.zoe, id]);
        for (const id of extra.slice(1)) await db.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2)', [ID.ada, id]);
        const long: FilterNode = { field: 'tags', op: 'hasAll', value: [...extra, extra[0]!.toUpperCase()] };
        expect(compileFilter(long, resolver).sql).toContain('GROUP BY l.contact_id');
        expect(await matching(long)).toEqual(live('zoe'));
        expect(await matching({ field: 'tags', op: 'hasAll', value: [TAG.vip, ...extra.slice(1)] })).toEqual(live('ada', 'zoe'));
        expect(await matching({ field: 'tags', op: 'hasAll', value: [TAG.eu, ...extra] })).toEqual([]);
        expect(await matching({ not: long })).toEqual(liveExcept('zoe'));
        // Up to eight values, one semi-join each.
        const short: FilterNode = { field: 'tags', op: 'hasAll', value: extra.slice(1) };
        expect(compileFilter(short, resolver).sql).not.toContain('GROUP BY');
        expect(await matching(short)).toEqual(live('ada', 'zoe'));
      } finally {
        await db.query('ROLLBACK');
      }
    });
  });

  describe('matches: full-text prefix search', () => {
    it.each<[string, string, Key[]]>([
      ['a first name', 'ada', ['ada']],
      ['a last name prefix, any case', 'LOVE', ['ada']],
      ['a unicode name', 'zoë', ['zoe']],
      ['a unicode name in capitals', 'ÅNGSTR', ['zoe']],
      ['a hyphenated name, whole', 'mary-jane', ['mj']],
      ['a part of a hyphenated name', 'jane', ['mj']],
      ['a whole email', 'ada@example.com', ['ada']],
      ['an email stored in capitals', 'grace@navy.mil', ['grace']],
      ['phone digits of a local number', '555010', ['grace']],
      ['phone digits of an international number', '+4420794', ['ada']],
      ['a company word', 'analytical', ['ada']],
      ['several words that must all match (name + company)', 'grace navy', ['grace']],
      ['several words across fields in any order', 'lovelace ada engines', ['ada']],
      ['several words, one of which matches nobody', 'ada hopper', []],
      ['a prefix shared by several contacts (names, emails, companies)', 'a', ['ada', 'alice', 'bob', 'zoe']],
      ['words separated by extra spaces', '  ada    love  ', ['ada']],
      ['a word nobody has', 'zzz', []],
    ])('%s (%p)', async (_, value, expected) => {
      expect(await matching({ field: 'q', op: 'matches', value })).toEqual(live(...expected));
    });

    it('finds a phone number however it is typed: as written, without its country code, by its trailing groups', async () => {
      const found = async (value: string) => matching({ field: 'q', op: 'matches', value });
      // Ada: +44 20 7946 0958; Grace: (555) 010-9999.
      for (const value of ['+44 20 7946 0958', '2079460958', '20 7946 0958', '7946 0958', '(20) 7946-0958', '442079460958', '+44-20-79']) {
        expect({ value, found: await found(value) }).toEqual({ value, found: live('ada') });
      }
      for (const value of ['(555) 010-9999', '5550109999', '9999', '555 01', '555.010.9999']) {
        expect({ value, found: await found(value) }).toEqual({ value, found: live('grace') });
      }
      for (const value of ['555 0200', '7946 0959', '44 21']) expect({ value, found: await found(value) }).toEqual({ value, found: [] });
    });

    it('does not find deleted contacts through the live scope but does find them in the raw predicate', async () => {
      const { sql, params } = compileFilter({ field: 'q', op: 'matches', value: 'deleted' }, resolver);
      const all = await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE ${sql}`, params);
      expect(all.rows.map((r) => r.id)).toEqual([ID.gone]);
      expect(await matching({ field: 'q', op: 'matches', value: 'deleted' })).toEqual([]);
    });

    it('finds a name with an apostrophe when it is typed with the apostrophe', async () => {
      expect(await matching({ field: 'q', op: 'matches', value: "o'neil" })).toEqual(live('shaq'));
      expect(await matching({ field: 'q', op: 'matches', value: "Shaquille O'Neil" })).toEqual(live('shaq'));
    });

    it('treats tsquery operators in the text as plain text', async () => {
      expect(await matching({ field: 'q', op: 'matches', value: 'ada | grace' })).toEqual([]);
      expect(await matching({ field: 'q', op: 'matches', value: '!ada' })).toEqual(live('ada'));
      expect(await matching({ field: 'q', op: 'matches', value: '(ada & love):*' })).toEqual(live('ada'));
    });

    it('a search made only of punctuation passes validation and matches nothing instead of failing in PostgreSQL', async () => {
      for (const value of ["'", '!!!', '()', ':*', '& | !']) {
        expect(validateFilter({ field: 'q', op: 'matches', value }, resolver).errors).toEqual([]);
        await expect(matching({ field: 'q', op: 'matches', value })).resolves.toEqual([]);
      }
    });
  });

  describe('and / or / not', () => {
    it.each<[string, FilterNode, Key[]]>([
      ['and', { and: [{ field: 'stage', op: 'is', value: 'customer' }, { field: 'tags', op: 'hasAny', value: [TAG.vip] }] }, ['zoe']],
      ['or', { or: [{ field: 'city', op: 'is', value: 'paris' }, { field: 'stage', op: 'is', value: 'lead' }] }, ['ada', 'zoe']],
      ['a single-rule group', { and: [{ field: 'city', op: 'is', value: 'paris' }] }, ['zoe']],
      ['not keeps the rows where the inner rule is NULL', { not: { field: 'city', op: 'is', value: 'london' } }, liveExcept('ada')],
      ['not of a text comparison on a NULL custom value', { not: { field: 'custom.employees', op: 'gte', value: 10 } }, ['alice', 'bob', 'shaq', 'zoe']],
      ['not of an and where one side is NULL', { not: { and: [{ field: 'stage', op: 'is', value: 'customer' }, { field: 'city', op: 'contains', value: 'par' }] } }, liveExcept('zoe')],
      ['not of an or where one side is NULL', { not: { or: [{ field: 'city', op: 'is', value: 'london' }, { field: 'custom.employees', op: 'gt', value: 100 }] } }, ['alice', 'bob', 'mj', 'shaq', 'zoe']],
      ['not not is the rule itself', { not: { not: { field: 'city', op: 'is', value: 'london' } } }, ['ada']],
      ['an or that contains a not', { or: [{ field: 'city', op: 'is', value: 'Paris' }, { not: { field: 'custom.employees', op: 'gte', value: 10 } }] }, ['alice', 'bob', 'shaq', 'zoe']],
      ['an and of rules that keep NULL rows', { and: [{ field: 'city', op: 'notContains', value: 'o' }, { field: 'stage', op: 'empty' }] }, ['alice', 'bob']],
      [
        'nested groups',
        {
          or: [
            { and: [{ field: 'hasAccount', op: 'is', value: true }, { field: 'lastContactedAt', op: 'empty' }] },
            { and: [{ field: 'tags', op: 'hasAny', value: [TAG.eu] }, { not: { field: 'stage', op: 'notEmpty' } }] },
          ],
        },
        ['alice', 'mj'],
      ],
      ['an or inside an and binds as a group', { and: [{ field: 'assignedTo', op: 'is', value: USER.bob }, { or: [{ field: 'city', op: 'is', value: 'new york' }, { field: 'city', op: 'is', value: 'paris' }] }] }, ['mj']],
      ['not of a deleted custom field matches everything', { not: { field: 'custom.legacy', op: 'is', value: 'old value' } }, LIVE],
    ])('%s', async (_, filter, expected) => {
      expect(await matching(filter)).toEqual(live(...expected));
    });

    it('a not and its rule together cover every live row exactly once', async () => {
      const rules: FilterNode[] = [
        { field: 'city', op: 'contains', value: 'on' },
        { field: 'custom.employees', op: 'lt', value: 51 },
        { field: 'custom.newsletter', op: 'is', value: true },
        { field: 'stage', op: 'in', value: ['customer'] },
        { field: 'custom.kickoff', op: 'after', value: '2025-01-01' },
        { field: 'custom.interests', op: 'hasAny', value: ['seo'] },
        { and: [{ field: 'city', op: 'is', value: 'london' }, { field: 'custom.plan', op: 'is', value: 'pro' }] },
      ];
      for (const rule of rules) {
        const yes = await matching(rule);
        const no = await matching({ not: rule });
        expect([...yes, ...no].sort()).toEqual(live(...LIVE));
        expect(yes.filter((k) => no.includes(k))).toEqual([]);
      }
    });
  });

  describe('unknown and deleted fields', () => {
    it('a deleted custom field matches nothing, even where a value is stored', async () => {
      const filter: FilterNode = { field: 'custom.legacy', op: 'is', value: 'old value' };
      expect(validateFilter(filter, resolver).warnings).toHaveLength(1);
      const { sql, params } = compileFilter(filter, resolver);
      expect(sql).toBe('FALSE');
      expect(params).toEqual([]);
      expect(await matching(filter)).toEqual([]);
    });

    it('a deleted custom field reads as holding no value: a clause that excludes by it excludes nobody', async () => {
      const everyone: FilterNode[] = [
        { field: 'custom.legacy', op: 'isNot', value: 'old value' },
        { field: 'custom.legacy', op: 'notIn', value: ['old value'] },
        { field: 'custom.legacy', op: 'notContains', value: 'old' },
        { field: 'custom.legacy', op: 'empty' },
      ];
      for (const filter of everyone) {
        expect(compileFilter(filter, resolver)).toEqual({ sql: 'TRUE', params: [] });
        expect(await matching(filter)).toEqual(live(...LIVE));
      }
      const nobody: FilterNode[] = [
        { field: 'custom.legacy', op: 'in', value: ['old value'] },
        { field: 'custom.legacy', op: 'contains', value: 'old' },
        { field: 'custom.legacy', op: 'startsWith', value: 'old' },
        { field: 'custom.legacy', op: 'notEmpty' },
      ];
      for (const filter of nobody) expect(await matching(filter)).toEqual([]);
    });

    it('on a deleted custom field, isNot says what `not` around is says, and a clause and its `not` cover every live row once', async () => {
      expect(await matching({ field: 'custom.legacy', op: 'isNot', value: 'old value' })).toEqual(await matching({ not: { field: 'custom.legacy', op: 'is', value: 'old value' } }));
      expect(await matching({ field: 'custom.legacy', op: 'empty' })).toEqual(await matching({ not: { field: 'custom.legacy', op: 'notEmpty' } }));
      const rules: FilterNode[] = [
        { field: 'custom.legacy', op: 'is', value: 'old value' },
        { field: 'custom.legacy', op: 'isNot', value: 'old value' },
        { field: 'custom.legacy', op: 'notContains', value: 'old' },
        { field: 'custom.legacy', op: 'empty' },
        { and: [{ field: 'city', op: 'is', value: 'london' }, { field: 'custom.legacy', op: 'notIn', value: ['x'] }] },
      ];
      for (const rule of rules) {
        const yes = await matching(rule);
        const no = await matching({ not: rule });
        expect([...yes, ...no].sort()).toEqual(live(...LIVE));
        expect(yes.filter((k) => no.includes(k))).toEqual([]);
      }
    });

    it('a field unknown at compile time compiles to FALSE', () => {
      expect(compileFilter({ field: 'nope', op: 'is', value: 'x' }, resolver)).toEqual({ sql: 'FALSE', params: [] });
    });
  });
});

// =======================================================================================
// toPrefixQuery
// =======================================================================================

describe('toPrefixQuery', () => {
  it.each([
    ['ada love', "'ada':* & 'love':*"],
    ['Ada LOVE', "'ada':* & 'love':*"],
    ['  ada \t love\n', "'ada':* & 'love':*"],
    ['ada', "'ada':*"],
    ['(ada | !love):*', "'ada':* & 'love':*"],
    ['ada & love', "'ada':* & 'love':*"],
    ['ada:* | love', "'ada':* & 'love':*"],
    ['ada@example.com', "'ada@example.com':*"],
    ['+44 20', "('+44':* & '20':*) | '4420':* | '20':*"],
    ['zoë', "'zoë':*"],
  ])('%p → %p', (text, query) => {
    expect(toPrefixQuery(text)).toBe(query);
  });

  it.each([
    ['+54 258 2517464', "('+54':* & '258':* & '2517464':*) | '542582517464':* | '2582517464':*"],
    ['+1 (555) 010-0004', "('+1':* & '555':* & '010-0004':*) | '15550100004':* | '5550100004':*"],
    ['(258) 251-7464', "('258':* & '251-7464':*) | '2582517464':*"],
    ['258.251.7464', "('258.251.7464':*) | '2582517464':*"],
    ['+542582517464', "('+542582517464':*) | '542582517464':*"],
  ])('a phone number %p is also looked for as its digits, and without a country code set apart: %p', (text, query) => {
    expect(toPrefixQuery(text)).toBe(query);
    // Anything else is looked for word by word only, as before.
    for (const other of ['2582517464', '2024', 'ada 258', '258 ada', 'ada@example.com', '+', '()']) expect(toPrefixQuery(other)).not.toContain('|');
  });

  it('keeps at most 10 words', () => {
    const words = Array.from({ length: 12 }, (_, i) => `w${i}`);
    expect(toPrefixQuery(words.join(' '))).toBe(words.slice(0, 10).map((w) => `'${w}':*`).join(' & '));
  });

  const NASTY = [
    "'",
    "''",
    "ada'",
    "o'neil",
    "'; DROP TABLE contacts; --",
    '!',
    '!!!',
    '&',
    '|',
    '&|!',
    '()',
    '(ada',
    'ada)',
    ':*',
    'ada:*',
    'a:*b',
    '<->',
    'ada <-> love',
    'ada<2>love',
    '\\',
    'ada\\',
    '"ada"',
    '*',
    '-',
    '.',
    '@',
    'a\u0000b',
    '🙂',
    'ada 🙂',
    'mary-jane',
    'a_b',
    '100%',
    'ada & (love | !grace):* <-> x',
  ];

  it.each(NASTY)('strips tsquery syntax from %p', (text) => {
    const query = toPrefixQuery(text);
    // Only quoted words with a prefix marker, joined by &; no stray quote, operator or parenthesis.
    expect(query).toMatch(/^(|''|'[^'\s:&|!()*<>\\]+':\*( & '[^'\s:&|!()*<>\\]+':\*)*)$/);
  });

  it.each(['+1 (555) 010-9999', '12 34', '0 0', '+0', '1/2'])('a phone number %p yields only quoted words and its digits', (text) => {
    expect(toPrefixQuery(text)).toMatch(/^(\('[^'\s:&|!()*<>\\]+':\*( & '[^'\s:&|!()*<>\\]+':\*)*\)( \| '\d+':\*)+|'\d+':\*)$/);
  });

  it('never yields a query that PostgreSQL rejects', async () => {
    const rejected: string[] = [];
    for (const text of [...NASTY, '+1 (555) 010-9999', '12 34', '0 0', '+0', '1/2', '(1)', '+54-258-251', '1.2.3']) {
      try {
        await db.query(`SELECT to_tsvector('simple', 'ada lovelace') @@ to_tsquery('simple', $1) AS hit`, [toPrefixQuery(text)]);
      } catch (error) {
        rejected.push(`${JSON.stringify(text)} → ${JSON.stringify(toPrefixQuery(text))}: ${(error as Error).message}`);
      }
    }
    expect(rejected).toEqual([]);
  });

  it('the queries it yields still find what they should', async () => {
    const hit = async (text: string) =>
      (await db.query<{ hit: boolean }>(`SELECT to_tsvector('simple', 'Ada Lovelace ada@example.com') @@ to_tsquery('simple', $1) AS hit`, [toPrefixQuery(text)])).rows[0]!.hit;
    expect(await hit('(ada | !love):*')).toBe(true);
    expect(await hit("ada' love")).toBe(true);
    expect(await hit('ada grace')).toBe(false);
  });
});

describe('custom fields stored in a normal form (URL, email, phone)', () => {
  const typed = [definition(20, 'site', 'url'), definition(21, 'mail', 'email'), definition(22, 'line', 'phone')];
  const typedResolver = fieldResolver(typed);
  const CONTACT = uuid('c2000000', 1);

  it('find a contact by the value typed into it, not only by the form it is stored in', async () => {
    const stored = checkCustomValues(typed, { site: 'https://Example.com', mail: ' Sales@Example.com ', line: ' +1 555 0100 ' }, true);
    expect(stored).toEqual({ values: { site: 'https://example.com/', mail: 'Sales@Example.com', line: '+1 555 0100' }, errors: [] });
    await db.query('BEGIN');
    try {
      await db.query(`INSERT INTO contacts (id, first_name, custom_fields) VALUES ($1, 'Urly', $2::jsonb)`, [CONTACT, JSON.stringify(stored.values)]);
      const found = async (filter: FilterNode) => {
        expect(validateFilter(filter, typedResolver).errors).toEqual([]);
        const { sql, params } = compileFilter(filter, typedResolver);
        return (await db.query<{ id: string }>(`SELECT c.id FROM contacts c WHERE c.id = $${params.length + 1} AND ${sql}`, [...params, CONTACT])).rows.length === 1;
      };
      expect(await found({ field: 'custom.site', op: 'is', value: 'https://Example.com' })).toBe(true);
      expect(await found({ field: 'custom.site', op: 'is', value: 'https://example.com/' })).toBe(true);
      expect(await found({ field: 'custom.site', op: 'in', value: ['https://example.com', 'https://other.example'] })).toBe(true);
      expect(await found({ field: 'custom.site', op: 'in', value: ['https://EXAMPLE.com'] })).toBe(true);
      expect(await found({ field: 'custom.site', op: 'isNot', value: ' https://Example.com ' })).toBe(false);
      expect(await found({ field: 'custom.site', op: 'notIn', value: ['https://example.com'] })).toBe(false);
      expect(await found({ field: 'custom.site', op: 'is', value: 'https://example.com/other' })).toBe(false);
      // Not a URL: compared as typed, finding nothing rather than failing.
      expect(await found({ field: 'custom.site', op: 'is', value: 'example.com' })).toBe(false);
      expect(await found({ field: 'custom.site', op: 'contains', value: 'Example.COM' })).toBe(true);
      expect(await found({ field: 'custom.mail', op: 'is', value: ' sales@example.com ' })).toBe(true);
      expect(await found({ field: 'custom.mail', op: 'in', value: ['Sales@Example.com '] })).toBe(true);
      expect(await found({ field: 'custom.line', op: 'is', value: '+1 555 0100 ' })).toBe(true);
      expect(await found({ field: 'custom.line', op: 'notIn', value: [' +1 555 0100'] })).toBe(false);
    } finally {
      await db.query('ROLLBACK');
    }
  });
});
