import type { SubjectDefinition } from '../../core/access/rule.types';

/** Contact fields that CASL rules (conditions and `fields`) may name. */
export const CONTACT_RULE_FIELDS: SubjectDefinition['fields'] = {
  id: { column: '{alias}.id', type: 'uuid' },
  firstName: { column: '{alias}.first_name', type: 'string' },
  lastName: { column: '{alias}.last_name', type: 'string' },
  email: { column: '{alias}.email', type: 'string' },
  phone: { column: '{alias}.phone', type: 'string' },
  company: { column: '{alias}.company', type: 'string' },
  jobTitle: { column: '{alias}.job_title', type: 'string' },
  addressLine1: { column: '{alias}.address_line1', type: 'string' },
  addressLine2: { column: '{alias}.address_line2', type: 'string' },
  city: { column: '{alias}.city', type: 'string' },
  region: { column: '{alias}.region', type: 'string' },
  postalCode: { column: '{alias}.postal_code', type: 'string' },
  country: { column: '{alias}.country', type: 'string' },
  statusId: { column: '{alias}.status_id', type: 'uuid' },
  trafficSourceId: { column: '{alias}.traffic_source_id', type: 'uuid' },
  assignedToId: { column: '{alias}.assigned_to_id', type: 'uuid' },
  createdById: { column: '{alias}.created_by_id', type: 'uuid' },
  hasAccount: { column: 'EXISTS (SELECT 1 FROM users ru WHERE ru.contact_id = {alias}.id)', type: 'boolean' },
  tagIds: { column: 'ARRAY(SELECT rt.tag_id FROM contact_tags rt WHERE rt.contact_id = {alias}.id)', type: 'uuid[]' },
  serviceIds: { column: 'ARRAY(SELECT rs.service_id FROM contact_services rs WHERE rs.contact_id = {alias}.id)', type: 'uuid[]' },
  customFields: { column: '{alias}.custom_fields', type: 'string', conditions: false },
  // The client's own settings, changed in the portal: a field of update rules, not of conditions.
  preferences: { column: '{alias}.preferences', type: 'string', conditions: false },
  createdAt: { column: '{alias}.created_at', type: 'date' },
};

/** Activity fields that CASL rules may name. */
export const ACTIVITY_RULE_FIELDS: SubjectDefinition['fields'] = {
  id: { column: '{alias}.id', type: 'uuid' },
  contactId: { column: '{alias}.contact_id', type: 'uuid' },
  authorId: { column: '{alias}.author_id', type: 'uuid' },
  type: { column: '{alias}.type', type: 'string' },
  visibleToClient: { column: '{alias}.visible_to_client', type: 'boolean' },
};

const lookup = (name: string, description: string, staffActions: string[] = ['read']): SubjectDefinition => ({
  name,
  description,
  fields: { id: { column: '{alias}.id', type: 'uuid' }, name: { column: '{alias}.name', type: 'string' } },
  // Admin-managed lists ("in settings"); the back office reads them.
  systemRules: { staff: [{ action: staffActions, subject: name }] },
});

export const CONTACT_SUBJECTS: SubjectDefinition[] = [
  {
    name: 'Contact',
    description: 'A person or organisation the business deals with.',
    fields: CONTACT_RULE_FIELDS,
    // Edits (the API's and the portal's) check each changed field; reads and lists show whole rows.
    fieldLimitedActions: ['update'],
    extraActions: ['import', 'export', 'assign', 'purge'],
    systemRules: {
      // Staff work every contact but only admins empty the trash for good.
      staff: [
        { action: ['create', 'read', 'update', 'delete', 'import', 'export', 'assign'], subject: 'Contact' },
        // A client's login email is theirs: staff may not change it.
        { action: 'update', subject: 'Contact', fields: ['email'], conditions: { hasAccount: true }, inverted: true },
      ],
      // A client sees their own contact and edits its safe fields, nothing else.
      client: [
        { action: 'read', subject: 'Contact', conditions: { id: '${user.contactId}' } },
        {
          action: 'update',
          subject: 'Contact',
          conditions: { id: '${user.contactId}' },
          fields: ['firstName', 'lastName', 'phone', 'addressLine1', 'addressLine2', 'city', 'region', 'postalCode', 'country'],
        },
      ],
    },
  },
  {
    name: 'Activity',
    description: 'A call, email, meeting, note, SMS or task logged on a contact.',
    fields: ACTIVITY_RULE_FIELDS,
    systemRules: {
      // Anyone in the back office logs activities; only the author (or an admin) edits or deletes one.
      staff: [
        { action: ['create', 'read'], subject: 'Activity' },
        { action: ['update', 'delete'], subject: 'Activity', conditions: { authorId: '${user.id}' } },
      ],
      client: [{ action: 'read', subject: 'Activity', conditions: { contactId: '${user.contactId}', visibleToClient: true } }],
    },
  },
  lookup('ContactStatus', 'The statuses a contact can be in, each with a stage.'),
  // Staff tag contacts with new names as they work (a contact's newTags), which creates tags.
  lookup('Tag', 'Labels on contacts.', ['read', 'create']),
  lookup('Service', 'Services contacts can be interested in.'),
  lookup('TrafficSource', 'Where contacts come from.'),
  {
    name: 'CustomField',
    description: 'Admin-defined contact fields.',
    fields: { id: { column: '{alias}.id', type: 'uuid' }, key: { column: '{alias}.key', type: 'string' } },
    systemRules: { staff: [{ action: 'read', subject: 'CustomField' }] },
  },
];
