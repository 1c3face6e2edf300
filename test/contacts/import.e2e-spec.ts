import { parse } from 'csv-parse/sync';
import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { AuditService } from '../../src/core/audit/audit.service';
import { setChangeContext } from '../../src/modules/contacts/contacts.change-context';
import { RECORD_CHARS_MAX } from '../../src/modules/contacts/contacts-import.csv-reader';
import { ContactsImportRecovery } from '../../src/modules/contacts/contacts-import.recovery';
import { ContactsImportService, stagedChunkEnd } from '../../src/modules/contacts/contacts-import.service';
import { CONTACT_CHANGED, Decision, EMAIL_TAKEN, writeChunk } from '../../src/modules/contacts/contacts-import.writer';
import { IMPORT_COLUMNS_MAX, IMPORT_HEADER_MAX } from '../../src/modules/contacts/dto/import.dto';
import { conversionsStatement } from '../../src/modules/dashboard/dashboard.queries';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow, until, untilWaitingForLocks, whileHolding } from '../support/wait';

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
    const [added, used, fresh] = [`added${marker}`, `used${marker}`, `fresh${marker}`];
    const csv = `First Name,Last Name,Email,Company,Tags\nAfter,${marker},${email.toUpperCase()},New Co,${added}; ${used}\nBrand,${marker},brand.${marker}@example.com,Fresh,${fresh}; keep\n`;
    const uploaded = (await upload(csv).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'upsert' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    expect((await settle(uploaded.id)).counts).toEqual({ created: 1, updated: 1, skipped: 0, failed: 0 });
    const updated = (await t.http.get(`/api/v1/contacts/${existing.id}`).set(staff.auth).expect(200)).body;
    expect(updated).toMatchObject({ firstName: 'After', company: 'New Co', version: existing.version + 1 });
    expect(updated.tags.map((tag: { name: string }) => tag.name.toLowerCase())).toEqual([added, 'keep', used]);
    // Since the import, a contact of its own was given one of the tags the import created.
    await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Tagged since', lastName: marker, newTags: [used] }).expect(201);
    const tagIds = Object.fromEntries(
      ((await t.db.query('SELECT id, name_key FROM tags WHERE name_key = ANY($1::text[])', [[added, used, fresh, 'keep']])) as Array<{ id: string; name_key: string }>).map((tag) => [tag.name_key, tag.id]),
    );

    const reverted = (await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(200)).body;
    expect(reverted.status).toBe('reverted');
    const restored = (await t.http.get(`/api/v1/contacts/${existing.id}`).set(staff.auth).expect(200)).body;
    expect(restored).toMatchObject({ firstName: 'Before', company: 'Old Co' });
    expect(restored.tags.map((tag: { name: string }) => tag.name)).toEqual(['Keep']);
    expect(await t.db.query('SELECT 1 FROM contacts WHERE email_key = $1', [`brand.${marker}@example.com`])).toEqual([]);
    // The tags it created and nobody uses now went with it; one in use since stays, as does one it found.
    const left = await t.db.query('SELECT name_key FROM tags WHERE id = ANY($1::uuid[]) ORDER BY name_key', [Object.values(tagIds)]);
    expect(left.map((tag: { name_key: string }) => tag.name_key)).toEqual(['keep', used]);
    const audited = await t.db.query(`SELECT subject_id, actor_id, after FROM audit_logs WHERE action = 'tag.delete' AND subject_id = ANY($1::text[]) ORDER BY subject_id`, [[tagIds[added], tagIds[fresh]]]);
    expect(audited).toEqual([tagIds[added], tagIds[fresh]].sort().map((id) => ({ subject_id: id, actor_id: staff.userId, after: { importReverted: uploaded.id } })));

    // A tag one import created and a later one also used goes when the later one is reverted too.
    const shared = `shared${marker}`;
    const imported = async (csv: string) => {
      const file = (await upload(csv).expect(201)).body;
      await t.http.put(`/api/v1/contacts/imports/${file.id}/settings`).set(staff.auth).send({ columns: file.columns, mode: 'create' }).expect(200);
      await t.http.post(`/api/v1/contacts/imports/${file.id}/run`).set(staff.auth).expect(202);
      expect((await settle(file.id)).counts).toMatchObject({ created: 1 });
      return file as { id: string };
    };
    const first = await imported(`First Name,Email,Tags\nFirst,first.${shared}@example.com,${shared}\n`);
    const second = await imported(`First Name,Email,Tags\nSecond,second.${shared}@example.com,${shared}\n`);
    const sharedTag = async () => (await t.db.query('SELECT id FROM tags WHERE name_key = $1', [shared])).length;
    await t.http.post(`/api/v1/contacts/imports/${first.id}/revert`).set(staff.auth).expect(200);
    expect(await sharedTag()).toBe(1);
    await t.http.post(`/api/v1/contacts/imports/${second.id}/revert`).set(staff.auth).expect(200);
    expect(await sharedTag()).toBe(0);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(409);
  });

  it('reverts only what is still as the import left it, and survives lookups deleted since', async () => {
    const tag = `r${marker}`;
    const passing = (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: `Passing ${marker}`, stage: 'lead' }).expect(201)).body.id as string;
    const kept = (await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Kept', email: `kept.${tag}@example.com`, company: 'Old', statusId: passing }).expect(201)).body;
    const edited = (await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Edited', email: `edited.${tag}@example.com`, company: 'Old' }).expect(201)).body;
    const csv = [
      'First Name,Email,Company,Status',
      `Kept,kept.${tag}@example.com,New,Customer`,
      `Edited,edited.${tag}@example.com,New,`,
      `Plain,plain.${tag}@example.com,New,`,
      `Called,called.${tag}@example.com,New,`,
    ].join('\n');
    const uploaded = (await upload(csv).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'upsert' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    expect((await settle(uploaded.id)).counts).toMatchObject({ created: 2, updated: 2 });
    const idOf = async (email: string) => (await t.db.query('SELECT id FROM contacts WHERE email_key = $1', [email]))[0]?.id as string | undefined;
    const called = (await idOf(`called.${tag}@example.com`))!;
    // Since the import: one contact edited, one created contact given an activity, the old status deleted.
    await t.http.patch(`/api/v1/contacts/${edited.id}`).set(staff.auth).send({ version: edited.version + 1, city: 'Since' }).expect(200);
    await t.http.post(`/api/v1/contacts/${called}/activities`).set(staff.auth).send({ type: 'call', subject: 'follow-up' }).expect(201);
    await t.http.delete(`/api/v1/contact-statuses/${passing}`).set(admin.auth).expect(204);

    const reverted = await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(200);
    expect(reverted.body.status).toBe('reverted');
    // Its earlier status is gone: it keeps the one it has rather than being left without.
    expect((await t.http.get(`/api/v1/contacts/${kept.id}`).set(staff.auth).expect(200)).body).toMatchObject({ company: 'Old', status: { name: 'Customer' } });
    expect((await t.http.get(`/api/v1/contacts/${edited.id}`).set(staff.auth).expect(200)).body).toMatchObject({ company: 'New', city: 'Since' });
    expect(await idOf(`plain.${tag}@example.com`)).toBeUndefined();
    expect(await idOf(`called.${tag}@example.com`)).toBe(called);
  });

  it('a revert does not bring back the values of a custom field purged since', async () => {
    const key = `note${Date.now().toString(36)}`;
    const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Note ${key}`, type: 'text' }).expect(201)).body;
    const email = `purged.${key}@example.com`;
    const contact = (await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Purged', email, customFields: { [key]: 'approx 5k' } }).expect(201)).body;
    const uploaded = (await upload(`Email,City\n${email},Lisbon\n`).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'update' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    expect((await settle(uploaded.id)).counts).toMatchObject({ updated: 1 });

    // The field is removed and purged, then defined again with another type.
    await t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
    await t.http.delete(`/api/v1/custom-fields/${field.id}/purge`).set(admin.auth).expect(204);
    await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Note ${key} again`, type: 'number' }).expect(201);

    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(200);
    const [row] = await t.db.query('SELECT custom_fields, city FROM contacts WHERE id = $1', [contact.id]);
    expect(row.custom_fields).toEqual({});
    // The purge changed the contact, so the revert left it as it is now.
    expect(row.city).toBe('Lisbon');
    await t.http.get('/api/v1/contacts').set(staff.auth).query({ sort: `custom.${key}` }).expect(200);
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

  it('needs rights on every contact and lookup, whole: a role limited to some contacts, fields or tags may not import', async () => {
    const roleWith = async (name: string, rules: unknown[]) =>
      (await t.http.post('/api/v1/roles').set(admin.auth).send({ name: `${name} ${Date.now().toString(36)}`, audience: 'staff', rules }).expect(201)).body.id as string;
    const own = await createUserWithRoles(t, admin, [await roleWith('Own importer', [{ action: ['read', 'create', 'update', 'import'], subject: 'Contact', conditions: { assignedToId: '${user.id}' } }])], 'ownimporter');
    const refused = await upload('First Name,Email\nX,x-own@example.com\n', own).expect(403);
    expect(refused.body.message).toBe('Imports need read, create, update, assign rights on every contact; your role limits them to some contacts or fields');
    await t.http.get('/api/v1/contacts/imports').set(own.auth).expect(403);
    const fields = await createUserWithRoles(
      t,
      admin,
      [await roleWith('Field importer', [{ action: ['read', 'create', 'import', 'assign'], subject: 'Contact' }, { action: 'update', subject: 'Contact', fields: ['phone'] }])],
      'fieldimporter',
    );
    expect((await upload('First Name\nX\n', fields).expect(403)).body.message).toContain('need update rights on every contact');
    // Rows name statuses, sources, tags (missing ones created) and services: a role they are hidden from may not import either.
    const contactRights = { action: ['read', 'create', 'update', 'import', 'assign'], subject: 'Contact' };
    const lookupRights = [{ action: 'read', subject: ['ContactStatus', 'TrafficSource', 'Tag', 'Service'] }, { action: 'create', subject: 'Tag' }];
    const someTags = await createUserWithRoles(
      t,
      admin,
      [await roleWith('Tag-limited importer', [contactRights, { action: 'read', subject: ['ContactStatus', 'TrafficSource', 'Service'] }, { action: 'read', subject: 'Tag', conditions: { name: 'Vip' } }])],
      'tagimporter',
    );
    expect((await upload('First Name\nX\n', someTags).expect(403)).body.message).toBe(
      'Imports name statuses, traffic sources, tags and services as they go; they need the rights to read every tag, create tags, which your role limits',
    );
    const whole = await createUserWithRoles(t, admin, [await roleWith('Whole importer', [contactRights, ...lookupRights])], 'wholeimporter');
    await upload('First Name\nX\n', whole).expect(201);
  });

  const importJobsLeft = async () => {
    const overview = (await t.http.get('/api/v1/jobs').set(admin.auth).expect(200)).body;
    const counts = overview.queues.find((q: { queue: string }) => q.queue === 'contacts.import').counts;
    return counts.waiting + counts.active + counts.delayed;
  };

  it('cancels a running import after the chunk it is writing: that chunk stays, no later one is written, and a revert undoes it', async () => {
    const cancelled = `cancelled${marker}`;
    // Three chunks of 2,000 rows; the budget column makes each chunk hold its custom field.
    const csv = ['First Name,Last Name,Email,Budget', ...Array.from({ length: 4_500 }, (_, i) => `Row${i},${cancelled},row${i}.${cancelled}@example.com,${i}`)].join('\n');
    const uploaded = (await upload(csv).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    let cancel: Promise<{ status: number; body: Record<string, unknown> }> | undefined;
    // The first chunk waits for the field the test holds; the cancel then waits for that chunk.
    await whileHolding(
      t.db,
      { sql: `SELECT id FROM custom_fields WHERE key = 'budget' FOR UPDATE`, params: [] },
      () => t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202),
      async () => {
        cancel = Promise.resolve(t.http.post(`/api/v1/contacts/imports/${uploaded.id}/cancel`).set(staff.auth));
        await untilWaitingForLocks(t.db, 2, 'the cancel to wait for the chunk being written');
      },
    );
    const answer = await cancel!;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ status: 'cancelled', processedRows: 2_000, counts: { created: 2_000, updated: 0, skipped: 0, failed: 0 }, finishedAt: expect.any(String) });
    await until(async () => ((await importJobsLeft()) === 0 ? true : undefined), 30_000, 'the import job to end');

    const after = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body;
    expect(after).toMatchObject({ status: 'cancelled', processedRows: 2_000, counts: { created: 2_000 } });
    const [{ written }] = await t.db.query('SELECT count(*)::int AS written FROM contacts WHERE last_name = $1', [cancelled]);
    expect(written).toBe(2_000);
    expect((await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(409)).body.code).toBe('import_started');
    expect((await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/cancel`).set(staff.auth).expect(409)).body).toMatchObject({
      code: 'import_not_cancellable',
      message: 'An import that is cancelled cannot be cancelled',
    });
    const [audit] = await t.db.query(`SELECT actor_id, before, after FROM audit_logs WHERE action = 'contact-import.cancel' AND subject_id = $1`, [uploaded.id]);
    expect(audit).toMatchObject({ actor_id: staff.userId, before: { status: 'running' }, after: { processedRows: 2_000 } });

    expect((await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(200)).body.status).toBe('reverted');
    expect((await t.db.query('SELECT count(*)::int AS left FROM contacts WHERE last_name = $1', [cancelled]))[0].left).toBe(0);
  }, 90_000);

  it('cancels an import before it runs: it is never run, configured or offered to the job queue again', async () => {
    const email = `never.${marker}@example.com`;
    const uploaded = (await upload(`First Name,Email\nNever,${email}\n`).expect(201)).body;
    const cancelled = (await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/cancel`).set(staff.auth).expect(200)).body;
    expect(cancelled).toMatchObject({ status: 'cancelled', processedRows: 0, counts: { created: 0 } });
    expect((await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(409)).body.code).toBe(
      'import_started',
    );
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(409);
    // A job for it that was already queued (or is retried later) ends without writing.
    await t.app.get(ContactsImportService).process(uploaded.id, { id: `import-${uploaded.id}`, attempt: 1, progress: async () => undefined });
    expect((await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body).toMatchObject({ status: 'cancelled', processedRows: 0 });
    expect(await t.db.query('SELECT 1 FROM contacts WHERE email_key = $1', [email])).toEqual([]);
    const expected = await t.app.get(ContactsImportRecovery).unfinished();
    expect(expected.map((job) => job.payload.importId)).not.toContain(uploaded.id);
  });

  it('refuses to cancel an import that has ended, and one that does not exist', async () => {
    const uploaded = (await upload(`First Name,Email\nDone,done.cancel.${marker}@example.com\n`).expect(201)).body;
    const id = uploaded.id as string;
    await t.http.put(`/api/v1/contacts/imports/${id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${id}/run`).set(staff.auth).expect(202);
    expect((await settle(id)).status).toBe('completed');
    expect((await t.http.post(`/api/v1/contacts/imports/${id}/cancel`).set(staff.auth).expect(409)).body).toMatchObject({
      code: 'import_not_cancellable',
      message: 'An import that is completed cannot be cancelled',
    });
    await t.http.post(`/api/v1/contacts/imports/${id}/revert`).set(staff.auth).expect(200);
    expect((await t.http.post(`/api/v1/contacts/imports/${id}/cancel`).set(staff.auth).expect(409)).body.code).toBe('import_not_cancellable');
    expect((await t.http.post(`/api/v1/contacts/imports/${randomUUID()}/cancel`).set(staff.auth).expect(404)).body.code).toBe('import_not_found');
    expect((await t.http.post('/api/v1/contacts/imports/not-a-uuid/cancel').set(staff.auth).expect(400)).body.details[0]).toMatchObject({ field: 'id' });
  });
});

