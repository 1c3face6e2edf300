import { ForbiddenException, NotFoundException } from '@nestjs/common';
import { buildAbility } from './app-ability';
import { assertCanOnRecord, dependsOnRecord, hasWholeRight, isAdministrator } from './record-access';

describe('record access', () => {
  const mine = { id: 'c1', assignedToId: 'u1' };
  const theirs = { id: 'c2', assignedToId: 'u2' };

  it('knows which rules look at the record', () => {
    const everyone = buildAbility([{ action: 'read', subject: 'Contact' }]);
    const own = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: 'u1' } }]);
    const allButVip = buildAbility([{ action: 'read', subject: 'Contact' }, { action: 'read', subject: 'Contact', inverted: true, conditions: { vip: true } }]);
    const admin = buildAbility([{ action: 'manage', subject: 'all' }]);
    expect(dependsOnRecord(everyone, 'read', 'Contact')).toBe(false);
    expect(dependsOnRecord(own, 'read', 'Contact')).toBe(true);
    expect(dependsOnRecord(own, 'update', 'Contact')).toBe(false);
    expect(dependsOnRecord(allButVip, 'read', 'Contact')).toBe(true);
    expect(dependsOnRecord(admin, 'read', 'Contact')).toBe(false);
    // Kept per ability, and still right when asked again.
    expect(dependsOnRecord(own, 'read', 'Contact')).toBe(true);
  });

  it('counts a right as whole only when no condition, field list or inverted rule above it limits it', () => {
    const read = (rules: Parameters<typeof buildAbility>[0]) => hasWholeRight(buildAbility(rules), 'read', 'Contact');
    expect(read([{ action: 'read', subject: 'Contact' }])).toBe(true);
    expect(read([{ action: 'manage', subject: 'all' }])).toBe(true);
    expect(read([])).toBe(false);
    expect(read([{ action: 'read', subject: 'Contact', conditions: { assignedToId: 'u1' } }])).toBe(false);
    expect(read([{ action: 'read', subject: 'Contact', fields: ['firstName'] }])).toBe(false);
    // A later inverted rule takes precedence and leaves part of the contacts out.
    expect(read([{ action: 'read', subject: 'Contact' }, { action: 'read', subject: 'Contact', inverted: true, conditions: { vip: true } }])).toBe(false);
    expect(read([{ action: 'read', subject: 'Contact' }, { action: 'read', subject: 'Contact', inverted: true, fields: ['email'] }])).toBe(false);
    // ... unless the operation never writes those fields.
    const keepsEmails = buildAbility([{ action: 'update', subject: 'Contact' }, { action: 'update', subject: 'Contact', inverted: true, fields: ['email'], conditions: { hasAccount: true } }]);
    expect(hasWholeRight(keepsEmails, 'update', 'Contact', ['email'])).toBe(true);
    expect(hasWholeRight(keepsEmails, 'update', 'Contact', ['phone'])).toBe(false);
    expect(read([{ action: 'read', subject: 'Contact' }, { action: 'read', subject: 'Contact', inverted: true }])).toBe(false);
    // An earlier inverted rule is overridden by the whole grant after it.
    expect(read([{ action: 'read', subject: 'Contact', inverted: true, conditions: { vip: true } }, { action: 'read', subject: 'Contact' }])).toBe(true);
    // A conditional grant besides the whole one does not narrow it.
    expect(read([{ action: 'read', subject: 'Contact' }, { action: 'read', subject: 'Contact', conditions: { assignedToId: 'u1' } }])).toBe(true);
    expect(isAdministrator(buildAbility([{ action: 'manage', subject: 'all' }, { action: 'delete', subject: 'User', inverted: true }]))).toBe(false);
  });

  it('decides by the type alone when no rule has conditions', () => {
    const everyone = buildAbility([{ action: 'read', subject: 'Contact' }]);
    expect(assertCanOnRecord(everyone, 'read', 'Contact', theirs)).toBe(theirs);
    expect(() => assertCanOnRecord(everyone, 'update', 'Contact', theirs)).toThrow(ForbiddenException);
    expect(() => assertCanOnRecord(buildAbility([]), 'read', 'Contact', theirs)).toThrow(NotFoundException);
    expect(() => assertCanOnRecord(everyone, 'read', 'Contact', undefined)).toThrow(NotFoundException);
  });

  it('checks conditions on the record: unreadable is missing, readable but unchangeable is forbidden', () => {
    const rep = buildAbility([
      { action: 'read', subject: 'Contact' },
      { action: 'update', subject: 'Contact', conditions: { assignedToId: 'u1' } },
    ]);
    expect(assertCanOnRecord(rep, 'update', 'Contact', mine)).toBe(mine);
    expect(() => assertCanOnRecord(rep, 'update', 'Contact', theirs)).toThrow(ForbiddenException);
    const own = buildAbility([{ action: 'read', subject: 'Contact', conditions: { assignedToId: 'u1' } }]);
    expect(assertCanOnRecord(own, 'read', 'Contact', mine)).toBe(mine);
    expect(() => assertCanOnRecord(own, 'read', 'Contact', theirs)).toThrow(NotFoundException);
    const allButVip = buildAbility([{ action: 'read', subject: 'Contact' }, { action: 'read', subject: 'Contact', inverted: true, conditions: { vip: true } }]);
    expect(() => assertCanOnRecord(allButVip, 'read', 'Contact', { ...mine, vip: true })).toThrow(NotFoundException);
    expect(assertCanOnRecord(allButVip, 'read', 'Contact', mine)).toBe(mine);
  });
});
