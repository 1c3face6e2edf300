import type { SubjectDefinition } from '../../core/access/rule.types';

/** Segment fields that CASL rules may name, e.g. "update Segment where createdById = ${user.id}". */
export const SEGMENT_RULE_FIELDS: SubjectDefinition['fields'] = {
  id: { column: '{alias}.id', type: 'uuid' },
  kind: { column: '{alias}.kind', type: 'string' },
  createdById: { column: '{alias}.created_by_id', type: 'uuid' },
};

export const SEGMENT_SUBJECTS: SubjectDefinition[] = [
  {
    name: 'Segment',
    description: 'A saved group of contacts: a static list of members or a dynamic rule.',
    fields: SEGMENT_RULE_FIELDS,
    // Segments are back-office work; clients never see them.
    systemRules: { staff: [{ action: 'manage', subject: 'Segment' }] },
  },
];
