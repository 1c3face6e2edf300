import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { unique } from '../support/names';
import { startTestApp, TestApp } from '../support/test-app';
import { assignedToSql } from '../../src/modules/contacts/contact-directory.service';
import { whileHolding } from '../support/wait';

/**
 * Writes that meet on the same rows wait for each other instead of failing: every writer takes
 * contacts before what they refer to, in one order, and a lookup deleted meanwhile is reported
 * as the field that names it. Each race is run a number of times: before the locking order
 * was fixed, 30–60 % of these rounds ended in a deadlock (409 concurrent_update).
 */
const ROUNDS = 8;

describe('contacts under concurrent writes', () => {
  let t: TestApp;
  let admin: Session;
  let staffRole: string;
  let statuses: Record<string, string>;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staffRole = await systemRoleId(t, 'staff');
    const rows = (await t.db.query('SELECT id, name FROM contact_statuses')) as Array<{ id: string; name: string }>;
    statuses = Object.fromEntries(rows.map((row) => [row.name, row.id]));
  });
  afterAll(() => t.close());

  const version = async (contactId: string) => (await t.http.get(`/api/v1/contacts/${contactId}`).set(admin.auth).expect(200)).body.version as number;
  const newContact = async (body: Record<string, unknown>) => (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Racing', ...body }).expect(201)).body.id as string;

  it('an account and its contact edited at once both land, one after the other', async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'racer');
    for (let round = 0; round < ROUNDS; round += 1) {
      const [byUser, byContact] = await Promise.all([
        t.http.patch(`/api/v1/users/${user.userId}`).set(admin.auth).send({ lastName: `User ${round}` }),
        t.http.patch(`/api/v1/contacts/${user.contactId}`).set(admin.auth).send({ version: await version(user.contactId), firstName: `Contact ${round}` }),
      ]);
      expect(byUser.status).toBe(200);
      // The contact edit sent the version it read: the account edit may have come first.
      expect([200, 409]).toContain(byContact.status);
      if (byContact.status === 409) expect(byContact.body.code).toBe('stale_version');
    }
  });

  it('a status deleted with a replacement while its contacts are edited: both land or the edit is told its version is stale', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const status = (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: unique('Passing'), stage: 'other' }).expect(201)).body.id as string;
      const contact = await newContact({ statusId: status });
      const [deleted, edited, bulk] = await Promise.all([
        t.http.delete(`/api/v1/contact-statuses/${status}`).query({ replaceWith: statuses.Prospect }).set(admin.auth),
        t.http.patch(`/api/v1/contacts/${contact}`).set(admin.auth).send({ version: 1, statusId: statuses.Customer }),
        t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { filter: { field: 'status', op: 'is', value: status } }, action: 'setStatus', statusId: statuses.Lead }),
      ]);
      expect(deleted.status).toBe(204);
      expect([200, 409]).toContain(edited.status);
      if (edited.status === 409) expect(edited.body.code).toBe('stale_version');
      expect(bulk.status).toBe(200);
      const [{ status_id: now }] = await t.db.query('SELECT status_id FROM contacts WHERE id = $1', [contact]);
      expect([statuses.Prospect, statuses.Customer, statuses.Lead]).toContain(now);
    }
  });

  it('a bulk change giving the entry that replaces a deleted one: both land, neither deadlocks', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const [from, to] = await Promise.all(
        ['From', 'To'].map(async (what) => (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: unique(what), stage: 'other' }).expect(201)).body.id as string),
      );
      const [source, target] = await Promise.all(['From', 'To'].map(async (what) => (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: unique(what) }).expect(201)).body.id as string));
      const ids = await Promise.all(Array.from({ length: 10 }, () => newContact({ statusId: from, tagIds: [source] })));
      const answers = await Promise.all([
        t.http.delete(`/api/v1/contact-statuses/${from}`).query({ replaceWith: to }).set(admin.auth),
        t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { ids }, action: 'setStatus', statusId: to }),
        t.http.delete(`/api/v1/tags/${source}`).query({ replaceWith: target }).set(admin.auth),
        t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { ids }, action: 'addTags', tagIds: [target] }),
      ]);
      expect(answers.map((answer) => answer.status)).toEqual([204, 200, 204, 200]);
      const rows = await t.db.query('SELECT DISTINCT status_id FROM contacts WHERE id = ANY($1::uuid[])', [ids]);
      expect(rows).toEqual([{ status_id: to }]);
    }
  });

  it('a tag or status given while it is deleted is either given first or reported unknown on its field', async () => {
    for (let round = 0; round < ROUNDS; round += 1) {
      const tag = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: unique('Fleeting') }).expect(201)).body.id as string;
      const status = (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: unique('Fleeting'), stage: 'other' }).expect(201)).body.id as string;
      const contact = await newContact({});
      const [, , tagged, bulk] = await Promise.all([
        t.http.delete(`/api/v1/tags/${tag}`).query({ detach: true }).set(admin.auth).expect(204),
        t.http.delete(`/api/v1/contact-statuses/${status}`).query({ detach: true }).set(admin.auth).expect(204),
        t.http.patch(`/api/v1/contacts/${contact}`).set(admin.auth).send({ version: 1, tagIds: [tag], statusId: status }),
        t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { ids: [contact] }, action: 'addTags', tagIds: [tag] }),
      ]);
      for (const answer of [tagged, bulk]) {
        if (answer.status === 200) continue;
        expect(answer.body).toMatchObject({ code: expect.stringMatching(/^(unknown_reference|stale_version)$/) });
        if (answer.body.code === 'unknown_reference') expect(answer.body.details[0].field).toMatch(/^(tagIds|statusId)$/);
      }
      // Whatever came first, nothing points at the deleted entries.
      expect(await t.db.query('SELECT 1 FROM contact_tags WHERE tag_id = $1', [tag])).toEqual([]);
    }
  });

  it('options removed with their values wait for an edit of a contact holding them, as that edit holds the field: no deadlock', async () => {
    const key = `colour${Date.now().toString(36)}`;
    const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: key, type: 'select', options: ['red', 'blue'] }).expect(201)).body.id as string;
    const contact = await newContact({ customFields: { [key]: 'red' } });
    // The test does what a contact edit does: the definition it stores a value of first, then its contact.
    const answer = await whileHolding(
      t.db,
      { sql: 'SELECT key FROM custom_fields WHERE id = $1 FOR SHARE', params: [field] },
      () => t.http.patch(`/api/v1/custom-fields/${field}`).set(admin.auth).send({ options: ['blue'], dropRemovedValues: true }),
      (held) => held('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [contact]),
    );
    expect({ status: answer.status, code: answer.body.code }).toEqual({ status: 200, code: undefined });
    expect(await t.db.query(`SELECT id FROM contacts WHERE custom_fields ->> $1 = 'red'`, [key])).toEqual([]);
  });

  it('a tag typed by name while it is deleted is created anew, never silently left off', async () => {
    const name = unique('Vanishing');
    const tag = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name }).expect(201)).body.id as string;
    const contact = await newContact({});
    // The test deletes the tag in a transaction of its own: the edit finds it, then waits for it.
    const answer = await whileHolding(
      t.db,
      { sql: 'SELECT id FROM tags WHERE id = $1 FOR UPDATE', params: [tag] },
      () => t.http.patch(`/api/v1/contacts/${contact}`).set(admin.auth).send({ version: 1, newTags: [name] }),
      (held) => held('DELETE FROM tags WHERE id = $1', [tag]),
    );
    expect(answer.status).toBe(200);
    expect(answer.body.tags.map((given: { name: string }) => given.name.toLowerCase())).toEqual([name.toLowerCase()]);
    expect(answer.body.tags[0]!.id).not.toBe(tag);
  });

  it('accounts opened at once with one email: one is made, the others are told another account has it, as when not racing', async () => {
    const email = `${unique('twin')}@example.com`.toLowerCase();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => t.http.post('/api/v1/users').set(admin.auth).send({ firstName: 'Twin', lastName: 'Account', email, roleIds: [staffRole], sendInvite: false })),
    );
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(1);
    for (const answer of answers.filter((answer) => answer.status !== 201)) {
      expect(answer.status).toBe(409);
      expect(answer.body).toMatchObject({ code: 'email_taken', details: [{ field: 'email', message: 'is already used by another account' }] });
    }
  });
});

