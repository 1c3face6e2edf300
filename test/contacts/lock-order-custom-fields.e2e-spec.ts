import { register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow, until, withPausedRows } from '../support/wait';

/**
 * Writers of contacts' custom values and edits of a field's options, made to meet partway
 * through their locks. Definitions come before contacts (core/identity/lock-order): a writer
 * taking them in the other order deadlocks every time, and one of the two is aborted (an import
 * chunk is retried, an edit answered 409 concurrent_update).
 */
describe('custom field definitions and contacts locked in one order', () => {
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  let serial = 0;
  const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${(serial += 1)}`;
  const defineField = async (options: string[]) => {
    const key = unique('tier');
    const id = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: key, type: 'select', options }).expect(201)).body.id as string;
    return { id, key };
  };
  const newContact = async (body: Record<string, unknown>) => (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Before', ...body }).expect(201)).body as { id: string; version: number };
  const editField = (fieldId: string, body: Record<string, unknown>) => t.http.patch(`/api/v1/custom-fields/${fieldId}`).set(admin.auth).send(body);
  /** What the contacts with `lastName` hold, by email. */
  const storedBy = async (lastName: string, key: string) =>
    Object.fromEntries(
      ((await t.db.query('SELECT email, first_name, custom_fields ->> $2 AS value FROM contacts WHERE last_name = $1', [lastName, key])) as Array<{ email: string; first_name: string; value: string | null }>).map(
        (row) => [row.email, [row.first_name, row.value]],
      ),
    );
  const holdField = (fieldId: string) => ({ sql: 'SELECT id FROM custom_fields WHERE id = $1 FOR UPDATE', params: [fieldId] });

  /**
   * An upsert import of `rows` (first name, email, the field's value), configured; the returned
   * function runs it and answers once it has completed or failed.
   */
  const preparedImport = async (key: string, lastName: string, rows: Array<[string, string, string]>) => {
    const csv = [`First Name,Last Name,Email,${key}`, ...rows.map(([first, email, value]) => `${first},${lastName},${email},${value}`)].join('\n');
    const uploaded = (await t.http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', Buffer.from(csv), 'contacts.csv').expect(201)).body;
    const columns = uploaded.columns.map((column: { header: string }) => (column.header === key ? { ...column, target: `custom.${key}` } : column));
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns, mode: 'upsert' }).expect(200);
    return async () => {
      await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(admin.auth).expect(202);
      return until(async () => {
        const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(admin.auth).expect(200)).body;
        return ['completed', 'failed'].includes(body.status) ? (body as { id: string; status: string; error: string | null; counts: Record<string, number> }) : undefined;
      });
    };
  };

  it("an import chunk writing a field's values while its options are renamed: both land, and no contact keeps the old name", async () => {
    const { id, key } = await defineField(['Bronze', 'Silver', 'Gold']);
    const lastName = unique('renamed');
    const kept = `kept.${lastName}@example.com`;
    const existing = await newContact({ lastName, email: kept, customFields: { [key]: 'Gold' } });
    const run = await preparedImport(key, lastName, [
      ['After', kept, 'Gold'],
      ['New', `new.${lastName}@example.com`, 'Gold'],
      ['Other', `other.${lastName}@example.com`, 'Silver'],
    ]);
    // The chunk waits for the field the test holds, the rename then too; the chunk is let go first.
    const [done, renamed] = await behindHeldRow(t.db, holdField(id), run, () => editField(id, { renameOptions: [{ from: 'Gold', to: 'Gold tier' }] }));
    expect({ import: [done.status, done.error, done.counts], rename: [renamed.status, renamed.body.code] }).toEqual({
      import: ['completed', null, { created: 2, updated: 1, skipped: 0, failed: 0 }],
      rename: [200, undefined],
    });
    expect(renamed.body.options).toEqual(['Bronze', 'Silver', 'Gold tier']);
    expect(await storedBy(lastName, key)).toEqual({
      [kept]: ['After', 'Gold tier'],
      [`new.${lastName}@example.com`]: ['New', 'Gold tier'],
      [`other.${lastName}@example.com`]: ['Other', 'Silver'],
    });
    expect(await t.db.query(`SELECT id FROM contacts WHERE custom_fields ->> $1 = 'Gold'`, [key])).toEqual([]);
    // What the import's revert would put back is renamed as well.
    const [before] = await t.db.query('SELECT before -> $3 -> $2 AS value FROM contact_import_changes WHERE contact_id = $1', [existing.id, key, 'custom_fields']);
    expect(before).toEqual({ value: 'Gold tier' });
  });

  it("an import chunk writing a field's values while options are removed with their values: both land, and no contact keeps a removed option", async () => {
    const { id, key } = await defineField(['Bronze', 'Silver', 'Gold']);
    const lastName = unique('dropped');
    const kept = `kept.${lastName}@example.com`;
    await newContact({ lastName, email: kept, customFields: { [key]: 'Gold' } });
    const run = await preparedImport(key, lastName, [
      ['After', kept, 'Gold'],
      ['New', `new.${lastName}@example.com`, 'Gold'],
      ['Other', `other.${lastName}@example.com`, 'Silver'],
    ]);
    const [done, removed] = await behindHeldRow(t.db, holdField(id), run, () => editField(id, { options: ['Bronze', 'Silver'], dropRemovedValues: true }));
    expect({ import: [done.status, done.error, done.counts], removal: [removed.status, removed.body.code] }).toEqual({
      import: ['completed', null, { created: 2, updated: 1, skipped: 0, failed: 0 }],
      removal: [200, undefined],
    });
    expect(await storedBy(lastName, key)).toEqual({
      [kept]: ['After', null],
      [`new.${lastName}@example.com`]: ['New', null],
      [`other.${lastName}@example.com`]: ['Other', 'Silver'],
    });
    const [audited] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'custom-field.update' AND subject_id = $1`, [id]);
    expect(audited.after).toMatchObject({ contactsCleared: 2 });
  });

  it("an import's revert putting back a field's values while its options are renamed: the rename waits, and no contact gets the old name back", async () => {
    const { id, key } = await defineField(['Silver', 'Gold']);
    const lastName = unique('reverted');
    const email = `kept.${lastName}@example.com`;
    const contact = await newContact({ lastName, email, customFields: { [key]: 'Gold' } });
    const run = await preparedImport(key, lastName, [['After', email, 'Silver']]);
    const imported = await run();
    expect(imported.counts).toMatchObject({ updated: 1 });
    // The revert's own UPDATE is stopped partway, on this contact, once its statement has begun:
    // what it puts back was read then, so a rename landing meanwhile would be undone by it.
    const [reverted, renamed] = await withPausedRows(t.db, { name: 'pause_on_contact', table: 'contacts', event: 'UPDATE', when: `OLD.id = '${contact.id}'` }, (hold) =>
      behindHeldRow(
        t.db,
        hold,
        () => t.http.post(`/api/v1/contacts/imports/${imported.id}/revert`).set(admin.auth),
        () => editField(id, { renameOptions: [{ from: 'Gold', to: 'Gold tier' }] }),
      ),
    );
    expect([reverted.status, renamed.status]).toEqual([200, 200]);
    expect(await storedBy(lastName, key)).toEqual({ [email]: ['Before', 'Gold tier'] });
  });

  it("a contact edit storing a field's value while that field's options are renamed: both land, one after the other", async () => {
    const { id, key } = await defineField(['Bronze', 'Silver', 'Gold']);
    const contact = await newContact({ customFields: { [key]: 'Gold' } });
    // The edit holds the field and waits for its contact; the rename waits for the field.
    const [edited, renamed] = await behindHeldRow(
      t.db,
      { sql: 'SELECT id FROM contacts WHERE id = $1 FOR KEY SHARE', params: [contact.id] },
      () => t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: contact.version, firstName: 'Edited', customFields: { [key]: 'Silver' } }),
      () => editField(id, { renameOptions: [{ from: 'Gold', to: 'Gold tier' }, { from: 'Silver', to: 'Silver tier' }] }),
    );
    expect([edited.status, renamed.status]).toEqual([200, 200]);
    const [stored] = await t.db.query('SELECT first_name, custom_fields ->> $2 AS value FROM contacts WHERE id = $1', [contact.id, key]);
    expect(stored).toEqual({ first_name: 'Edited', value: 'Silver tier' });
  });

  it("a client storing a field's value in the portal while that field's options are renamed: both land, one after the other", async () => {
    const { id, key } = await defineField(['Bronze', 'Silver', 'Gold']);
    const client = await register(t, 'portal-tier');
    const clientRole = await systemRoleId(t, 'client');
    const rules = (await t.http.get(`/api/v1/roles/${clientRole}`).set(admin.auth).expect(200)).body.rules as object[];
    const ownValues = { action: 'update', subject: 'Contact', conditions: { id: '${user.contactId}' }, fields: ['customFields'] };
    await t.http.patch(`/api/v1/roles/${clientRole}`).set(admin.auth).send({ rules: [...rules, ownValues] }).expect(200);
    try {
      await t.db.query('UPDATE contacts SET custom_fields = jsonb_build_object($2::text, $3::text) WHERE id = $1', [client.contactId, key, 'Gold']);
      const { version } = (await t.http.get('/api/v1/portal/me').set(client.auth).expect(200)).body as { version: number };
      const [edited, renamed] = await behindHeldRow(
        t.db,
        { sql: 'SELECT id FROM contacts WHERE id = $1 FOR KEY SHARE', params: [client.contactId] },
        () => t.http.patch('/api/v1/portal/me').set(client.auth).send({ version, customFields: { [key]: 'Silver' } }),
        () => editField(id, { renameOptions: [{ from: 'Gold', to: 'Gold tier' }, { from: 'Silver', to: 'Silver tier' }] }),
      );
      expect([edited.status, renamed.status]).toEqual([200, 200]);
      const [stored] = await t.db.query('SELECT custom_fields ->> $2 AS value FROM contacts WHERE id = $1', [client.contactId, key]);
      expect(stored).toEqual({ value: 'Silver tier' });
    } finally {
      await t.http.patch(`/api/v1/roles/${clientRole}`).set(admin.auth).send({ rules }).expect(200);
    }
  });

  it('a removed field purged while a bulk change takes in contacts holding its values: both land, one after the other', async () => {
    const { id, key } = await defineField(['Bronze', 'Silver', 'Gold']);
    const made = [await newContact({ customFields: { [key]: 'Gold' } }), await newContact({ customFields: { [key]: 'Silver' } })];
    const [low, high] = made.map((contact) => contact.id).sort();
    // Found by a scan, the values meet their update in the order they are stored: made the reverse of id order here.
    const scanned = async () => ((await t.db.query('SELECT id FROM contacts WHERE custom_fields ? $1', [key])) as Array<{ id: string }>).map((row) => row.id);
    for (let moves = 0; (await scanned())[0] !== high; moves += 1) {
      if (moves === 10) throw new Error('The contact of the lower id stayed first in storage');
      await t.db.query('UPDATE contacts SET custom_fields = custom_fields WHERE id = $1', [low]);
    }
    await t.http.delete(`/api/v1/custom-fields/${id}`).set(admin.auth).expect(204);
    // The bulk change waits for the contact of the lower id; the purge then waits too.
    const [bulk, purged] = await behindHeldRow(
      t.db,
      { sql: 'SELECT id FROM contacts WHERE id = $1 FOR SHARE', params: [low] },
      () => t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { ids: [low, high] }, action: 'addTags', newTags: [unique('purged')] }),
      () => t.http.delete(`/api/v1/custom-fields/${id}/purge`).set(admin.auth),
    );
    expect([bulk.status, bulk.body.updated, purged.status]).toEqual([200, 2, 204]);
    expect(await scanned()).toEqual([]);
  });
});
