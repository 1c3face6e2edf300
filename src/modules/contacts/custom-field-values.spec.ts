import { checkCustomValues } from './custom-field-values';
import type { CustomField, CustomFieldType } from './entities/custom-field.entity';

const definition = (key: string, type: CustomFieldType, extra: Partial<CustomField> = {}): CustomField =>
  ({ id: `${key}-id`, key, label: key, type, required: false, options: [], internal: false, position: 0, deletedAt: null, ...extra }) as CustomField;

const DEFINITIONS: CustomField[] = [
  definition('note', 'text'),
  definition('employees', 'number'),
  definition('revenue', 'decimal'),
  definition('newsletter', 'boolean'),
  definition('renewal', 'date'),
  definition('kickoff', 'datetime'),
  definition('plan', 'select', { options: ['basic', 'pro'] }),
  definition('interests', 'multi_select', { options: ['seo', 'ads', 'email'] }),
  definition('billing_email', 'email'),
  definition('website', 'url'),
  definition('mobile', 'phone'),
  definition('legacy', 'text', { deletedAt: new Date('2024-01-01T00:00:00Z') }),
];

/** Checks one key on update (no required-field check). */
const check = (key: string, value: unknown, definitions = DEFINITIONS) => checkCustomValues(definitions, { [key]: value }, false);

const accepted = (key: string, value: unknown, normalised: unknown = value) => {
  expect(check(key, value)).toEqual({ values: { [key]: normalised }, errors: [] });
};

const refused = (key: string, value: unknown, message: string) => {
  expect(check(key, value)).toEqual({ values: {}, errors: [{ field: `customFields.${key}`, message }] });
};

