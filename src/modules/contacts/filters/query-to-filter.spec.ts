import type { ContactQueryDto } from '../dto/contact.dto';
import type { FilterNode } from './contact-filter.types';
import { queryToFilter } from './query-to-filter';
import { validateFilter } from './contact-filter.compiler';
import { fieldResolver } from '../contacts.queries';

const ME = 'aaaaaaaa-0000-4000-8000-000000000001';
const OTHER = 'bbbbbbbb-0000-4000-8000-000000000002';
const A = '11111111-0000-4000-8000-000000000001';
const B = '22222222-0000-4000-8000-000000000002';

const convert = (query: Partial<ContactQueryDto>) => queryToFilter(query as ContactQueryDto, ME);

describe('queryToFilter', () => {
  it('no parameters → undefined', () => {
    expect(convert({})).toBeUndefined();
  });

  it('paging and sorting parameters are not filters', () => {
    expect(convert({ page: 2, limit: 10, sort: '-createdAt', cursor: 'abc' } as Partial<ContactQueryDto>)).toBeUndefined();
  });

  it.each<[string, Partial<ContactQueryDto>, FilterNode]>([
    ['q → matches, trimmed', { q: '  ada love ' }, { field: 'q', op: 'matches', value: 'ada love' }],
    ['status → in', { status: [A, B] }, { field: 'status', op: 'in', value: [A, B] }],
    ['stage → in', { stage: ['lead', 'customer'] }, { field: 'stage', op: 'in', value: ['lead', 'customer'] }],
    ['tags → hasAny by default', { tags: [A, B] }, { field: 'tags', op: 'hasAny', value: [A, B] }],
    ['tags with tagsMode any → hasAny', { tags: [A], tagsMode: 'any' }, { field: 'tags', op: 'hasAny', value: [A] }],
    ['tags with tagsMode all → hasAll', { tags: [A, B], tagsMode: 'all' }, { field: 'tags', op: 'hasAll', value: [A, B] }],
    ['services → hasAny', { services: [A] }, { field: 'services', op: 'hasAny', value: [A] }],
    ['trafficSource → in', { trafficSource: [B] }, { field: 'trafficSource', op: 'in', value: [B] }],
    ['assignedTo → in', { assignedTo: [OTHER] }, { field: 'assignedTo', op: 'in', value: [OTHER] }],
    ['assignedTo=me → the current user', { assignedTo: ['me'] }, { field: 'assignedTo', op: 'in', value: [ME] }],
    ['assignedTo=me,<id> → both', { assignedTo: ['me', OTHER] }, { field: 'assignedTo', op: 'in', value: [ME, OTHER] }],
    ['noStatus → status empty', { noStatus: true }, { field: 'status', op: 'empty' }],
    ['noTags → tags empty', { noTags: true }, { field: 'tags', op: 'empty' }],
    ['noServices → services empty', { noServices: true }, { field: 'services', op: 'empty' }],
    ['noTrafficSource → trafficSource empty', { noTrafficSource: true }, { field: 'trafficSource', op: 'empty' }],
    ['unassigned → assignedTo empty', { unassigned: true }, { field: 'assignedTo', op: 'empty' }],
    ['hasAccount=true → is true', { hasAccount: true }, { field: 'hasAccount', op: 'is', value: true }],
    ['hasAccount=false → is false', { hasAccount: false }, { field: 'hasAccount', op: 'is', value: false }],
    ['createdFrom → createdAt gte', { createdFrom: '2024-01-01' }, { field: 'createdAt', op: 'gte', value: '2024-01-01' }],
    ['createdTo → createdAt lte', { createdTo: '2024-12-31T23:59:59Z' }, { field: 'createdAt', op: 'lte', value: '2024-12-31T23:59:59Z' }],
    ['lastContactedFrom → lastContactedAt gte', { lastContactedFrom: '2024-01-01' }, { field: 'lastContactedAt', op: 'gte', value: '2024-01-01' }],
    ['lastContactedTo → lastContactedAt lte', { lastContactedTo: '2024-02-01' }, { field: 'lastContactedAt', op: 'lte', value: '2024-02-01' }],
    ['notContactedForDays → notInLastDays', { notContactedForDays: 30 }, { field: 'lastContactedAt', op: 'notInLastDays', value: 30 }],
    ['notContactedForDays=0 still counts', { notContactedForDays: 0 }, { field: 'lastContactedAt', op: 'notInLastDays', value: 0 }],
    ['filter → the tree itself', { filter: { or: [{ field: 'city', op: 'is', value: 'Paris' }] } }, { or: [{ field: 'city', op: 'is', value: 'Paris' }] }],
  ])('%s (a single parameter is the bare rule)', (_, query, rule) => {
    expect(convert(query)).toEqual(rule);
  });

  it('a condition without a value has no value key', () => {
    expect(Object.keys(convert({ noTags: true }) as object).sort()).toEqual(['field', 'op']);
  });

  it.each<[string, Partial<ContactQueryDto>]>([
    ['a blank q', { q: '   ' }],
    ['an empty q', { q: '' }],
    ['empty lists', { status: [], stage: [], tags: [], services: [], trafficSource: [], assignedTo: [] }],
    ['false flags', { noStatus: false, noTags: false, noServices: false, noTrafficSource: false, unassigned: false }],
    ['tagsMode without tags', { tagsMode: 'all' }],
  ])('%s add no rule', (_, query) => {
    expect(convert(query)).toBeUndefined();
  });

  it('combines several parameters with and, in a stable order, the filter last', () => {
    const filter: FilterNode = { not: { field: 'city', op: 'empty' } };
    expect(
      convert({
        filter,
        notContactedForDays: 14,
        hasAccount: false,
        unassigned: true,
        assignedTo: ['me'],
        tags: [A, B],
        tagsMode: 'all',
        stage: ['lead'],
        q: 'ada',
        createdFrom: '2024-01-01',
        createdTo: '2024-06-30',
      }),
    ).toEqual({
      and: [
        { field: 'q', op: 'matches', value: 'ada' },
        { field: 'stage', op: 'in', value: ['lead'] },
        { field: 'tags', op: 'hasAll', value: [A, B] },
        { field: 'assignedTo', op: 'in', value: [ME] },
        { field: 'assignedTo', op: 'empty' },
        { field: 'hasAccount', op: 'is', value: false },
        { field: 'createdAt', op: 'gte', value: '2024-01-01' },
        { field: 'createdAt', op: 'lte', value: '2024-06-30' },
        { field: 'lastContactedAt', op: 'notInLastDays', value: 14 },
        filter,
      ],
    });
  });

  it('two parameters → an and of two rules', () => {
    expect(convert({ noStatus: true, services: [A] })).toEqual({
      and: [
        { field: 'services', op: 'hasAny', value: [A] },
        { field: 'status', op: 'empty' },
      ],
    });
  });

  it('every parameter at once gives one rule each', () => {
    const result = convert({
      q: 'x',
      status: [A],
      stage: ['lead'],
      tags: [A],
      services: [A],
      trafficSource: [A],
      assignedTo: [A],
      noStatus: true,
      noTags: true,
      noServices: true,
      noTrafficSource: true,
      unassigned: true,
      hasAccount: true,
      createdFrom: '2024-01-01',
      createdTo: '2024-01-02',
      lastContactedFrom: '2024-01-01',
      lastContactedTo: '2024-01-02',
      notContactedForDays: 1,
      filter: { field: 'city', op: 'empty' },
    }) as { and: FilterNode[] };
    expect(result.and).toHaveLength(19);
  });

  it('does not modify the query it is given', () => {
    const query = { assignedTo: ['me', OTHER], tags: [A] };
    const copy = structuredClone(query);
    convert(query);
    expect(query).toEqual(copy);
  });
});

