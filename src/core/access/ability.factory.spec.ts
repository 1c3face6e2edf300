import { enforceable } from './ability.factory';
import { buildAbility, subjectOf } from './app-ability';
import type { StoredRule, SubjectDefinition } from './rule.types';
import { SubjectRegistry } from './subject-registry';

const CONTACT: SubjectDefinition = {
  name: 'Contact',
  description: 'People',
  fields: {
    id: { column: '{alias}.id', type: 'uuid' },
    tagIds: { column: '{alias}.tag_ids', type: 'uuid[]' },
    hasAccount: { column: '{alias}.has_account', type: 'boolean' },
    assignedToId: { column: '{alias}.assigned_to_id', type: 'uuid' },
  },
};
const registry = new SubjectRegistry();
registry.register(CONTACT);

describe('enforceable (rules stored before a check they now fail)', () => {
  const reported: string[][] = [];
  const report = (errors: string[]) => reported.push(errors);
  beforeEach(() => (reported.length = 0));

  it('keeps valid rules as they are, the very array, and reports nothing', () => {
    const rules: StoredRule[] = [{ action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } }];
    expect(enforceable(rules, registry, report)).toBe(rules);
    expect(reported).toEqual([]);
  });

  it('leaves out a granting rule that is no longer valid, keeping the others, and reports where', () => {
    const valid: StoredRule = { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } };
    const rules: StoredRule[] = [{ action: 'update', subject: 'Contact', conditions: { tagIds: { $gt: 'x' } } }, valid];
    expect(enforceable(rules, registry, report)).toEqual([valid]);
    expect(reported).toEqual([[expect.stringMatching(/^rules\.0\.conditions\.tagIds/)]]);
  });

  it('makes a denying rule that is no longer valid deny its actions outright', () => {
    const rules: StoredRule[] = [
      { action: ['read', 'update'], subject: 'Contact' },
      { action: 'update', subject: 'Contact', conditions: { hasAccount: { $lt: true } }, inverted: true, reason: 'no' },
    ];
    const kept = enforceable(rules, registry, report);
    expect(kept).toEqual([rules[0], { action: 'update', subject: 'Contact', inverted: true, reason: 'no' }]);
    const ability = buildAbility(kept);
    expect(ability.can('read', subjectOf('Contact', { hasAccount: false }))).toBe(true);
    expect(ability.can('update', subjectOf('Contact', { hasAccount: false }))).toBe(false);
    expect(reported).toHaveLength(1);
  });
});
