/**
 * The switchable modules of the product. `core` (auth, features, health, audit, mail) is not
 * listed: it is always on.
 */
export const FEATURE_KEYS = [
  'users',
  'contacts',
  'segments',
  'dashboard',
  'client-portal',
  'inventory',
  'invoicing',
  'accounting',
  'visitors',
] as const;

export type FeatureKey = (typeof FEATURE_KEYS)[number];

export interface FeatureDefinition {
  key: FeatureKey;
  title: string;
  description: string;
  /** Modules that must be on for this one to be on. */
  requires: FeatureKey[];
}

export const FEATURE_CATALOG: Record<FeatureKey, FeatureDefinition> = {
  users: { key: 'users', title: 'Users and roles', description: 'User accounts, roles and permissions, admin password resets.', requires: [] },
  contacts: {
    key: 'contacts',
    title: 'Contacts',
    description: 'Contacts, statuses, tags, services, traffic sources, activities, custom fields, CSV import and export.',
    requires: [],
  },
  segments: { key: 'segments', title: 'Segments', description: 'Static and dynamic segments of contacts.', requires: ['contacts'] },
  dashboard: { key: 'dashboard', title: 'Dashboard', description: 'Analytics computed from contacts and activities.', requires: ['contacts'] },
  'client-portal': {
    key: 'client-portal',
    title: 'Client portal',
    description: "The client's own view: details, invoices and visits.",
    requires: ['contacts'],
  },
  inventory: { key: 'inventory', title: 'Inventory', description: 'Products, warehouses and the stock ledger.', requires: [] },
  invoicing: { key: 'invoicing', title: 'Invoicing', description: 'Invoices, payments, credit notes.', requires: ['contacts'] },
  accounting: { key: 'accounting', title: 'Accounting', description: 'Chart of accounts, journal and reports.', requires: [] },
  visitors: { key: 'visitors', title: 'Visitors', description: 'Visitor pre-registration, check-in and visit log.', requires: [] },
};

export function isFeatureKey(value: string): value is FeatureKey {
  return (FEATURE_KEYS as readonly string[]).includes(value);
}

/** Features that need `key`, directly. */
export function dependentsOf(key: FeatureKey): FeatureKey[] {
  return FEATURE_KEYS.filter((other) => FEATURE_CATALOG[other].requires.includes(key));
}
