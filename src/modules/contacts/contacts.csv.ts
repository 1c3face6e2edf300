/**
 * The CSV shape of contacts, shared by export and import so an export re-imports unchanged:
 * the same headers in the same order, lists joined with "; ", references by name (status,
 * traffic source, services, tags) or email (assignee), custom fields as `custom.<key>`.
 */
export const CSV_CORE_COLUMNS = [
  { header: 'First Name', field: 'firstName' },
  { header: 'Last Name', field: 'lastName' },
  { header: 'Email', field: 'email' },
  { header: 'Phone', field: 'phone' },
  { header: 'Company', field: 'company' },
  { header: 'Job Title', field: 'jobTitle' },
  { header: 'Address Line 1', field: 'addressLine1' },
  { header: 'Address Line 2', field: 'addressLine2' },
  { header: 'City', field: 'city' },
  { header: 'Region', field: 'region' },
  { header: 'Postal Code', field: 'postalCode' },
  { header: 'Country', field: 'country' },
  { header: 'Status', field: 'status' },
  { header: 'Tags', field: 'tags' },
  { header: 'Services', field: 'services' },
  { header: 'Traffic Source', field: 'trafficSource' },
  { header: 'Assigned To', field: 'assignedTo' },
] as const;

export type CsvCoreField = (typeof CSV_CORE_COLUMNS)[number]['field'];

/** Header of a custom field's column. */
export const customColumnHeader = (key: string) => `custom.${key}`;

export const LIST_SEPARATOR = '; ';

/**
 * Cells a spreadsheet would run as a formula get a leading apostrophe; import strips it
 * again, so the round trip is exact and the file is safe to open.
 */
export function neutraliseFormula(value: string): string {
  // Apostrophes already before such a character get one more, so stripping one on import gives the value back.
  return /^'*[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

export function restoreNeutralised(value: string): string {
  return /^'+[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

/** A custom field value as one CSV cell (lists joined like tags). */
export function customValueToCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.join(LIST_SEPARATOR);
  return String(value);
}
