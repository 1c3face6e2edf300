import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { behindHeldRow, until, untilWaitingForLocks, withPausedRows } from '../support/wait';

/**
 * An account's deletion takes the account's contacts off it, deletes it, and its foreign keys
 * then clear what else names it: imports and segments (history, such as activities, keeps the
 * id). Writers that hold one of those and then want one of its contacts, made to meet it partway
 * through its locks, would wait in a circle with it; PostgreSQL would abort one of the two (409
 * concurrent_update for a request).
 */
describe('an account deleted while writers hold what names it', () => {
  let t: TestApp;
  let admin: Session;
  let staffRole: string;
  let serial = 0;
  const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${(serial += 1)}`;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staffRole = await systemRoleId(t, 'staff');
  });
  afterAll(() => t.close());

  const holdContact = (contactId: string) => ({ sql: 'SELECT id FROM contacts WHERE id = $1 FOR UPDATE', params: [contactId] });
  const deleteAccount = (userId: string) => () => t.http.delete(`/api/v1/users/${userId}`).set(admin.auth);
  /** A staff account and a contact assigned to it, which the account's deletion unassigns. */
  const staffWithContact = async (body: Record<string, unknown> = {}) => {
    const staff = await createUserWithRoles(t, admin, [staffRole], 'deleted');
    const lastName = unique('assigned');
    const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Assigned', lastName, assignedToId: staff.userId, ...body }).expect(201)).body as { id: string; email: string | null };
    return { staff, contact, lastName };
  };
  const assigneeOf = async (contactId: string) => ((await t.db.query('SELECT assigned_to_id FROM contacts WHERE id = $1', [contactId])) as Array<{ assigned_to_id: string | null }>)[0]!.assigned_to_id;

  it('members added to a segment the account created: both land, the deletion first', async () => {
    const { staff, contact } = await staffWithContact();
    const segment = (await t.http.post('/api/v1/segments').set(staff.auth).send({ name: unique('Made by '), kind: 'static' }).expect(201)).body as { id: string };

    const [deleted, added] = await behindHeldRow(t.db, holdContact(contact.id), deleteAccount(staff.userId), () =>
      t.http.post(`/api/v1/segments/${segment.id}/members`).set(admin.auth).send({ contactIds: [contact.id] }),
    );
    expect([deleted.status, added.status, added.body]).toEqual([204, 200, { matched: 1, added: 1, alreadyMembers: 0, contactCount: 1 }]);
    expect(await t.db.query('SELECT created_by_id FROM segments WHERE id = $1', [segment.id])).toEqual([{ created_by_id: null }]);
    expect(await assigneeOf(contact.id)).toBeNull();
  });

  it('an import the account uploaded, run meanwhile: both land, and the import writes its row', async () => {
    const { staff, contact, lastName } = await staffWithContact({ email: `${unique('imported')}@example.com` });
    const csv = `First Name,Last Name,Email\nImported,${lastName},${contact.email}\n`;
    const uploaded = (await t.http.post('/api/v1/contacts/imports').set(staff.auth).attach('file', Buffer.from(csv), 'contacts.csv').expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(staff.auth).send({ columns: uploaded.columns, mode: 'upsert' }).expect(200);
    const run = async () => {
      const started = await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(admin.auth);
      if (started.status !== 202) return { status: started.status, counts: started.body };
      return until(async () => {
        const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(admin.auth).expect(200)).body;
        return ['completed', 'failed'].includes(body.status) ? { status: body.status as string, counts: body.counts as unknown } : undefined;
      });
    };

    // Held past the look for deadlocks of the waits before: a circle the deletion then closes is the deletion's 409, not a chunk retried unseen.
    const [deleted, imported] = await behindHeldRow(t.db, holdContact(contact.id), deleteAccount(staff.userId), run, { settleMs: 1500 });
    expect([deleted.status, imported]).toEqual([204, { status: 'completed', counts: { created: 0, updated: 1, skipped: 0, failed: 0 } }]);
    expect(await t.db.query('SELECT created_by_id FROM contact_imports WHERE id = $1', [uploaded.id])).toEqual([{ created_by_id: null }]);
    expect(await t.db.query('SELECT first_name, assigned_to_id FROM contacts WHERE id = $1', [contact.id])).toEqual([{ first_name: 'Imported', assigned_to_id: null }]);
  });

  it("an import whose starter's account is deleted between two chunks: the later chunk is written as nobody's, not as its uploader's", async () => {
    const starter = await createUserWithRoles(t, admin, [staffRole], 'starter');
    const lastName = unique('chunked');
    // Two chunks: the first 2,000 rows, then the last.
    const rows = Array.from({ length: 2000 }, (_, i) => `Paused,${lastName},paused${i}.${lastName}@example.com`);
    const csv = ['First Name,Last Name,Email', ...rows, `Later,${lastName},later.${lastName}@example.com`].join('\n');
    const uploaded = (await t.http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', Buffer.from(csv), 'contacts.csv').expect(201)).body;
    await t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(admin.auth).send({ columns: uploaded.columns, mode: 'upsert' }).expect(200);
    const firstChunk = { name: 'pause_first_chunk', table: 'contacts', event: 'INSERT' as const, when: `NEW.last_name = '${lastName}' AND NEW.first_name = 'Paused'` };
    // The first chunk stops on its first row, holding the import; the deletion then waits for the import.
    const [done, deleted] = await withPausedRows(t.db, firstChunk, (hold) =>
      behindHeldRow(
        t.db,
        hold,
        async () => {
          await t.http.post(`/api/v1/contacts/imports/${uploaded.id}/run`).set(starter.auth).expect(202);
          return until(async () => {
            const body = (await t.http.get(`/api/v1/contacts/imports/${uploaded.id}`).set(admin.auth).expect(200)).body;
            return body.status === 'completed' ? body : undefined;
          });
        },
        deleteAccount(starter.userId),
      ),
    );
    expect(deleted.status).toBe(204);
    expect(done.counts).toEqual({ created: 2001, updated: 0, skipped: 0, failed: 0 });
    const creators = (await t.db.query('SELECT first_name, created_by_id, count(*)::int AS contacts FROM contacts WHERE last_name = $1 GROUP BY 1, 2 ORDER BY 1', [lastName])) as unknown[];
    expect(creators).toEqual([
      { first_name: 'Later', created_by_id: null, contacts: 1 },
      { first_name: 'Paused', created_by_id: null, contacts: 2000 },
    ]);
  });

  it("an activity the account wrote, deleted meanwhile: both land, and the contact's last contact follows", async () => {
    const { staff, contact } = await staffWithContact();
    const activity = (await t.http.post(`/api/v1/contacts/${contact.id}/activities`).set(staff.auth).send({ type: 'call', subject: 'Called' }).expect(201)).body as { id: string };
    expect((await t.db.query('SELECT last_contacted_at FROM contacts WHERE id = $1', [contact.id]))[0].last_contacted_at).not.toBeNull();

    const [deleted, removed] = await behindHeldRow(t.db, holdContact(contact.id), deleteAccount(staff.userId), () => t.http.delete(`/api/v1/activities/${activity.id}`).set(admin.auth));
    expect([deleted.status, removed.status]).toEqual([204, 204]);
    expect(await t.db.query('SELECT id FROM activities WHERE id = $1', [activity.id])).toEqual([]);
    expect(await t.db.query('SELECT last_contacted_at, assigned_to_id FROM contacts WHERE id = $1', [contact.id])).toEqual([{ last_contacted_at: null, assigned_to_id: null }]);
  });

  it("an activity the account wrote, moved in time meanwhile: both land, and the activity names no author", async () => {
    const { staff, contact } = await staffWithContact();
    const activity = (await t.http.post(`/api/v1/contacts/${contact.id}/activities`).set(staff.auth).send({ type: 'note', subject: 'Noted' }).expect(201)).body as { id: string };
    const occurredAt = '2026-01-02T03:04:05.000Z';

    const [deleted, moved] = await behindHeldRow(t.db, holdContact(contact.id), deleteAccount(staff.userId), () =>
      t.http.patch(`/api/v1/activities/${activity.id}`).set(admin.auth).send({ occurredAt }),
    );
    expect([deleted.status, moved.status, moved.body.author, moved.body.occurredAt]).toEqual([204, 200, null, occurredAt]);
    expect(((await t.db.query('SELECT last_contacted_at FROM contacts WHERE id = $1', [contact.id]))[0].last_contacted_at as Date).toISOString()).toBe(occurredAt);
  });

  it('a segment the account creates while its deletion waits for the account: the deletion starts again, holding it first', async () => {
    const { staff, contact } = await staffWithContact();
    // Stops the deletion just before it deletes the account, having locked it and its contacts.
    const beforeDeleting = { name: 'pause_account_deletion', table: 'users', event: 'DELETE' as const, when: `OLD.id = '${staff.userId}'` };
    await withPausedRows(t.db, beforeDeleting, async (hold) => {
      const holding = t.db.createQueryRunner();
      const pausing = t.db.createQueryRunner();
      await holding.connect();
      await pausing.connect();
      try {
        await holding.startTransaction();
        await holding.query('SELECT id FROM users WHERE id = $1 FOR KEY SHARE', [staff.userId]);
        const deletion = Promise.resolve(deleteAccount(staff.userId)());
        deletion.catch(() => undefined);
        await untilWaitingForLocks(t.db, 1, 'the deletion to wait for the account');
        // A key share, as the test's: written while the deletion waits to lock the account.
        const segment = (await t.http.post('/api/v1/segments').set(staff.auth).send({ name: unique('Made meanwhile '), kind: 'static' }).expect(201)).body as { id: string };
        await pausing.startTransaction();
        await pausing.query(hold.sql, hold.params);
        await holding.commitTransaction();
        await until(
          async () => {
            const [{ paused }] = (await t.db.query(`SELECT count(*)::int AS paused FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'advisory'`)) as Array<{ paused: number }>;
            return paused === 1 ? true : undefined;
          },
          10_000,
          'the deletion to stop before deleting the account',
        );
        const addition = Promise.resolve(t.http.post(`/api/v1/segments/${segment.id}/members`).set(admin.auth).send({ contactIds: [contact.id] }));
        addition.catch(() => undefined);
        await untilWaitingForLocks(t.db, 2, 'the member addition to wait');
        // Past the addition's own look for deadlocks: a circle the deletion then closes is its 409.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        await pausing.commitTransaction();
        const [deleted, added] = await Promise.all([deletion, addition]);
        expect([deleted.status, added.status, added.body]).toEqual([204, 200, { matched: 1, added: 1, alreadyMembers: 0, contactCount: 1 }]);
        expect(await t.db.query('SELECT created_by_id FROM segments WHERE id = $1', [segment.id])).toEqual([{ created_by_id: null }]);
      } finally {
        for (const runner of [holding, pausing]) {
          if (runner.isTransactionActive) await runner.rollbackTransaction();
          await runner.release();
        }
      }
    });
  });

  it("a field's options renamed in a rule of a segment the account created, on a contact assigned to it: both land, the rename first", async () => {
    const key = unique('tier');
    const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: key, type: 'select', options: ['Gold', 'Silver'] }).expect(201)).body as { id: string };
    const { staff, contact } = await staffWithContact({ customFields: { [key]: 'Gold' } });
    const rule = { field: `custom.${key}`, op: 'is', value: 'Gold' };
    const segment = (await t.http.post('/api/v1/segments').set(staff.auth).send({ name: unique('Gold by '), kind: 'dynamic', rule }).expect(201)).body as { id: string };

    const [renamed, deleted] = await behindHeldRow(
      t.db,
      holdContact(contact.id),
      () => t.http.patch(`/api/v1/custom-fields/${field.id}`).set(admin.auth).send({ renameOptions: [{ from: 'Gold', to: 'Gold tier' }] }),
      deleteAccount(staff.userId),
    );
    expect([renamed.status, deleted.status]).toEqual([200, 204]);
    expect(await t.db.query('SELECT rule, created_by_id FROM segments WHERE id = $1', [segment.id])).toEqual([{ rule: { ...rule, value: 'Gold tier' }, created_by_id: null }]);
    expect(await t.db.query('SELECT custom_fields ->> $2 AS value, assigned_to_id FROM contacts WHERE id = $1', [contact.id, key])).toEqual([{ value: 'Gold tier', assigned_to_id: null }]);
  });
});