/**
 * What a file must not do to an import: stall it on an email the checks and the unique key
 * see differently, create contacts POST /contacts would refuse, leave a cut-off upload behind,
 * or fail on text PostgreSQL cannot store.
 */
describe('CSV import edge cases', () => {
  const MAX_BYTES = 8192;
  let t: TestApp;
  let admin: Session;
  let staff: Session;
  const marker = `edge${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp({ IMPORT_MAX_BYTES: String(MAX_BYTES) });
    admin = await register(t, 'admin');
    staff = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'staff');
  });
  afterAll(() => t.close());

  const upload = (csv: string | Buffer, session = staff) => t.http.post('/api/v1/contacts/imports').set(session.auth).attach('file', Buffer.isBuffer(csv) ? csv : Buffer.from(csv), 'contacts.csv');
  /** Writes one chunk's decisions as the import job does, started by staff; `through` may stand between the chunk and its session. */
  const writeDecided = (settings: Parameters<typeof writeChunk>[2], decisions: Decision[], through = (manager: EntityManager) => manager) =>
    t.db.transaction(async (manager) => {
      await setChangeContext(manager, staff.userId, 'import');
      return writeChunk(through(manager), t.app.get(AuditService), settings, 2, decisions, null);
    });
  const run = async (csv: string, mode: 'create' | 'upsert' | 'update') => {
    const uploaded = (await upload(csv).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode }).expect(200);
    const dry = (await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/dry-run`).set(staff.auth).expect(200)).body;
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    const done = await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });
    const rejected = parse((await t.http.get(`/api/v1/contacts/imports/${uploaded.id}/rejected`).set(staff.auth).expect(200)).text, { columns: true }) as Array<Record<string, string>>;
    return { id: uploaded.id as string, dry, done, rejected };
  };
  const contactByEmail = async (email: string) => (await t.db.query('SELECT first_name, email FROM contacts WHERE email_key = lower($1)', [email]))[0];

  it('takes emails padded with tabs or NBSP for the repeats they are, in one chunk, instead of stalling on the unique key', async () => {
    const ann = `ann.${marker}@example.com`;
    const csv = [
      'First Name,Last Name,Email',
      `Ann,${marker},${ann}`,
      `Bob,${marker},"${ann}\t"`,
      `Cid,${marker},"\u00a0${ann.toUpperCase()}\u00a0"`,
      `Dee,${marker},"\tdee.${marker}@exa\u00a0mple.com"`,
      `Eve,${marker},eve.${marker}@example.com`,
    ].join('\n');
    const { dry, done, rejected } = await run(csv, 'create');
    expect(dry.counts).toEqual({ created: 2, updated: 0, skipped: 0, failed: 3 });
    expect(done).toMatchObject({ status: 'completed', error: null, processedRows: 5, counts: { created: 2, updated: 0, skipped: 0, failed: 3 } });
    expect(rejected.map((row) => [row['First Name'], row.Error])).toEqual([
      ['Bob', 'row 3: duplicate email in the file (first at row 2)'],
      ['Cid', 'row 4: duplicate email in the file (first at row 2)'],
      ['Dee', expect.stringMatching(/^row 5: invalid email/)],
    ]);
    expect(await contactByEmail(ann)).toEqual({ first_name: 'Ann', email: ann });
    expect((await contactByEmail(`eve.${marker}@example.com`)).first_name).toBe('Eve');
  });

  it('matches an existing contact by its email_key, whatever JavaScript makes of the case (Greek final sigma)', async () => {
    const sigma = `${marker}.ΑΣ@example.com`;
    expect(sigma.toLowerCase()).not.toBe((await t.db.query('SELECT lower($1) AS key', [sigma]))[0].key);
    const existing = (await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Sigma', email: sigma }).expect(201)).body;
    const { done } = await run(`First Name,Email\nSigmund,${sigma}\nZed,zed.${marker}@example.com\n`, 'upsert');
    expect(done).toMatchObject({ status: 'completed', counts: { created: 1, updated: 1, skipped: 0, failed: 0 } });
    expect((await t.http.get(`/api/v1/contacts/${existing.id}`).set(staff.auth).expect(200)).body.firstName).toBe('Sigmund');
  });

  it("leaves an administrator's contact to administrators: its names are the account's", async () => {
    const { dry, done } = await run(`First Name,Last Name,Email\nHijacked,${marker},${admin.email}\nStaffed,${marker},${staff.email}\n`, 'upsert');
    const reason = "the contact of an administrator's account: only administrators may change it";
    expect(dry).toMatchObject({ counts: { created: 0, updated: 1, skipped: 1, failed: 0 }, samples: [{ row: 2, reason }] });
    expect(done).toMatchObject({ status: 'completed', counts: { created: 0, updated: 1, skipped: 1, failed: 0 } });
    const names = async (userId: string) => (await t.db.query('SELECT first_name FROM users WHERE id = $1', [userId]))[0].first_name as string;
    expect(await names(admin.userId)).not.toBe('Hijacked');
    // Other accounts' contacts are the importer's to update, the account following.
    expect(await names(staff.userId)).toBe('Staffed');

    // An administrator's upload, configured and started by staff, runs as staff.
    const byAdmin = (await upload(`First Name,Email,Status\nHijacked,${admin.email},Customer\n`, admin).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${byAdmin.id}/settings`).set(staff.auth).send({ columns: byAdmin.columns, mode: 'update' }).expect(200);
    const dryByStaff = (await t.http.post(`/api/v1/contacts/imports/${byAdmin.id}/dry-run`).set(staff.auth).expect(200)).body;
    expect(dryByStaff).toMatchObject({ counts: { updated: 0, skipped: 1 }, samples: [{ row: 2, reason }] });
    await t.http.post(`/api/v1/contacts/imports/${byAdmin.id}/run`).set(staff.auth).expect(202);
    const ranByStaff = await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${byAdmin.id}`).set(staff.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });
    expect(ranByStaff).toMatchObject({ status: 'completed', counts: { created: 0, updated: 0, skipped: 1, failed: 0 } });
    expect(await names(admin.userId)).not.toBe('Hijacked');
  });

  it('hands back rejected rows whole: every cell of a row too wide, headers neutralised like cells', async () => {
    const csv = `First Name,Email,=HYPERLINK("http://x.test"),@SUM(1)\nWide,wide.${marker}@example.com,a,b,extra one,extra two\nFine,fine-wide.${marker}@example.com,c,d\n`;
    const uploaded = (await upload(csv).expect(201)).body;
    const columns = [
      { index: 0, header: 'First Name', target: 'firstName' },
      { index: 1, header: 'Email', target: 'email' },
    ];
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns, mode: 'create' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body;
      return body.status === 'completed' ? body : undefined;
    });
    const text = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}/rejected`).set(staff.auth).expect(200)).text;
    expect(parse(text)).toEqual([
      ['First Name', 'Email', `'=HYPERLINK("http://x.test")`, "'@SUM(1)", '', '', 'Error'],
      ['Wide', `wide.${marker}@example.com`, 'a', 'b', 'extra one', 'extra two', 'row 2: the row has 6 cells where the header has 4'],
    ]);
  });

  it('refuses an upload naming an unknown saved mapping, and keeps nothing of it', async () => {
    const count = async () => (await t.db.query('SELECT count(*)::int AS imports FROM contact_imports'))[0].imports as number;
    const before = await count();
    const refused = await t.http
      .post('/api/v1/contacts/imports')
      .set(staff.auth)
      .field('mappingId', '00000000-0000-4000-8000-000000000000')
      .attach('file', Buffer.from(`First Name,Email\nOrphan,orphan.${marker}@example.com\n`), 'contacts.csv')
      .expect(422);
    expect(refused.body.details).toEqual([{ field: 'mappingId', message: 'does not name a saved mapping' }]);
    expect(await count()).toBe(before);
  });

  it('refuses parts sent after the file, which could no longer change the upload, and keeps nothing of it', async () => {
    const count = async () => (await t.db.query('SELECT count(*)::int AS imports FROM contact_imports'))[0].imports as number;
    const before = await count();
    const csv = Buffer.from(`First Name,Email\nLate,late.${marker}@example.com\n`);
    const cases: Array<[(request: ReturnType<typeof t.http.post>) => ReturnType<typeof t.http.post>, { field: string; message: string }]> = [
      [(request) => request.attach('file', csv, 'a.csv').field('mappingId', randomUUID()), { field: 'mappingId', message: 'must come before the file' }],
      [(request) => request.attach('file', csv, 'a.csv').field('bogus', 'x'), { field: 'bogus', message: 'is not an accepted field' }],
      [(request) => request.attach('file', csv, 'a.csv').attach('file', csv, 'b.csv'), { field: 'file', message: 'is given twice: send one file' }],
    ];
    for (const [parts, detail] of cases) {
      const refused = await parts(t.http.post('/api/v1/contacts/imports').set(staff.auth)).expect(400);
      expect(refused.body.details).toEqual([detail]);
    }
    expect(await count()).toBe(before);
  });

  it('refuses to save a mapping to a custom field that is not there, or one target twice', async () => {
    const refused = await t.http
      .post('/api/v1/contacts/import-mappings')
      .set(staff.auth)
      .send({
        name: `Broken ${marker}`,
        columns: [
          { index: 0, header: 'Budget', target: 'custom.nope' },
          { index: 1, header: 'Name', target: 'firstName' },
          { index: 2, header: 'Given', target: 'firstName' },
        ],
      })
      .expect(400);
    expect(refused.body.details).toEqual([
      { field: 'columns.0.target', message: 'there is no custom field "nope"' },
      { field: 'columns.2.target', message: '"firstName" is mapped twice' },
    ]);
  });

  it('refuses settings giving a column twice, which would drop one of its targets', async () => {
    const email = `twice.${marker}@example.com`;
    await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Twice', email }).expect(201);
    const uploaded = (await upload(`First Name,Email\nUp,${email}\n`).expect(201)).body;
    const columns = [
      { index: 0, header: 'First Name', target: 'firstName' },
      { index: 0, header: 'Email', target: 'email' },
    ];
    const refused = await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns, mode: 'upsert' }).expect(400);
    expect(refused.body.details).toEqual([{ field: 'columns.1.index', message: 'column 0 is given twice' }]);
    expect((await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body.mode).toBeNull();
  });

  it('rejects a create whose email another contact took after the decision, and writes the rest of the chunk', async () => {
    const taken = `taken.${marker}@example.com`;
    await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'First', email: taken }).expect(201);
    const uploaded = (await upload(`First Name,Email\nLate,${taken.toUpperCase()}\nFine,fine.${marker}@example.com\n`).expect(201)).body;
    const settings = { id: uploaded.id, mode: 'create' as const, mapping: uploaded.columns, headers: uploaded.headers, importer_id: staff.userId };
    // Decided as if the contact did not exist yet: what a contact created meanwhile looks like to a chunk.
    const decisions: Decision[] = [
      { row: 2, outcome: 'created', contactId: randomUUID(), record: { fields: { firstName: 'Late', email: taken.toUpperCase() } } },
      { row: 3, outcome: 'created', contactId: randomUUID(), record: { fields: { firstName: 'Fine', email: `fine.${marker}@example.com` } } },
    ];
    const written = await writeDecided(settings, decisions);
    expect(written.map((d) => [d.row, d.outcome, d.error])).toEqual([
      [2, 'rejected', EMAIL_TAKEN],
      [3, 'created', undefined],
    ]);
    expect(await t.db.query('SELECT row_number, outcome, error FROM contact_import_rows WHERE import_id = $1 ORDER BY row_number', [uploaded.id])).toEqual([
      { row_number: 2, outcome: 'rejected', error: EMAIL_TAKEN },
      { row_number: 3, outcome: null, error: null },
    ]);
    expect((await contactByEmail(taken)).first_name).toBe('First');
    const [batch] = await t.db.query('SELECT created_ids FROM contact_import_batches WHERE import_id = $1', [uploaded.id]);
    expect(batch.created_ids).toEqual([decisions[1]!.contactId]);
  });

  it('refuses a file sent as the body itself, saying to send it as multipart/form-data (documented)', async () => {
    const refused = await t.http.post('/api/v1/contacts/imports').set(staff.auth).set('content-type', 'text/csv').send('First Name,Email\nA,a@example.com\n').expect(415);
    expect(refused.body).toMatchObject({ code: 'unsupported_media_type', message: expect.stringContaining('multipart/form-data') });
    const document = (await t.http.get('/docs-json').expect(200)).body;
    expect(document.paths['/api/v1/contacts/imports'].post.responses['415'].description).toContain('multipart/form-data');
  });

  it('links a tag deleted while the chunk runs by creating it anew, never leaving it off', async () => {
    const tagName = `Racer ${marker}`;
    const tag = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: tagName }).expect(201)).body;
    const email = `racer.${marker}@example.com`;
    const uploaded = (await upload(`First Name,Email,Tags\nRacer,${email},${tagName}\n`).expect(201)).body;
    const settings = { id: uploaded.id, mode: 'create' as const, mapping: uploaded.columns, headers: uploaded.headers, importer_id: staff.userId };
    const decisions: Decision[] = [{ row: 2, outcome: 'created', contactId: randomUUID(), record: { fields: { firstName: 'Racer', email }, tagNames: [tagName] } }];
    // The tag is deleted (through the API, committed) right after the chunk's statement that found it.
    let deleted = false;
    await writeDecided(settings, decisions, (manager) =>
      new Proxy(manager, {
        get(target, property, receiver) {
          if (property !== 'query') return Reflect.get(target, property, receiver);
          return async (sql: string, params?: unknown[]) => {
            const result = await target.query(sql, params);
            if (!deleted && sql.startsWith('INSERT INTO tags')) {
              deleted = true;
              await t.http.delete(`/api/v1/tags/${tag.id}`).set(admin.auth).expect(204);
            }
            return result;
          };
        },
      }),
    );
    expect(deleted).toBe(true);
    const [contact] = await t.db.query('SELECT id FROM contacts WHERE email = $1', [email]);
    const linked = await t.db.query('SELECT t.id, t.name FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_id = $1', [contact.id]);
    expect(linked).toEqual([{ id: expect.not.stringMatching(tag.id), name: tagName }]);
    // Created by this import, so its revert may remove it again.
    expect(await t.db.query('SELECT tag_id FROM contact_import_tags WHERE import_id = $1', [uploaded.id])).toEqual([{ tag_id: linked[0].id }]);
  });

  it('leaves alone a contact trashed or given another email after the decision to update it', async () => {
    const emails = ['trashed', 'moved', 'still'].map((what) => `${what}.after.${marker}@example.com`);
    const ids: string[] = [];
    for (const email of emails) ids.push((await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Before', email }).expect(201)).body.id);
    const uploaded = (await upload(`First Name,Email\n${emails.map((email) => `After,${email}`).join('\n')}\n`).expect(201)).body;
    const settings = { id: uploaded.id, mode: 'upsert' as const, mapping: uploaded.columns, headers: uploaded.headers, importer_id: staff.userId };
    const decisions: Decision[] = emails.map((email, i) => ({ row: i + 2, outcome: 'updated', contactId: ids[i], record: { fields: { firstName: 'After', email } } }));
    // Since the decision: one contact trashed, one given another email.
    await t.http.delete(`/api/v1/contacts/${ids[0]}`).set(staff.auth).expect(204);
    await t.http.patch(`/api/v1/contacts/${ids[1]}`).set(staff.auth).send({ version: 1, email: `elsewhere.${marker}@example.com` }).expect(200);
    const written = await writeDecided(settings, decisions);
    expect(written.map((d) => [d.row, d.outcome, d.error])).toEqual([
      [2, 'skipped', CONTACT_CHANGED],
      [3, 'skipped', CONTACT_CHANGED],
      [4, 'updated', undefined],
    ]);
    const names = await t.db.query('SELECT id, first_name FROM contacts WHERE id = ANY($1::uuid[])', [ids]);
    expect(Object.fromEntries(names.map((row: { id: string; first_name: string }) => [row.id, row.first_name]))).toEqual({ [ids[0]!]: 'Before', [ids[1]!]: 'Before', [ids[2]!]: 'After' });
    expect(await t.db.query('SELECT contact_id FROM contact_import_changes WHERE import_id = $1', [uploaded.id])).toEqual([{ contact_id: ids[2] }]);
  });

  it('renames the contact of an account while an admin renames that account: both land, one after the other', async () => {
    const client = await register(t, 'imported');
    const uploaded = (await upload(`First Name,Email\nChunk,${client.email}\n`).expect(201)).body;
    const settings = { id: uploaded.id, mode: 'upsert' as const, mapping: uploaded.columns, headers: uploaded.headers, importer_id: staff.userId };
    const decisions: Decision[] = [{ row: 2, outcome: 'updated', contactId: client.contactId, record: { fields: { firstName: 'Chunk', email: client.email } } }];
    const [written, renamed] = await behindHeldRow(
      t.db,
      { sql: 'SELECT id FROM contacts WHERE id = $1 FOR KEY SHARE', params: [client.contactId] },
      () => writeDecided(settings, decisions),
      () => t.http.patch(`/api/v1/users/${client.userId}`).set(admin.auth).send({ lastName: 'Admin' }),
    );
    expect({ outcomes: written.map((d) => d.outcome), renamed: renamed.status }).toEqual({ outcomes: ['updated'], renamed: 200 });
    const [user] = await t.db.query('SELECT first_name, last_name FROM users WHERE id = $1', [client.userId]);
    expect(user).toEqual({ first_name: 'Chunk', last_name: 'Admin' });
  });

  it('leaves alone a contact given an account after the chunk looked its accounts up: that account was not held', async () => {
    const email = `opened.${marker}@example.com`;
    const contact = (await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Before', email }).expect(201)).body.id as string;
    const uploaded = (await upload(`First Name,Email\nAfter,${email}\n`).expect(201)).body;
    const settings = { id: uploaded.id, mode: 'upsert' as const, mapping: uploaded.columns, headers: uploaded.headers, importer_id: staff.userId };
    const decisions: Decision[] = [{ row: 2, outcome: 'updated', contactId: contact, record: { fields: { firstName: 'After', email } } }];
    let opened = false;
    const written = await writeDecided(settings, decisions, (manager) =>
      new Proxy(manager, {
        get(target, property, receiver) {
          if (property !== 'query') return Reflect.get(target, property, receiver);
          return async (sql: string, params?: unknown[]) => {
            const result = await target.query(sql, params);
            if (!opened && sql.startsWith('SELECT id FROM users WHERE contact_id')) {
              opened = true;
              await t.http.post(`/api/v1/contacts/${contact}/account`).set(admin.auth).send({ accountType: 'client', sendInvite: false }).expect(201);
            }
            return result;
          };
        },
      }),
    );
    expect(opened).toBe(true);
    expect(written.map((d) => [d.outcome, d.error])).toEqual([['skipped', CONTACT_CHANGED]]);
    const [user] = await t.db.query('SELECT first_name FROM users WHERE contact_id = $1', [contact]);
    expect(user).toEqual({ first_name: 'Before' });
  });

  it('holds new contacts to the required custom fields as POST /contacts does; updates may leave them out', async () => {
    const existing = `kept.${marker}@example.com`;
    await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Kept', email: existing }).expect(201);
    const consent = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'consent', label: 'Consent', type: 'boolean', required: true }).expect(201)).body;
    try {
      const refused = await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Api', email: `api.${marker}@example.com` }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'customFields.consent', message: 'is required' }]);

      const mapped = await run(`First Name,Email,Consent\nYes,yes.${marker}@example.com,yes\nBlank,blank.${marker}@example.com,\nUpdated,${existing},\n`, 'upsert');
      expect(mapped.dry.counts).toEqual({ created: 1, updated: 1, skipped: 0, failed: 1 });
      expect(mapped.done).toMatchObject({ status: 'completed', counts: { created: 1, updated: 1, skipped: 0, failed: 1 } });
      expect(mapped.rejected.map((row) => row.Error)).toEqual(['row 3: custom.consent is required']);

      // No column mapped to the field at all: every new contact still needs it.
      const unmapped = await run(`First Name,Email\nNone,none.${marker}@example.com\nUpdatedAgain,${existing}\n`, 'upsert');
      expect(unmapped.done).toMatchObject({ status: 'completed', counts: { created: 0, updated: 1, skipped: 0, failed: 1 } });
      expect(unmapped.rejected.map((row) => row.Error)).toEqual(['row 2: custom.consent is required']);
      expect(await contactByEmail(`none.${marker}@example.com`)).toBeUndefined();
      expect((await contactByEmail(existing)).first_name).toBe('UpdatedAgain');
    } finally {
      await t.http.delete(`/api/v1/custom-fields/${consent.id}`).set(admin.auth).expect(204);
    }
  });

  it('rejects a row with a tag name over 100 characters once Title Cased, naming the column', async () => {
    const csv = [
      'First Name,Email,Labels',
      `Long,long.${marker}@example.com,${'x'.repeat(101)};short one`,
      `Dotted,dotted.${marker}@example.com,${'İ'.repeat(100)}`,
      `Fine,fine-tags.${marker}@example.com,short one;${'y'.repeat(100)}`,
    ].join('\n');
    const { dry, done, rejected } = await run(csv, 'create');
    expect(dry.counts).toEqual({ created: 2, updated: 0, skipped: 0, failed: 1 });
    expect(done).toMatchObject({ status: 'completed', counts: { created: 2, updated: 0, skipped: 0, failed: 1 } });
    expect(rejected.map((row) => [row['First Name'], row.Error])).toEqual([
      ['Long', `row 2: Labels: tag "${'x'.repeat(30)}…" is 101 characters long once Title Cased; at most 100 are allowed`],
    ]);
    // "İ" is the capital of a plain i: 100 of them are 100 characters stored.
    const [dotted] = await t.db.query('SELECT t.name FROM contacts c JOIN contact_tags ct ON ct.contact_id = c.id JOIN tags t ON t.id = ct.tag_id WHERE c.email_key = $1', [
      `dotted.${marker}@example.com`,
    ]);
    expect(dotted.name).toBe(`İ${'i'.repeat(99)}`);
    expect(await contactByEmail(`long.${marker}@example.com`)).toBeUndefined();
    const [fine] = await t.db.query(
      'SELECT array_agg(t.name ORDER BY t.name_key) AS tags FROM contacts c JOIN contact_tags ct ON ct.contact_id = c.id JOIN tags t ON t.id = ct.tag_id WHERE c.email_key = $1',
      [`fine-tags.${marker}@example.com`],
    );
    expect(fine.tags).toEqual(['Short One', `Y${'y'.repeat(99)}`]);
  });

  it('reads files whose cells are separated by semicolons or tabs, as spreadsheets write them in many locales', async () => {
    for (const [name, separator] of [['Semi', ';'], ['Tab', '\t']] as const) {
      const email = `${name.toLowerCase()}.${marker}@example.com`;
      const csv = [['First Name', 'Last Name', 'Email', 'Company'], [name, 'Colon', email, '"Acme, Inc."']].map((cells) => cells.join(separator)).join('\r\n');
      const uploaded = (await upload(`\ufeff${csv}\r\n`).expect(201)).body;
      expect(uploaded.columns.map((column: { target: string }) => column.target)).toEqual(['firstName', 'lastName', 'email', 'company']);
      const { done } = await run(csv, 'create');
      expect(done.counts).toMatchObject({ created: 1, failed: 0 });
      expect(await contactByEmail(email)).toMatchObject({ first_name: name });
      const [{ company }] = await t.db.query('SELECT company FROM contacts WHERE email_key = $1', [email]);
      expect(company).toBe('Acme, Inc.');
    }
  });

  it('holds emails and phones to the rules every route applies', async () => {
    const csv = [
      'First Name,Email,Phone',
      `Angle,<s>@${marker}.test,`,
      `Dots,a@${marker}..test,`,
      `Dashes,dashes.${marker}@example.com,---`,
      `Fine,fine-format.${marker}@example.com,+44 20 7946 0000`,
    ].join('\n');
    const { done, rejected } = await run(csv, 'create');
    expect(done).toMatchObject({ status: 'completed', counts: { created: 1, updated: 0, skipped: 0, failed: 3 } });
    expect(rejected.map((row) => row.Error)).toEqual([
      `row 2: invalid email "<s>@${marker}.test"`,
      `row 3: invalid email "a@${marker}..test"`,
      'row 4: invalid phone "---"',
    ]);
    const api = await t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Dashes', phone: '---' }).expect(400);
    expect(api.body.details).toEqual([{ field: 'phone', message: 'must be a phone number (digits, spaces, + ( ) . / -)' }]);
  });

  it('judges choices by the options as they are when a chunk is written, not as they were read before', async () => {
    const key = `plan${marker}${Math.round(Math.random() * 1e6)}`;
    await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Plan ${key}`, type: 'select', options: ['Kept', 'Dropped'] }).expect(201);
    const uploaded = (await upload(`First Name,Email,Plan ${key}\nKept,kept.${key}@example.com,Kept\nDropped,dropped.${key}@example.com,Dropped\n`).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    expect((await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/dry-run`).set(staff.auth).expect(200)).body.counts).toMatchObject({ created: 2 });
    // An option removed after the definitions were read (here behind the back of every kept copy).
    await t.db.query(`UPDATE custom_fields SET options = '["Kept"]' WHERE key = $1`, [key]);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    const done = await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });
    expect(done.counts).toEqual({ created: 1, updated: 0, skipped: 0, failed: 1 });
    expect(await contactByEmail(`dropped.${key}@example.com`)).toBeUndefined();
    const rejected = parse((await t.http.get(`/api/v1/contacts/imports/${uploaded.id}/rejected`).set(staff.auth).expect(200)).text, { columns: true }) as Array<Record<string, string>>;
    expect(rejected.map((row) => row.Error)).toEqual([expect.stringContaining('must be one of Kept')]);
  });

  it('a revert keeps the current status, traffic source and assignee where the earlier one was deleted since', async () => {
    const name = (what: string) => `${what} ${marker}`;
    const status = async (what: string) => (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: name(what), stage: 'lead' }).expect(201)).body as { id: string; name: string };
    const source = async (what: string) => (await t.http.post('/api/v1/traffic-sources').set(admin.auth).send({ name: name(what) }).expect(201)).body as { id: string; name: string };
    const [oldStage, newStage, oldSource, newSource] = [await status('old stage'), await status('new stage'), await source('old source'), await source('new source')];
    const oldOwner = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'oldowner');
    const email = `reverted.${marker}@example.com`;
    const contact = (
      await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Reverted', email, statusId: oldStage.id, trafficSourceId: oldSource.id, assignedToId: oldOwner.userId }).expect(201)
    ).body;

    const { id, done } = await run(`Email,Status,Source,Owner,City\n${email},${newStage.name},${newSource.name},${staff.email},Porto\n`, 'update');
    expect(done.counts).toMatchObject({ updated: 1 });
    // Since the import, the earlier values are gone; the contact does not use them, so nothing moves it.
    await t.http.delete(`/api/v1/contact-statuses/${oldStage.id}`).set(admin.auth).query({ replaceWith: newStage.id }).expect(204);
    await t.http.delete(`/api/v1/traffic-sources/${oldSource.id}`).set(admin.auth).query({ replaceWith: newSource.id }).expect(204);
    await t.http.delete(`/api/v1/users/${oldOwner.userId}`).set(admin.auth).expect(204);

    await t.http.post(`/api/v1/contacts/imports/${id}/revert`).set(staff.auth).expect(200);
    const after = (await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body;
    expect(after).toMatchObject({ city: null, status: { id: newStage.id }, trafficSource: { id: newSource.id }, assignedTo: { id: staff.userId }, version: contact.version + 2 });
    const history: Array<{ source: string }> = await t.db.query(`SELECT source FROM contact_status_history WHERE contact_id = $1 AND source = 'import'`, [contact.id]);
    expect(history).toHaveLength(1);
  });

  it("a revert's status changes are recorded as the revert's, not as the import's", async () => {
    const email = `reverted-status.${marker}@example.com`;
    const customer = (await t.db.query(`SELECT id FROM contact_statuses WHERE name = 'Customer'`))[0].id as string;
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Kept', email, statusId: customer }).expect(201)).body;
    const { id, done } = await run(`Email,Status\n${email},Lead\n`, 'update');
    expect(done.counts).toMatchObject({ updated: 1 });
    await t.http.post(`/api/v1/contacts/imports/${id}/revert`).set(admin.auth).expect(200);
    const history = await t.db.query(
      `SELECT f.name AS "from", s.name AS "to", h.source, h.changed_by_id FROM contact_status_history h
         LEFT JOIN contact_statuses f ON f.id = h.from_status_id JOIN contact_statuses s ON s.id = h.to_status_id
        WHERE h.contact_id = $1 ORDER BY h.changed_at, h.id`,
      [contact.id],
    );
    expect(history.slice(-2)).toEqual([
      { from: 'Customer', to: 'Lead', source: 'import', changed_by_id: staff.userId },
      { from: 'Lead', to: 'Customer', source: 'revert', changed_by_id: admin.userId },
    ]);
  });

  it('a row naming an owner who is made a client while the chunk runs waits, and is rejected: no client is ever an assignee', async () => {
    const owner = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'owner');
    const clientRole = await systemRoleId(t, 'client');
    const email = `owned.${marker}@example.com`;
    // The demotion holds the account as PUT /users/:id/roles does, and changes its roles meanwhile.
    const { done, rejected } = await whileHolding(
      t.db,
      { sql: 'SELECT id FROM users WHERE id = $1 FOR UPDATE', params: [owner.userId] },
      () => run(`First Name,Email,Owner\nOwned,${email},${owner.email}\n`, 'create'),
      (query) => query('UPDATE user_roles SET role_id = $2 WHERE user_id = $1', [owner.userId, clientRole]),
    );
    expect(done.counts).toMatchObject({ created: 0, failed: 1 });
    expect(rejected.map((row) => row.Error)).toEqual([expect.stringContaining('is not an active staff user')]);
    const [{ assigned }] = await t.db.query('SELECT count(*)::int AS assigned FROM contacts WHERE assigned_to_id = $1', [owner.userId]);
    expect(assigned).toBe(0);
  });

  it('imports the first row of a repeated email that can be written: a repeat of a rejected row is not its duplicate', async () => {
    const [one, two] = [`dupfirst.${marker}@example.com`, `dupsecond.${marker}@example.com`];
    const csv = [
      'First Name,Email,Status',
      `Typo,${one},Custmer`,
      `Good,${one.toUpperCase()},Customer`,
      `Again,${one},`,
      `,${two},`,
      `Good2,${two},`,
    ].join('\n');
    const { dry, done, rejected } = await run(csv, 'upsert');
    expect(dry).toMatchObject({ counts: { created: 2, updated: 0, skipped: 0, failed: 3 }, duplicates: 1 });
    expect(done).toMatchObject({ status: 'completed', counts: { created: 2, updated: 0, skipped: 0, failed: 3 } });
    expect(rejected.map((row) => [row['First Name'], row.Error])).toEqual([
      ['Typo', 'row 2: unknown status "Custmer"'],
      ['Again', 'row 4: duplicate email in the file (first at row 3)'],
      ['', 'row 5: first name is required for a new contact'],
    ]);
    expect((await contactByEmail(one)).first_name).toBe('Good');
    expect((await contactByEmail(two)).first_name).toBe('Good2');
  });

  it("a revert leaves a created contact that was put in a static segment since, with its membership", async () => {
    const [kept, gone] = [`segmented.${marker}@example.com`, `unsegmented.${marker}@example.com`];
    const { id } = await run(`First Name,Email\nKept,${kept}\nGone,${gone}\n`, 'create');
    const segment = (await t.http.post('/api/v1/segments').set(admin.auth).send({ name: `Picked ${marker}`, kind: 'static' }).expect(201)).body;
    const contact = await t.db.query('SELECT id FROM contacts WHERE email_key = $1', [kept]);
    await t.http.post(`/api/v1/segments/${segment.id}/members`).set(admin.auth).send({ contactIds: [contact[0].id] }).expect(200);

    await t.http.post(`/api/v1/contacts/imports/${id}/revert`).set(staff.auth).expect(200);
    expect(await contactByEmail(kept)).toBeDefined();
    expect(await contactByEmail(gone)).toBeUndefined();
    const members = (await t.http.get(`/api/v1/segments/${segment.id}/contacts`).set(admin.auth).expect(200)).body.data.map((c: { id: string }) => c.id);
    expect(members).toEqual([contact[0].id]);
  });

  it("a revert needs the delete right on every contact, and leaves an administrator's contact to administrators", async () => {
    const lookupRights = [
      { action: 'read', subject: ['ContactStatus', 'TrafficSource', 'Tag', 'Service', 'CustomField'] },
      { action: 'create', subject: 'Tag' },
    ];
    const role = await t.http
      .post('/api/v1/roles')
      .set(admin.auth)
      .send({ name: `No delete ${marker}`, audience: 'staff', rules: [{ action: ['read', 'create', 'update', 'assign', 'import'], subject: 'Contact' }, ...lookupRights] })
      .expect(201);
    const importer = await createUserWithRoles(t, admin, [role.body.id], 'nodelete');
    const otherAdmin = await createUserWithRoles(t, admin, [await systemRoleId(t, 'admin')], 'otheradmin');
    const created = `created.nodelete.${marker}@example.com`;
    // Run by an administrator: it renames the other administrator and creates a contact.
    const uploaded = (await upload(`First Name,Last Name,Email\nRenamed,Admin,${otherAdmin.email}\nNew,Person,${created}\n`, admin).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns: uploaded.columns, mode: 'upsert' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(admin.auth).expect(202);
    await until(async () => ((await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(admin.auth).expect(200)).body.status === 'completed' ? true : undefined));
    expect((await t.db.query('SELECT first_name FROM users WHERE id = $1', [otherAdmin.userId]))[0].first_name).toBe('Renamed');

    const refused = await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(importer.auth).expect(403);
    expect(refused.body).toMatchObject({ code: 'forbidden', message: expect.stringContaining('delete right on every contact') });
    expect(await contactByEmail(created)).toBeDefined();

    // Staff may delete contacts, not change an administrator's account: the created contact goes, the administrator keeps the name.
    const reverted = await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(staff.auth).expect(200);
    expect(reverted.body.status).toBe('reverted');
    expect(await contactByEmail(created)).toBeUndefined();
    expect((await t.db.query('SELECT first_name FROM users WHERE id = $1', [otherAdmin.userId]))[0].first_name).toBe('Renamed');
    const [entry] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'contact-import.revert' AND subject_id = $1`, [uploaded.id]);
    expect(entry.after).toMatchObject({ removed: 1, restored: 0, keptAdministrators: 1 });
  });

  it("a reverted import's lead → customer changes convert nobody, nor do the revert's own", async () => {
    const email = `converted.${marker}@example.com`;
    const [lead, customer] = await Promise.all(['Lead', 'Customer'].map(async (name) => (await t.db.query(`SELECT id FROM contact_statuses WHERE name = $1`, [name]))[0].id as string));
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Converted', email, statusId: lead }).expect(201)).body;
    const conversions = async () => {
      const { sql, params } = conversionsStatement(new Date(Date.now() + 60_000));
      return (await t.db.query(sql, params))[0].total as number;
    };
    const before = await conversions();
    const { id, done } = await run(`Email,Status\n${email},Customer\n`, 'update');
    expect(done.counts).toMatchObject({ updated: 1 });
    expect(await conversions()).toBe(before + 1);
    await t.http.post(`/api/v1/contacts/imports/${id}/revert`).set(admin.auth).expect(200);
    expect((await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body.status.id).toBe(lead);
    expect(await conversions()).toBe(before);
    const history = await t.db.query(`SELECT to_status_id, source, import_id, undone FROM contact_status_history WHERE contact_id = $1 ORDER BY changed_at, id`, [contact.id]);
    expect(history.slice(-2)).toEqual([
      { to_status_id: customer, source: 'import', import_id: id, undone: true },
      { to_status_id: lead, source: 'revert', import_id: null, undone: false },
    ]);
    // Changed by the API afterwards, the contact converts again.
    await t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ statusId: customer, version: contact.version + 2 }).expect(200);
    expect(await conversions()).toBe(before + 1);
  });

  it('a revert keeps the current assignee and choices where the earlier ones are no longer allowed', async () => {
    const key = `tier${marker}${Math.round(Math.random() * 1e6)}`;
    const tier = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Tier ${key}`, type: 'select', options: ['Gold', 'Silver'] }).expect(201)).body;
    const oldOwner = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'leaving');
    const email = `allowed.${key}@example.com`;
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Allowed', email, assignedToId: oldOwner.userId, customFields: { [key]: 'Gold' } }).expect(201)).body;

    const { id, done } = await run(`Email,Owner,Tier ${key},City\n${email},${staff.email},Silver,Porto\n`, 'update');
    expect(done.counts).toMatchObject({ updated: 1 });
    // Since the import: the old owner is no longer active, and Gold is no longer an option (no contact holds it now).
    await t.http.patch(`/api/v1/users/${oldOwner.userId}`).set(admin.auth).send({ isActive: false }).expect(200);
    await t.http.patch(`/api/v1/custom-fields/${tier.id}`).set(admin.auth).send({ options: ['Silver', 'Bronze'] }).expect(200);

    await t.http.post(`/api/v1/contacts/imports/${id}/revert`).set(staff.auth).expect(200);
    const after = (await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body;
    expect(after).toMatchObject({ city: null, assignedTo: { id: staff.userId }, customFields: { [key]: 'Silver' } });
    // What it keeps still takes the next edit.
    await t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: after.version, customFields: { [key]: 'Silver' }, jobTitle: 'Kept' }).expect(200);
  });

  it('answers 413 naming the limit for a file over IMPORT_MAX_BYTES, and keeps nothing of it', async () => {
    const count = async () => (await t.db.query('SELECT (SELECT count(*) FROM contact_imports)::int AS imports, (SELECT count(*) FROM contact_import_rows)::int AS rows'))[0];
    const before = await count();
    const lines = ['First Name,Email'];
    for (let i = 0; lines.join('\n').length <= MAX_BYTES * 3; i += 1) lines.push(`Big${i},big${i}.${marker}@example.com`);
    for (const separator of ['\n', '\r']) {
      // A lone CR ends lines in old Mac files: that file is read by the fallback parser.
      const tooLarge = await upload(lines.join(separator)).expect(413);
      expect(tooLarge.body).toMatchObject({ statusCode: 413, code: 'file_too_large', details: [{ field: 'file', message: `is larger than ${MAX_BYTES} bytes` }] });
      expect(tooLarge.body.message).toContain(String(MAX_BYTES));
    }
    expect(await count()).toEqual(before);
    const underLimit = lines.slice(0, 100).join('\n');
    expect(underLimit.length).toBeLessThan(MAX_BYTES);
    expect((await upload(underLimit).expect(201)).body.totalRows).toBe(99);
  });

  it('accepts cells holding NUL or the text \\u0000, rejecting only the rows PostgreSQL cannot store', async () => {
    const csv = [
      'First Name,Last Name,Email,Notes',
      `\\u0000Lit,${marker},lit.${marker}@example.com,C:\\u0000`,
      `Nul,${marker},nul.${marker}@example.com,a\u0000b`,
      `Ok,${marker},ok.${marker}@example.com,fine`,
    ].join('\n');
    const { dry, done, rejected } = await run(csv, 'create');
    expect(dry.counts).toEqual({ created: 2, updated: 0, skipped: 0, failed: 1 });
    expect(done).toMatchObject({ status: 'completed', processedRows: 3, counts: { created: 2, updated: 0, skipped: 0, failed: 1 } });
    expect(rejected).toEqual([{ 'First Name': 'Nul', 'Last Name': marker, Email: `nul.${marker}@example.com`, Notes: 'a\ufffdb', Error: 'row 3: "Notes" must not contain the NUL character (\\u0000)' }]);
    expect((await contactByEmail(`lit.${marker}@example.com`)).first_name).toBe('\\u0000Lit');
    expect(await contactByEmail(`nul.${marker}@example.com`)).toBeUndefined();

    const badHeader = await upload(`First Name,No\u0000tes\nX,y\n`).expect(400);
    expect(badHeader.body.details[0]).toMatchObject({ field: 'file', message: expect.stringContaining('header 2 must not contain the NUL character') });
  });
});

