import { interpolateRules, placeholdersIn } from './rule-interpolation';
import { SubjectRegistry } from './subject-registry';
import type { StoredRule, SubjectDefinition } from './rule.types';

const CONTACT: SubjectDefinition = {
  name: 'Contact',
  description: 'People',
  fields: {
    id: { column: '{alias}.id', type: 'uuid' },
    email: { column: '{alias}.email', type: 'string' },
    statusId: { column: '{alias}.status_id', type: 'uuid' },
    assignedToId: { column: '{alias}.assigned_to_id', type: 'uuid' },
    score: { column: '{alias}.score', type: 'number' },
    tags: { column: '{alias}.tags', type: 'string[]' },
    createdAt: { column: '{alias}.created_at', type: 'date' },
  },
  extraActions: ['export', 'assign'],
  fieldLimitedActions: ['update'],
};
const USER: SubjectDefinition = {
  name: 'User',
  description: 'Accounts',
  fields: {
    id: { column: '{alias}.id', type: 'uuid' },
    email: { column: '{alias}.email', type: 'string' },
    isActive: { column: '{alias}.is_active', type: 'boolean' },
  },
};

const registry = new SubjectRegistry();
registry.register(CONTACT, USER);

/** Called the way RolesService and AbilityFactory call it. */
const validate = (rules: StoredRule[]) => registry.check(rules);

