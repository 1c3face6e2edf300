import type { SubjectDefinition } from '../../core/access/rule.types';

export const CONTACT_SUBJECTS: SubjectDefinition[] = [
  {
    name: 'Contact',
    description: 'A person or organisation the business deals with.',
    fields: {
      id: { column: '{alias}.id', type: 'uuid' },
      firstName: { column: '{alias}.first_name', type: 'string' },
      lastName: { column: '{alias}.last_name', type: 'string' },
      email: { column: '{alias}.email', type: 'string' },
      phone: { column: '{alias}.phone', type: 'string' },
      statusId: { column: '{alias}.status_id', type: 'uuid' },
      createdAt: { column: '{alias}.created_at', type: 'date' },
    },
    extraActions: ['import', 'export', 'assign'],
    systemRules: {
      staff: [{ action: 'manage', subject: 'Contact' }],
      // A client sees and edits the safe fields of their own contact, nothing else.
      client: [
        { action: 'read', subject: 'Contact', conditions: { id: '${user.contactId}' } },
        { action: 'update', subject: 'Contact', conditions: { id: '${user.contactId}' }, fields: ['firstName', 'lastName', 'phone'] },
      ],
    },
  },
  {
    name: 'ContactStatus',
    description: 'The statuses a contact can be in, each with a stage.',
    fields: { id: { column: '{alias}.id', type: 'uuid' }, stage: { column: '{alias}.stage', type: 'string' } },
    systemRules: { staff: [{ action: 'read', subject: 'ContactStatus' }] },
  },
  {
    name: 'Service',
    description: 'Services contacts can be interested in.',
    fields: { id: { column: '{alias}.id', type: 'uuid' } },
    systemRules: { staff: [{ action: 'read', subject: 'Service' }] },
  },
  {
    name: 'TrafficSource',
    description: 'Where contacts come from.',
    fields: { id: { column: '{alias}.id', type: 'uuid' } },
    systemRules: { staff: [{ action: 'read', subject: 'TrafficSource' }] },
  },
];
