import type { SubjectDefinition } from '../../core/access/rule.types';

export const DASHBOARD_SUBJECTS: SubjectDefinition[] = [
  {
    name: 'Dashboard',
    description: 'The analytics dashboard: snapshot metrics over all contacts, and your own numbers.',
    fields: {},
    // Asking for a fresh snapshot is its own action, so a custom role can read without queueing work.
    extraActions: ['refresh'],
    systemRules: { staff: [{ action: ['read', 'refresh'], subject: 'Dashboard' }] },
  },
];