describe('validateRules', () => {
  it('accepts valid rules', () => {
    expect(
      validate([
        { action: 'manage', subject: 'all' },
        { action: 'read', subject: 'Contact' },
        { action: ['read', 'update'], subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
        { action: 'update', subject: 'Contact', conditions: { id: '${user.contactId}' }, fields: ['email', 'tags'] },
        { action: 'export', subject: 'Contact', conditions: { statusId: { $in: ['5a000000-0000-4000-8000-00000000000a', '5b000000-0000-4000-8000-00000000000b'] }, score: { $gte: 1, $lt: 10 } } },
        { action: 'read', subject: 'Contact', inverted: true, conditions: { email: { $exists: false }, tags: { $nin: ['x'] } }, reason: 'no' },
        { action: 'read', subject: ['Contact', 'User'], conditions: { email: { $ne: '${user.email}' } } },
        { action: 'assign', subject: 'all' },
        { action: 'read', subject: 'Contact', conditions: { $or: [{ statusId: null }, { $and: [{ score: { $gt: 5 } }, { tags: 'vip' }] }] } },
      ]),
    ).toEqual([]);
  });

  it('accepts an empty rule list', () => {
    expect(validate([])).toEqual([]);
  });

  it('reports an unknown subject under rules.N.subject', () => {
    const errors = validate([{ action: 'read', subject: 'Contact' }, { action: 'read', subject: 'Invoice' }]);
    expect(errors).toEqual([{ field: 'rules.1.subject', message: expect.stringContaining('unknown subject "Invoice"') }]);
    expect(errors[0]!.message).toContain('all, Contact, User');
  });

  it('reports each unknown subject of a list', () => {
    const errors = validate([{ action: 'read', subject: ['Contact', 'Nope', 'Gone'] }]);
    expect(errors.map((e) => e.field)).toEqual(['rules.0.subject', 'rules.0.subject']);
    expect(errors.map((e) => e.message).join('\n')).toMatch(/"Nope"[\s\S]*"Gone"/);
  });

  it('reports an empty subject or action list', () => {
    const errors = validate([{ action: [], subject: [] }]);
    expect(errors).toEqual(
      expect.arrayContaining([
        { field: 'rules.0.subject', message: 'must name at least one subject' },
        { field: 'rules.0.action', message: 'must name at least one action' },
      ]),
    );
  });

  it('reports an unknown action under rules.N.action', () => {
    expect(validate([{ action: 'fly', subject: 'Contact' }])).toEqual([
      { field: 'rules.0.action', message: expect.stringContaining('unknown action "fly"') },
    ]);
  });

  it("knows each subject's extra actions, and only that subject's", () => {
    expect(validate([{ action: 'export', subject: 'Contact' }])).toEqual([]);
    expect(validate([{ action: 'export', subject: 'User' }])).toEqual([
      { field: 'rules.0.action', message: expect.stringContaining('unknown action "export" for User') },
    ]);
    expect(validate([{ action: ['read', 'export'], subject: 'all' }])).toEqual([]);
  });

  it('reports an unknown field in conditions under its path', () => {
    expect(
      validate([
        { action: 'read', subject: 'Contact' },
        { action: 'read', subject: 'Contact', conditions: { foo: 1 } },
      ]),
    ).toEqual([{ field: 'rules.1.conditions.foo', message: 'unknown field "foo"' }]);
  });

  it('a field of a multi-subject rule must exist on every subject', () => {
    expect(validate([{ action: 'read', subject: ['Contact', 'User'], conditions: { statusId: 'x' } }])).toEqual([
      { field: 'rules.0.conditions.statusId', message: 'unknown field "statusId"' },
    ]);
  });

  it('reports an unknown field in fields', () => {
    expect(validate([{ action: 'update', subject: 'Contact', fields: ['email', 'nickname'] }])).toEqual([
      { field: 'rules.0.fields', message: 'unknown field "nickname"' },
    ]);
  });

  it('takes field lists only on actions the subject checks field by field', () => {
    expect(validate([{ action: ['read', 'update'], subject: 'Contact', fields: ['email'] }])).toEqual([
      { field: 'rules.0.fields', message: 'Contact is not limited field by field for "read"; only "update" rules may list fields' },
    ]);
    expect(validate([{ action: 'update', subject: 'User', fields: ['email'] }])).toEqual([
      { field: 'rules.0.fields', message: 'User is not limited field by field for "update"; leave fields out' },
    ]);
    expect(validate([{ action: 'update', subject: 'Contact', fields: ['email'], inverted: true, conditions: { score: 1 } }])).toEqual([]);
  });

  it('knows only field names of the subject itself, not those every object inherits', () => {
    expect(validate([{ action: 'read', subject: 'User', conditions: { toString: 'x' } }])).toEqual([{ field: 'rules.0.conditions.toString', message: 'unknown field "toString"' }]);
    expect(validate([{ action: 'update', subject: 'Contact', fields: ['constructor'] }])).toEqual([{ field: 'rules.0.fields', message: 'unknown field "constructor"' }]);
  });

  it('checks condition values against the field type, placeholders included', () => {
    expect(
      validate([
        {
          action: 'read',
          subject: 'Contact',
          conditions: { assignedToId: '${user.email}', statusId: 'lead', score: '5', email: 5, id: { $in: ['${user.id}', 'x'] }, tags: { $exists: 'yes' } },
        },
      ]),
    ).toEqual([
      { field: 'rules.0.conditions.assignedToId', message: '${user.email} is not a UUID' },
      { field: 'rules.0.conditions.statusId', message: 'must be a UUID' },
      { field: 'rules.0.conditions.score', message: 'must be a number' },
      { field: 'rules.0.conditions.email', message: 'must be text' },
      { field: 'rules.0.conditions.id.$in.1', message: 'must be a UUID' },
      { field: 'rules.0.conditions.tags.$exists', message: 'must be true or false' },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { email: 'a-${user.id}', statusId: null, score: { $gt: 1.5 } } }])).toEqual([]);
  });

  it('takes date-times PostgreSQL reads: fractions of a second up to nanoseconds', () => {
    const createdAfter = (value: string) => validate([{ action: 'read', subject: 'Contact', conditions: { createdAt: { $gt: value } } }]);
    expect(createdAfter('2025-01-01T00:00:00.123456789Z')).toEqual([]);
    expect(createdAfter('2025-01-01T00:00:00')).toEqual([]);
    for (const value of ['2025-01-01T00:00:00.1234567890Z', `2025-01-01T00:00:00.${'1'.repeat(300)}Z`, '2025-02-30T00:00:00Z']) {
      expect(createdAfter(value)).toEqual([{ field: 'rules.0.conditions.createdAt.$gt', message: 'must be an ISO 8601 date-time' }]);
    }
  });

  it('rejects an empty fields list', () => {
    expect(validate([{ action: 'update', subject: 'Contact', fields: [] }])).toEqual([
      { field: 'rules.0.fields', message: expect.stringContaining('non-empty list') },
    ]);
  });

  it('rejects an empty conditions object', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: {} }])).toEqual([
      { field: 'rules.0.conditions', message: expect.stringContaining('must be a non-empty object') },
    ]);
  });

  it('rejects conditions that are not an object', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: ['id'] as never }])).toEqual([
      { field: 'rules.0.conditions', message: expect.stringContaining('must be a non-empty object') },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: null as never }])).toEqual([
      { field: 'rules.0.conditions', message: expect.stringContaining('must be a non-empty object') },
    ]);
  });

  it('rejects conditions on the subject "all"', () => {
    const errors = validate([{ action: 'read', subject: 'all', conditions: { id: 'x' } }]);
    expect(errors).toContainEqual({ field: 'rules.0.conditions', message: 'conditions cannot be used with the subject "all"' });
  });

  it('rejects an empty operator object on a field', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { email: {} } }])).toEqual([
      { field: 'rules.0.conditions.email', message: 'must not be an empty object' },
    ]);
  });

  it('rejects a top-level operator such as $where', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { $where: 'this.email' } }])).toEqual([
      { field: 'rules.0.conditions.$where', message: 'unsupported operator "$where"' },
    ]);
  });

  it('rejects a field operator the SQL translation does not support, such as $regex', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { email: { $regex: '^a' } } }])).toEqual([
      { field: 'rules.0.conditions.email.$regex', message: expect.stringContaining('unsupported operator "$regex"') },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { tags: { $all: ['a'] } } }])).toEqual([
      { field: 'rules.0.conditions.tags.$all', message: expect.stringContaining('unsupported operator "$all"') },
    ]);
  });

  it('requires a list for $in and $nin', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { statusId: { $in: 'x' } } }])).toEqual([
      { field: 'rules.0.conditions.statusId.$in', message: 'must be a list' },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { statusId: { $nin: { a: 1 } } } }])).toEqual([
      { field: 'rules.0.conditions.statusId.$nin', message: 'must be a list' },
    ]);
  });

  it('refuses null in $in and $nin, which SQL lists never match, and pointing to the condition that does', () => {
    const id = '00000000-0000-4000-8000-000000000001';
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { assignedToId: { $in: [id, null] } } }])).toEqual([
      { field: 'rules.0.conditions.assignedToId.$in', message: expect.stringContaining('{"assignedToId": null}') },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { statusId: { $nin: [null] } } }])).toEqual([
      { field: 'rules.0.conditions.statusId.$nin', message: expect.stringContaining('{"statusId": {"$ne": null}}') },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { createdAt: { $lt: null } } }])).toEqual([
      { field: 'rules.0.conditions.createdAt.$lt', message: expect.stringContaining('must not be null') },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { statusId: null, assignedToId: { $ne: null }, email: { $eq: null } } }])).toEqual([]);
  });

  it('rejects a bare array as a field value and points to $in', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { statusId: ['a', 'b'] } }])).toEqual([
      { field: 'rules.0.conditions.statusId', message: expect.stringContaining('$in') },
    ]);
  });

  it('accepts the known placeholders', () => {
    expect(
      validate([
        { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
        { action: 'read', subject: 'Contact', conditions: { id: { $in: ['${user.contactId}'] } } },
        { action: 'read', subject: 'User', conditions: { email: 'x-${user.email}' } },
      ]),
    ).toEqual([]);
  });

  it('rejects an unknown placeholder', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.nope}' } }])).toEqual([
      { field: 'rules.0.conditions', message: expect.stringContaining('unknown placeholder ${user.nope}') },
    ]);
  });

  it('rejects a placeholder that is misspelt or names something other than the user', () => {
    // Neither resolves: interpolation leaves the text as it is and the rule silently compares with it.
    for (const placeholder of ['${user.contact_id}', '${account.id}', '${user}']) {
      const errors = validate([{ action: 'read', subject: 'Contact', conditions: { assignedToId: placeholder } }]);
      expect({ placeholder, errors }).toEqual({
        placeholder,
        errors: [{ field: 'rules.0.conditions', message: expect.stringContaining('unknown placeholder') }],
      });
    }
  });

  it('checks conditions nested in $or and $and, with the path of each', () => {
    const errors = validate([
      {
        action: 'read',
        subject: 'Contact',
        conditions: {
          $or: [{ email: { $regex: 'a' } }, { foo: 1 }, { $and: [{ bar: { $in: 'x' } }] }],
        },
      },
    ]);
    expect(errors).toEqual([
      { field: 'rules.0.conditions.$or.0.email.$regex', message: expect.stringContaining('unsupported operator "$regex"') },
      { field: 'rules.0.conditions.$or.1.foo', message: 'unknown field "foo"' },
      { field: 'rules.0.conditions.$or.2.$and.0.bar', message: 'unknown field "bar"' },
      { field: 'rules.0.conditions.$or.2.$and.0.bar.$in', message: 'must be a list' },
    ]);
  });

  it('rejects a logical operator that is not a non-empty list of objects', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { $or: [] } }])).toEqual([
      { field: 'rules.0.conditions.$or', message: 'must be a non-empty list of conditions' },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { $nor: { email: 'x' } } }])).toEqual([
      { field: 'rules.0.conditions.$nor', message: 'must be a non-empty list of conditions' },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { $and: ['email'] } }])).toEqual([
      { field: 'rules.0.conditions.$and.0', message: 'must be an object' },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { $and: [[]] } }])).toEqual([
      { field: 'rules.0.conditions.$and.0', message: 'must be an object' },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { $or: [{ email: 'x' }, {}] } }])).toEqual([
      { field: 'rules.0.conditions.$or.1', message: 'must not be an empty object' },
    ]);
  });

  it('refuses $lt, $lte, $gt and $gte on lists and on true-or-false fields, which have no order', () => {
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { tags: { $gte: 'a' } } }])).toEqual([
      { field: 'rules.0.conditions.tags.$gte', message: '"tags" is a list: compare it with $eq, $ne, $in, $nin or $exists' },
    ]);
    expect(validate([{ action: 'read', subject: 'User', conditions: { isActive: { $lt: true } } }])).toEqual([
      { field: 'rules.0.conditions.isActive.$lt', message: '"isActive" is true or false, which has no order: use $eq or $ne' },
    ]);
    expect(validate([{ action: 'read', subject: 'Contact', conditions: { id: { $gt: '5a000000-0000-4000-8000-00000000000a' }, email: { $lte: 'm' }, createdAt: { $lt: '2024-01-01' } } }])).toEqual([]);
  });

  it('reports errors of several rules, each under its own index', () => {
    const errors = validate([
      { action: 'read', subject: 'Contact' },
      { action: 'fly', subject: 'Contact' },
      { action: 'read', subject: 'Contact', conditions: { nope: 1 } },
    ]);
    expect(errors.map((e) => e.field)).toEqual(['rules.1.action', 'rules.2.conditions.nope']);
  });
});