describe('checkCustomValues', () => {
  it('nothing to check → nothing to store', () => {
    expect(checkCustomValues(DEFINITIONS, {}, false)).toEqual({ values: {}, errors: [] });
    expect(checkCustomValues(DEFINITIONS, {}, true)).toEqual({ values: {}, errors: [] });
  });

  describe('text', () => {
    it('accepts text and trims it', () => {
      accepted('note', 'hello', 'hello');
      accepted('note', '  padded  ', 'padded');
      accepted('note', 'x'.repeat(2000));
    });

    it('takes blank text for no value: it clears the field, and sorts and filters as empty', () => {
      accepted('note', '', null);
      accepted('note', '   ', null);
    });

    it.each([5, true, ['a'], { a: 1 }, 'x'.repeat(2001)])('refuses %p', (value) => {
      refused('note', value, 'must be text of at most 2000 characters');
    });
  });

  describe('number (whole numbers only)', () => {
    it.each([0, 42, -7, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER])('accepts %p', (value) => {
      accepted('employees', value);
    });

    it.each([1.5, -0.1, '42', Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1, 1e21, true])('refuses %p', (value) => {
      refused('employees', value, 'must be a whole number');
    });
  });

  describe('decimal', () => {
    it.each([0, 1.5, -99.99, 1e10, 42])('accepts %p', (value) => {
      accepted('revenue', value);
    });

    it.each(['1.5', Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, {}, false])('refuses %p', (value) => {
      refused('revenue', value, 'must be a number');
    });
  });

  describe('boolean', () => {
    it.each([true, false])('accepts %p', (value) => {
      accepted('newsletter', value);
    });

    it.each(['true', 1, 0, 'yes'])('refuses %p', (value) => {
      refused('newsletter', value, 'must be true or false');
    });
  });

  describe('date', () => {
    it.each(['2024-02-29', '2025-12-31', '1999-01-01'])('accepts %p unchanged', (value) => {
      accepted('renewal', value);
    });

    it.each(['2024-2-1', '2024-02-01T00:00:00Z', '01/02/2024', '2024-13-01', '2024-00-10', '2024-01-32', 'tomorrow', 20240101, ''])('refuses %p', (value) => {
      refused('renewal', value, 'must be a date (YYYY-MM-DD)');
    });

    // Date.parse rolls these over to the next month; PostgreSQL refuses them, so a stored one breaks every filter on the field.
    it.each(['2023-02-29', '2024-02-30', '2024-04-31', '2024-06-31'])('refuses the impossible calendar date %p', (value) => {
      refused('renewal', value, 'must be a date (YYYY-MM-DD)');
    });

    it.each(['0001-01-01', '9999-12-31'])('accepts the first and last day PostgreSQL and ISO strings share: %p', (value) => {
      accepted('renewal', value);
    });

    // JavaScript has a year 0 (and makes 0000-02-29 a leap day); PostgreSQL refuses it in every filter on the field.
    it.each(['0000-01-01', '0000-02-29', '0000-12-31'])('refuses the year-0 date %p', (value) => {
      refused('renewal', value, 'must be a date in the years 0001 to 9999');
    });
  });

  describe('datetime (a time zone is required; stored as UTC ISO)', () => {
    it.each([
      ['2024-01-10T09:00:00Z', '2024-01-10T09:00:00.000Z'],
      ['2024-01-10T09:00Z', '2024-01-10T09:00:00.000Z'],
      ['2024-01-10T10:00:00+01:00', '2024-01-10T09:00:00.000Z'],
      ['2024-01-10T04:30:00-04:30', '2024-01-10T09:00:00.000Z'],
      ['2024-01-10T09:00:00.5Z', '2024-01-10T09:00:00.500Z'],
      ['2024-01-10T09:00:00.123456Z', '2024-01-10T09:00:00.123456Z'],
      ['2024-01-10T09:00:00.123456789Z', '2024-01-10T09:00:00.123456Z'],
      ['2024-01-10T09:00:00.1234+01:00', '2024-01-10T08:00:00.1234Z'],
      ['2024-01-10T09:00:00', '2024-01-10T09:00:00.000Z'],
      ['2024-01-10T09:00', '2024-01-10T09:00:00.000Z'],
      ['2024-01-10T09:00:00+0100', '2024-01-10T08:00:00.000Z'],
      ['2024-01-01T00:30:00+01:00', '2023-12-31T23:30:00.000Z'],
    ])('accepts %p as %p', (value, normalised) => {
      accepted('kickoff', value, normalised);
    });

    it.each([
      '2024-01-10',
      '2024-01-10 09:00:00Z',
      '2024-01-10T09:00:00+01',
      '2024-01-10T25:00:00Z',
      '2024-01-10T09:60:00Z',
      '2024-13-10T09:00:00Z',
      'now',
      1704877200000,
    ])('refuses %p', (value) => {
      refused('kickoff', value, 'must be an ISO 8601 date-time (without an offset it is UTC)');
    });

    it('refuses an impossible calendar day instead of moving it to the next month', () => {
      refused('kickoff', '2024-06-31T10:00:00Z', 'must be an ISO 8601 date-time (without an offset it is UTC)');
    });

    it.each([
      ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00.000Z'],
      ['0001-01-01T00:30:00-01:00', '0001-01-01T01:30:00.000Z'],
      ['9999-12-31T23:59:59.999Z', '9999-12-31T23:59:59.999Z'],
      ['9999-12-31T23:30:00+01:00', '9999-12-31T22:30:00.000Z'],
      ['0000-12-31T23:00:00-02:00', '0001-01-01T01:00:00.000Z'],
    ])('accepts %p at the ends of the years 0001 to 9999, as %p', (value, normalised) => {
      accepted('kickoff', value, normalised);
    });

    it.each([
      ['year 0', '0000-06-01T12:00:00Z'],
      ['year 1 given, year 0 in UTC', '0001-01-01T00:30:00+01:00'],
      ['year 9999 given, year 10000 in UTC', '9999-12-31T23:30:00-01:00'],
    ])('refuses %s (%p)', (_label, value) => {
      refused('kickoff', value, 'must be a date-time in the years 0001 to 9999, in UTC as well');
    });
  });

  describe('select', () => {
    it.each(['basic', 'pro'])('accepts the option %p', (value) => {
      accepted('plan', value);
    });

    it.each(['Pro', 'gold', '', ['pro'], 1])('refuses %p', (value) => {
      refused('plan', value, 'must be one of basic, pro');
    });
  });

  describe('multi_select', () => {
    it('accepts options and removes duplicates, keeping the first order', () => {
      accepted('interests', ['ads', 'seo', 'ads', 'ads'], ['ads', 'seo']);
      accepted('interests', ['email'], ['email']);
    });

    it('takes an empty list as no value, which clears the field', () => {
      accepted('interests', [], null);
    });

    it.each([['seo', 'gold'], ['SEO'], 'seo', [1], [null], { 0: 'seo' }])('refuses %p', (value) => {
      refused('interests', value, 'must be a list of values from seo, ads, email');
    });

    it('does not keep a reference to the given list', () => {
      const list = ['seo'];
      const { values } = check('interests', list);
      expect(values.interests).toEqual(['seo']);
      expect(values.interests).not.toBe(list);
    });
  });

  describe('email', () => {
    it.each([
      ['ada@example.com', 'ada@example.com'],
      ['  ada@example.com ', 'ada@example.com'],
      ['Ada.Lovelace+crm@Example.co.uk', 'Ada.Lovelace+crm@Example.co.uk'],
    ])('accepts %p as %p', (value, normalised) => {
      accepted('billing_email', value, normalised);
    });

    it.each(['ada', 'ada@example', '@example.com', 'ada@@example.com', 'a da@example.com', '', 5, `${'a'.repeat(250)}@x.io`])('refuses %p', (value) => {
      refused('billing_email', value, 'must be an email address');
    });
  });

  describe('url (http and https only, normalised)', () => {
    it.each([
      ['https://example.com', 'https://example.com/'],
      ['HTTP://Example.COM/Path?q=1', 'http://example.com/Path?q=1'],
      ['  https://example.com/a b ', 'https://example.com/a%20b'],
      ['https://example.com:443/x', 'https://example.com/x'],
      ['https://ÉLAN.example/', 'https://xn--lan-9la.example/'],
    ])('accepts %p as %p', (value, normalised) => {
      accepted('website', value, normalised);
    });

    it.each(['example.com', 'ftp://example.com', 'javascript:alert(1)', 'mailto:ada@example.com', 'data:text/plain,hi', 'file:///etc/passwd', 'https://', 'http://exa mple.com', '', 42, `https://example.com/${'a'.repeat(2000)}`])(
      'refuses %p',
      (value) => {
        refused('website', value, 'must be an http(s) URL');
      },
    );
  });

  describe('phone', () => {
    it.each([
      ['+44 20 7946 0958', '+44 20 7946 0958'],
      ['(555) 010-9999', '(555) 010-9999'],
      ['  555.010.9999 ', '555.010.9999'],
      ['112', '112'],
    ])('accepts %p as %p', (value, normalised) => {
      accepted('mobile', value, normalised);
    });

    it.each(['12', 'call me', '+44 20 7946 0958 ext. 5', '555-CALL', '1'.repeat(51), '', 5550109999])('refuses %p', (value) => {
      refused('mobile', value, 'must be a phone number');
    });
  });

  describe('null clears a value', () => {
    it.each(['note', 'employees', 'revenue', 'newsletter', 'renewal', 'kickoff', 'plan', 'interests', 'billing_email', 'website', 'mobile'])('for %s', (key) => {
      expect(check(key, null)).toEqual({ values: { [key]: null }, errors: [] });
    });

    it('but not for a required field', () => {
      const definitions = [definition('vat', 'text', { required: true })];
      expect(checkCustomValues(definitions, { vat: null }, false)).toEqual({ values: {}, errors: [{ field: 'customFields.vat', message: 'is required' }] });
    });

    it('and a required field cleared on create is reported once', () => {
      const definitions = [definition('vat', 'text', { required: true })];
      expect(checkCustomValues(definitions, { vat: null }, true)).toEqual({ values: {}, errors: [{ field: 'customFields.vat', message: 'is required' }] });
    });
  });

  describe('required fields', () => {
    const definitions = [
      definition('vat', 'text', { required: true }),
      definition('size', 'number', { required: true }),
      definition('old_required', 'text', { required: true, deletedAt: new Date('2024-01-01T00:00:00Z') }),
      definition('note', 'text'),
    ];

    it('must be given on create', () => {
      expect(checkCustomValues(definitions, { note: 'x' }, true)).toEqual({
        values: { note: 'x' },
        errors: [
          { field: 'customFields.vat', message: 'is required' },
          { field: 'customFields.size', message: 'is required' },
        ],
      });
    });

    it('are satisfied on create when given', () => {
      expect(checkCustomValues(definitions, { vat: 'GB123', size: 3 }, true)).toEqual({ values: { vat: 'GB123', size: 3 }, errors: [] });
    });

    it('a wrong value is reported as wrong, not as missing', () => {
      expect(checkCustomValues(definitions, { vat: 'GB123', size: 'three' }, true)).toEqual({
        values: { vat: 'GB123' },
        errors: [{ field: 'customFields.size', message: 'must be a whole number' }],
      });
    });

    it('may be left out on update', () => {
      expect(checkCustomValues(definitions, { note: 'x' }, false)).toEqual({ values: { note: 'x' }, errors: [] });
    });

    it('are not answered by blank text or no chosen options, on create or update', () => {
      const withOptions = [...definitions, definition('regions', 'multi_select', { required: true, options: ['North', 'South'] })];
      expect(checkCustomValues(withOptions, { vat: '   ', size: 1, regions: [] }, true).errors).toEqual([
        { field: 'customFields.vat', message: 'is required' },
        { field: 'customFields.regions', message: 'is required' },
      ]);
      expect(checkCustomValues(withOptions, { vat: '', note: '  ' }, false)).toEqual({ values: { note: null }, errors: [{ field: 'customFields.vat', message: 'is required' }] });
    });

    it('a deleted required field is not required any more', () => {
      expect(checkCustomValues(definitions, { vat: 'GB123', size: 1 }, true).errors).toEqual([]);
    });
  });

  describe('unknown and deleted keys', () => {
    it.each(['nope', 'legacy', 'Note', 'custom.note', '__proto__', 'constructor', 'toString'])('refuses %p', (key) => {
      expect(checkCustomValues(DEFINITIONS, JSON.parse(`{"${key}": "x"}`), false)).toEqual({ values: {}, errors: [{ field: `customFields.${key}`, message: 'is not a custom field of contacts' }] });
    });

    it('refuses a deleted key even to clear it', () => {
      expect(check('legacy', null)).toEqual({ values: {}, errors: [{ field: 'customFields.legacy', message: 'is not a custom field of contacts' }] });
    });

    it('reports every bad key and keeps the good ones', () => {
      expect(checkCustomValues(DEFINITIONS, { note: ' ok ', nope: 1, employees: 1.5, legacy: 'x', plan: 'pro' }, false)).toEqual({
        values: { note: 'ok', plan: 'pro' },
        errors: [
          { field: 'customFields.nope', message: 'is not a custom field of contacts' },
          { field: 'customFields.employees', message: 'must be a whole number' },
          { field: 'customFields.legacy', message: 'is not a custom field of contacts' },
        ],
      });
    });
  });

  it('normalises every type in one call', () => {
    expect(
      checkCustomValues(
        DEFINITIONS,
        {
          note: ' hi ',
          employees: 3,
          revenue: 2.5,
          newsletter: false,
          renewal: '2025-01-31',
          kickoff: '2025-01-31T23:00:00-02:00',
          plan: 'basic',
          interests: ['seo', 'seo'],
          billing_email: ' a@b.co ',
          website: 'https://Example.com',
          mobile: ' +1 555 0100 ',
        },
        true,
      ),
    ).toEqual({
      values: {
        note: 'hi',
        employees: 3,
        revenue: 2.5,
        newsletter: false,
        renewal: '2025-01-31',
        kickoff: '2025-02-01T01:00:00.000Z',
        plan: 'basic',
        interests: ['seo'],
        billing_email: 'a@b.co',
        website: 'https://example.com/',
        mobile: '+1 555 0100',
      },
      errors: [],
    });
  });
});
