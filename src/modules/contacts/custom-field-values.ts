import { readDateTime } from '../../core/http/date-time';
import type { FieldErrorDto } from '../../core/http/error-response.dto';
import { isEmailAddress, PHONE_PATTERN } from '../../core/http/formats';
import type { CustomField } from './entities/custom-field.entity';
import { inYearRange, isCalendarDate } from './filters/contact-filter.compiler';

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME_MESSAGE = 'must be an ISO 8601 date-time (without an offset it is UTC)';

/**
 * Checks and normalises custom field values against their definitions. `null` clears a
 * value. With `creating`, required fields must be present; otherwise only the given keys
 * are checked. Keys of deleted or unknown fields are refused.
 */
export function checkCustomValues(
  definitions: CustomField[],
  values: Record<string, unknown>,
  creating: boolean,
): { values: Record<string, unknown>; errors: FieldErrorDto[] } {
  const active = new Map(definitions.filter((d) => !d.deletedAt).map((d) => [d.key, d]));
  const errors: FieldErrorDto[] = [];
  const normalised: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(values)) {
    const definition = active.get(key);
    const field = `customFields.${key}`;
    if (!definition) {
      errors.push({ field, message: 'is not a custom field of contacts' });
      continue;
    }
    if (value === null) {
      if (definition.required) errors.push({ field, message: 'is required' });
      else normalised[key] = null;
      continue;
    }
    const result = checkValue(definition, value);
    if (typeof result === 'string') {
      errors.push({ field, message: result });
      continue;
    }
    // Blank text or no options chosen is no value: it clears the field, and answers no required one.
    const empty = result.value === null || (Array.isArray(result.value) && result.value.length === 0);
    if (empty && definition.required) errors.push({ field, message: 'is required' });
    else normalised[key] = empty ? null : result.value;
  }
  if (creating) {
    for (const definition of active.values()) {
      if (definition.required && !Object.hasOwn(values, definition.key)) {
        errors.push({ field: `customFields.${definition.key}`, message: 'is required' });
      }
    }
  }
  return { values: normalised, errors };
}

/** Types whose values are stored in a normal form (trimmed; a URL as the URL parser writes it). */
const NORMALISED_TYPES = new Set<CustomField['type']>(['email', 'url', 'phone']);

/**
 * A filter value for a custom field, written as a stored value of that type is, so equality
 * finds what was typed into a contact; text that is no valid value of the type stays as it
 * is (it matches no stored value either way). Undefined for types stored as typed.
 */
export function filterValueNormaliser(type: CustomField['type']): ((value: string) => string) | undefined {
  if (!NORMALISED_TYPES.has(type)) return undefined;
  return (value) => {
    const checked = checkValue({ type } as CustomField, value);
    return typeof checked === 'object' && typeof checked.value === 'string' ? checked.value : value;
  };
}

/** The years inYearRange takes, for messages. */
const MIN_YEAR = '0001';
const MAX_YEAR = '9999';

/**
 * A UTC instant as stored: seconds always, the fraction to at least milliseconds (as values
 * stored before were written) and at most microseconds, what the database compares.
 */
function storedInstant(utc: string): string {
  const [, base, fraction] = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?Z$/.exec(utc)!;
  const withSeconds = base!.length === 16 ? `${base}:00` : base;
  return `${withSeconds}.${(fraction ?? '').padEnd(3, '0')}Z`;
}

function checkValue(definition: CustomField, value: unknown): { value: unknown } | string {
  switch (definition.type) {
    case 'text':
      // Blank text is no value, as for the contact's own text fields: it clears the field.
      return typeof value === 'string' && value.length <= 2000 ? { value: value.trim() || null } : 'must be text of at most 2000 characters';
    case 'email':
      return typeof value === 'string' && value.length <= 254 && isEmailAddress(value.trim()) ? { value: value.trim() } : 'must be an email address';
    case 'url': {
      if (typeof value !== 'string' || value.length > 2000) return 'must be an http(s) URL';
      try {
        const url = new URL(value.trim());
        return url.protocol === 'http:' || url.protocol === 'https:' ? { value: url.toString() } : 'must be an http(s) URL';
      } catch {
        return 'must be an http(s) URL';
      }
    }
    case 'phone':
      return typeof value === 'string' && PHONE_PATTERN.test(value.trim()) ? { value: value.trim() } : 'must be a phone number';
    case 'number':
      return typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER ? { value } : 'must be a whole number';
    case 'decimal':
      return typeof value === 'number' && Number.isFinite(value) ? { value } : 'must be a number';
    case 'boolean':
      return typeof value === 'boolean' ? { value } : 'must be true or false';
    case 'date':
      if (typeof value !== 'string' || !DATE.test(value) || !isCalendarDate(value)) return 'must be a date (YYYY-MM-DD)';
      return inYearRange(value) ? { value } : `must be a date in the years ${MIN_YEAR} to ${MAX_YEAR}`;
    case 'datetime': {
      if (typeof value !== 'string') return DATETIME_MESSAGE;
      // Read as every date-time of the API is; one without an offset is UTC.
      let read = readDateTime(value);
      if ('error' in read && read.error === 'form') read = readDateTime(`${value}Z`);
      if ('error' in read) return read.error === 'range' ? `must be a date-time in the years ${MIN_YEAR} to ${MAX_YEAR}, in UTC as well` : DATETIME_MESSAGE;
      return { value: storedInstant(read.value) };
    }
    case 'select':
      return typeof value === 'string' && definition.options.includes(value) ? { value } : `must be one of ${definition.options.join(', ')}`;
    case 'multi_select': {
      if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || !definition.options.includes(item))) {
        return `must be a list of values from ${definition.options.join(', ')}`;
      }
      return { value: [...new Set(value as string[])] };
    }
  }
}
