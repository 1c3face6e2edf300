import { profileStatements } from './contacts.queries';
import { ProfileRead, ruleRecordOf } from './contacts.service';
import { CONTACT_RULE_FIELDS } from './contacts.subjects';

describe('ruleRecordOf', () => {
  it('is read by a profile statement that selects every column access rules can test', () => {
    const { sql } = profileStatements('00000000-0000-4000-8000-000000000000').contact;
    const derived: string[] = [];
    for (const [field, { column, conditions }] of Object.entries(CONTACT_RULE_FIELDS)) {
      // Fields rules may only list (what an update may change) are never matched against the record.
      if (conditions === false) continue;
      if (/^\{alias\}\.\w+$/.test(column)) expect([field, sql]).toEqual([field, expect.stringMatching(new RegExp(`\\b${column.replace('{alias}.', 'c\\.')}\\b`))]);
      else derived.push(field);
    }
    // The rest come from the profile's has_account and tag_ids columns and its services.
    expect(derived).toEqual(['hasAccount', 'tagIds', 'serviceIds']);
    expect(sql).toMatch(/\bAS has_account\b/);
    expect(sql).toMatch(/\bAS tag_ids\b/);
  });

  it('turns the row into camelCase fields, with the ids of its tags and services', () => {
    const row = { id: 'c1', first_name: 'Ada', assigned_to_id: 'u1', has_account: true, tag_ids: ['t1'], custom_fields: { plan: 'pro' }, lookups_epoch: '3' } as unknown as ProfileRead['row'];
    expect(ruleRecordOf(row, [{ id: 's1', name: 'Audit' }])).toEqual({
      id: 'c1',
      firstName: 'Ada',
      assignedToId: 'u1',
      hasAccount: true,
      tagIds: ['t1'],
      serviceIds: ['s1'],
      customFields: { plan: 'pro' },
    });
  });
});
