import { customValueToCell, neutraliseFormula } from './contacts.csv';
import type { CustomField } from './entities/custom-field.entity';
import { ColumnMapping, EMAIL_PADDING, ImportLookups, newContactCustomError, readRow } from './import-mapping';

const field = (key: string, type: CustomField['type'], required: boolean, deletedAt: Date | null = null): CustomField =>
  ({ id: key, key, label: key, type, required, options: [], internal: false, position: 0, deletedAt, createdAt: new Date(), updatedAt: new Date() }) as CustomField;

const lookups = (customFields: CustomField[] = []): ImportLookups => ({
  statuses: new Map(),
  services: new Map(),
  trafficSources: new Map(),
  staffByEmail: new Map(),
  customFields,
});

const mapping: ColumnMapping[] = [
  { index: 0, header: 'First Name', target: 'firstName' },
  { index: 1, header: 'Email', target: 'email' },
];

describe('EMAIL_PADDING', () => {
  it('holds exactly the characters String.prototype.trim removes, as POST /contacts trims an email', () => {
    const trimmed: string[] = [];
    for (let code = 0; code <= 0xffff; code += 1) {
      const character = String.fromCharCode(code);
      if (character.trim() === '') trimmed.push(character);
    }
    expect([...EMAIL_PADDING].sort()).toEqual(trimmed.sort());
  });
});

