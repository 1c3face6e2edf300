import type { SubjectDefinition } from '../../core/access/rule.types';

export const PORTAL_SUBJECTS: SubjectDefinition[] = [
  {
    name: 'Portal',
    description: "The client portal: a client's own dashboard, details and timeline.",
    fields: {},
    systemRules: {
      client: [
        { action: 'read', subject: 'Portal' },
        // Preferences exist for the portal, so the rule that lets clients set their own lives here.
        { action: 'update', subject: 'Contact', conditions: { id: '${user.contactId}' }, fields: ['preferences'] },
      ],
    },
  },
];
