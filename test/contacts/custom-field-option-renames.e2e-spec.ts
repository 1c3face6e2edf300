import { register, Session } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow, until, whileHolding } from '../support/wait';

/**
 * Renaming options of select and multi-select fields keeps every value: contacts, dynamic
 * segments' rules and imports' before-images take the new name in one transaction, and a
 * contact write racing the rename never leaves the old name behind.
 */
describe('renaming custom field options', () => {
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  let serial = 0;
  const newKey = (prefix: string) => `${prefix}${Date.now().toString(36)}${(serial += 1)}`;
  const defineField = async (type: string, options: string[]) => {
    const key = newKey(type === 'select' ? 'tier' : 'perks');
    const body = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: key, type, options }).expect(201)).body;
    return { id: body.id as string, key };
  };
  const rename = (fieldId: string, body: Record<string, unknown>) => t.http.patch(`/api/v1/custom-fields/${fieldId}`).set(admin.auth).send(body);
  const newContact = async (customFields: Record<string, unknown>) => (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Renamed', customFields }).expect(201)).body as { id: string; version: number };
  const stored = async (id: string) => (await t.db.query('SELECT custom_fields, version FROM contacts WHERE id = $1', [id]))[0] as { custom_fields: Record<string, unknown>; version: number };
  const listed = async (filter: unknown, limit = 100) => {
    const body = (await t.http.get('/api/v1/contacts').set(admin.auth).query({ filter: JSON.stringify(filter), limit }).expect(200)).body;
    return { total: body.meta.total as number, ids: (body.data as Array<{ id: string }>).map((contact) => contact.id).sort() };
  };
  const dynamicSegment = async (rule: unknown) =>
    (await t.http.post('/api/v1/segments').set(admin.auth).send({ name: newKey('Segment '), kind: 'dynamic', rule }).expect(201)).body as { id: string };
  const segmentContacts = async (id: string) => ((await t.http.get(`/api/v1/segments/${id}/contacts`).set(admin.auth).query({ limit: 100 }).expect(200)).body.data as Array<{ id: string }>).map((c) => c.id).sort();
  const segmentRule = async (id: string) => (await t.http.get(`/api/v1/segments/${id}`).set(admin.auth).expect(200)).body.rule;

  it('renames a select option on every contact, trashed ones too, keeping versions; filters and dynamic segments find the new name', async () => {
    const { id, key } = await defineField('select', ['Bronze', 'Silver', 'Gold']);
    const field = `custom.${key}`;
    const gold = await newContact({ [key]: 'Gold' });
    const silver = await newContact({ [key]: 'Silver' });
    const trashed = await newContact({ [key]: 'Gold' });
    await t.http.delete(`/api/v1/contacts/${trashed.id}`).set(admin.auth).expect(204);
    const isGold = await dynamicSegment({ field, op: 'is', value: 'gold' });
    const inGoldOrBronze = await dynamicSegment({ and: [{ field, op: 'in', value: ['Gold', 'Bronze'] }, { not: { field: 'firstName', op: 'empty' } }] });
    const containsGol = await dynamicSegment({ field, op: 'contains', value: 'Gol' });
    // Kept totals and kept segment rows from before the rename must not answer after it.
    expect(await listed({ field, op: 'is', value: 'Gold' })).toEqual({ total: 1, ids: [gold.id] });
    // A first page of one that a stale total would not contradict.
    const goldOrSilver = { field, op: 'in', value: ['Gold', 'Silver'] };
    expect((await listed(goldOrSilver, 1)).total).toBe(2);
    expect(await segmentContacts(isGold.id)).toEqual([gold.id]);

    const answer = await rename(id, { renameOptions: [{ from: 'gold', to: '  Gold tier ' }] }).expect(200);
    expect(answer.body.options).toEqual(['Bronze', 'Silver', 'Gold tier']);

    expect(await stored(gold.id)).toEqual({ custom_fields: { [key]: 'Gold tier' }, version: gold.version });
    expect(await stored(silver.id)).toEqual({ custom_fields: { [key]: 'Silver' }, version: silver.version });
    expect((await stored(trashed.id)).custom_fields).toEqual({ [key]: 'Gold tier' });
    // First: a page that contradicts its kept total drops every kept total.
    expect(await listed(goldOrSilver, 1)).toEqual({ total: 1, ids: [silver.id] });
    expect(await listed({ field, op: 'is', value: 'Gold' })).toEqual({ total: 0, ids: [] });
    expect(await listed({ field, op: 'is', value: 'gold tier' })).toEqual({ total: 1, ids: [gold.id] });
    expect(await segmentContacts(isGold.id)).toEqual([gold.id]);
    expect(await segmentRule(isGold.id)).toEqual({ field, op: 'is', value: 'Gold tier' });
    expect(await segmentContacts(inGoldOrBronze.id)).toEqual([gold.id]);
    expect(await segmentRule(inGoldOrBronze.id)).toMatchObject({ and: [{ field, op: 'in', value: ['Gold tier', 'Bronze'] }, {}] });
    // A text match is no option name: it is left as written (and still finds "Gold tier").
    expect(await segmentRule(containsGol.id)).toEqual({ field, op: 'contains', value: 'Gol' });
    expect(await segmentContacts(containsGol.id)).toEqual([gold.id]);

    // An edit still sending the old name, from a client that read the contact before, is refused.
    const stale = await t.http.patch(`/api/v1/contacts/${gold.id}`).set(admin.auth).send({ version: gold.version, customFields: { [key]: 'Gold' } }).expect(400);
    expect(stale.body.details).toEqual([{ field: `customFields.${key}`, message: 'must be one of Bronze, Silver, Gold tier' }]);
    await t.http.patch(`/api/v1/contacts/${gold.id}`).set(admin.auth).send({ version: gold.version, firstName: 'Still current' }).expect(200);

    const [audited] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'custom-field.update' AND subject_id = $1`, [id]);
    expect(audited.after).toMatchObject({ renameOptions: [{ from: 'gold', to: 'Gold tier' }], contactsRenamed: 2, segmentsRewritten: 2 });
  });

  it('renames multi-select values in place, swaps names at once, and takes additions and removals in new names', async () => {
    const { id, key } = await defineField('multi_select', ['Wifi', 'Desk', 'Parking']);
    const field = `custom.${key}`;
    const both = await newContact({ [key]: ['Desk', 'Wifi'] });
    const desk = await newContact({ [key]: ['Desk'] });
    const parking = await newContact({ [key]: ['Parking', 'Wifi'] });
    const hasAll = await dynamicSegment({ field, op: 'hasAll', value: ['desk', 'Wifi'] });
    expect(await segmentContacts(hasAll.id)).toEqual([both.id]);

    await rename(id, { renameOptions: [{ from: 'Desk', to: 'Hot desk' }], options: ['Wifi', 'Hot desk', 'Parking', 'Lockers'] }).expect(200);
    expect((await stored(both.id)).custom_fields).toEqual({ [key]: ['Hot desk', 'Wifi'] });
    expect((await stored(desk.id)).custom_fields).toEqual({ [key]: ['Hot desk'] });
    expect(await listed({ field, op: 'hasAny', value: ['hot desk'] })).toEqual({ total: 2, ids: [both.id, desk.id].sort() });
    expect(await segmentRule(hasAll.id)).toEqual({ field, op: 'hasAll', value: ['Hot desk', 'Wifi'] });
    expect(await segmentContacts(hasAll.id)).toEqual([both.id]);

    // Two options swap names: every value takes the other's.
    const swapped = await rename(id, { renameOptions: [{ from: 'Wifi', to: 'Parking' }, { from: 'Parking', to: 'Wifi' }] }).expect(200);
    expect(swapped.body.options).toEqual(['Parking', 'Hot desk', 'Wifi', 'Lockers']);
    expect((await stored(both.id)).custom_fields).toEqual({ [key]: ['Hot desk', 'Parking'] });
    expect((await stored(parking.id)).custom_fields).toEqual({ [key]: ['Wifi', 'Parking'] });
    expect(await segmentRule(hasAll.id)).toEqual({ field, op: 'hasAll', value: ['Hot desk', 'Parking'] });

    // A rename and a removal with its values dropped: the removal names the option as renamed.
    await rename(id, { renameOptions: [{ from: 'Hot desk', to: 'Desk' }], options: ['Parking', 'Desk', 'Lockers'], dropRemovedValues: true }).expect(200);
    expect((await stored(both.id)).custom_fields).toEqual({ [key]: ['Desk', 'Parking'] });
    expect((await stored(parking.id)).custom_fields).toEqual({ [key]: ['Parking'] });
  });

  it('refuses bad renames with the field and reason, changing nothing', async () => {
    const { id, key } = await defineField('select', ['Bronze', 'Silver', 'Gold']);
    const contact = await newContact({ [key]: 'Gold' });
    const text = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: newKey('note'), label: 'Note', type: 'text' }).expect(201)).body;

    const unknown = await rename(id, { renameOptions: [{ from: 'Platinum', to: 'Plat' }] }).expect(422);
    expect(unknown.body).toMatchObject({ code: 'unknown_option', details: [{ field: 'renameOptions.0.from', message: `"Platinum" is not an option of ${key} (its options: Bronze, Silver, Gold)` }] });
    const notChoice = await rename(text.id, { renameOptions: [{ from: 'a', to: 'b' }] }).expect(422);
    expect(notChoice.body).toMatchObject({ code: 'options_not_allowed', details: [{ field: 'renameOptions', message: `${text.key} is a text field, which has no options` }] });
    const taken = await rename(id, { renameOptions: [{ from: 'Gold', to: 'silver' }] }).expect(409);
    expect(taken.body).toMatchObject({ code: 'option_name_taken', details: [{ field: 'renameOptions.0.to', message: `"silver" is already an option of ${key}; renaming does not merge options` }] });
    const twoTargets = await rename(id, { renameOptions: [{ from: 'Gold', to: 'Top' }, { from: 'Silver', to: 'TOP' }] }).expect(400);
    expect(twoTargets.body.details).toEqual([{ field: 'renameOptions', message: 'must not give two options one name, even in another case (filters ignore case)' }]);
    const empty = await rename(id, { renameOptions: [{ from: 'Gold', to: ' ' }] }).expect(400);
    expect(empty.body.details).toEqual([{ field: 'renameOptions.0.to', message: 'must not be empty' }]);
    const oldName = await rename(id, { renameOptions: [{ from: 'Gold', to: 'Gold tier' }], options: ['Bronze', 'Silver', 'Gold'] }).expect(422);
    expect(oldName.body).toMatchObject({ code: 'invalid_options', details: [{ field: 'options.2', message: '"Gold" is renamed to "Gold tier" in this edit: list the new name' }] });

    expect((await t.http.get(`/api/v1/custom-fields/${id}`).set(admin.auth).expect(200)).body.options).toEqual(['Bronze', 'Silver', 'Gold']);
    expect((await stored(contact.id)).custom_fields).toEqual({ [key]: 'Gold' });
  });

  it('a value written by an edit holding the field while the rename waits is renamed too', async () => {
    const { id, key } = await defineField('select', ['Red', 'Blue']);
    const contact = await newContact({});
    // The test does what a contact edit does: it holds the definition it stores a value of and its contact, then writes the value.
    const answer = await whileHolding(
      t.db,
      { sql: 'SELECT c.id FROM contacts c, custom_fields f WHERE c.id = $1 AND f.id = $2 FOR UPDATE OF c FOR SHARE OF f', params: [contact.id, id] },
      () => rename(id, { renameOptions: [{ from: 'Red', to: 'Crimson' }] }),
      (held) => held(`UPDATE contacts SET custom_fields = jsonb_build_object($2::text, 'Red') WHERE id = $1`, [contact.id, key]),
    );
    expect(answer.status).toBe(200);
    expect((await stored(contact.id)).custom_fields).toEqual({ [key]: 'Crimson' });
  });

  it('an edit sending the old name, caught behind the rename, is refused and stores nothing', async () => {
    const { id, key } = await defineField('select', ['Red', 'Blue']);
    const contact = await newContact({});
    const holder = await newContact({ [key]: 'Red' });
    // The rename holds the field and waits for a contact holding the option; the edit waits for the field.
    const [renamed, answer] = await behindHeldRow(
      t.db,
      { sql: 'SELECT id FROM contacts WHERE id = $1 FOR KEY SHARE', params: [holder.id] },
      () => rename(id, { renameOptions: [{ from: 'Red', to: 'Crimson' }] }),
      () => t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: contact.version, customFields: { [key]: 'Red' } }),
    );
    expect(renamed.status).toBe(200);
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ code: 'custom_field_options_changed', details: [{ field: `customFields.${key}`, message: 'must now be one of Crimson, Blue' }] });
    expect((await stored(contact.id)).custom_fields).toEqual({});
  });

  it("an import's revert after a rename puts back the value it replaced under its new name, and still removes what it created", async () => {
    const { id, key } = await defineField('select', ['Bronze', 'Silver', 'Gold']);
    const marker = newKey('imported');
    const email = `${marker}@example.com`;
    const existing = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Before', lastName: marker, email, customFields: { [key]: 'Silver' } }).expect(201)).body;
    const csv = `First Name,Last Name,Email,${key}\nAfter,${marker},${email},Bronze\nBrand,${marker},brand.${email},Gold\n`;
    const uploaded = (await t.http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', Buffer.from(csv), 'contacts.csv').expect(201)).body;
    const columns = uploaded.columns.map((column: { header: string }) => (column.header === key ? { ...column, target: `custom.${key}` } : column));
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns, mode: 'upsert' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(admin.auth).expect(202);
    const done = await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(admin.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });
    expect(done.counts).toEqual({ created: 1, updated: 1, skipped: 0, failed: 0 });

    await rename(id, { renameOptions: [{ from: 'Silver', to: 'Silver tier' }, { from: 'Gold', to: 'Gold tier' }] }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(admin.auth).expect(200);
    expect((await t.http.get(`/api/v1/contacts/${existing.id}`).set(admin.auth).expect(200)).body).toMatchObject({ firstName: 'Before', customFields: { [key]: 'Silver tier' } });
    expect(await t.db.query('SELECT 1 FROM contacts WHERE email_key = $1', [`brand.${email}`])).toEqual([]);
  });
});
