import type { SubjectDefinition } from '../../core/access/rule.types';

export const USER_SUBJECTS: SubjectDefinition[] = [
  {
    name: 'User',
    description: 'Accounts that can sign in.',
    fields: {
      id: { column: '{alias}.id', type: 'uuid' },
      contactId: { column: '{alias}.contact_id', type: 'uuid' },
      email: { column: '{alias}.email', type: 'string' },
      isActive: { column: '{alias}.is_active', type: 'boolean' },
    },
    // Choosing roles is choosing permissions, so it is an action of its own, for administrators.
    extraActions: ['grantRoles'],
    administratorActions: ['grantRoles', 'manage'],
    // Staff pick assignees from the user list; only admins change accounts.
    systemRules: { staff: [{ action: 'read', subject: 'User' }] },
  },
  {
    name: 'Role',
    description: 'Named sets of permission rules.',
    fields: { id: { column: '{alias}.id', type: 'uuid' }, name: { column: '{alias}.name', type: 'string' }, audience: { column: '{alias}.audience', type: 'string' } },
    // Writing rules is granting rights: anyone who could would grant themselves everything.
    administratorActions: ['create', 'update', 'delete', 'manage'],
  },
];
