import type { FieldErrorDto } from '../../core/http/error-response.dto';
import { isEmailAddress, PERSON_NAME, PHONE_PATTERN, VISIBLE_TEXT_MESSAGE } from '../../core/http/formats';
import { CSV_CORE_COLUMNS, CsvCoreField, restoreNeutralised } from './contacts.csv';
import { nameKey, storedLookupName, titleCase } from './contacts.naming';
import { checkCustomValues } from './custom-field-values';
import type { CustomField } from './entities/custom-field.entity';

/** What a CSV column feeds: a contact field, a custom field (`custom.<key>`), or nothing. */
export type ImportTarget = CsvCoreField | `custom.${string}` | 'ignore';

export interface ColumnMapping {
  index: number;
  header: string;
  target: ImportTarget;
}

const normalise = (header: string) => header.toLowerCase().replace(/[^a-z0-9]/g, '');

/** Header spellings people use, by field. */
const SYNONYMS: Record<CsvCoreField, string[]> = {
  firstName: ['firstname', 'first', 'givenname', 'forename', 'name', 'prenom'],
  lastName: ['lastname', 'last', 'surname', 'familyname', 'nom'],
  email: ['email', 'emailaddress', 'mail', 'emailid'],
  phone: ['phone', 'phonenumber', 'telephone', 'tel', 'mobile', 'cell', 'cellphone', 'mobilephone'],
  company: ['company', 'organisation', 'organization', 'companyname', 'business', 'employer', 'account'],
  jobTitle: ['jobtitle', 'title', 'position', 'role'],
  addressLine1: ['addressline1', 'address', 'address1', 'street', 'streetaddress'],
  addressLine2: ['addressline2', 'address2', 'suite', 'apartment'],
  city: ['city', 'town'],
  region: ['region', 'state', 'province', 'county'],
  postalCode: ['postalcode', 'postcode', 'zip', 'zipcode'],
  country: ['country', 'countryname', 'nation'],
  status: ['status', 'leadstatus', 'stage', 'contactstatus'],
  tags: ['tags', 'tag', 'labels', 'label', 'groups'],
  services: ['services', 'service', 'interests', 'products'],
  trafficSource: ['trafficsource', 'source', 'leadsource', 'channel', 'origin'],
  assignedTo: ['assignedto', 'assignee', 'owner', 'salesrep', 'accountmanager'],
};

/** Proposes a target for each header: exact CSV headers first, then common spellings, then custom fields. */
export function proposeMapping(headers: string[], customFields: CustomField[]): ColumnMapping[] {
  const taken = new Set<string>();
  return headers.map((header, index) => {
    const key = normalise(header);
    const exact = CSV_CORE_COLUMNS.find((column) => normalise(column.header) === key)?.field;
    const custom = customFields.find((field) => !field.deletedAt && (normalise(`custom.${field.key}`) === key || normalise(field.key) === key || normalise(field.label) === key));
    const synonym = (Object.entries(SYNONYMS) as Array<[CsvCoreField, string[]]>).find(([, spellings]) => spellings.includes(key))?.[0];
    const target: ImportTarget = exact ?? (custom ? `custom.${custom.key}` : synonym) ?? 'ignore';
    if (target !== 'ignore' && taken.has(target)) return { index, header, target: 'ignore' };
    taken.add(target);
    return { index, header, target };
  });
}

/** Reference data a row's names resolve against, loaded once per chunk. */
export interface ImportLookups {
  statuses: Map<string, string>;
  services: Map<string, string>;
  trafficSources: Map<string, string>;
  staffByEmail: Map<string, string>;
  customFields: CustomField[];
  /**
   * Whether an account with these roles is an administrator's, whose contact the importer may
   * not change; absent when the importer is an administrator.
   */
  administratorAccount?: (roleIds: string[]) => Promise<boolean>;
}

/** A row turned into the values to write; absent keys are left as they are on updates. */
export interface ImportRecord {
  fields: Partial<Record<Exclude<CsvCoreField, 'status' | 'tags' | 'services' | 'trafficSource' | 'assignedTo'>, string>>;
  statusId?: string;
  trafficSourceId?: string;
  assignedToId?: string;
  tagNames?: string[];
  serviceIds?: string[];
  customFields?: Record<string, unknown>;
}

const LIMITS: Partial<Record<CsvCoreField, number>> = {
  firstName: 100,
  lastName: 100,
  email: 254,
  phone: 50,
  company: 200,
  jobTitle: 200,
  addressLine1: 200,
  addressLine2: 200,
  city: 100,
  region: 100,
  postalCode: 20,
  country: 100,
};

const splitList = (cell: string) =>
  cell
    .split(/[;,]/)
    .map((item) => item.trim())
    .filter(Boolean);

/**
 * What an email cell loses at its ends: exactly the characters String.prototype.trim removes
 * (tab, NBSP, the Unicode spaces, line breaks, BOM), so an imported email is trimmed as one
 * sent to POST /contacts is. PostgreSQL does the trimming (see stagedEmailSql); a spec checks
 * this list against trim().
 */
export const EMAIL_PADDING =
  '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff';

/**
 * SQL for the email of a staged row as a contact stores it: the cell trimmed of EMAIL_PADDING,
 * a spreadsheet-formula guard undone (as restoreNeutralised does for the other cells).
 * PostgreSQL computes it for the duplicate pass over the file and for each row's decision, and
 * lower() of it is what contacts.email_key holds: one normalisation wherever emails are
 * compared, so no two rows the import tells apart can collide on the unique key.
 * `index` and `padding` are the placeholders of the email column's index and of EMAIL_PADDING.
 */
