import { randomBytes } from 'node:crypto';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow, until } from '../support/wait';

/**
 * Writers of many contacts at once meeting a bulk action on two of their contacts, made to meet
 * partway through their locks. The bulk action takes them in id order; a writer taking them in
 * another order (a join's, a scan's, the order a foreign key's check or action meets them) would
 * deadlock with it every time, one of the two answered 409 concurrent_update.
 */
describe('writers of many contacts lock them in id order', () => {
  let t: TestApp;
  let admin: Session;
  const marker = `lob${Date.now().toString(36)}`;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  const holdContact = (contactId: string) => ({ sql: 'SELECT id FROM contacts WHERE id = $1 FOR UPDATE', params: [contactId] });
  const tagBoth = (ids: string[], tag: string) => () => t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { ids }, action: 'addTags', newTags: [tag] });
  const tagsOf = async (contactId: string) => ((await t.db.query('SELECT t.name_key FROM contact_tags ct JOIN tags t ON t.id = ct.tag_id WHERE ct.contact_id = $1', [contactId])) as Array<{ name_key: string }>).map((row) => row.name_key);

  /**
   * Makes contacts named `<prefix>-00`, `<prefix>-01`, … with `create` until two of them lie
   * against id order both in the table and by last name: a scan of the table, or of the
   * last-name index, meets `first` before `second`, whose id is the lower.
   */
  async function againstIdOrder(prefix: string, create: (lastName: string) => Promise<unknown>): Promise<{ first: string; second: string; lastNames: string[] }> {
    const lastNames: string[] = [];
    for (;;) {
      const [pair] = (await t.db.query(
        `SELECT a.id AS first, b.id AS second FROM contacts a JOIN contacts b ON a.ctid < b.ctid AND a.last_name < b.last_name AND a.id > b.id
          WHERE a.last_name = ANY($1::text[]) AND b.last_name = ANY($1::text[]) LIMIT 1`,
        [lastNames],
      )) as Array<{ first: string; second: string }>;
      if (pair) return { ...pair, lastNames };
      if (lastNames.length === 30) throw new Error('No two contacts lie against id order');
      lastNames.push(`${prefix}-${String(lastNames.length).padStart(2, '0')}`);
      await create(lastNames.at(-1)!);
    }
  }

  it("an import's revert while a bulk action takes a contact it changed and one it created: the revert lands, then the bulk action", async () => {
    // The contact the import changes has an id below any other: the revert deletes the one it
    // created (a higher id) before it puts this one back.
    const changedId = `00000000-0000-4000-8000-${randomBytes(6).toString('hex')}`;
    const changedEmail = `changed.${marker}@example.com`;
    await t.db.query(`INSERT INTO contacts (id, first_name, last_name, email) VALUES ($1, 'Before', $2, $3)`, [changedId, marker, changedEmail]);
    const csv = `First Name,Last Name,Email\nAfter,${marker},${changedEmail}\nCreated,${marker},created.${marker}@example.com\n`;
    const uploaded = (await t.http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', Buffer.from(csv), 'contacts.csv').expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns: uploaded.columns, mode: 'upsert' }).expect(200);
    await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(admin.auth).expect(202);
    const done = await until(async () => {
      const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(admin.auth).expect(200)).body;
      return ['completed', 'failed'].includes(body.status) ? body : undefined;
    });
    expect(done.counts).toEqual({ created: 1, updated: 1, skipped: 0, failed: 0 });
    const [{ id: createdId }] = (await t.db.query('SELECT id FROM contacts WHERE email_key = $1', [`created.${marker}@example.com`])) as Array<{ id: string }>;
    expect(changedId < createdId!).toBe(true);

    const tag = `reverted${marker}`;
    const [reverted, tagged] = await behindHeldRow(
      t.db,
      holdContact(createdId!),
      () => t.http.post(`/api/v1/contacts/imports/${uploaded.id}/revert`).set(admin.auth),
      tagBoth([changedId, createdId!], tag),
    );
    expect([reverted.status, tagged.status]).toEqual([200, 200]);
    expect(reverted.body.status).toBe('reverted');
    // The created contact was gone when the bulk action got to it; the changed one was put back, then tagged.
    expect(tagged.body).toEqual({ matched: 1, updated: 1 });
    expect(await t.db.query('SELECT id FROM contacts WHERE id = $1', [createdId])).toEqual([]);
    const changed = (await t.http.get(`/api/v1/contacts/${changedId}`).set(admin.auth).expect(200)).body;
    expect({ firstName: changed.firstName, version: changed.version }).toEqual({ firstName: 'Before', version: 4 });
    expect(await tagsOf(changedId)).toEqual([tag]);
  });

  it('members added to a static segment by a filter while a bulk action takes two of them: both land, one after the other', async () => {
    const { first, second, lastNames } = await againstIdOrder(`member${marker}`, (lastName) =>
      t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Member', lastName }).expect(201),
    );
    const segment = (await t.http.post('/api/v1/segments').set(admin.auth).send({ name: `Members ${marker}`, kind: 'static' }).expect(201)).body;

    const tag = `members${marker}`;
    const [added, tagged] = await behindHeldRow(
      t.db,
      holdContact(first),
      () => t.http.post(`/api/v1/segments/${segment.id}/members`).set(admin.auth).send({ filter: { field: 'lastName', op: 'in', value: lastNames } }),
      tagBoth([first, second], tag),
    );
    expect([added.status, tagged.status]).toEqual([200, 200]);
    expect(added.body).toEqual({ matched: lastNames.length, added: lastNames.length, alreadyMembers: 0, contactCount: lastNames.length });
    expect(tagged.body).toEqual({ matched: 2, updated: 2 });
    const members = (await t.db.query('SELECT contact_id FROM segment_members WHERE segment_id = $1', [segment.id])) as Array<{ contact_id: string }>;
    expect(members.map((member) => member.contact_id)).toEqual(expect.arrayContaining([first, second]));
    expect([await tagsOf(first), await tagsOf(second)]).toEqual([[tag], [tag]]);
  });

  it('an account deleted while a bulk action takes two contacts it created: both land, and the contacts keep no creator', async () => {
    const staff = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'creator');
    const { first, second } = await againstIdOrder(`created${marker}`, (lastName) =>
      t.http.post('/api/v1/contacts').set(staff.auth).send({ firstName: 'Created', lastName }).expect(201),
    );
    const versions = async () => ((await t.db.query('SELECT version FROM contacts WHERE id = ANY($1::uuid[]) ORDER BY id', [[first, second]])) as Array<{ version: number }>).map((row) => row.version);
    const before = await versions();

    const tag = `created${marker}`;
    const [deleted, tagged] = await behindHeldRow(t.db, holdContact(first), () => t.http.delete(`/api/v1/users/${staff.userId}`).set(admin.auth), tagBoth([first, second], tag));
    expect([deleted.status, tagged.status]).toEqual([204, 200]);
    expect(tagged.body).toEqual({ matched: 2, updated: 2 });
    expect(await t.db.query('SELECT id FROM users WHERE id = $1', [staff.userId])).toEqual([]);
    expect(await t.db.query('SELECT id FROM contacts WHERE created_by_id = $1', [staff.userId])).toEqual([]);
    // Who created a contact is not part of its profile: losing the creator is no new version, the tags are.
    expect(await versions()).toEqual(before.map((version) => version + 1));
    expect([await tagsOf(first), await tagsOf(second)]).toEqual([[tag], [tag]]);
  });
});