describe('interpolateRules', () => {
  const user = { id: 'u-1', contactId: 'c-1', email: 'me@example.test' };

  it('replaces whole-value and embedded placeholders, also in lists and nested conditions', () => {
    const rules: StoredRule[] = [
      {
        action: 'read',
        subject: 'Contact',
        conditions: {
          assignedToId: '${user.id}',
          id: { $in: ['${user.contactId}', 'fixed'] },
          email: { $ne: 'copy-of-${user.email}' },
          $or: [{ statusId: '${user.id}' }, { score: 3 }],
        },
      },
    ];
    expect(interpolateRules(rules, user)).toEqual([
      {
        action: 'read',
        subject: 'Contact',
        conditions: {
          assignedToId: 'u-1',
          id: { $in: ['c-1', 'fixed'] },
          email: { $ne: 'copy-of-me@example.test' },
          $or: [{ statusId: 'u-1' }, { score: 3 }],
        },
      },
    ]);
  });

  it('replaces several placeholders in one string', () => {
    const [rule] = interpolateRules([{ action: 'read', subject: 'Contact', conditions: { email: '${user.id}/${user.contactId}' } }], user);
    expect(rule!.conditions).toEqual({ email: 'u-1/c-1' });
  });

  it('keeps non-string values and the other properties of a rule', () => {
    const rules: StoredRule[] = [
      { action: ['read'], subject: 'Contact', inverted: true, reason: 'r', fields: ['email'], conditions: { score: 3, email: null, flag: true, when: { $exists: false } } },
    ];
    expect(interpolateRules(rules, user)).toEqual(rules);
  });

  it('returns rules without conditions as they are', () => {
    const rule: StoredRule = { action: 'read', subject: 'Contact' };
    expect(interpolateRules([rule], user)[0]).toBe(rule);
  });

  it('does not change the stored rules', () => {
    const rules: StoredRule[] = [{ action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}', id: { $in: ['${user.contactId}'] } } }];
    const before = structuredClone(rules);
    interpolateRules(rules, user);
    expect(rules).toEqual(before);
  });

  it('gives each user their own values', () => {
    const rules: StoredRule[] = [{ action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } }];
    expect(interpolateRules(rules, { ...user, id: 'u-2' })[0]!.conditions).toEqual({ assignedToId: 'u-2' });
    expect(interpolateRules(rules, user)[0]!.conditions).toEqual({ assignedToId: 'u-1' });
  });
});

describe('placeholdersIn', () => {
  it('finds placeholders in strings, lists and nested objects, in order', () => {
    expect(
      placeholdersIn({
        a: '${user.id}',
        b: { $in: ['x', '${user.contactId}'] },
        c: [{ d: 'pre ${user.email} and ${user.nope}' }],
        e: 5,
        f: null,
      }),
    ).toEqual(['user.id', 'user.contactId', 'user.email', 'user.nope']);
  });

  it('finds nothing where there is nothing', () => {
    expect(placeholdersIn(undefined)).toEqual([]);
    expect(placeholdersIn({ a: 'plain', b: 3, c: ['$user.id', '{user.id}'] })).toEqual([]);
  });

  it('can be called repeatedly (the shared global regular expression keeps no state between calls)', () => {
    expect(placeholdersIn('${user.id}')).toEqual(['user.id']);
    expect(placeholdersIn('${user.id}')).toEqual(['user.id']);
  });
});