describe('queryToFilter: errors name the parameters the caller sent', () => {
  const resolver = fieldResolver([]);
  const fieldsOf = (query: Partial<ContactQueryDto>) => validateFilter(convert(query), resolver).errors.map((error) => error.field);

  it.each<[Partial<ContactQueryDto>, string[]]>([
    [{ createdFrom: '2026-02-30' }, ['createdFrom']],
    [{ q: 'ada', createdTo: '2026-02-30' }, ['createdTo']],
    [{ lastContactedFrom: '2026-13-01', lastContactedTo: '2026-01-32' }, ['lastContactedFrom', 'lastContactedTo']],
    [{ q: 'ada', filter: { field: 'nope', op: 'is', value: 1 } as FilterNode }, ['filter.field']],
    [{ q: 'ada', noTags: true, filter: { and: [{ field: 'city', op: 'is', value: 'x' }, { field: 'city', op: 'gt', value: 1 }] } as FilterNode }, ['filter.and.1.op']],
    [{ filter: { or: [] } as unknown as FilterNode }, ['filter.or']],
  ])('%j → %j', (query, fields) => {
    expect(fieldsOf(query)).toEqual(fields);
  });

  it('the message of a parameter does not name the operator it became', () => {
    expect(validateFilter(convert({ createdTo: '2026-02-30' }), resolver).errors).toEqual([{ field: 'createdTo', message: 'must be an ISO 8601 date or date-time' }]);
  });
});
