import { parse } from 'csv-parse/sync';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { until } from '../support/wait';

describe.each([
  ['PostgreSQL + Redis (BullMQ)', {}],
  ['no Redis (in-process jobs)', { REDIS_URL: '' }],
] as const)('CSV import on %s', (_name, env) => {
  let t: TestApp;
  let admin: Session;
  let staff: Session;
  const marker = `imp${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp(env);
    admin = await register(t, 'admin');
    staff = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'staff');
    await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'budget', label: 'Budget', type: 'number' }).expect(201);
  });
  afterAll(() => t.close());

  const upload = (csv: string | Buffer, session = staff) => t.http.post('/api/v1/contacts/imports').set(session.auth).attach('file', Buffer.isBuffer(csv) ? csv : Buffer.from(csv), 'contacts.csv');
  const settle = (id: string) =>
    until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${id}`).set(staff.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });

  it('proposes a mapping, dry-runs, imports in create mode, reports and hands back the rejected rows', async () => {
    const csv = [
      'Given name,Surname,E-mail,Phone,Company,Tags,Status,Lead Source,Owner,Budget,Notes',
      `Ada,${marker},ada.${marker}@example.com,+44 20 1234,Analytical,vip; founders,Customer,Website,${staff.email},1200,x`,
      `Grace,${marker},grace.${marker}@example.com,,Navy,,,Referral,,,y`,
      `Bad,${marker},not-an-email,,,,,,,,`,
      `Unknown,${marker},unknown.${marker}@example.com,,,,Nonexistent,,,,`,
      `Typed,${marker},typed.${marker}@example.com,,,,,,,lots,`,
      `Again,${marker},ADA.${marker}@example.com,,,,,,,,`,
      `Short,${marker}`,
      `=HYPERLINK("x"),${marker},formula.${marker}@example.com,,,,,,,,`,
    ].join('\n');
    const uploaded = (await upload(csv).expect(201)).body;
    expect(uploaded).toMatchObject({ status: 'uploaded', totalRows: 8, headers: expect.arrayContaining(['E-mail', 'Lead Source']) });
    const targets = Object.fromEntries(uploaded.columns.map((c: { header: string; target: string }) => [c.header, c.target]));
    expect(targets).toEqual({
      'Given name': 'firstName',
      Surname: 'lastName',
      'E-mail': 'email',
      Phone: 'phone',
      Company: 'company',
      Tags: 'tags',
      Status: 'status',
      'Lead Source': 'trafficSource',
      Owner: 'assignedTo',
      Budget: 'custom.budget',
      Notes: 'ignore',
    });

    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/dry-run`).set(staff.auth).expect(409);
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    const dry = (await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/dry-run`).set(staff.auth).expect(200)).body;
    expect(dry.counts).toEqual({ created: 3, updated: 0, skipped: 0, failed: 5 });
    expect(dry.duplicates).toBe(1);
    expect(dry.samples.map((s: { reason: string }) => s.reason).join('\n')).toMatch(/invalid email[\s\S]*unknown status[\s\S]*custom.budget[\s\S]*duplicate email[\s\S]*cells/);
    expect(await t.db.query('SELECT 1 FROM contacts WHERE last_name = $1', [marker])).toEqual([]);

    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    const done = await settle(uploaded.id);
    expect(done).toMatchObject({ status: 'completed', processedRows: 8, counts: { created: 3, updated: 0, skipped: 0, failed: 5 } });
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(409);

    const ada = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ q: `ada.${marker}` }).expect(200)).body.data[0];
    expect(ada).toMatchObject({ firstName: 'Ada', company: 'Analytical', status: { name: 'Customer' }, trafficSource: { name: 'Website' }, assignedTo: { id: staff.userId }, customFields: { budget: 1200 }, lastContactedAt: null });
    expect(ada.tags.map((tag: { name: string }) => tag.name)).toEqual(['Founders', 'Vip']);
    const grace = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ q: `grace.${marker}` }).expect(200)).body.data[0];
    expect(grace.status.name).toBe('Lead');
    const formula = (await t.http.get('/api/v1/contacts').set(staff.auth).query({ q: `formula.${marker}` }).expect(200)).body.data[0];
    expect(formula.firstName).toBe('=HYPERLINK("x")');
    const history: Array<{ source: string; changed_by_id: string }> = await t.db.query('SELECT source, changed_by_id FROM contact_status_history WHERE contact_id = $1', [ada.id]);
    expect(history).toEqual([{ source: 'import', changed_by_id: staff.userId }]);

    const rejected = await t.http.get(`/api/v1/contacts/imports/${uploaded.id}/rejected`).set(staff.auth).expect(200);
    expect(rejected.headers['content-type']).toContain('text/csv');
    const rows = parse(rejected.text, { columns: true, relax_column_count: true }) as Array<Record<string, string>>;
    expect(rows.map((row) => row['Given name'])).toEqual(['Bad', 'Unknown', 'Typed', 'Again', 'Short']);
    expect(rows[3]!.Error).toContain('duplicate email');
  });

  it('updates matched contacts in upsert mode, keeps before-images, and reverts both kinds of change', async () => {
    const email = `upsert.${marker}@example.com`;
    const existing = (await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Before', lastName: marker, email, company: 'Old Co', newTags: ['keep'] }).expect(201)).body;
    const csv = `First Name,Last Name,Email,Company,Tags\nAfter,${marker},${email.toUpperCase()},New Co,added\nBrand,${marker},brand.${marker}@example.com,Fresh,\n`;
    const uploaded = (await upload(csv).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'upsert' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    expect((await settle(uploaded.id)).counts).toEqual({ created: 1, updated: 1, skipped: 0, failed: 0 });
    const updated = (await t.http.get(`/api/v1/contacts/${existing.id}`).set(staff.auth).expect(200)).body;
    expect(updated).toMatchObject({ firstName: 'After', company: 'New Co', version: existing.version + 1 });
    expect(updated.tags.map((tag: { name: string }) => tag.name)).toEqual(['Added', 'Keep']);

    const reverted = (await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(200)).body;
    expect(reverted.status).toBe('reverted');
    const restored = (await t.http.get(`/api/v1/contacts/${existing.id}`).set(staff.auth).expect(200)).body;
    expect(restored).toMatchObject({ firstName: 'Before', company: 'Old Co' });
    expect(restored.tags.map((tag: { name: string }) => tag.name)).toEqual(['Keep']);
    expect(await t.db.query('SELECT 1 FROM contacts WHERE email_key = $1', [`brand.${marker}@example.com`])).toEqual([]);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(409);
  });

  it('in update mode touches only existing contacts', async () => {
    const email = `only.${marker}@example.com`;
    await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Only', email }).expect(201);
    const csv = `Email,City\n${email},Lisbon\nmissing.${marker}@example.com,Porto\n`;
    const uploaded = (await upload(csv).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'update' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    expect((await settle(uploaded.id)).counts).toEqual({ created: 0, updated: 1, skipped: 1, failed: 0 });
    const [row] = await t.db.query('SELECT city FROM contacts WHERE email_key = $1', [email]);
    expect(row.city).toBe('Lisbon');
  });

  it('refuses files it cannot read, with the field and the reason', async () => {
    const empty = await upload('').expect(400);
    expect(empty.body.details[0]).toMatchObject({ field: 'file' });
    expect((await upload('First Name,Email\n').expect(400)).body.details[0].message).toContain('no data rows');
    expect((await upload(Buffer.from([0x46, 0x69, 0x72, 0x73, 0x74, 0x0a, 0xff, 0xfe, 0x41, 0x0a])).expect(400)).body.details[0].message).toContain('UTF-8');
    expect((await upload('a,b\n"unclosed,quote\n').expect(400)).body.details[0].message).toContain('CSV');
    // Broken far into a large file, after rows were already streamed into the database: none of them stay.
    const [{ before }] = await t.db.query('SELECT count(*)::int AS before FROM contact_import_rows');
    const large = ['First Name,Email'];
    for (let i = 0; i < 20_000; i += 1) large.push(`Row${i},row${i}.${marker}@example.com`);
    expect((await upload(`${large.join('\n')}\n"unclosed,quote\n`).expect(400)).body.details[0].message).toContain('CSV');
    expect((await upload(Buffer.concat([Buffer.from(large.join('\n')), Buffer.from([0x0a, 0xff, 0x0a])])).expect(400)).body.details[0].message).toContain('UTF-8');
    const [{ after }] = await t.db.query('SELECT count(*)::int AS after FROM contact_import_rows');
    expect(after).toBe(before);
    expect((await upload('a,b\n=H("x"),1\n').expect(201)).body.sample).toEqual([['=H("x")', '1']]);
    await t.http.post('/api/v1/contacts/imports').set(staff.auth).send({ file: 'nope' }).expect(400);
    const uploaded = (await upload('Name,Email\nX,x@example.com\n').expect(201)).body;
    const bad = await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: [{ index: 0, header: 'Name', target: 'nope' }], mode: 'upsert' }).expect(400);
    expect(bad.body.details[0].field).toBe('columns.0.target');
    const noEmail = await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: [{ index: 0, header: 'Name', target: 'firstName' }], mode: 'upsert' }).expect(400);
    expect(noEmail.body.details[0].message).toContain('email');
  });

  it('saves mappings and applies them to a new file by header', async () => {
    const saved = (await t.http.post('/api/v1/contacts/import-mappings').set(staff.auth).send({ name: `Fair ${marker}`, columns: [{ index: 0, header: 'Visitor', target: 'firstName' }, { index: 1, header: 'Mail', target: 'email' }] }).expect(201)).body;
    await t.http.post('/api/v1/contacts/import-mappings').set(staff.auth).send({ name: `fair ${marker}`, columns: [] }).expect(409);
    const uploaded = (await t.http.post('/api/v1/contacts/imports').set(staff.auth).field('mappingId', saved.id).attach('file', Buffer.from('Mail,Visitor\nv@example.com,Vera\n'), 'fair.csv').expect(201)).body;
    expect(uploaded.columns).toEqual([
      { index: 0, header: 'Mail', target: 'email' },
      { index: 1, header: 'Visitor', target: 'firstName' },
    ]);
    await t.http.delete(`/api/v1/contacts/import-mappings/${saved.id}`).set(staff.auth).expect(204);
  });

  it('is for staff and admins; clients never import', async () => {
    const client = await register(t, 'client');
    await upload('First Name\nX\n', client).expect(403);
    await t.http.get('/api/v1/contacts/imports').set(client.auth).expect(403);
  });
});
