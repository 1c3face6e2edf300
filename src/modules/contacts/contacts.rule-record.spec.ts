import { ProfileRead, ruleRecordOf } from './contacts.service';
import { CONTACT_RULE_FIELDS } from './contacts.subjects';

describe('ruleRecordOf', () => {
  it('gives every field access rules can name, so a rule on any of them is checked against a value', () => {
    const row = {
      id: 'c1',
      tags: [{ id: 't1', name: 'Vip', color: null }],
      custom_fields: { plan: 'pro' },
    } as unknown as ProfileRead['row'];
    const record = ruleRecordOf(row, [{ id: 's1', name: 'Audit' }]);
    expect(Object.keys(record)).toEqual(expect.arrayContaining(Object.keys(CONTACT_RULE_FIELDS)));
    expect(record).toMatchObject({ id: 'c1', tagIds: ['t1'], serviceIds: ['s1'], customFields: { plan: 'pro' } });
  });
});