/**
 * Files with long rows and many columns: bounded as they are read and as a chunk loads them, and
 * uploads that never finished.
 */
describe('CSV import sizes', () => {
  let t: TestApp;
  let staff: Session;
  const marker = `size${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await register(t, 'admin');
    staff = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'staff');
  });
  afterAll(() => t.close());

  const upload = (csv: string, fileName = 'contacts.csv') => t.http.post('/api/v1/contacts/imports').set(staff.auth).attach('file', Buffer.from(csv), fileName);

  it('refuses a row longer than the limit, naming it, and keeps nothing', async () => {
    const before = (await t.db.query('SELECT count(*)::int AS n FROM contact_imports'))[0].n as number;
    for (const cell of ['x'.repeat(RECORD_CHARS_MAX + 1), `"${'x'.repeat(RECORD_CHARS_MAX + 1)}"`]) {
      const refused = await upload(`First Name,Email,Notes\nAnn,ann.${marker}@example.com,short\nBob,bob.${marker}@example.com,${cell}\n`).expect(400);
      expect(refused.body.details).toEqual([{ field: 'file', message: `row 3 is longer than ${RECORD_CHARS_MAX} characters; no contact needs that much` }]);
    }
    expect((await t.db.query('SELECT count(*)::int AS n FROM contact_imports'))[0].n).toBe(before);
  });

  it('takes back the mapping it proposes for the widest file and longest headers it accepts, and refuses wider ones at upload', async () => {
    const headers = ['First Name', 'Email', 'q'.repeat(IMPORT_HEADER_MAX), ...Array.from({ length: IMPORT_COLUMNS_MAX - 3 }, (_, i) => `Extra ${i}`)];
    const row = ['Wide', `wide.${marker}@example.com`, ...Array(IMPORT_COLUMNS_MAX - 2).fill('')];
    const uploaded = (await upload(`${headers.join(',')}\n${row.join(',')}\n`).expect(201)).body;
    expect(uploaded.columns).toHaveLength(IMPORT_COLUMNS_MAX);
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);

    const wider = await upload(`${[...headers, 'One more'].join(',')}\n${[...row, ''].join(',')}\n`).expect(400);
    expect(wider.body.details).toEqual([{ field: 'file', message: `has ${IMPORT_COLUMNS_MAX + 1} columns; at most ${IMPORT_COLUMNS_MAX} can be mapped` }]);
    const longer = await upload(`First Name,${'q'.repeat(IMPORT_HEADER_MAX + 1)}\nA,b\n`).expect(400);
    expect(longer.body.details).toEqual([{ field: 'file', message: `header 2 is longer than ${IMPORT_HEADER_MAX} characters` }]);
  });

  it('reads long rows a few at a time, and previews their cells cut short', async () => {
    const notes = 'n'.repeat(900_000);
    const lines = ['First Name,Email,Notes', ...Array.from({ length: 12 }, (_, i) => `Long${i},long${i}.${marker}@example.com,${notes}`)];
    const uploaded = (await upload(lines.join('\n')).expect(201)).body;
    expect(uploaded.sample[0]).toEqual(['Long0', `long0.${marker}@example.com`, 'n'.repeat(1000)]);
    expect(JSON.stringify((await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body).length).toBeLessThan(20_000);
    // Nine rows of ~900 KB fill the 8 MB a chunk holds; the next chunk takes the last three (rows 11 to 13).
    expect(await stagedChunkEnd(t.db.manager, uploaded.id, 2, 2000)).toBe(10);
    expect(await stagedChunkEnd(t.db.manager, uploaded.id, 11, 2000)).toBe(13);
    // However long a single row, a chunk holds it.
    expect(await stagedChunkEnd(t.db.manager, uploaded.id, 2, 2000, 10)).toBe(2);

    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    const done = await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });
    expect(done).toMatchObject({ status: 'completed', processedRows: 12, counts: { created: 12, failed: 0 } });
  });

  it('imports the repeat of a rejected row in a later chunk, and rejects the repeat of a written one there', async () => {
    const [rejectedFirst, writtenFirst] = [`later.${marker}@example.com`, `written.${marker}@example.com`];
    const filler = Array.from({ length: 2100 }, (_, i) => `Filler${i},filler${i}.${marker}@example.com,`);
    const csv = ['First Name,Email,Status', `Typo,${rejectedFirst},Custmer`, `First,${writtenFirst},`, ...filler, `Later,${rejectedFirst},Customer`, `Again,${writtenFirst},`].join('\n');
    const uploaded = (await upload(csv).expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    expect(await stagedChunkEnd(t.db.manager, uploaded.id, 2, 2000)).toBe(2001);
    const dry = (await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/dry-run`).set(staff.auth).expect(200)).body;
    expect(dry).toMatchObject({ counts: { created: 2102, failed: 2 }, duplicates: 1 });
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(staff.auth).expect(202);
    const done = await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(staff.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });
    expect(done).toMatchObject({ status: 'completed', counts: { created: 2102, failed: 2 } });
    const names = await t.db.query('SELECT email, first_name FROM contacts WHERE email_key = ANY($1::text[]) ORDER BY email', [[rejectedFirst, writtenFirst]]);
    expect(names).toEqual([
      { email: rejectedFirst, first_name: 'Later' },
      { email: writtenFirst, first_name: 'First' },
    ]);
    const errors = (await t.db.query(`SELECT row_number, error FROM contact_import_rows WHERE import_id = $1 AND outcome = 'rejected' ORDER BY row_number`, [uploaded.id])) as Array<{
      row_number: number;
      error: string;
    }>;
    expect(errors).toEqual([
      { row_number: 2, error: 'unknown status "Custmer"' },
      { row_number: 2105, error: 'duplicate email in the file (first at row 3)' },
    ]);
  });

  it('keeps a file name without the NUL PostgreSQL cannot store, in the import and its audit', async () => {
    const uploaded = (await upload(`First Name,Email\nNamed,named.${marker}@example.com\n`, 'a\u0000b.csv').expect(201)).body;
    expect(uploaded.fileName).toBe('ab.csv');
    const [entry] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'contact-import.upload' AND subject_id = $1`, [uploaded.id]);
    expect(entry.after).toEqual({ fileName: 'ab.csv', rows: 1 });
  });

  it('offers an import for settings and runs only once its file is staged; one abandoned half-staged is removed', async () => {
    const insert = async (age: string) =>
      (
        await t.db.query(
          `INSERT INTO contact_imports (created_by_id, file_name, status, headers, created_at) VALUES ($1, 'cut.csv', 'uploading', '["Email"]', now() - $2::interval) RETURNING id`,
          [staff.userId, age],
        )
      )[0].id as string;
    const [fresh, abandoned] = [await insert('1 minute'), await insert('2 hours')];
    const settings = { columns: [{ index: 0, header: 'Email', target: 'email' }], mode: 'create' };
    const waiting = await t.http.put(`/api/v1/contacts/imports/${fresh}/settings`).set(staff.auth).send(settings).expect(409);
    expect(waiting.body).toMatchObject({ code: 'import_uploading', message: 'The file is still being uploaded' });
    await t.http.post(`/api/v1/contacts/imports/${fresh}/run`).set(staff.auth).expect(409);
    expect((await t.http.get(`/api/v1/contacts/imports/${fresh}`).set(staff.auth).expect(200)).body.status).toBe('uploading');

    await t.app.get(ContactsImportRecovery).unfinished();
    const left = (await t.db.query('SELECT id FROM contact_imports WHERE id = ANY($1::uuid[])', [[fresh, abandoned]])).map((row: { id: string }) => row.id);
    expect(left).toEqual([fresh]);
  });
});
