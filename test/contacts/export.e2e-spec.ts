import { parse } from 'csv-parse/sync';
import { get, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pool } from 'pg';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { buildAbility } from '../../src/core/access/app-ability';
import { ContactsExportService } from '../../src/modules/contacts/contacts-export.service';
import { CSV_CORE_COLUMNS, restoreNeutralised } from '../../src/modules/contacts/contacts.csv';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { until } from '../support/wait';

type CsvRecord = Record<string, string>;

describe('contacts export (CSV)', () => {
  let t: TestApp;
  let admin: Session;
  let staff: Session;
  let client: Session;
  let statuses: Record<string, string>;
  let services: Record<string, string>;
  let websiteId: string;
  let goneFieldId: string;

  const CORE_HEADERS = CSV_CORE_COLUMNS.map((column) => column.header);
  // By position, then key; `gone` is removed in beforeAll and must not appear.
  const CUSTOM_HEADERS = ['custom.aaa_first', 'custom.budget', 'custom.tier'];
  const HEADERS = [...CORE_HEADERS, ...CUSTOM_HEADERS];

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    client = await register(t, 'client');
    staff = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'staff');
    statuses = Object.fromEntries((await t.db.query('SELECT id, name FROM contact_statuses')).map((row: { id: string; name: string }) => [row.name, row.id]));
    services = Object.fromEntries((await t.db.query('SELECT id, name FROM services')).map((row: { id: string; name: string }) => [row.name, row.id]));
    websiteId = (await t.db.query(`SELECT id FROM traffic_sources WHERE name = 'Website'`))[0].id;
    const field = (body: Record<string, unknown>) => t.http.post('/api/v1/custom-fields').set(admin.auth).send(body).expect(201);
    await field({ key: 'tier', label: 'Tier', type: 'multi_select', options: ['gold', 'silver', 'bronze'], position: 5 });
    await field({ key: 'budget', label: 'Budget', type: 'number', position: 5 });
    await field({ key: 'aaa_first', label: 'First', type: 'text', position: 1 });
    goneFieldId = (await field({ key: 'gone', label: 'Gone', type: 'text', position: 0 })).body.id;
  });
  afterAll(() => t.close());

  let sequence = 0;
  const newMarker = () => `exp${Date.now().toString(36)}${(sequence += 1)}`;
  const create = async (session: Session, body: Record<string, unknown>) => (await t.http.post('/api/v1/contacts').set(session.auth).send(body).expect(201)).body;
  const exportCsv = (session: Session, query: Record<string, string | number | boolean> = {}) => t.http.get('/api/v1/contacts/export').set(session.auth).query(query);
  const recordsOf = (text: string): CsvRecord[] => parse(text, { columns: true, bom: false });
  const exported = async (session: Session, query: Record<string, string | number | boolean>) => recordsOf((await exportCsv(session, query).expect(200)).text);
  const lastNames = (records: CsvRecord[]) => records.map((record) => record['Last Name']!);

  /** Runs `body` with a small batch size, so a handful of rows crosses several batch boundaries. */
  async function withBatchSize<T>(size: number, body: () => Promise<T>): Promise<T> {
    const service = t.app.get(ContactsExportService);
    const previous = service.batchSize;
    service.batchSize = size;
    try {
      return await body();
    } finally {
      service.batchSize = previous;
    }
  }

  describe('the file', () => {
    let marker: string;

    beforeAll(async () => {
      marker = newMarker();
      await create(admin, {
        firstName: 'Ada',
        lastName: `${marker} Full`,
        email: `${marker}@example.com`,
        phone: '+44 20 7946 0000',
        company: 'Acme, "Widgets" Ltd',
        jobTitle: 'Engineer',
        addressLine1: '1 Main Street',
        addressLine2: 'Floor 2\nRoom 7',
        city: 'London',
        region: 'Greater London',
        postalCode: 'N1 9GU',
        country: 'United Kingdom',
        statusId: statuses.Customer,
        newTags: ['zeta', 'alpha', 'Mid'],
        serviceIds: [services.Training, services.Consulting],
        trafficSourceId: websiteId,
        assignedToId: staff.userId,
        customFields: { aaa_first: 'first; value', budget: 5000, tier: ['silver', 'gold'], gone: 'left behind' },
      });
      await create(admin, { firstName: 'Bare', lastName: `${marker} Min`, statusId: null });
      await t.http.delete(`/api/v1/custom-fields/${goneFieldId}`).set(admin.auth).expect(204);
    });

    it('is a CSV attachment: core columns, then active custom fields by position and key, no BOM, CRLF lines', async () => {
      const response = await exportCsv(staff, { q: marker }).expect(200);
      expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
      expect(response.headers['content-disposition']).toMatch(/^attachment; filename="contacts-\d{4}-\d{2}-\d{2}\.csv"$/);
      expect(response.text.charCodeAt(0)).not.toBe(0xfeff);
      expect(response.text.split('\r\n')[0]).toBe(HEADERS.join(','));
      expect(response.text.endsWith('\r\n')).toBe(true);
      expect(response.text).not.toContain('left behind');
      // Any line break is quoted, so tools that split lines on a bare LF still read one record.
      expect(response.text).toContain('"Floor 2\nRoom 7"');
    });

    it('writes names for references, sorted "; "-joined lists, the assignee email and custom values', async () => {
      const records = await exported(staff, { q: marker, sort: 'lastName' });
      expect(records).toEqual([
        {
          'First Name': 'Ada',
          'Last Name': `${marker} Full`,
          Email: `${marker}@example.com`,
          Phone: "'+44 20 7946 0000",
          Company: 'Acme, "Widgets" Ltd',
          'Job Title': 'Engineer',
          'Address Line 1': '1 Main Street',
          'Address Line 2': 'Floor 2\nRoom 7',
          City: 'London',
          Region: 'Greater London',
          'Postal Code': 'N1 9GU',
          Country: 'United Kingdom',
          Status: 'Customer',
          Tags: 'Alpha; Mid; Zeta',
          Services: 'Consulting; Training',
          'Traffic Source': 'Website',
          'Assigned To': staff.email,
          'custom.aaa_first': 'first; value',
          'custom.budget': '5000',
          'custom.tier': 'silver; gold',
        },
        {
          ...Object.fromEntries(HEADERS.map((header) => [header, ''])),
          'First Name': 'Bare',
          'Last Name': `${marker} Min`,
        },
      ]);
    });

    it('is reached at /contacts/export, not taken for a contact id', async () => {
      const response = await exportCsv(admin, { q: marker }).expect(200);
      expect(response.headers['content-type']).toContain('text/csv');
    });
  });

  describe('formula cells', () => {
    it('start with an apostrophe, and the file parses back into the contacts’ own values', async () => {
      const marker = newMarker();
      const contacts = [
        await create(admin, { firstName: '=SUM(1)', lastName: `${marker} a`, company: '+1', city: '-1', jobTitle: '@x', customFields: { aaa_first: '=HYPERLINK("x")' } }),
        await create(admin, { firstName: 'a=b', lastName: `${marker} b`, company: 'Quote "q", comma', addressLine1: 'Line\r\nbreak', city: 'Zoë 日本', newTags: ['=cmd'] }),
      ];
      const records = await exported(staff, { q: marker, sort: 'lastName' });
      expect(records.map((record) => [record['First Name'], record.Company, record.City, record['Job Title'], record['custom.aaa_first']])).toEqual([
        ["'=SUM(1)", "'+1", "'-1", "'@x", `'=HYPERLINK("x")`],
        ['a=b', 'Quote "q", comma', 'Zoë 日本', '', ''],
      ]);
      expect(records[1]!.Tags).toBe("'=cmd");

      // Each cell, with the apostrophe taken off again as the import does, is the stored value.
      for (const [index, contact] of contacts.entries()) {
        const profile = (await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body;
        const record = Object.fromEntries(Object.entries(records[index]!).map(([header, cell]) => [header, restoreNeutralised(cell)]));
        expect(record).toMatchObject({
          'First Name': profile.firstName,
          'Last Name': profile.lastName,
          Company: profile.company ?? '',
          City: profile.city ?? '',
          'Job Title': profile.jobTitle ?? '',
          'Address Line 1': profile.addressLine1 ?? '',
          Status: profile.status?.name ?? '',
          Tags: profile.tags.map((tag: { name: string }) => tag.name).join('; '),
          'custom.aaa_first': profile.customFields.aaa_first ?? '',
        });
      }
    });
  });

  describe('selection', () => {
    let marker: string;
    let tagId: string;

    beforeAll(async () => {
      marker = newMarker();
      const tagged = await create(admin, { firstName: 'Sel', lastName: `${marker} customer`, statusId: statuses.Customer, newTags: [`${marker}tag`], assignedToId: staff.userId });
      tagId = tagged.tags[0].id;
      await create(admin, { firstName: 'Sel', lastName: `${marker} prospect`, statusId: statuses.Prospect, trafficSourceId: websiteId });
      await create(admin, { firstName: 'Sel', lastName: `${marker} lead`, newTags: [`${marker}tag`] });
      const trashed = await create(admin, { firstName: 'Sel', lastName: `${marker} trashed` });
      await t.http.delete(`/api/v1/contacts/${trashed.id}`).set(admin.auth).expect(204);
    });

    it('applies the list filters, exactly as the list does', async () => {
      const queries: Array<Record<string, string | number | boolean>> = [
        { q: marker },
        { q: marker, stage: 'customer' },
        { q: marker, status: statuses.Prospect! },
        { q: marker, tags: tagId },
        { q: marker, noTags: true },
        { q: marker, assignedTo: 'me' },
        { q: marker, unassigned: true },
        { q: marker, filter: JSON.stringify({ or: [{ field: 'trafficSource', op: 'notEmpty' }, { field: 'stage', op: 'is', value: 'customer' }] }) },
      ];
      for (const query of queries) {
        const listed = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ ...query, limit: 100 }).expect(200)).body.data.map((c: { lastName: string }) => c.lastName);
        expect({ query, exported: lastNames(await exported(staff, query)).sort() }).toEqual({ query, exported: listed.sort() });
      }
      expect(lastNames(await exported(staff, { q: marker, stage: 'customer' }))).toEqual([`${marker} customer`]);
      expect(lastNames(await exported(staff, { q: marker, tags: tagId })).sort()).toEqual([`${marker} customer`, `${marker} lead`]);
      expect(lastNames(await exported(staff, { q: marker })).sort()).toEqual([`${marker} customer`, `${marker} lead`, `${marker} prospect`]);
    });

    it('exports the whole selection whatever page, limit or cursor say', async () => {
      expect(await exported(staff, { q: marker, page: 2, limit: 1 })).toHaveLength(3);
    });

    it('refuses a bad sort or filter before sending anything', async () => {
      const badSort = await exportCsv(staff, { sort: 'password' }).expect(400);
      expect(badSort.headers['content-type']).toContain('application/json');
      expect(badSort.body).toMatchObject({ code: 'validation_failed', details: [{ field: 'sort' }] });
      const badFilter = await exportCsv(staff, { filter: JSON.stringify({ field: 'nope', op: 'is', value: 1 }) }).expect(400);
      expect(badFilter.body.details[0].field).toBe('filter.field');
    });

    it('refuses a clause on a deleted custom field, which would export nothing or, under `not`, everyone', async () => {
      const retired = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'retired', label: 'Retired', type: 'text' }).expect(201)).body;
      await t.http.delete(`/api/v1/custom-fields/${retired.id}`).set(admin.auth).expect(204);
      const refused = await exportCsv(staff, { filter: JSON.stringify({ not: { field: 'custom.retired', op: 'is', value: 'x' } }) }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'filter.not.field', message: 'the custom field "custom.retired" was deleted' }]);
      // The list shows such a clause with a warning saying what it does.
      const listed = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ filter: JSON.stringify({ field: 'custom.retired', op: 'is', value: 'x' }) }).expect(200)).body;
      expect(listed.meta.warnings).toEqual(['filter: the custom field "custom.retired" was deleted; this condition holds for no contact']);
      // Under `not`, or with an operator that leaves contacts out, it leaves nobody out: the list shows everyone and says so.
      const everyone = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ q: marker, limit: 100 }).expect(200)).body.meta.total;
      const leavingOut: Array<[unknown, string]> = [
        [{ not: { field: 'custom.retired', op: 'is', value: 'x' } }, 'filter.and.1.not: the custom field "custom.retired" was deleted; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included'],
        [{ field: 'custom.retired', op: 'notContains', value: 'x' }, 'filter.and.1: the custom field "custom.retired" was deleted; it excludes no contact, so this condition now holds for every contact, those it used to exclude included'],
      ];
      for (const [clause, warning] of leavingOut) {
        const page = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ filter: JSON.stringify({ and: [{ field: 'q', op: 'matches', value: marker }, clause] }), limit: 100 }).expect(200)).body;
        expect([page.meta.total, page.meta.warnings]).toEqual([everyone, [warning]]);
        const refusedToo = await exportCsv(staff, { filter: JSON.stringify(clause) }).expect(400);
        expect(refusedToo.body.details[0].message).toBe('the custom field "custom.retired" was deleted');
      }
    });
  });

  describe('order', () => {
    let marker: string;

    beforeAll(async () => {
      marker = newMarker();
      const companies = ['Beta', null, 'alpha', 'Beta', null, 'Gamma', 'beta'];
      const budgets = [10, null, 5, 10, 7, null, 10];
      for (const [i, company] of companies.entries()) {
        await create(admin, { firstName: i % 2 ? 'Odd' : 'Even', lastName: `${marker} ${String(i).padStart(2, '0')}`, company, city: i % 3 ? 'Paris' : null, customFields: budgets[i] === null ? {} : { budget: budgets[i] } });
      }
      // Same instant, and instants a microsecond apart: ties and precision a millisecond cursor would lose.
      await t.db.query(
        `INSERT INTO contacts (first_name, last_name, company, created_at, updated_at)
         SELECT 'Tie', $1 || ' t' || lpad(n::text, 2, '0'), 'Beta', timestamptz '2024-01-01 00:00:00.000001+00' + (n / 2) * interval '1 microsecond', now()
           FROM generate_series(1, 7) n`,
        [marker],
      );
    });

    it('follows the list order for every sort, across batch boundaries, ties and NULLs', async () => {
      const sorts = ['-createdAt', 'createdAt', 'lastName', '-lastName', 'company', '-company', 'company,-firstName', 'city,lastName', '-updatedAt', 'custom.budget', '-custom.budget', 'email'];
      await withBatchSize(2, async () => {
        for (const sort of sorts) {
          const listed = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ q: marker, sort, limit: 100 }).expect(200)).body.data.map((c: { lastName: string }) => c.lastName);
          expect(listed).toHaveLength(14);
          expect({ sort, exported: lastNames(await exported(staff, { q: marker, sort })) }).toEqual({ sort, exported: listed });
          // Read in batches here rather than by COPY, as on the embedded database: the same order.
          expect({ sort, inBatches: lastNames(await inBatches(() => exported(staff, { q: marker, sort }))) }).toEqual({ sort, inBatches: listed });
        }
      });
    });
  });

  describe('permissions', () => {
    let marker: string;
    let rep: Session;
    const sessionWith = async (rules: unknown[], name: string) => {
      const role = await t.http.post('/api/v1/roles').set(admin.auth).send({ name, audience: 'staff', rules }).expect(201);
      return createUserWithRoles(t, admin, [role.body.id], 'exporter');
    };
    const mine = { assignedToId: '${user.id}' };

    beforeAll(async () => {
      marker = newMarker();
      rep = await sessionWith([{ action: ['read', 'export'], subject: 'Contact', conditions: mine }], 'Exports own');
      await create(admin, { firstName: 'Perm', lastName: `${marker} rep`, assignedToId: rep.userId });
      await create(admin, { firstName: 'Perm', lastName: `${marker} staff`, assignedToId: staff.userId });
      await create(admin, { firstName: 'Perm', lastName: `${marker} nobody` });
    });

    it('gives a restricted role only the contacts its rules allow', async () => {
      expect(lastNames(await exported(rep, { q: marker }))).toEqual([`${marker} rep`]);
      expect(lastNames(await exported(staff, { q: marker }))).toHaveLength(3);
    });

    it("gives the assignee's email only to roles that may read users, the name shown in lists to the others", async () => {
      const assigned = { q: marker, filter: JSON.stringify({ field: 'assignedTo', op: 'is', value: rep.userId }) };
      const me = (await t.http.get('/api/v1/auth/me').set(rep.auth).expect(200)).body;
      const name = `${me.firstName} ${me.lastName}`.trim();
      // Both ways of writing the file: a batch, and COPY for a selection larger than one.
      for (const size of [100, 1]) {
        const [forRep] = await withBatchSize(size, () => exported(rep, assigned));
        expect(forRep!['Assigned To']).toBe(name);
        const [forStaff] = await withBatchSize(size, () => exported(staff, assigned));
        expect(forStaff!['Assigned To']).toBe(rep.email);
      }
    });

    it('needs both read and export on a row', async () => {
      const exportsOwnReadsAll = await sessionWith([{ action: 'read', subject: 'Contact' }, { action: 'export', subject: 'Contact', conditions: mine }], 'Reads all');
      const readsOwnExportsAll = await sessionWith([{ action: 'read', subject: 'Contact', conditions: mine }, { action: 'export', subject: 'Contact' }], 'Exports all');
      // Each may do one of the two on every contact, the other only on its own.
      for (const session of [exportsOwnReadsAll, readsOwnExportsAll]) {
        expect(lastNames(await exported(session, { q: marker }))).toEqual([]);
        const own = await create(admin, { firstName: 'Perm', lastName: `${marker} own${session.userId.slice(0, 8)}`, assignedToId: session.userId });
        expect(lastNames(await exported(session, { q: marker }))).toEqual([own.lastName]);
      }
    });

    it('refuses a role that may read contacts but not export them', async () => {
      const reader = await sessionWith([{ action: 'read', subject: 'Contact' }], 'Reads only');
      await t.http.get('/api/v1/contacts').set(reader.auth).expect(200);
      const refused = await exportCsv(reader).expect(403);
      expect(refused.body).toMatchObject({ code: 'forbidden' });
    });

    it('refuses clients', async () => {
      const refused = await exportCsv(client).expect(403);
      expect(refused.body.code).toBe('wrong_audience');
    });
  });

  describe('a larger export', () => {
    it('streams every row of several batches, each with its own tags', async () => {
      const marker = newMarker();
      const [tag] = await t.db.query(`INSERT INTO tags (name) VALUES ($1) RETURNING id`, [`${marker}bulk`]);
      await t.db.query(
        `WITH inserted AS (
           INSERT INTO contacts (first_name, last_name, company, created_at)
           SELECT 'Bulk', 'Row ' || lpad(n::text, 4, '0'), $1, now() - n * interval '1 second' FROM generate_series(1, 3000) n
           RETURNING id
         )
         INSERT INTO contact_tags (contact_id, tag_id) SELECT id, $2 FROM inserted`,
        [marker, tag.id],
      );
      const response = await withBatchSize(700, () => exportCsv(staff, { filter: JSON.stringify({ field: 'company', op: 'is', value: marker }) }).expect(200));
      // Chunked, with no length known up front: the file is streamed, not built first.
      expect(response.headers['transfer-encoding']).toBe('chunked');
      expect(response.headers['content-length']).toBeUndefined();
      const records = recordsOf(response.text);
      expect(records).toHaveLength(3000);
      expect(new Set(lastNames(records)).size).toBe(3000);
      // Newest first: row 1 was created last.
      expect(lastNames(records).slice(0, 2)).toEqual(['Row 0001', 'Row 0002']);
      expect(records.every((record) => record.Tags === `${marker}bulk` && record.Company === marker)).toBe(true);
    });
  });

  /** Runs `body` with the export built in batches here instead of by the database (COPY). */
  async function inBatches<T>(body: () => Promise<T>): Promise<T> {
    const service = t.app.get(ContactsExportService);
    service.copyEnabled = false;
    try {
      return await body();
    } finally {
      service.copyEnabled = true;
    }
  }

  describe('read in batches (no COPY, as on the embedded database)', () => {
    it('is one snapshot: contacts edited while the file streams are neither dropped nor repeated', async () => {
      const marker = newMarker();
      const ids: string[] = [];
      for (let i = 0; i < 6; i += 1) ids.push((await create(admin, { firstName: 'Snap', lastName: `${marker} ${i}`, company: marker })).id);
      const service = t.app.get(ContactsExportService);
      const everything = buildAbility([{ action: 'manage', subject: 'all' }]);
      const stream = await inBatches(() => withBatchSize(2, () => service.export(everything, { filter: { field: 'company', op: 'is', value: marker }, sort: 'lastName' })));
      // The export has started; before the rest is read, the first contact moves to the end of the
      // order and the last one to the front.
      await t.db.query('UPDATE contacts SET last_name = $2 WHERE id = $1', [ids[0], `${marker} 9 moved back`]);
      await t.db.query('UPDATE contacts SET last_name = $2 WHERE id = $1', [ids[5], `${marker} 0 moved ahead`]);
      let text = '';
      for await (const chunk of stream) text += String(chunk);
      expect(lastNames(recordsOf(text))).toEqual([0, 1, 2, 3, 4, 5].map((i) => `${marker} ${i}`));
    });
  });

  describe('written by the database (COPY)', () => {
    let marker: string;

    beforeAll(async () => {
      marker = newMarker();
      const field = (body: Record<string, unknown>) => t.http.post('/api/v1/custom-fields').set(admin.auth).send(body).expect(201);
      await field({ key: 'ratio', label: 'Ratio', type: 'decimal', position: 7 });
      await field({ key: 'vip', label: 'VIP', type: 'boolean', position: 7 });
      await field({ key: 'since', label: 'Since', type: 'datetime', position: 7 });
      const odd = ['=cmd|calc', '-5', '@SUM(A1)', '+1', 'tab\tinside', 'quote "q", comma', 'cr\r\nlf', 'lf\nonly', 'Zoë 日本 😀', 'x', 'back\\slash'];
      for (const [i, text] of odd.entries()) {
        await create(admin, {
          firstName: `Odd ${i}`,
          lastName: `${marker} ${String(i).padStart(2, '0')}`,
          company: text,
          jobTitle: odd[(i + 3) % odd.length],
          addressLine2: odd[(i + 6) % odd.length],
          newTags: i % 2 ? [`${marker}t${i}`, `=${marker}`] : [],
          customFields: {
            aaa_first: odd[(i + 1) % odd.length],
            budget: [0, -7, 9007199254740991, null][i % 4],
            ratio: [1e-7, 0.1, 1.5e21, -2.25, 1 / 3, null][i % 6],
            vip: [true, false, null][i % 3],
            since: i % 2 ? '2024-02-29T12:30:00.123456+02:00' : null,
            tier: [['gold'], ['silver', 'gold'], [], null][i % 4],
          },
        });
      }
    });

    it('is byte for byte the file the batches write, for formula-like, quoted, multi-line and typed cells', async () => {
      const queries: Array<Record<string, string>> = [{ q: marker, sort: 'lastName' }, { q: marker, sort: '-custom.ratio' }, {}];
      for (const query of queries) {
        // A selection larger than one batch is written by COPY.
        const copied = await withBatchSize(1, () => exportCsv(staff, query).expect(200));
        const batched = await inBatches(() => withBatchSize(3, () => exportCsv(staff, query).expect(200)));
        expect(copied.text.length).toBeGreaterThan(0);
        expect({ query, text: copied.text }).toEqual({ query, text: batched.text });
      }
      const records = recordsOf((await withBatchSize(1, () => exportCsv(staff, { q: marker, sort: 'lastName' }).expect(200))).text);
      expect(records).toHaveLength(11);
      expect(records.slice(0, 3).map((record) => [record.Company, record['custom.ratio'], record['custom.vip'], record['custom.budget'], record['custom.tier']])).toEqual([
        ["'=cmd|calc", '1e-7', 'true', '0', 'gold'],
        ["'-5", '0.1', 'false', "'-7", 'silver; gold'],
        ["'@SUM(A1)", '1.5e+21', '', '9007199254740991', ''],
      ]);
      // New tags are capitalised; "=" sorts before letters.
      expect(records[1]!.Tags).toBe(`'=${marker}; ${marker[0]!.toUpperCase()}${marker.slice(1)}t1`);
    });

    it('refuses a filter the database fails on in its first batch before sending anything', async () => {
      // Year 0 is caught by the filter's validation, with the field named.
      const invalid = await exportCsv(staff, { filter: JSON.stringify({ field: 'createdAt', op: 'gt', value: '0000-01-01' }) });
      expect(invalid.status).toBe(400);
      expect(invalid.body).toMatchObject({ code: 'validation_failed', details: [{ field: 'filter.value' }] });
      // A value written around the API that the filter's cast rejects, on the newest row: the very first batch fails.
      const [bad] = await t.db.query(`INSERT INTO contacts (first_name, last_name, custom_fields) VALUES ('Bad', $1, '{"budget": "abc"}') RETURNING id`, [`${marker} newest bad`]);
      try {
        const refused = await exportCsv(staff, { filter: JSON.stringify({ field: 'custom.budget', op: 'gt', value: 5 }) });
        expect(refused.status).toBe(400);
        expect(refused.headers['content-type']).toContain('application/json');
        expect(refused.body).toMatchObject({ code: 'invalid_value' });
      } finally {
        await t.db.query('DELETE FROM contacts WHERE id = $1', [bad.id]);
      }
    });

    it('answers with a 4xx, not a cut file, when a row beyond the first batch makes the statement fail', async () => {
      // A value written around the API that the filter's cast rejects, on the oldest row: the first
      // batch (newest first) never reaches it, COPY does before sending anything.
      const [bad] = await t.db.query(`INSERT INTO contacts (first_name, last_name, custom_fields, created_at) VALUES ('Bad', $1, '{"budget": "abc"}', '2000-01-01') RETURNING id`, [`${marker} bad`]);
      try {
        const refused = await withBatchSize(1, () => exportCsv(staff, { filter: JSON.stringify({ field: 'custom.budget', op: 'gt', value: 5 }) }));
        expect(refused.status).toBe(400);
        expect(refused.headers['content-type']).toContain('application/json');
        expect(refused.body).toMatchObject({ code: 'invalid_value' });
        // The connection went back to the pool usable.
        await exportCsv(staff, { q: marker }).expect(200);
      } finally {
        await t.db.query('DELETE FROM contacts WHERE id = $1', [bad.id]);
      }
    });
  });

  describe('a stopped export', () => {
    let marker: string;
    let url: string;
    const pool = () => (t.db.driver as PostgresDriver).master as Pool;
    /** Exports running on the server for this database. */
    const runningCopies = async () =>
      Number((await t.db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY (%' AND state <> 'idle'`))[0].n);

    beforeAll(async () => {
      marker = newMarker();
      // Big enough (several MB) that the response cannot sit whole in socket buffers.
      await t.db.query(
        `INSERT INTO contacts (first_name, last_name, company, address_line1, created_at)
         SELECT 'Stop', 'Row ' || n, $1, repeat('x', 150), now() - n * interval '1 second' FROM generate_series(1, 30000) n`,
        [marker],
      );
      await t.app.listen(0, '127.0.0.1');
      url = `http://127.0.0.1:${(t.app.getHttpServer().address() as AddressInfo).port}/api/v1/contacts/export?filter=${encodeURIComponent(JSON.stringify({ field: 'company', op: 'is', value: marker }))}`;
    });

    /** Opens the export and resolves with the response once its first bytes are in. */
    const openExport = () =>
      new Promise<IncomingMessage>((resolve, reject) => {
        const request = get(url, { headers: staff.auth as Record<string, string> }, (response) => {
          response.once('data', () => {
            response.pause();
            resolve(response);
          });
        });
        request.on('error', reject);
      });

    it('closes its connection when the client goes away, and the next export runs', async () => {
      const response = await openExport();
      expect(response.statusCode).toBe(200);
      await until(async () => ((await runningCopies()) === 1 ? true : undefined), 30_000, 'the export to run');
      response.destroy();
      await until(async () => ((await runningCopies()) === 0 && pool().totalCount === pool().idleCount ? true : undefined), 30_000, 'the export to stop');
      const records = recordsOf((await exportCsv(staff, { filter: JSON.stringify({ field: 'company', op: 'is', value: marker }) }).expect(200)).text);
      expect(records).toHaveLength(30000);
    });

    it('cuts the response when the database connection is lost midway, so the file never looks complete', async () => {
      const response = await openExport();
      const [{ pid }] = await t.db.query(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'COPY (%' AND state <> 'idle'`);
      await t.db.query('SELECT pg_terminate_backend($1)', [pid]);
      const outcome = await new Promise<string>((resolve) => {
        response.on('error', () => resolve('error'));
        response.on('aborted', () => resolve('aborted'));
        response.on('end', () => resolve('complete'));
        response.resume();
      });
      expect(outcome).not.toBe('complete');
      await until(async () => (pool().totalCount === pool().idleCount ? true : undefined), 30_000, 'the connection to be released');
      await exportCsv(staff, { q: marker }).expect(200);
    });
  });
});