export function stagedEmailSql(index: string, padding: string): string {
  return `regexp_replace(btrim(cells->>(${index}::int), ${padding}::text), '^''(''*[=+@\\t\\r-])', '\\1')`;
}

/** A status, traffic source or service name as its list keys it: spelt as stored (see titleCase), then its key. */
const lookupKey = (cell: string) => nameKey(titleCase(cell));

/**
 * Maps and checks one CSV row. Empty cells mean "no value" (on updates: keep what is there).
 * `email` is the email cell as stagedEmailSql made it; the row's own email cell is not read.
 * Returns the reason when the row cannot be imported.
 */
export function readRow(
  cells: string[],
  columnCount: number,
  mapping: ColumnMapping[],
  lookups: ImportLookups,
  email: string | null,
): { record?: ImportRecord; error?: string } {
  if (cells.length !== columnCount) return { error: `the row has ${cells.length} cells where the header has ${columnCount}` };
  const record: ImportRecord = { fields: {} };
  const custom: Record<string, unknown> = {};
  for (const column of mapping) {
    if (column.target === 'ignore') continue;
    const cell = column.target === 'email' ? (email ?? '') : restoreNeutralised((cells[column.index] ?? '').trim());
    if (cell === '') continue;
    const target = column.target;
    if (target.startsWith('custom.')) {
      const key = target.slice('custom.'.length);
      const definition = lookups.customFields.find((field) => field.key === key && !field.deletedAt);
      if (!definition) return { error: `"${column.header}" maps to an unknown custom field "${key}"` };
      custom[key] = customCellValue(definition, cell);
      continue;
    }
    switch (target as CsvCoreField) {
      case 'status': {
        const id = lookups.statuses.get(lookupKey(cell));
        if (!id) return { error: `unknown status "${cell}"` };
        record.statusId = id;
        break;
      }
      case 'trafficSource': {
        const id = lookups.trafficSources.get(lookupKey(cell));
        if (!id) return { error: `unknown traffic source "${cell}"` };
        record.trafficSourceId = id;
        break;
      }
      case 'assignedTo': {
        const id = lookups.staffByEmail.get(cell.toLowerCase());
        if (!id) return { error: `"${cell}" is not an active staff user` };
        record.assignedToId = id;
        break;
      }
      case 'services': {
        const ids: string[] = [];
        for (const name of splitList(cell)) {
          const id = lookups.services.get(lookupKey(name));
          if (!id) return { error: `unknown service "${name}"` };
          ids.push(id);
        }
        record.serviceIds = [...new Set(ids)];
        break;
      }
      case 'tags': {
        const names: string[] = [];
        for (const raw of splitList(cell)) {
          // A tag that cannot be stored rejects the row, as any other bad value does: never dropped unseen.
          const { name, error } = storedLookupName(raw);
          if (error) return { error: `${column.header}: tag "${shortened(raw)}" ${error}` };
          names.push(name);
        }
        record.tagNames = [...new Set(names)];
        break;
      }
      default: {
        const field = target as keyof ImportRecord['fields'];
        const limit = LIMITS[field];
        if (limit && cell.length > limit) return { error: `${column.header} is longer than ${limit} characters` };
        if ((field === 'firstName' || field === 'lastName') && !PERSON_NAME.test(cell)) return { error: `${column.header} ${VISIBLE_TEXT_MESSAGE}` };
        if (field === 'email' && !isEmailAddress(cell)) return { error: `invalid email "${cell}"` };
        if (field === 'phone' && !PHONE_PATTERN.test(cell)) return { error: `invalid phone "${cell}"` };
        record.fields[field] = cell;
      }
    }
  }
  if (Object.keys(custom).length) {
    const checked = checkCustomValues(lookups.customFields, custom, false);
    if (checked.errors.length) return { error: describeCustomErrors(checked.errors) };
    record.customFields = checked.values;
  }
  return { record };
}

/**
 * Why a row cannot create a contact as far as custom fields go: the checks POST /contacts
 * makes, required fields included (updates leave absent fields as they are, so only creates
 * need them). Undefined when the row may create one.
 */
export function newContactCustomError(record: ImportRecord, customFields: CustomField[]): string | undefined {
  if (!customFields.some((field) => field.required && !field.deletedAt)) return undefined;
  const checked = checkCustomValues(customFields, record.customFields ?? {}, true);
  return checked.errors.length ? describeCustomErrors(checked.errors) : undefined;
}

/** Custom field errors in a row's reason, named as the mapping names them (`custom.<key>`). */
function describeCustomErrors(errors: FieldErrorDto[]): string {
  return errors.map((e) => `${e.field.replace('customFields.', 'custom.')} ${e.message}`).join('; ');
}

/** A long value as a reason quotes it. */
function shortened(text: string): string {
  const characters = [...text];
  return characters.length > 30 ? `${characters.slice(0, 30).join('')}…` : text;
}

/** A cell as the custom field's JSON value, so the usual checks apply. */
function customCellValue(definition: CustomField, cell: string): unknown {
  switch (definition.type) {
    case 'number':
    case 'decimal':
      // Also in exponent form, as exports write very large and very small decimals (1e-7, 1e+21).
      return /^-?\d+(\.\d+)?(e[-+]?\d+)?$/i.test(cell) ? Number(cell) : cell;
    case 'boolean': {
      const value = cell.toLowerCase();
      if (['true', 'yes', '1', 'y'].includes(value)) return true;
      if (['false', 'no', '0', 'n'].includes(value)) return false;
      return cell;
    }
    case 'multi_select':
      return splitList(cell);
    default:
      return cell;
  }
}