describe('readRow', () => {
  it('takes the email as PostgreSQL normalised it, not the raw cell', () => {
    const { record } = readRow(['Bob', ' BOB@example.com\t'], 2, mapping, lookups(), 'BOB@example.com');
    expect(record!.fields).toEqual({ firstName: 'Bob', email: 'BOB@example.com' });
  });

  it('rejects an email that is still invalid once trimmed', () => {
    expect(readRow(['Dee', 'dee@exa\u00a0mple.com'], 2, mapping, lookups(), 'dee@exa\u00a0mple.com').error).toBe('invalid email "dee@exa\u00a0mple.com"');
    expect(readRow(['Dee', '\t'], 2, mapping, lookups(), '').record!.fields).toEqual({ firstName: 'Dee' });
  });

  it('rejects an email holding an invisible character, as every route does', () => {
    expect(readRow(['Dee', 'dee\u200b@example.com'], 2, mapping, lookups(), 'dee\u200b@example.com').error).toBe('invalid email "dee\u200b@example.com"');
  });

  it('reads back what an export wrote: decimals in exponent form, text that starts with apostrophes', () => {
    const fields = [field('ratio', 'decimal', false), field('note', 'text', false)];
    const columns: ColumnMapping[] = [...mapping, { index: 2, header: 'custom.ratio', target: 'custom.ratio' }, { index: 3, header: 'custom.note', target: 'custom.note' }];
    for (const [ratio, note] of [[1e-7, "'-- quoted"], [-1.5e21, "''=x"], [0.25, "'plain"], [2.5e-10, '=SUM(1)']] as const) {
      const cells = ['Exp', 'exp@example.com', neutraliseFormula(customValueToCell(ratio)), neutraliseFormula(note)];
      const { record, error } = readRow(cells, 4, columns, lookups(fields), 'exp@example.com');
      expect(error).toBeUndefined();
      expect(record!.customFields).toEqual({ ratio, note });
    }
  });

  it('rejects a name with control or invisible characters, naming the column, and keeps the joiners Persian and Indic names need', () => {
    const columns: ColumnMapping[] = [...mapping, { index: 2, header: 'Surname', target: 'lastName' }];
    const read = (first: string, last: string) => readRow([first, 'name@example.com', last], 3, columns, lookups(), 'name@example.com');
    expect(read('A\u0007B', 'Ok')).toEqual({ error: 'First Name must not contain control or invisible characters' });
    expect(read('Ok', '\u200b')).toEqual({ error: 'Surname must not contain control or invisible characters' });
    expect(read('Ok', 'Line\nBreak').error).toBe('Surname must not contain control or invisible characters');
    expect(read('Ok', 'Evil\u202eName').error).toBe('Surname must not contain control or invisible characters');
    expect(read('می\u200cخواهم', 'क्\u200dष').record!.fields).toMatchObject({ firstName: 'می\u200cخواهم', lastName: 'क्\u200dष' });
  });

  it('rejects a row with a tag name too long once Title Cased, naming the column, instead of dropping the tag', () => {
    const columns: ColumnMapping[] = [...mapping, { index: 2, header: 'Labels', target: 'tags' }];
    const read = (tags: string) => readRow(['Tag', 'tag@example.com', tags], 3, columns, lookups(), 'tag@example.com');
    expect(read(`${'x'.repeat(101)}; short one`)).toEqual({ error: `Labels: tag "${'x'.repeat(30)}…" is 101 characters long once Title Cased; at most 100 are allowed` });
    expect(read('İ'.repeat(60)).record!.tagNames).toEqual([`İ${'i'.repeat(59)}`]);
    expect(read(`short one; SHORT ONE; ${'y'.repeat(100)}; ßeta`).record!.tagNames).toEqual(['Short One', `Y${'y'.repeat(99)}`, 'ßeta']);
  });

  it('finds statuses, traffic sources and services however their names are spaced, cased or composed, as tags are', () => {
    const columns: ColumnMapping[] = [
      ...mapping,
      { index: 2, header: 'Status', target: 'status' },
      { index: 3, header: 'Source', target: 'trafficSource' },
      { index: 4, header: 'Services', target: 'services' },
    ];
    // Keyed as the lists key them: PostgreSQL's lower() of the stored (Title Cased, NFC) name.
    const known: ImportLookups = {
      ...lookups(),
      statuses: new Map([['qualifié', 'status-id']]),
      trafficSources: new Map([['social media', 'source-id']]),
      services: new Map([['café setup', 'service-id']]),
    };
    const read = (status: string, source: string, services: string) => readRow(['Ann', 'ann@example.com', status, source, services], 5, columns, known, 'ann@example.com');
    const record = read('Qualifie\u0301', 'Social  Media', ' cafe\u0301 SETUP ').record!;
    expect([record.statusId, record.trafficSourceId, record.serviceIds]).toEqual(['status-id', 'source-id', ['service-id']]);
    expect(read('Qualified', '', '').error).toBe('unknown status "Qualified"');
    // "İ" keyed as PostgreSQL's lower() keys it: a plain i.
    const turkish: ImportLookups = { ...lookups(), statuses: new Map([['istanbul lead', 'istanbul-id']]) };
    for (const cell of ['İstanbul Lead', 'İSTANBUL LEAD', 'istanbul lead']) {
      expect(readRow(['Ann', 'ann@example.com', cell, '', ''], 5, columns, turkish, 'ann@example.com').record!.statusId).toBe('istanbul-id');
    }
  });

  it('leaves required custom fields to the create decision: an update may omit them', () => {
    const { record, error } = readRow(['Upd', 'upd@example.com'], 2, mapping, lookups([field('consent', 'boolean', true)]), 'upd@example.com');
    expect(error).toBeUndefined();
    expect(record!.customFields).toBeUndefined();
  });
});

describe('newContactCustomError', () => {
  const definitions = [field('consent', 'boolean', true), field('budget', 'number', false), field('gone', 'text', true, new Date())];

  it('names each required custom field a new contact lacks, as POST /contacts does', () => {
    expect(newContactCustomError({ fields: { firstName: 'A' } }, definitions)).toBe('custom.consent is required');
    expect(newContactCustomError({ fields: { firstName: 'A' }, customFields: { budget: 3 } }, definitions)).toBe('custom.consent is required');
  });

  it('accepts a row holding every required field, and any row when none is required', () => {
    expect(newContactCustomError({ fields: { firstName: 'A' }, customFields: { consent: false } }, definitions)).toBeUndefined();
    expect(newContactCustomError({ fields: { firstName: 'A' } }, [field('budget', 'number', false), field('gone', 'text', true, new Date())])).toBeUndefined();
  });
});
