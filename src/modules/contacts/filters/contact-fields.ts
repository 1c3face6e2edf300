import { filterValueNormaliser } from '../custom-field-values';
import type { CustomFieldType } from '../entities/custom-field.entity';
import { CONTACT_STAGES } from '../entities/contact-status.entity';
import type { FilterField, FilterFieldKind } from './contact-filter.types';

/** Built-in contact fields the rule language and sorting know about. */
export const CONTACT_FILTER_FIELDS: Record<string, FilterField> = {
  q: { kind: 'search' },
  id: { kind: 'uuid', sql: 'c.id' },
  firstName: { kind: 'text', sql: 'c.first_name', sortable: true },
  lastName: { kind: 'text', sql: 'c.last_name', sortable: true },
  email: { kind: 'text', sql: 'c.email', lowerKey: 'c.email_key', sortable: true },
  phone: { kind: 'text', sql: 'c.phone' },
  company: { kind: 'text', sql: 'c.company', sortable: true },
  jobTitle: { kind: 'text', sql: 'c.job_title' },
  city: { kind: 'text', sql: 'c.city', sortable: true },
  region: { kind: 'text', sql: 'c.region' },
  postalCode: { kind: 'text', sql: 'c.postal_code' },
  country: { kind: 'text', sql: 'c.country', sortable: true },
  status: { kind: 'uuid', sql: 'c.status_id' },
  stage: {
    kind: 'enum',
    lookup: { column: 'c.status_id', table: 'contact_statuses', key: 'id', value: 'stage' },
    values: CONTACT_STAGES,
  },
  trafficSource: { kind: 'uuid', sql: 'c.traffic_source_id' },
  assignedTo: { kind: 'uuid', sql: 'c.assigned_to_id' },
  hasAccount: { kind: 'boolean', sql: 'EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id)', predicate: true },
  tags: { kind: 'uuidSet', link: { table: 'contact_tags', column: 'tag_id' } },
  services: { kind: 'uuidSet', link: { table: 'contact_services', column: 'service_id' } },
  createdAt: { kind: 'datetime', sql: 'c.created_at', sortable: true },
  updatedAt: { kind: 'datetime', sql: 'c.updated_at', sortable: true },
  lastContactedAt: { kind: 'datetime', sql: 'c.last_contacted_at', sortable: true },
};

const KIND_OF_CUSTOM: Record<CustomFieldType, FilterFieldKind> = {
  text: 'text',
  email: 'text',
  url: 'text',
  phone: 'text',
  select: 'text',
  number: 'number',
  decimal: 'number',
  boolean: 'boolean',
  date: 'date',
  datetime: 'datetime',
  multi_select: 'textSet',
};

/** A custom field as the rule language sees it: `custom.<key>`, typed by its definition. */
export function customFilterField(key: string, type: CustomFieldType): FilterField {
  // Keys match ^[a-z][a-z0-9_]*$ (a database check), and values are type-checked on every write.
  const raw = `c.custom_fields -> '${key}'`;
  const text = `(c.custom_fields ->> '${key}')`;
  const kind = KIND_OF_CUSTOM[type];
  const casts: Partial<Record<FilterFieldKind, string>> = { number: '::numeric', boolean: '::boolean', date: '::date', datetime: '::timestamptz' };
  const sql = kind === 'textSet' ? raw : casts[kind] ? `(${text}${casts[kind]})` : text;
  const normalise = filterValueNormaliser(type);
  return { kind, sql, sortable: kind !== 'textSet', ...(normalise ? { normalise } : {}) };
}