describe('contacts changed through their accounts', () => {
  let t: TestApp;
  let admin: Session;
  let staffRole: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staffRole = await systemRoleId(t, 'staff');
  });
  afterAll(() => t.close());

  it("a deleted user's contacts lose their assignee as an edit would: new version, new time, audited", async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'leaving');
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Kept', assignedToId: user.userId }).expect(201)).body;
    await t.http.delete(`/api/v1/users/${user.userId}`).set(admin.auth).expect(204);
    const after = (await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body;
    expect(after.assignedTo).toBeNull();
    expect(after.version).toBe(contact.version + 1);
    expect(new Date(after.updatedAt).getTime()).toBeGreaterThan(new Date(contact.updatedAt).getTime());
    const [entry] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'user.delete' AND subject_id = $1`, [user.userId]);
    expect(entry.after).toEqual({ contactsUnassigned: 1 });
  });

  it("a deleted user's contacts lose it as creator too, unseen: no new version for that, one for the assignee", async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'creating');
    const created = (await t.http.post('/api/v1/contacts').set(user.auth).send({ firstName: 'Created' }).expect(201)).body;
    const both = (await t.http.post('/api/v1/contacts').set(user.auth).send({ firstName: 'Both', assignedToId: user.userId }).expect(201)).body;
    await t.http.delete(`/api/v1/users/${user.userId}`).set(admin.auth).expect(204);
    const rows = await t.db.query('SELECT id, created_by_id, assigned_to_id, version, updated_at FROM contacts WHERE id = ANY($1::uuid[])', [[created.id, both.id]]);
    const byId = Object.fromEntries(rows.map((row: { id: string }) => [row.id, row]));
    expect(byId[created.id]).toMatchObject({ created_by_id: null, assigned_to_id: null, version: created.version, updated_at: new Date(created.updatedAt) });
    expect(byId[both.id]).toMatchObject({ created_by_id: null, assigned_to_id: null, version: both.version + 1 });
    const [entry] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'user.delete' AND subject_id = $1`, [user.userId]);
    expect(entry.after).toEqual({ contactsUnassigned: 1 });
  });

  it("the contacts an account created are found through an index, by its deletion and by the foreign key's SET NULL, not by reading every contact", async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'indexed');
    await t.http.post('/api/v1/contacts').set(user.auth).send({ firstName: 'Indexed' }).expect(201);
    const plans = await t.db.transaction(async (manager) => {
      await manager.query('SET LOCAL enable_seqscan = off');
      const explain = async (sql: string, params: unknown[]) =>
        ((await manager.query(`EXPLAIN ${sql}`, params)) as Array<{ 'QUERY PLAN': string }>).map((row) => row['QUERY PLAN']).join('\n');
      return [
        await explain(`SELECT id FROM contacts WHERE id = $2 OR ${assignedToSql('$1')} OR created_by_id = $1 ORDER BY id FOR UPDATE`, [user.userId, user.contactId]),
        // The statement PostgreSQL runs for ON DELETE SET NULL.
        await explain('UPDATE ONLY contacts SET created_by_id = NULL WHERE $1 = created_by_id', [user.userId]),
      ];
    });
    for (const plan of plans) {
      expect(plan).toContain('contacts_created_by_idx');
      expect(plan).not.toContain('Seq Scan');
    }
  });

  it('a staff member made a client loses their contacts as an edit would, as on deletion', async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'demoted');
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Kept', assignedToId: user.userId }).expect(201)).body;
    const clientRole = await systemRoleId(t, 'client');
    await t.http.put(`/api/v1/users/${user.userId}/roles`).set(admin.auth).send({ roleIds: [clientRole] }).expect(200);
    const after = (await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body;
    expect({ assignedTo: after.assignedTo, version: after.version }).toEqual({ assignedTo: null, version: contact.version + 1 });
    const [entry] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'user.roles' AND subject_id = $1`, [user.userId]);
    expect(entry.after).toEqual({ roleIds: [clientRole], contactsUnassigned: 1 });
  });

  it("a demoted staff member's contacts, trashed ones included, are found through the assignee indexes, not by reading every contact", async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'demotedtrash');
    const live = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Live', assignedToId: user.userId }).expect(201)).body;
    const trashed = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Trashed', assignedToId: user.userId }).expect(201)).body;
    await t.http.delete(`/api/v1/contacts/${trashed.id}`).set(admin.auth).expect(204);
    const plan = await t.db.transaction(async (manager) => {
      // A few rows would be read whole anyway: the question is whether the indexes can answer.
      await manager.query('SET LOCAL enable_seqscan = off');
      const rows: Array<{ 'QUERY PLAN': string }> = await manager.query(
        `EXPLAIN SELECT id FROM contacts WHERE ${assignedToSql('$1')} ORDER BY id FOR UPDATE`,
        [user.userId],
      );
      return rows.map((row) => row['QUERY PLAN']).join('\n');
    });
    expect(plan).toContain('contacts_trashed_assignee_idx');
    expect(plan).not.toContain('Seq Scan');

    await t.http.put(`/api/v1/users/${user.userId}/roles`).set(admin.auth).send({ roleIds: [await systemRoleId(t, 'client')] }).expect(200);
    const assignees = await t.db.query('SELECT id, assigned_to_id FROM contacts WHERE id = ANY($1::uuid[]) ORDER BY first_name', [[live.id, trashed.id]]);
    expect(assignees).toEqual([
      { id: live.id, assigned_to_id: null },
      { id: trashed.id, assigned_to_id: null },
    ]);
    const [entry] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'user.roles' AND subject_id = $1`, [user.userId]);
    expect(entry.after).toMatchObject({ contactsUnassigned: 2 });
  });

  it('a contact given to a staff member while they are made a client waits, and is refused on its field: no client is ever an assignee', async () => {
    const clientRole = await systemRoleId(t, 'client');
    const assignments: Array<[string, (userId: string) => PromiseLike<{ status: number; body: { details?: unknown } }>]> = [
      ['create', (userId) => t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Given', assignedToId: userId })],
      [
        'update',
        async (userId) => {
          const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Given' }).expect(201)).body;
          return t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: contact.version, assignedToId: userId });
        },
      ],
      [
        'bulk',
        async (userId) => {
          const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Given' }).expect(201)).body;
          return t.http.post('/api/v1/contacts/bulk').set(admin.auth).send({ selection: { ids: [contact.id] }, action: 'assign', assignedToId: userId });
        },
      ],
    ];
    for (const [way, assign] of assignments) {
      const user = await createUserWithRoles(t, admin, [staffRole], `demoted-${way}`);
      let request!: PromiseLike<{ status: number; body: { details?: unknown } }>;
      // The demotion holds the account as PUT /users/:id/roles does, and changes its roles meanwhile.
      const answer = await whileHolding(
        t.db,
        { sql: 'SELECT id FROM users WHERE id = $1 FOR UPDATE', params: [user.userId] },
        () => (request = assign(user.userId)),
        (query) => query('UPDATE user_roles SET role_id = $2 WHERE user_id = $1', [user.userId, clientRole]),
      );
      expect({ way, status: answer.status, details: answer.body.details }).toEqual({
        way,
        status: 422,
        details: [{ field: 'assignedToId', message: expect.stringContaining('active staff user') }],
      });
      await request;
      const [{ assigned }] = await t.db.query('SELECT count(*)::int AS assigned FROM contacts WHERE assigned_to_id = $1', [user.userId]);
      expect({ way, assigned }).toEqual({ way, assigned: 0 });
    }
  });

  it('an account renamed through its contact is renamed at once for its own sessions', async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'renamed');
    expect((await t.http.get('/api/v1/auth/me').set(user.auth).expect(200)).body.firstName).not.toBe('Renamed');
    const { version } = (await t.http.get(`/api/v1/contacts/${user.contactId}`).set(admin.auth).expect(200)).body;
    await t.http.patch(`/api/v1/contacts/${user.contactId}`).set(admin.auth).send({ version, firstName: 'Renamed' }).expect(200);
    expect((await t.http.get('/api/v1/auth/me').set(user.auth).expect(200)).body.firstName).toBe('Renamed');
  });

  it("the contact of an account an admin opens names that admin in its status history; a sign-up's names nobody", async () => {
    const user = await createUserWithRoles(t, admin, [staffRole], 'opened');
    const opened = (await t.http.get(`/api/v1/contacts/${user.contactId}`).set(admin.auth).expect(200)).body;
    expect(opened.statusHistory).toEqual([expect.objectContaining({ from: null, source: 'api', changedBy: expect.objectContaining({ id: admin.userId }) })]);
    const client = await register(t, 'client');
    const signedUp = (await t.http.get(`/api/v1/contacts/${client.contactId}`).set(admin.auth).expect(200)).body;
    expect(signedUp.statusHistory).toEqual([expect.objectContaining({ from: null, source: 'registration', changedBy: null })]);
  });

  it('an update without the version it is based on says the version is required', async () => {
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Versionless' }).expect(201)).body.id as string;
    const refused = await t.http.patch(`/api/v1/contacts/${contact}`).set(admin.auth).send({ company: 'Acme' }).expect(400);
    expect(refused.body.details).toEqual([{ field: 'version', message: 'is required' }]);
  });
});
