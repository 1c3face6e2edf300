import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { until } from '../support/wait';

/**
 * Segments through HTTP: static member lists and dynamic rules in the contacts rule language,
 * counts and lists limited to what the caller may read, explain, warnings for rules that
 * name things that are gone, and the feature switch.
 */
describe('segments', () => {
  let t: TestApp;
  let admin: Session;
  let staff: Session;
  let rep: Session;
  let client: Session;
  let statuses: Record<string, string>;
  /** Every contact of this suite has a last name starting with it, so rules can be scoped to them. */
  const M = `Seg${Date.now().toString(36)}`;
  const ids: Record<'ada' | 'bob' | 'cy' | 'di' | 'ed', string> = { ada: '', bob: '', cy: '', di: '', ed: '' };
  const tags: Record<'vip' | 'eu' | 'us', string> = { vip: '', eu: '', us: '' };

  const mine = { field: 'lastName', op: 'startsWith', value: M };
  const scoped = (rule: unknown) => ({ and: [mine, rule] });
  const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    client = await register(t, 'client');
    const staffRole = await systemRoleId(t, 'staff');
    staff = await createUserWithRoles(t, admin, [staffRole], 'staff');
    // A sales rep: reads only the contacts assigned to them, and manages segments.
    const repRole = await t.http
      .post('/api/v1/roles')
      .set(admin.auth)
      .send({
        name: 'Segment rep',
        audience: 'staff',
        rules: [
          { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
          { action: 'manage', subject: 'Segment' },
        ],
      })
      .expect(201);
    rep = await createUserWithRoles(t, admin, [repRole.body.id], 'rep');
    const rows: Array<{ id: string; name: string }> = await t.db.query('SELECT id, name FROM contact_statuses');
    statuses = Object.fromEntries(rows.map((row) => [row.name, row.id]));

    await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'budget', label: 'Budget', type: 'number' }).expect(201);
    await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'plan', label: 'Plan', type: 'select', options: ['basic', 'pro'] }).expect(201);

    const contact = async (first: string, body: Record<string, unknown>) =>
      (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: first, lastName: `${M} ${first}`, ...body }).expect(201)).body;
    const ada = await contact('Ada', { statusId: statuses.Customer, newTags: [`${M} vip`, `${M} eu`], assignedToId: rep.userId, customFields: { budget: 5000, plan: 'pro' } });
    tags.vip = ada.tags.find((tag: { name: string }) => tag.name.endsWith('Vip')).id;
    tags.eu = ada.tags.find((tag: { name: string }) => tag.name.endsWith('Eu')).id;
    ids.ada = ada.id;
    ids.bob = (await contact('Bob', { statusId: statuses.Lead, tagIds: [tags.vip], assignedToId: staff.userId, customFields: { budget: 100, plan: 'basic' } })).id;
    ids.cy = (await contact('Cy', { statusId: statuses.Prospect })).id;
    const di = await contact('Di', { statusId: statuses.Customer, tagIds: [tags.eu], newTags: [`${M} us`], assignedToId: rep.userId, customFields: { budget: 20000 } });
    tags.us = di.tags.find((tag: { name: string }) => tag.name.endsWith('Us')).id;
    ids.di = di.id;
    ids.ed = (await contact('Ed', { statusId: null, tagIds: [tags.us], assignedToId: staff.userId })).id;
    // Ada was contacted two days ago, Di forty days ago; the others never.
    await t.http.post(`/api/v1/contacts/${ids.ada}/activities`).set(admin.auth).send({ type: 'call', occurredAt: daysAgo(2) }).expect(201);
    await t.http.post(`/api/v1/contacts/${ids.di}/activities`).set(admin.auth).send({ type: 'email', occurredAt: daysAgo(40) }).expect(201);
  });
  afterAll(() => t.close());

  const keyOf = (id: string) => Object.entries(ids).find(([, value]) => value === id)?.[0] ?? id;
  const keys = (body: { data: Array<{ id: string }> }) => body.data.map((c) => keyOf(c.id)).sort();
  const createSegment = (session: Session, body: Record<string, unknown>) => t.http.post('/api/v1/segments').set(session.auth).send(body);
  const dynamicSegment = async (rule: unknown, session = admin) => (await createSegment(session, { name: `${M} ${Math.random()}`, kind: 'dynamic', rule }).expect(201)).body;
  const contactsOf = (session: Session, id: string, query: Record<string, string | number> = {}) => t.http.get(`/api/v1/segments/${id}/contacts`).set(session.auth).query({ limit: 100, ...query });
  const matching = async (rule: unknown) => {
    const segment = await dynamicSegment(scoped(rule));
    const listed = (await contactsOf(admin, segment.id).expect(200)).body;
    expect(listed.meta.total).toBe(segment.contactCount);
    return keys(listed);
  };

  describe('static segments', () => {
    it('are created, read, renamed, described and deleted; names are unique regardless of case', async () => {
      const created = (await createSegment(staff, { name: `${M} Newsletter`, description: 'Monthly', kind: 'static' }).expect(201)).body;
      expect(created).toMatchObject({ name: `${M} Newsletter`, description: 'Monthly', kind: 'static', rule: null, contactCount: 0, warnings: [], createdBy: { id: staff.userId } });

      const duplicate = await createSegment(admin, { name: `${M} NEWSLETTER`, kind: 'static' }).expect(409);
      expect(duplicate.body).toMatchObject({ code: 'segment_name_taken', details: [{ field: 'name' }] });

      expect((await t.http.get(`/api/v1/segments/${created.id}`).set(admin.auth).expect(200)).body).toMatchObject({ id: created.id, kind: 'static' });
      const renamed = (await t.http.patch(`/api/v1/segments/${created.id}`).set(staff.auth).send({ name: `${M} newsletter`, description: 'Weekly' }).expect(200)).body;
      expect(renamed).toMatchObject({ name: `${M} newsletter`, description: 'Weekly' });

      const withRule = await t.http.patch(`/api/v1/segments/${created.id}`).set(staff.auth).send({ rule: mine }).expect(422);
      expect(withRule.body.code).toBe('segment_kind');
      await t.http.patch(`/api/v1/segments/${created.id}`).set(staff.auth).send({ kind: 'dynamic' }).expect(400);

      const audit: Array<{ action: string }> = await t.db.query('SELECT action FROM audit_logs WHERE subject_id = $1 ORDER BY created_at', [created.id]);
      expect(audit.map((row) => row.action)).toEqual(['segment.create', 'segment.update']);

      await t.http.delete(`/api/v1/segments/${created.id}`).set(staff.auth).expect(204);
      await t.http.get(`/api/v1/segments/${created.id}`).set(staff.auth).expect(404);
      expect(await t.db.query('SELECT 1 FROM contacts WHERE id = $1', [ids.ada])).toHaveLength(1);
    });

    it('add members by id and by filter (only what matches right now), count them, and take them out', async () => {
      const segment = (await createSegment(staff, { name: `${M} Members`, kind: 'static' }).expect(201)).body;
      const add = (body: object) => t.http.post(`/api/v1/segments/${segment.id}/members`).set(staff.auth).send(body);

      expect((await add({ contactIds: [ids.ada, ids.bob] }).expect(200)).body).toEqual({ matched: 2, added: 2, alreadyMembers: 0, contactCount: 2 });
      const total = async () => (await contactsOf(staff, segment.id).expect(200)).body.meta.total as number;
      expect(await total()).toBe(2);
      expect((await add({ contactIds: [ids.ada, ids.cy, '00000000-0000-4000-8000-000000000000'] }).expect(200)).body).toEqual({ matched: 2, added: 1, alreadyMembers: 1, contactCount: 3 });
      // The member list's total follows at once (it is kept for a few seconds otherwise).
      expect(await total()).toBe(3);
      // Di is a customer; Ada already is a member.
      expect((await add({ filter: scoped({ field: 'stage', op: 'is', value: 'customer' }) }).expect(200)).body).toEqual({ matched: 2, added: 1, alreadyMembers: 1, contactCount: 4 });
      expect(keys((await contactsOf(staff, segment.id).expect(200)).body)).toEqual(['ada', 'bob', 'cy', 'di']);

      // A filter is a snapshot: Ed becoming a customer later does not bring him in.
      const ed = (await t.http.get(`/api/v1/contacts/${ids.ed}`).set(admin.auth).expect(200)).body;
      await t.http.patch(`/api/v1/contacts/${ids.ed}`).set(admin.auth).send({ version: ed.version, statusId: statuses.Customer }).expect(200);
      expect((await t.http.get(`/api/v1/segments/${segment.id}`).set(staff.auth).expect(200)).body.contactCount).toBe(4);
      await t.http.patch(`/api/v1/contacts/${ids.ed}`).set(admin.auth).send({ version: ed.version + 1, statusId: null }).expect(200);

      const removed = await t.http.delete(`/api/v1/segments/${segment.id}/members`).set(staff.auth).send({ contactIds: [ids.bob, ids.ed] }).expect(200);
      expect(removed.body).toEqual({ removed: 1, contactCount: 3 });
      expect(await total()).toBe(3);
      expect(keys((await contactsOf(staff, segment.id).expect(200)).body)).toEqual(['ada', 'cy', 'di']);

      // A contact in the trash leaves the lists and counts, and comes back with it.
      await t.http.delete(`/api/v1/contacts/${ids.cy}`).set(admin.auth).expect(204);
      expect((await t.http.get(`/api/v1/segments/${segment.id}`).set(staff.auth).expect(200)).body.contactCount).toBe(2);
      expect(keys((await contactsOf(staff, segment.id).expect(200)).body)).toEqual(['ada', 'di']);
      await t.http.post(`/api/v1/contacts/${ids.cy}/restore`).set(admin.auth).expect(200);
      expect((await t.http.get(`/api/v1/segments/${segment.id}`).set(staff.auth).expect(200)).body.contactCount).toBe(3);

      const audit: Array<{ action: string }> = await t.db.query('SELECT action FROM audit_logs WHERE subject_id = $1 ORDER BY created_at', [segment.id]);
      expect(audit.map((row) => row.action)).toEqual(['segment.create', 'segment.members.add', 'segment.members.add', 'segment.members.add', 'segment.members.remove']);
    });

    it('refuses a member change without exactly one selection, with a bad filter, or on a dynamic segment', async () => {
      const segment = (await createSegment(staff, { name: `${M} Picky`, kind: 'static' }).expect(201)).body;
      const add = (body: object) => t.http.post(`/api/v1/segments/${segment.id}/members`).set(staff.auth).send(body);
      expect((await add({}).expect(400)).body.details).toEqual([{ field: 'contactIds', message: expect.any(String) }]);
      await add({ contactIds: [ids.ada], filter: mine }).expect(400);
      expect((await add({ contactIds: [] }).expect(400)).body.details[0].field).toBe('contactIds');
      expect((await add({ contactIds: ['nope'] }).expect(400)).body.details[0].field).toBe('contactIds');
      const badFilter = await add({ filter: { and: [mine, { field: 'stage', op: 'gt', value: 'lead' }] } }).expect(400);
      expect(badFilter.body.details).toEqual([{ field: 'filter.and.1.op', message: expect.any(String) }]);
      // A deleted custom field matches nothing, and under `not` everything: refused in a one-off change.
      const key = `gone${Date.now().toString(36)}`;
      const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key, label: `Gone ${key}`, type: 'text' }).expect(201)).body;
      await t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
      const deleted = await add({ filter: { not: { field: `custom.${key}`, op: 'is', value: 'x' } } }).expect(400);
      expect(deleted.body.details).toEqual([{ field: 'filter.not.field', message: `the custom field "custom.${key}" was deleted` }]);
      await t.http.delete(`/api/v1/segments/${segment.id}/members`).set(staff.auth).send({}).expect(400);

      const dynamic = await dynamicSegment(mine);
      const refused = await t.http.post(`/api/v1/segments/${dynamic.id}/members`).set(staff.auth).send({ contactIds: [ids.ada] }).expect(422);
      expect(refused.body.code).toBe('segment_kind');
      await t.http.delete(`/api/v1/segments/${dynamic.id}/members`).set(staff.auth).send({ contactIds: [ids.ada] }).expect(422);
      await t.http.post('/api/v1/segments/00000000-0000-4000-8000-000000000000/members').set(staff.auth).send({ contactIds: [ids.ada] }).expect(404);
    });
  });

  describe('dynamic segments', () => {
    it('nest AND/OR groups over status and stage', async () => {
      // Customers, or leads tagged VIP.
      const rule = {
        or: [
          { field: 'stage', op: 'is', value: 'customer' },
          { and: [{ field: 'status', op: 'is', value: statuses.Lead }, { field: 'tags', op: 'hasAny', value: [tags.vip] }] },
        ],
      };
      expect(await matching(rule)).toEqual(['ada', 'bob', 'di']);
      expect(await matching({ not: rule })).toEqual(['cy', 'ed']);
      expect(await matching({ field: 'status', op: 'in', value: [statuses.Prospect, statuses.Lead] })).toEqual(['bob', 'cy']);
      expect(await matching({ field: 'status', op: 'empty' })).toEqual(['ed']);
    });

    it('match tags with hasAny, hasAll and hasNone', async () => {
      expect(await matching({ field: 'tags', op: 'hasAny', value: [tags.us, tags.vip] })).toEqual(['ada', 'bob', 'di', 'ed']);
      expect(await matching({ field: 'tags', op: 'hasAll', value: [tags.vip, tags.eu] })).toEqual(['ada']);
      expect(await matching({ field: 'tags', op: 'hasNone', value: [tags.vip] })).toEqual(['cy', 'di', 'ed']);
      expect(await matching({ field: 'tags', op: 'empty' })).toEqual(['cy']);
    });

    it('match custom fields, dates in the last N days or empty, and the assignee', async () => {
      expect(await matching({ field: 'custom.budget', op: 'gt', value: 1000 })).toEqual(['ada', 'di']);
      expect(await matching({ field: 'custom.plan', op: 'is', value: 'pro' })).toEqual(['ada']);
      expect(await matching({ field: 'custom.budget', op: 'empty' })).toEqual(['cy', 'ed']);
      expect(await matching({ field: 'lastContactedAt', op: 'inLastDays', value: 7 })).toEqual(['ada']);
      expect(await matching({ field: 'lastContactedAt', op: 'notInLastDays', value: 7 })).toEqual(['bob', 'cy', 'di', 'ed']);
      expect(await matching({ field: 'lastContactedAt', op: 'empty' })).toEqual(['bob', 'cy', 'ed']);
      expect(await matching({ field: 'createdAt', op: 'inLastDays', value: 1 })).toEqual(['ada', 'bob', 'cy', 'di', 'ed']);
      expect(await matching({ field: 'assignedTo', op: 'is', value: rep.userId })).toEqual(['ada', 'di']);
      expect(await matching({ field: 'assignedTo', op: 'empty' })).toEqual(['cy']);
    });

    it('follow the contacts as they change, and can get a new rule', async () => {
      const segment = await dynamicSegment(scoped({ field: 'stage', op: 'is', value: 'prospect' }));
      expect(segment.contactCount).toBe(1);
      const cy = (await t.http.get(`/api/v1/contacts/${ids.cy}`).set(admin.auth).expect(200)).body;
      await t.http.patch(`/api/v1/contacts/${ids.cy}`).set(admin.auth).send({ version: cy.version, statusId: statuses.Lead }).expect(200);
      expect((await t.http.get(`/api/v1/segments/${segment.id}`).set(admin.auth).expect(200)).body.contactCount).toBe(0);
      await t.http.patch(`/api/v1/contacts/${ids.cy}`).set(admin.auth).send({ version: cy.version + 1, statusId: statuses.Prospect }).expect(200);

      const updated = (await t.http.patch(`/api/v1/segments/${segment.id}`).set(admin.auth).send({ rule: scoped({ field: 'stage', op: 'in', value: ['prospect', 'lead'] }) }).expect(200)).body;
      expect(updated).toMatchObject({ kind: 'dynamic', contactCount: 2, rule: scoped({ field: 'stage', op: 'in', value: ['prospect', 'lead'] }) });
    });

    it('refuse invalid rules with the path of the bad clause', async () => {
      const create = (body: Record<string, unknown>) => createSegment(staff, { name: `${M} bad ${Math.random()}`, ...body });
      expect((await create({ kind: 'dynamic' }).expect(400)).body.details).toEqual([{ field: 'rule', message: expect.any(String) }]);
      expect((await create({ kind: 'static', rule: mine }).expect(400)).body.details).toEqual([{ field: 'rule', message: expect.any(String) }]);
      expect((await create({ kind: 'dynamic', rule: [mine] }).expect(400)).body.details[0].field).toBe('rule');

      const unknownField = await create({ kind: 'dynamic', rule: { and: [mine, { field: 'nope', op: 'is', value: 1 }] } }).expect(400);
      expect(unknownField.body.details).toEqual([{ field: 'rule.and.1.field', message: 'unknown field "nope"' }]);
      const wrongOp = await create({ kind: 'dynamic', rule: { or: [mine, { and: [{ field: 'tags', op: 'is', value: tags.vip }] }] } }).expect(400);
      expect(wrongOp.body.details).toEqual([{ field: 'rule.or.1.and.0.op', message: expect.stringContaining('hasAny') }]);
      const wrongValue = await create({ kind: 'dynamic', rule: { not: { field: 'lastContactedAt', op: 'inLastDays', value: 'seven' } } }).expect(400);
      expect(wrongValue.body.details).toEqual([{ field: 'rule.not.value', message: 'must be a whole number of days' }]);
      const emptyGroup = await create({ kind: 'dynamic', rule: { and: [] } }).expect(400);
      expect(emptyGroup.body.details).toEqual([{ field: 'rule.and', message: expect.any(String) }]);

      const segment = await dynamicSegment(mine);
      const badUpdate = await t.http.patch(`/api/v1/segments/${segment.id}`).set(staff.auth).send({ rule: { field: 'custom.nope', op: 'is', value: 'x' } }).expect(400);
      expect(badUpdate.body.details).toEqual([{ field: 'rule.field', message: 'unknown field "custom.nope"' }]);
      expect((await t.http.get(`/api/v1/segments/${segment.id}`).set(staff.auth).expect(200)).body.rule).toEqual(mine);
    });
  });

  describe('lists, sorting and paging', () => {
    it("pages and sorts a segment's contacts like the contact list, searches them, and checks the sort first", async () => {
      const segment = await dynamicSegment(mine);
      const page = (query: Record<string, string | number>) => contactsOf(admin, segment.id, query).expect(200).then((r) => r.body);
      const first = await page({ sort: 'lastName', limit: 2 });
      expect(first.meta).toEqual({ page: 1, limit: 2, total: 5 });
      expect(first.data.map((c: { id: string }) => keyOf(c.id))).toEqual(['ada', 'bob']);
      expect((await page({ sort: 'lastName', limit: 2, page: 3 })).data.map((c: { id: string }) => keyOf(c.id))).toEqual(['ed']);
      expect((await page({ sort: '-custom.budget,lastName' })).data.map((c: { id: string }) => keyOf(c.id))).toEqual(['di', 'ada', 'bob', 'cy', 'ed']);
      // The same item shape as GET /contacts.
      expect(first.data[0]).toMatchObject({ id: ids.ada, status: { name: 'Customer', stage: 'customer' }, assignedTo: { id: rep.userId }, customFields: { budget: 5000, plan: 'pro' } });
      expect(first.data[0].tags.map((tag: { id: string }) => tag.id).sort()).toEqual([tags.eu, tags.vip].sort());
      expect(keys(await page({ q: `${M} di` }))).toEqual(['di']);

      // Keyset paging works here too.
      const byCreation = await page({ sort: '-createdAt', limit: 3 });
      const next = await page({ sort: '-createdAt', limit: 3, cursor: byCreation.meta.nextCursor });
      expect([...byCreation.data, ...next.data].map((c: { id: string }) => keyOf(c.id))).toEqual(['ed', 'di', 'cy', 'bob', 'ada']);
      expect(next.meta.nextCursor).toBeNull();

      const badSort = await contactsOf(admin, '00000000-0000-4000-8000-000000000000', { sort: 'shoeSize' }).expect(400);
      expect(badSort.body.details[0].field).toBe('sort');
      await contactsOf(admin, '00000000-0000-4000-8000-000000000000').expect(404);
    });

    it('lists segments with counts, sorted, paged, searched and by kind', async () => {
      const tag = `${M}list`;
      const a = (await createSegment(admin, { name: `${tag} A`, kind: 'dynamic', rule: scoped({ field: 'stage', op: 'is', value: 'customer' }) }).expect(201)).body;
      const b = (await createSegment(admin, { name: `${tag} B`, kind: 'static' }).expect(201)).body;
      await t.http.post(`/api/v1/segments/${b.id}/members`).set(admin.auth).send({ contactIds: [ids.bob, ids.cy, ids.ed] }).expect(200);
      const c = (await createSegment(admin, { name: `${tag} C`, kind: 'dynamic', rule: scoped({ field: 'tags', op: 'empty' }) }).expect(201)).body;

      const list = (query: Record<string, string | number>) => t.http.get('/api/v1/segments').set(admin.auth).query(query).expect(200).then((r) => r.body);
      const all = await list({ q: tag });
      expect(all.meta).toEqual({ page: 1, limit: 25, total: 3 });
      expect(all.data.map((s: { id: string; contactCount: number }) => [s.id, s.contactCount])).toEqual([
        [a.id, 2],
        [b.id, 3],
        [c.id, 1],
      ]);
      expect((await list({ q: tag, sort: '-name', limit: 1, page: 2 })).data.map((s: { id: string }) => s.id)).toEqual([b.id]);
      expect((await list({ q: tag, kind: 'static' })).data.map((s: { id: string }) => s.id)).toEqual([b.id]);
      expect((await list({ q: tag, sort: '-createdAt' })).data.map((s: { id: string }) => s.id)).toEqual([c.id, b.id, a.id]);
      expect((await t.http.get('/api/v1/segments').set(admin.auth).query({ sort: 'contactCount' }).expect(400)).body.details[0].field).toBe('sort');
    });
  });

  describe('explain', () => {
    it('annotates every group and condition for one contact', async () => {
      const rule = {
        and: [
          mine,
          {
            or: [
              { field: 'stage', op: 'is', value: 'customer' },
              { not: { field: 'tags', op: 'hasAny', value: [tags.vip] } },
            ],
          },
          { field: 'custom.budget', op: 'gte', value: 1000 },
        ],
      };
      const segment = await dynamicSegment(rule);
      const explain = (contactId: string, session = admin) => t.http.get(`/api/v1/segments/${segment.id}/explain/${contactId}`).set(session.auth);

      const ada = (await explain(ids.ada).expect(200)).body;
      expect(ada).toEqual({
        segmentId: segment.id,
        contactId: ids.ada,
        matched: true,
        warnings: [],
        rule: {
          matched: true,
          and: [
            { ...mine, matched: true },
            {
              matched: true,
              or: [
                { field: 'stage', op: 'is', value: 'customer', matched: true },
                { matched: false, not: { field: 'tags', op: 'hasAny', value: [tags.vip], matched: true } },
              ],
            },
            { field: 'custom.budget', op: 'gte', value: 1000, matched: true },
          ],
        },
      });

      // Bob: a VIP lead with a small budget. Cy: no budget at all, which counts as not matching.
      const bob = (await explain(ids.bob).expect(200)).body;
      expect(bob.matched).toBe(false);
      expect(bob.rule.and.map((node: { matched: boolean }) => node.matched)).toEqual([true, false, false]);
      expect(bob.rule.and[1].or[1]).toEqual({ matched: false, not: { field: 'tags', op: 'hasAny', value: [tags.vip], matched: true } });
      const cy = (await explain(ids.cy).expect(200)).body;
      expect(cy.rule.and.map((node: { matched: boolean }) => node.matched)).toEqual([true, true, false]);
      expect(cy.rule.and[1].or.map((node: { matched: boolean }) => node.matched)).toEqual([false, true]);

      // The explanation agrees with the segment's list.
      const listed = keys((await contactsOf(admin, segment.id).expect(200)).body);
      for (const key of ['ada', 'bob', 'cy', 'di', 'ed'] as const) {
        expect({ key, matched: (await explain(ids[key]).expect(200)).body.matched }).toEqual({ key, matched: listed.includes(key) });
      }

      await explain('00000000-0000-4000-8000-000000000000').expect(404);
      // The rep may not read Bob: a 404, not an explanation.
      expect((await explain(ids.bob, rep).expect(404)).body.message).toBe('Contact not found');
      await explain(ids.ada, rep).expect(200);
      const staticSegment = (await createSegment(admin, { name: `${M} Not explained`, kind: 'static' }).expect(201)).body;
      expect((await t.http.get(`/api/v1/segments/${staticSegment.id}/explain/${ids.ada}`).set(admin.auth).expect(422)).body.code).toBe('segment_kind');
    });
  });

  describe('preview', () => {
    it('counts and shows the first page of a rule without saving it, and checks the rule', async () => {
      const before = (await t.db.query('SELECT count(*)::int AS n FROM segments'))[0].n;
      const preview = (await t.http.post('/api/v1/segments/preview').set(staff.auth).send({ rule: scoped({ field: 'stage', op: 'in', value: ['customer', 'prospect'] }), sort: 'lastName', limit: 2 }).expect(200)).body;
      expect(preview.meta).toEqual({ page: 1, limit: 2, total: 3 });
      expect(preview.data.map((c: { id: string }) => keyOf(c.id))).toEqual(['ada', 'cy']);
      expect((await t.db.query('SELECT count(*)::int AS n FROM segments'))[0].n).toBe(before);

      const bad = await t.http.post('/api/v1/segments/preview').set(staff.auth).send({ rule: { and: [mine, { field: 'stage', op: 'is', value: 'vip' }] } }).expect(400);
      expect(bad.body.details).toEqual([{ field: 'rule.and.1.value', message: expect.any(String) }]);
      expect((await t.http.post('/api/v1/segments/preview').set(staff.auth).send({}).expect(400)).body.details[0].field).toBe('rule');
    });
  });

  describe('rules that name things that are gone', () => {
    it('keep working and say so when a custom field is deleted, purged, or a tag no longer exists', async () => {
      const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'legacy', label: 'Legacy', type: 'text' }).expect(201)).body;
      const doomed = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: `${M} doomed` }).expect(201)).body.id as string;
      const rule = scoped({
        or: [
          { field: 'custom.legacy', op: 'is', value: 'old' },
          { field: 'tags', op: 'hasAny', value: [doomed] },
          { field: 'stage', op: 'is', value: 'customer' },
        ],
      });
      const segment = await dynamicSegment(rule);
      expect(segment).toMatchObject({ contactCount: 2, warnings: [] });

      await t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
      await t.http.delete(`/api/v1/tags/${doomed}`).set(admin.auth).expect(204);
      const after = (await t.http.get(`/api/v1/segments/${segment.id}`).set(admin.auth).expect(200)).body;
      expect(after.contactCount).toBe(2);
      expect(after.rule).toEqual(rule);
      expect(after.warnings).toEqual([
        'rule.and.1.or.0: the custom field "custom.legacy" was deleted; this condition holds for no contact',
        `rule.and.1.or.1: the tag ${doomed} no longer exists; no contact matches it`,
      ]);
      const listed = (await contactsOf(admin, segment.id).expect(200)).body;
      expect(keys(listed)).toEqual(['ada', 'di']);
      expect(listed.meta.warnings).toEqual(after.warnings);
      const fromList = (await t.http.get('/api/v1/segments').set(admin.auth).query({ q: after.name }).expect(200)).body.data[0];
      expect(fromList.warnings).toEqual(after.warnings);
      expect((await t.http.get(`/api/v1/segments/${segment.id}/explain/${ids.ada}`).set(admin.auth).expect(200)).body.warnings).toEqual(after.warnings);

      // Purged for good: the definition is gone entirely, and the segment still works.
      await t.http.delete(`/api/v1/custom-fields/${field.id}/purge`).set(admin.auth).expect(204);
      const purged = (await t.http.get(`/api/v1/segments/${segment.id}`).set(admin.auth).expect(200)).body;
      expect(purged.contactCount).toBe(2);
      expect(purged.warnings[0]).toBe('rule.and.1.or.0: the custom field "custom.legacy" no longer exists; this condition holds for no contact');
      expect(keys((await contactsOf(admin, segment.id).expect(200)).body)).toEqual(['ada', 'di']);
      const explained = (await t.http.get(`/api/v1/segments/${segment.id}/explain/${ids.ada}`).set(admin.auth).expect(200)).body;
      expect(explained.rule.and[1].or[0]).toEqual({ field: 'custom.legacy', op: 'is', value: 'old', matched: false });
      await t.http.get('/api/v1/segments').set(admin.auth).expect(200);

      // Defined again under the same key with another type: the saved clause no longer fits it.
      const retyped = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'legacy', label: 'Legacy', type: 'number' }).expect(201)).body;
      try {
        const again = (await t.http.get(`/api/v1/segments/${segment.id}`).set(admin.auth).expect(200)).body;
        expect(again.contactCount).toBe(2);
        expect(again.warnings[0]).toBe('rule.and.1.or.0: the custom field "custom.legacy" changed type since this rule was saved; this condition holds for no contact');
        expect(keys((await contactsOf(admin, segment.id).expect(200)).body)).toEqual(['ada', 'di']);
        await t.http.get(`/api/v1/segments/${segment.id}/explain/${ids.ada}`).set(admin.auth).expect(200);
        await t.http.get('/api/v1/segments').set(admin.auth).expect(200);
      } finally {
        await t.http.delete(`/api/v1/custom-fields/${retyped.id}`).set(admin.auth).expect(204);
        await t.http.delete(`/api/v1/custom-fields/${retyped.id}/purge`).set(admin.auth).expect(204);
      }

      // A status, service, traffic source or assignee that never existed is reported the same way.
      const ghost = '00000000-0000-4000-8000-00000000beef';
      const ghosts = await dynamicSegment(scoped({ or: [{ field: 'status', op: 'in', value: [ghost, statuses.Lead] }, { field: 'assignedTo', op: 'is', value: ghost }] }));
      expect(ghosts.contactCount).toBe(1);
      expect(ghosts.warnings).toEqual([`rule.and.1.or.0: the status ${ghost} no longer exists; no contact matches it`, `rule.and.1.or.1: the assignee ${ghost} no longer exists; no contact matches it`]);
    });
  });

  describe('rules that leave out things that are gone', () => {
    it('say that the clause now holds for every contact it used to leave out, as explain and the counts show', async () => {
      const spam = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: `${M} spam` }).expect(201)).body.id as string;
      const junk = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: `${M} junk` }).expect(201)).body.id as string;
      await t.db.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2)', [ids.ada, spam]);
      const notSpam = await dynamicSegment(scoped({ field: 'tags', op: 'hasNone', value: [spam] }));
      const notSpamNegated = await dynamicSegment(scoped({ not: { field: 'tags', op: 'hasAny', value: [spam] } }));
      expect([notSpam.contactCount, notSpamNegated.contactCount]).toEqual([4, 4]);

      await t.http.delete(`/api/v1/tags/${spam}`).query({ replaceWith: junk }).set(admin.auth).expect(204);
      const after = (await t.http.get(`/api/v1/segments/${notSpam.id}`).set(admin.auth).expect(200)).body;
      expect(after.contactCount).toBe(5);
      expect(after.warnings).toEqual([`rule.and.1: the tag ${spam} no longer exists; it excludes no contact, so this condition now holds for every contact, those it used to exclude included`]);
      const explained = (await t.http.get(`/api/v1/segments/${notSpam.id}/explain/${ids.ada}`).set(admin.auth).expect(200)).body;
      expect(explained).toMatchObject({ matched: true, rule: { and: [{ matched: true }, { field: 'tags', op: 'hasNone', matched: true }] }, warnings: after.warnings });

      const negated = (await t.http.get(`/api/v1/segments/${notSpamNegated.id}`).set(admin.auth).expect(200)).body;
      expect(negated.contactCount).toBe(5);
      expect(negated.warnings).toEqual([`rule.and.1.not: the tag ${spam} no longer exists; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included`]);
    });
  });

  describe('rules that leave out by a custom field that is gone', () => {
    it('say that the clause, or the "not" around it, now excludes no contact, as the counts, lists and explain show', async () => {
      const field = (await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'origin', label: 'Origin', type: 'text' }).expect(201)).body;
      const setOrigin = (id: string, origin: string) => t.db.query(`UPDATE contacts SET custom_fields = custom_fields || jsonb_build_object('origin', $2::text) WHERE id = $1`, [id, origin]);
      await setOrigin(ids.ada, 'EU');
      await setOrigin(ids.bob, 'US');
      const isNot = await dynamicSegment(scoped({ field: 'custom.origin', op: 'isNot', value: 'EU' }));
      const notIs = await dynamicSegment(scoped({ not: { field: 'custom.origin', op: 'is', value: 'EU' } }));
      const notIsNot = await dynamicSegment(scoped({ not: { field: 'custom.origin', op: 'isNot', value: 'EU' } }));
      expect([isNot.contactCount, notIs.contactCount, notIsNot.contactCount]).toEqual([4, 4, 1]);

      await t.http.delete(`/api/v1/custom-fields/${field.id}`).set(admin.auth).expect(204);
      const gone = 'the custom field "custom.origin" was deleted';
      const expected: Array<[{ id: string }, string[], string]> = [
        [isNot, ['ada', 'bob', 'cy', 'di', 'ed'], `rule.and.1: ${gone}; it excludes no contact, so this condition now holds for every contact, those it used to exclude included`],
        [notIs, ['ada', 'bob', 'cy', 'di', 'ed'], `rule.and.1.not: ${gone}; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included`],
        [notIsNot, [], `rule.and.1.not: ${gone}; this condition now holds for every contact, so the "not" around it holds for no contact`],
      ];
      for (const [segment, members, warning] of expected) {
        const after = (await t.http.get(`/api/v1/segments/${segment.id}`).set(admin.auth).expect(200)).body;
        expect([after.contactCount, after.warnings]).toEqual([members.length, [warning]]);
        const listed = (await contactsOf(admin, segment.id).expect(200)).body;
        expect([keys(listed), listed.meta.warnings]).toEqual([members, [warning]]);
        // Ada still holds "EU" in the deleted field: whether she is in, explain says as the list does.
        const explained = (await t.http.get(`/api/v1/segments/${segment.id}/explain/${ids.ada}`).set(admin.auth).expect(200)).body;
        expect([explained.matched, explained.warnings]).toEqual([members.includes('ada'), [warning]]);
      }
      const preview = (await t.http.post('/api/v1/segments/preview').set(admin.auth).send({ rule: scoped({ not: { field: 'custom.origin', op: 'is', value: 'EU' } }), limit: 100 }).expect(200)).body;
      expect([keys(preview), preview.meta.warnings]).toEqual([['ada', 'bob', 'cy', 'di', 'ed'], [expected[1]![2]]]);

      // Purged: the values are gone as well, and the clause reads the same.
      await t.http.delete(`/api/v1/custom-fields/${field.id}/purge`).set(admin.auth).expect(204);
      const purged = (await t.http.get(`/api/v1/segments/${isNot.id}`).set(admin.auth).expect(200)).body;
      expect([purged.contactCount, purged.warnings]).toEqual([
        5,
        ['rule.and.1: the custom field "custom.origin" no longer exists; it excludes no contact, so this condition now holds for every contact, those it used to exclude included'],
      ]);
      const purgedNegated = (await t.http.get(`/api/v1/segments/${notIs.id}/explain/${ids.ada}`).set(admin.auth).expect(200)).body;
      expect(purgedNegated).toMatchObject({
        matched: true,
        rule: { and: [{ matched: true }, { matched: true, not: { field: 'custom.origin', op: 'is', value: 'EU', matched: false } }] },
        warnings: ['rule.and.1.not: the custom field "custom.origin" no longer exists; it excludes no contact, so the "not" around it now holds for every contact, those it used to exclude included'],
      });
    });
  });

  describe('a role that may read only its own contacts', () => {
    it('sees only its contacts in segment lists, counts, member changes, previews and explanations', async () => {
      const everyone = (await createSegment(admin, { name: `${M} Everyone`, kind: 'static' }).expect(201)).body;
      await t.http.post(`/api/v1/segments/${everyone.id}/members`).set(admin.auth).send({ filter: mine }).expect(200);
      const dynamic = await dynamicSegment(scoped({ field: 'tags', op: 'notEmpty' }));

      expect((await t.http.get(`/api/v1/segments/${everyone.id}`).set(admin.auth).expect(200)).body.contactCount).toBe(5);
      expect((await t.http.get(`/api/v1/segments/${everyone.id}`).set(rep.auth).expect(200)).body.contactCount).toBe(2);
      expect(keys((await contactsOf(rep, everyone.id).expect(200)).body)).toEqual(['ada', 'di']);
      expect((await contactsOf(rep, everyone.id).expect(200)).body.meta.total).toBe(2);
      expect((await t.http.get(`/api/v1/segments/${dynamic.id}`).set(admin.auth).expect(200)).body.contactCount).toBe(4);
      expect((await t.http.get(`/api/v1/segments/${dynamic.id}`).set(rep.auth).expect(200)).body.contactCount).toBe(2);
      expect(keys((await contactsOf(rep, dynamic.id).expect(200)).body)).toEqual(['ada', 'di']);
      const listed = (await t.http.get('/api/v1/segments').set(rep.auth).query({ q: M, limit: 100 }).expect(200)).body.data as Array<{ id: string; contactCount: number }>;
      expect(listed.find((s) => s.id === everyone.id)?.contactCount).toBe(2);
      expect(listed.find((s) => s.id === dynamic.id)?.contactCount).toBe(2);

      // Its own segment: a filter adds only its contacts, ids of others are ignored, and it cannot take others out.
      const own = (await createSegment(rep, { name: `${M} Mine`, kind: 'static' }).expect(201)).body;
      expect((await t.http.post(`/api/v1/segments/${own.id}/members`).set(rep.auth).send({ filter: mine }).expect(200)).body).toEqual({ matched: 2, added: 2, alreadyMembers: 0, contactCount: 2 });
      expect((await t.http.post(`/api/v1/segments/${own.id}/members`).set(rep.auth).send({ contactIds: [ids.bob, ids.cy] }).expect(200)).body).toEqual({ matched: 0, added: 0, alreadyMembers: 0, contactCount: 2 });
      expect((await t.http.get(`/api/v1/segments/${own.id}`).set(admin.auth).expect(200)).body.contactCount).toBe(2);
      expect((await t.http.delete(`/api/v1/segments/${everyone.id}/members`).set(rep.auth).send({ contactIds: [ids.bob, ids.ada] }).expect(200)).body).toEqual({ removed: 1, contactCount: 1 });
      expect((await t.http.get(`/api/v1/segments/${everyone.id}`).set(admin.auth).expect(200)).body.contactCount).toBe(4);

      const preview = (await t.http.post('/api/v1/segments/preview').set(rep.auth).send({ rule: mine }).expect(200)).body;
      expect(keys(preview)).toEqual(['ada', 'di']);
      expect(preview.meta.total).toBe(2);
    });

    it('keeps clients and users without segment rights out', async () => {
      await t.http.get('/api/v1/segments').set(client.auth).expect(403);
      await t.http.get('/api/v1/segments').expect(401);
      const noSegments = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: 'Contacts only', audience: 'staff', rules: [{ action: 'read', subject: 'Contact' }] }).expect(201);
      const reader = await createUserWithRoles(t, admin, [noSegments.body.id], 'reader');
      expect((await t.http.get('/api/v1/segments').set(reader.auth).expect(403)).body.code).toBe('forbidden');
    });

    it('lets rules limit segments by their own fields', async () => {
      // May read every segment but change only the ones it created.
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({
          name: 'Own segments',
          audience: 'staff',
          rules: [
            { action: 'read', subject: ['Contact', 'Segment'] },
            { action: ['create', 'update', 'delete'], subject: 'Segment', conditions: { createdById: '${user.id}' } },
          ],
        })
        .expect(201);
      const owner = await createUserWithRoles(t, admin, [role.body.id], 'owner');
      const theirs = (await createSegment(owner, { name: `${M} Owned`, kind: 'static' }).expect(201)).body;
      const others = (await createSegment(admin, { name: `${M} Not owned`, kind: 'static' }).expect(201)).body;
      await t.http.patch(`/api/v1/segments/${theirs.id}`).set(owner.auth).send({ description: 'ok' }).expect(200);
      expect((await t.http.patch(`/api/v1/segments/${others.id}`).set(owner.auth).send({ description: 'no' }).expect(403)).body.code).toBe('forbidden');
      await t.http.post(`/api/v1/segments/${others.id}/members`).set(owner.auth).send({ contactIds: [ids.ada] }).expect(403);
      await t.http.delete(`/api/v1/segments/${others.id}`).set(owner.auth).expect(403);
      await t.http.delete(`/api/v1/segments/${theirs.id}`).set(owner.auth).expect(204);

      // Read limited to their own: the others vanish from the list and answer 404.
      await t.http.patch(`/api/v1/roles/${role.body.id}`).set(admin.auth).send({ rules: [{ action: 'read', subject: 'Contact' }, { action: 'manage', subject: 'Segment', conditions: { createdById: '${user.id}' } }] }).expect(200);
      const mineOnly = (await createSegment(owner, { name: `${M} Owned again`, kind: 'static' }).expect(201)).body;
      const seen = (await t.http.get('/api/v1/segments').set(owner.auth).query({ limit: 100 }).expect(200)).body;
      expect(seen.data.map((s: { id: string }) => s.id)).toEqual([mineOnly.id]);
      expect(seen.meta.total).toBe(1);
      await t.http.get(`/api/v1/segments/${others.id}`).set(owner.auth).expect(404);
    });
  });

  describe('the segments feature', () => {
    const toggle = (key: string, enabled: boolean) => t.http.patch(`/api/v1/features/${key}`).set(admin.auth).send({ enabled });
    /** The other enabled modules that need contacts, so contacts itself can be switched off. */
    const otherDependents = async () =>
      ((await t.http.get('/api/v1/features').set(admin.auth).expect(200)).body as Array<{ key: string; enabled: boolean; requires: string[] }>)
        .filter((feature) => feature.enabled && feature.key !== 'segments' && feature.requires.includes('contacts'))
        .map((feature) => feature.key);

    it('when off, answers 404 naming the feature and leaves the docs; it cannot come on while contacts is off', async () => {
      const others = await otherDependents();
      await toggle('segments', false).expect(200);
      try {
        const off = await t.http.get('/api/v1/segments').set(admin.auth).expect(404);
        expect(off.body).toMatchObject({ statusCode: 404, code: 'feature_disabled', feature: 'segments' });
        await t.http.post('/api/v1/segments/preview').set(admin.auth).send({ rule: mine }).expect(404);
        await t.http.get(`/api/v1/segments/00000000-0000-4000-8000-000000000000/explain/${ids.ada}`).expect(404);
        const paths = Object.keys((await t.http.get('/docs-json').expect(200)).body.paths);
        expect(paths.filter((path) => path.startsWith('/api/v1/segments'))).toEqual([]);
        expect(paths).toContain('/api/v1/contacts');

        for (const key of others) await toggle(key, false).expect(200);
        await toggle('contacts', false).expect(200);
        try {
          const refused = await toggle('segments', true).expect(409);
          expect(refused.body).toMatchObject({ code: 'feature_dependency_off', feature: 'contacts' });
        } finally {
          await toggle('contacts', true).expect(200);
          for (const key of others) await toggle(key, true).expect(200);
        }
      } finally {
        await toggle('segments', true).expect(200);
      }
      const paths = Object.keys((await t.http.get('/docs-json').expect(200)).body.paths);
      expect(paths).toEqual(expect.arrayContaining(['/api/v1/segments', '/api/v1/segments/{id}/explain/{contactId}']));
      await t.http.get('/api/v1/segments').set(admin.auth).expect(200);
    });

    it('keeps contacts on while segments needs it', async () => {
      const others = await otherDependents();
      for (const key of others) await toggle(key, false).expect(200);
      try {
        const refused = await toggle('contacts', false).expect(409);
        expect(refused.body).toMatchObject({ code: 'feature_needed_by_other', feature: 'segments' });
      } finally {
        for (const key of others) await toggle(key, true).expect(200);
      }
    });
  });

  describe('several API processes', () => {
    it('page a segment by its current rule in every process, at once after a change or a deletion', async () => {
      const other = await startTestApp({}, new URL(t.databaseUrl).pathname.slice(1));
      try {
        const segment = await dynamicSegment(scoped({ field: 'firstName', op: 'is', value: 'Ada' }));
        const page = (app: TestApp) => app.http.get(`/api/v1/segments/${segment.id}/contacts`).set(admin.auth).query({ limit: 100 });
        // Both processes have read (and keep) the segment.
        expect(keys((await page(t).expect(200)).body)).toEqual(['ada']);
        expect(keys((await page(other).expect(200)).body)).toEqual(['ada']);

        await other.http.patch(`/api/v1/segments/${segment.id}`).set(admin.auth).send({ rule: scoped({ field: 'firstName', op: 'is', value: 'Bob' }) }).expect(200);
        expect(keys((await page(other).expect(200)).body)).toEqual(['bob']);
        await until(async () => (keys((await page(t).expect(200)).body).join() === 'bob' ? true : undefined), 3000, 'the change to reach the other process');

        await t.http.delete(`/api/v1/segments/${segment.id}`).set(admin.auth).expect(204);
        await page(t).expect(404);
        await until(async () => ((await page(other)).status === 404 ? true : undefined), 3000, 'the deletion to reach the other process');

        // A tag and an assignee the rule names are deleted through one process; both say so.
        const tag = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: `${M} fleeting` }).expect(201)).body.id as string;
        const assignee = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'fleeting');
        const naming = await dynamicSegment(scoped({ or: [{ field: 'tags', op: 'hasAny', value: [tag] }, { field: 'assignedTo', op: 'is', value: assignee.userId }] }));
        const warnings = async (app: TestApp) => (await app.http.get(`/api/v1/segments/${naming.id}/contacts`).set(admin.auth).expect(200)).body.meta.warnings ?? [];
        expect(await warnings(t)).toEqual([]);
        expect(await warnings(other)).toEqual([]);
        await t.http.delete(`/api/v1/tags/${tag}`).set(admin.auth).expect(204);
        const tagGone = `rule.and.1.or.0: the tag ${tag} no longer exists; no contact matches it`;
        expect(await warnings(t)).toEqual([tagGone]);
        await until(async () => ((await warnings(other)).length === 1 ? true : undefined), 3000, 'the tag deletion to reach the other process');
        await other.http.delete(`/api/v1/users/${assignee.userId}`).set(admin.auth).expect(204);
        const both = [tagGone, `rule.and.1.or.1: the assignee ${assignee.userId} no longer exists; no contact matches it`];
        expect(await warnings(other)).toEqual(both);
        await until(async () => ((await warnings(t)).length === 2 ? true : undefined), 3000, 'the account deletion to reach the other process');
        expect(await warnings(t)).toEqual(both);
      } finally {
        await other.close();
      }
    });
  });
});
