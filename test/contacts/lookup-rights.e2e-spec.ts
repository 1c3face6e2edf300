import { randomUUID } from 'node:crypto';
import type { StoredRule } from '../../src/core/access/rule.types';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { titled, unique } from '../support/names';

/**
 * Rules may carry conditions on a status, tag, service or traffic source (its id and name).
 * They limit lists, counts, reads, edits and deletions as they do on contacts: an entry the
 * caller may not read is a 404, one they may read but not change a 403.
 * Contacts are arranged with SQL (the contacts API is not what is under test here).
 */

interface LookupBody {
  id: string;
  name: string;
  contactCount: number;
}

interface ListBody {
  data: LookupBody[];
  meta: { page: number; limit: number; total: number };
}

const TAGS = '/api/v1/tags';
const STATUSES = '/api/v1/contact-statuses';
const SERVICES = '/api/v1/services';
const SOURCES = '/api/v1/traffic-sources';

describe('lookup rights: rule conditions on statuses, tags, services and traffic sources', () => {
  let t: TestApp;
  let admin: Session;
  let staff: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    staff = await createUserWithRoles(t, admin, [await systemRoleId(t, 'staff')], 'staff');
  });
  afterAll(() => t.close());

  /** A back-office user holding one custom role with these rules. */
  async function userWith(rules: StoredRule[]): Promise<Session> {
    const role = await t.http
      .post('/api/v1/roles')
      .set(admin.auth)
      .send({ name: `Lookup rights ${unique('role')}`, audience: 'staff', rules })
      .expect(201);
    return createUserWithRoles(t, admin, [role.body.id], 'keeper');
  }

  async function create(path: string, name: string): Promise<LookupBody> {
    const body = path === STATUSES ? { name, stage: 'prospect' } : { name };
    return (await t.http.post(path).set(admin.auth).send(body).expect(201)).body as LookupBody;
  }

  async function insertContact(values: { statusId?: string; trafficSourceId?: string } = {}): Promise<string> {
    const tag = unique('c');
    const rows: Array<{ id: string }> = await t.db.query(
      'INSERT INTO contacts (first_name, last_name, email, status_id, traffic_source_id) VALUES ($1, $2, $3, $4, $5) RETURNING id',
      ['Rights', tag, `${tag}@example.com`, values.statusId ?? null, values.trafficSourceId ?? null],
    );
    return rows[0]!.id;
  }

  async function link(joinTable: 'contact_tags' | 'contact_services', column: 'tag_id' | 'service_id', contactId: string, entryId: string): Promise<void> {
    await t.db.query(`INSERT INTO ${joinTable} (contact_id, ${column}) VALUES ($1, $2)`, [contactId, entryId]);
  }

  async function linked(joinTable: 'contact_tags' | 'contact_services', column: 'tag_id' | 'service_id', contactId: string): Promise<string[]> {
    const rows: Array<{ id: string }> = await t.db.query(`SELECT ${column} AS id FROM ${joinTable} WHERE contact_id = $1`, [contactId]);
    return rows.map((row) => row.id);
  }

  async function nameOf(table: string, id: string): Promise<string | undefined> {
    const rows: Array<{ name: string }> = await t.db.query(`SELECT name FROM ${table} WHERE id = $1`, [id]);
    return rows[0]?.name;
  }

  async function list(path: string, session: Session, query: Record<string, string> = {}): Promise<ListBody> {
    return (await t.http.get(path).query({ limit: 100, ...query }).set(session.auth).expect(200)).body as ListBody;
  }

  it("sorts by a restricted caller's own counts, entries none of their contacts use counting 0", async () => {
    const word = unique('counted');
    const [none, one, two] = [await create(TAGS, `${word} a`), await create(TAGS, `${word} b`), await create(TAGS, `${word} c`)];
    const [source, unused] = [await create(SOURCES, `${word} a`), await create(SOURCES, `${word} b`)];
    const keeper = await userWith([
      { action: 'read', subject: 'Tag' },
      { action: 'read', subject: 'TrafficSource' },
      { action: 'read', subject: 'Contact', conditions: { createdById: '${user.id}' } },
    ]);
    const mine = async (trafficSourceId?: string) => {
      const id = await insertContact({ trafficSourceId });
      await t.db.query('UPDATE contacts SET created_by_id = $2 WHERE id = $1', [id, keeper.userId]);
      return id;
    };
    const [first, second] = [await mine(source.id), await mine(source.id)];
    for (const [contactId, tagId] of [[first, one.id], [first, two.id], [second, two.id]] as const) await link('contact_tags', 'tag_id', contactId, tagId);
    // Contacts the keeper may not read count for nobody but those who may.
    const hidden = await insertContact({ trafficSourceId: unused.id });
    await link('contact_tags', 'tag_id', hidden, none.id);

    const counts = (body: ListBody) => body.data.map((entry) => [entry.id, entry.contactCount]);
    expect(counts(await list(TAGS, keeper, { q: word, sort: 'contactCount' }))).toEqual([[none.id, 0], [one.id, 1], [two.id, 2]]);
    expect(counts(await list(TAGS, keeper, { q: word, sort: '-contactCount' }))).toEqual([[two.id, 2], [one.id, 1], [none.id, 0]]);
    expect(counts(await list(SOURCES, keeper, { q: word, sort: '-contactCount' }))).toEqual([[source.id, 2], [unused.id, 0]]);
    expect((await t.http.get(`${TAGS}/${none.id}`).set(keeper.auth).expect(200)).body.contactCount).toBe(0);
    expect((await t.http.get(`${TAGS}/${two.id}`).set(keeper.auth).expect(200)).body.contactCount).toBe(2);
    expect(counts(await list(TAGS, admin, { q: word, sort: '-contactCount' }))).toEqual([[two.id, 2], [none.id, 1], [one.id, 1]]);
  });

  describe('tags', () => {
    it('a role that reads only the tag "Vip…" lists and counts only it, and gets the missing-tag 404 for the others', async () => {
      const word = unique('vip');
      const vip = await create(TAGS, word);
      const alpha = await create(TAGS, `${word}alpha`);
      const beta = await create(TAGS, unique('beta'));
      await link('contact_tags', 'tag_id', await insertContact(), vip.id);
      const keeper = await userWith([
        { action: 'read', subject: 'Tag', conditions: { name: vip.name } },
        { action: 'read', subject: 'Contact', conditions: { createdById: '${user.id}' } },
      ]);

      const all = await list(TAGS, keeper);
      expect(all.data.map((tag) => tag.id)).toEqual([vip.id]);
      expect(all.meta.total).toBe(1);
      // The search matches both names; the count is still of readable tags only, and each
      // tag's contact count of readable contacts only.
      const searched = await list(TAGS, keeper, { q: word });
      expect(searched.data.map((tag) => [tag.id, tag.contactCount])).toEqual([[vip.id, 0]]);
      expect(searched.meta.total).toBe(1);
      expect((await list(TAGS, admin, { q: word })).data.map((tag) => [tag.id, tag.contactCount])).toEqual([
        [vip.id, 1],
        [alpha.id, 0],
      ]);
      const paged = await t.http.get(TAGS).query({ limit: 1, page: 2 }).set(keeper.auth).expect(200);
      expect(paged.body).toEqual({ data: [], meta: { page: 2, limit: 1, total: 1 } });

      await t.http.get(`${TAGS}/${vip.id}`).set(keeper.auth).expect(200);
      const missing = await t.http.get(`${TAGS}/${randomUUID()}`).set(keeper.auth).expect(404);
      for (const hidden of [alpha, beta]) {
        const response = await t.http.get(`${TAGS}/${hidden.id}`).set(keeper.auth).expect(404);
        expect(response.body).toEqual(missing.body);
        expect(response.body.code).toBe('tag_not_found');
        await t.http.get(`${TAGS}/${hidden.id}/contacts`).set(keeper.auth).expect(404);
      }
      await t.http.get(`${TAGS}/${vip.id}/contacts`).set(keeper.auth).expect(200);

      // Callers without conditions still see every tag.
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM tags');
      for (const session of [admin, staff]) {
        const everything = await list(TAGS, session);
        expect(everything.meta.total).toBe(count);
        expect(everything.data.map((tag) => tag.id)).toEqual(expect.arrayContaining([vip.id, alpha.id, beta.id]));
        await t.http.get(`${TAGS}/${alpha.id}`).set(session.auth).expect(200);
      }
    });

    it('updates and deletes only the tags its conditions allow: 404 for one it may not read, 403 for one it may only read', async () => {
      const vip = await create(TAGS, unique('vip'));
      const other = await create(TAGS, unique('other'));
      const hidden = await create(TAGS, unique('hidden'));
      const keeper = await userWith([
        { action: 'read', subject: 'Tag', conditions: { name: { $in: [vip.name, other.name] } } },
        { action: ['update', 'delete'], subject: 'Tag', conditions: { name: vip.name } },
      ]);

      await t.http.patch(`${TAGS}/${hidden.id}`).set(keeper.auth).send({ name: unique('renamed') }).expect(404);
      await t.http.delete(`${TAGS}/${hidden.id}`).set(keeper.auth).expect(404);
      const renamed = await t.http.patch(`${TAGS}/${other.id}`).set(keeper.auth).send({ name: unique('renamed') }).expect(403);
      expect(renamed.body.code).toBe('forbidden');
      await t.http.patch(`${TAGS}/${other.id}`).set(keeper.auth).send({ color: '#ff0000' }).expect(403);
      await t.http.delete(`${TAGS}/${other.id}`).set(keeper.auth).expect(403);
      await t.http.delete(`${TAGS}/${other.id}`).query({ detach: 'true' }).set(keeper.auth).expect(403);
      expect(await nameOf('tags', hidden.id)).toBe(hidden.name);
      expect(await nameOf('tags', other.id)).toBe(other.name);
      const [{ color }] = await t.db.query('SELECT color FROM tags WHERE id = $1', [other.id]);
      expect(color).toBeNull();

      const recoloured = await t.http.patch(`${TAGS}/${vip.id}`).set(keeper.auth).send({ color: '#00ff00', name: vip.name.toUpperCase() }).expect(200);
      expect(recoloured.body).toMatchObject({ id: vip.id, name: vip.name, color: '#00ff00' });
      // A rename would take the tag outside what the role may update: refused, nothing changed.
      await t.http.patch(`${TAGS}/${vip.id}`).set(keeper.auth).send({ name: unique('escaped'), color: '#0000ff' }).expect(403);
      const kept = await t.http.get(`${TAGS}/${vip.id}`).set(admin.auth).expect(200);
      expect(kept.body).toMatchObject({ name: vip.name, color: '#00ff00' });

      await t.http.delete(`${TAGS}/${vip.id}`).set(keeper.auth).expect(204);
      expect(await nameOf('tags', vip.id)).toBeUndefined();
    });

    it('tells how many contacts use a tag only to a caller who may read every contact', async () => {
      const used = await create(TAGS, unique('used'));
      for (let i = 0; i < 3; i += 1) await link('contact_tags', 'tag_id', await insertContact(), used.id);
      const restricted = await userWith([
        { action: ['read', 'delete'], subject: 'Tag' },
        { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
      ]);
      const withheld = await t.http.delete(`${TAGS}/${used.id}`).set(restricted.auth).expect(409);
      expect(withheld.body.message).not.toMatch(/\d/);
      expect(withheld.body.details).toEqual([
        { field: 'replaceWith', message: 'or detach is required: the tag is used by contacts' },
        { field: 'detach', message: 'or replaceWith is required: the tag is used by contacts' },
      ]);
      const told = await t.http.delete(`${TAGS}/${used.id}`).set(admin.auth).expect(409);
      expect(told.body.message).toMatch(/^3 contact\(s\) use this tag/);
    });

    it('a replacement must be a tag the caller may read; one it may not is answered as unknown (422)', async () => {
      const doomed = await create(TAGS, unique('doomed'));
      const kept = await create(TAGS, unique('kept'));
      const hidden = await create(TAGS, unique('hidden'));
      const contactId = await insertContact();
      await link('contact_tags', 'tag_id', contactId, doomed.id);
      const keeper = await userWith([
        { action: 'read', subject: 'Tag', conditions: { name: { $in: [doomed.name, kept.name] } } },
        { action: 'delete', subject: 'Tag', conditions: { name: doomed.name } },
      ]);

      const unknown = await t.http.delete(`${TAGS}/${doomed.id}`).query({ replaceWith: randomUUID() }).set(keeper.auth).expect(422);
      const refused = await t.http.delete(`${TAGS}/${doomed.id}`).query({ replaceWith: hidden.id }).set(keeper.auth).expect(422);
      expect(refused.body).toEqual(unknown.body);
      expect(refused.body.code).toBe('invalid_replacement');
      expect(await linked('contact_tags', 'tag_id', contactId)).toEqual([doomed.id]);

      await t.http.delete(`${TAGS}/${doomed.id}`).query({ replaceWith: kept.id }).set(keeper.auth).expect(204);
      expect(await linked('contact_tags', 'tag_id', contactId)).toEqual([kept.id]);
    });

    it('creates only the tags its create conditions allow, judged on the name as stored (Title Cased)', async () => {
      const allowed = unique('allowed');
      const keeper = await userWith([
        { action: 'read', subject: 'Tag' },
        { action: 'create', subject: 'Tag', conditions: { name: titled(allowed) } },
      ]);
      const outside = unique('outside');
      const refused = await t.http.post(TAGS).set(keeper.auth).send({ name: outside }).expect(403);
      expect(refused.body.code).toBe('forbidden');
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM tags WHERE name_key = $1', [outside]);
      expect(count).toBe(0);

      const created = await t.http.post(TAGS).set(keeper.auth).send({ name: `  ${allowed} ` }).expect(201);
      expect(created.body.name).toBe(titled(allowed));
    });
  });

  describe('statuses', () => {
    it('a role that may update and delete only "Scratch" can neither rename "Lead" nor delete "Customer" with a replacement', async () => {
      const scratch = await create(STATUSES, unique('scratch'));
      const lead = await create(STATUSES, unique('lead'));
      const customer = await create(STATUSES, unique('customer'));
      const prospect = await create(STATUSES, unique('prospect'));
      const contactId = await insertContact({ statusId: customer.id });
      const keeper = await userWith([
        { action: 'read', subject: 'ContactStatus' },
        { action: ['update', 'delete'], subject: 'ContactStatus', conditions: { name: scratch.name } },
        { action: 'read', subject: 'Contact' },
      ]);

      const renamed = await t.http.patch(`${STATUSES}/${lead.id}`).set(keeper.auth).send({ name: unique('renamed'), stage: 'other' }).expect(403);
      expect(renamed.body.code).toBe('forbidden');
      const [leadRow] = await t.db.query('SELECT name, stage FROM contact_statuses WHERE id = $1', [lead.id]);
      expect(leadRow).toEqual({ name: lead.name, stage: 'prospect' });
      await t.http.delete(`${STATUSES}/${customer.id}`).query({ replaceWith: prospect.id }).set(keeper.auth).expect(403);
      const [{ status_id: statusId }] = await t.db.query('SELECT status_id FROM contacts WHERE id = $1', [contactId]);
      expect(statusId).toBe(customer.id);
      expect(await nameOf('contact_statuses', customer.id)).toBe(customer.name);

      const restaged = await t.http.patch(`${STATUSES}/${scratch.id}`).set(keeper.auth).send({ stage: 'other' }).expect(200);
      expect(restaged.body).toMatchObject({ id: scratch.id, stage: 'other' });
      await t.http.delete(`${STATUSES}/${scratch.id}`).set(keeper.auth).expect(204);
    });

    it('lists, counts and fetches only the statuses the caller may read; the rest are 404 to edits and as replacements', async () => {
      const first = await create(STATUSES, unique('first'));
      const second = await create(STATUSES, unique('second'));
      const hidden = await create(STATUSES, unique('hidden'));
      const contactId = await insertContact({ statusId: first.id });
      await insertContact({ statusId: hidden.id });
      const keeper = await userWith([
        { action: 'read', subject: 'ContactStatus', conditions: { id: { $in: [first.id, second.id] } } },
        { action: ['update', 'delete'], subject: 'ContactStatus' },
        { action: 'read', subject: 'Contact' },
      ]);

      const visible = await list(STATUSES, keeper, { sort: 'name' });
      expect(visible.data.map((status) => status.id).sort()).toEqual([first.id, second.id].sort());
      expect(visible.meta.total).toBe(2);
      expect(visible.data.find((status) => status.id === first.id)?.contactCount).toBe(1);
      const byCount = await list(STATUSES, keeper, { sort: '-contactCount' });
      expect(byCount.data.map((status) => status.id)).toEqual([first.id, second.id]);

      const response = await t.http.get(`${STATUSES}/${hidden.id}`).set(keeper.auth).expect(404);
      expect(response.body.code).toBe('status_not_found');
      await t.http.get(`${STATUSES}/${hidden.id}/contacts`).set(keeper.auth).expect(404);
      await t.http.patch(`${STATUSES}/${hidden.id}`).set(keeper.auth).send({ stage: 'other' }).expect(404);
      await t.http.delete(`${STATUSES}/${hidden.id}`).query({ detach: 'true' }).set(keeper.auth).expect(404);
      expect(await nameOf('contact_statuses', hidden.id)).toBe(hidden.name);

      const refused = await t.http.delete(`${STATUSES}/${first.id}`).query({ replaceWith: hidden.id }).set(keeper.auth).expect(422);
      expect(refused.body.code).toBe('invalid_replacement');
      await t.http.delete(`${STATUSES}/${first.id}`).query({ replaceWith: second.id }).set(keeper.auth).expect(204);
      const [{ status_id: statusId }] = await t.db.query('SELECT status_id FROM contacts WHERE id = $1', [contactId]);
      expect(statusId).toBe(second.id);
    });

    it('creates only the statuses its create conditions allow', async () => {
      const allowed = unique('allowed');
      const keeper = await userWith([
        { action: 'read', subject: 'ContactStatus' },
        { action: 'create', subject: 'ContactStatus', conditions: { name: { $in: [titled(allowed)] } } },
      ]);
      await t.http.post(STATUSES).set(keeper.auth).send({ name: unique('outside'), stage: 'lead' }).expect(403);
      const created = await t.http.post(STATUSES).set(keeper.auth).send({ name: allowed, stage: 'lead' }).expect(201);
      expect(created.body).toMatchObject({ name: titled(allowed), stage: 'lead' });
    });
  });

  describe('services and traffic sources', () => {
    const CASES = [
      { path: SERVICES, subject: 'Service', table: 'services', code: 'service_not_found' },
      { path: SOURCES, subject: 'TrafficSource', table: 'traffic_sources', code: 'traffic_source_not_found' },
    ] as const;

    for (const lookup of CASES) {
      it(`${lookup.subject}: list, count, get, edit, delete, replace and create follow the conditions`, async () => {
        const mine = await create(lookup.path, unique('mine'));
        const spare = await create(lookup.path, unique('spare'));
        const hidden = await create(lookup.path, unique('hidden'));
        const allowed = unique('allowed');
        const keeper = await userWith([
          { action: 'read', subject: lookup.subject, conditions: { name: { $in: [mine.name, spare.name, titled(allowed)] } } },
          { action: ['update', 'delete'], subject: lookup.subject, conditions: { name: mine.name } },
          { action: 'create', subject: lookup.subject, conditions: { name: titled(allowed) } },
          { action: 'read', subject: 'Contact' },
        ]);

        const visible = await list(lookup.path, keeper);
        expect(visible.data.map((entry) => entry.id).sort()).toEqual([mine.id, spare.id].sort());
        expect(visible.meta.total).toBe(2);

        const response = await t.http.get(`${lookup.path}/${hidden.id}`).set(keeper.auth).expect(404);
        expect(response.body.code).toBe(lookup.code);
        await t.http.get(`${lookup.path}/${spare.id}`).set(keeper.auth).expect(200);
        await t.http.patch(`${lookup.path}/${hidden.id}`).set(keeper.auth).send({ name: unique('renamed') }).expect(404);
        await t.http.delete(`${lookup.path}/${hidden.id}`).set(keeper.auth).expect(404);
        await t.http.patch(`${lookup.path}/${spare.id}`).set(keeper.auth).send({ name: unique('renamed') }).expect(403);
        await t.http.delete(`${lookup.path}/${spare.id}`).set(keeper.auth).expect(403);
        expect(await nameOf(lookup.table, hidden.id)).toBe(hidden.name);
        expect(await nameOf(lookup.table, spare.id)).toBe(spare.name);

        await t.http.post(lookup.path).set(keeper.auth).send({ name: unique('outside') }).expect(403);
        const created = await t.http.post(lookup.path).set(keeper.auth).send({ name: allowed }).expect(201);
        expect(created.body.name).toBe(titled(allowed));

        // The entry in use moves its contacts only to an entry the caller may read.
        const contactId = await insertContact(lookup.path === SOURCES ? { trafficSourceId: mine.id } : {});
        if (lookup.path === SERVICES) await link('contact_services', 'service_id', contactId, mine.id);
        await t.http.delete(`${lookup.path}/${mine.id}`).query({ replaceWith: hidden.id }).set(keeper.auth).expect(422);
        expect(await nameOf(lookup.table, mine.id)).toBe(mine.name);
        await t.http.delete(`${lookup.path}/${mine.id}`).query({ replaceWith: spare.id }).set(keeper.auth).expect(204);
        if (lookup.path === SERVICES) {
          expect(await linked('contact_services', 'service_id', contactId)).toEqual([spare.id]);
        } else {
          const [{ traffic_source_id: sourceId }] = await t.db.query('SELECT traffic_source_id FROM contacts WHERE id = $1', [contactId]);
          expect(sourceId).toBe(spare.id);
        }
      });
    }
  });

  describe('contacts given entries', () => {
    it('a contact is given only statuses, sources, tags and services the caller may read; what it already has may stay', async () => {
      const [shownTag, hiddenTag] = [await create(TAGS, unique('Shown tag')), await create(TAGS, unique('Hidden tag'))];
      const [shownStatus, hiddenStatus] = [await create(STATUSES, unique('Shown status')), await create(STATUSES, unique('Hidden status'))];
      const [shownService, hiddenService] = [await create(SERVICES, unique('Shown service')), await create(SERVICES, unique('Hidden service'))];
      const [shownSource, hiddenSource] = [await create(SOURCES, unique('Shown source')), await create(SOURCES, unique('Hidden source'))];
      const keeper = await userWith([
        { action: 'read', subject: 'Tag', conditions: { id: shownTag.id } },
        { action: 'read', subject: 'ContactStatus', conditions: { id: shownStatus.id } },
        { action: 'read', subject: 'Service', conditions: { id: shownService.id } },
        { action: 'read', subject: 'TrafficSource', conditions: { id: shownSource.id } },
        { action: ['read', 'create', 'update'], subject: 'Contact' },
      ]);
      const contacts = '/api/v1/contacts';
      const refusedOn = async (request: Promise<{ status: number; body: { details?: Array<{ field: string }> } }>) => {
        const response = await request;
        expect(response.status).toBe(422);
        return response.body.details!.map((detail) => detail.field);
      };
      // Its rules hide every lead status, so it names the status (the default is not its to give).
      const name = { firstName: 'Given', lastName: unique('entries'), statusId: shownStatus.id };
      expect(await refusedOn(t.http.post(contacts).set(keeper.auth).send({ ...name, statusId: hiddenStatus.id }))).toEqual(['statusId']);
      expect(await refusedOn(t.http.post(contacts).set(keeper.auth).send({ ...name, trafficSourceId: hiddenSource.id }))).toEqual(['trafficSourceId']);
      expect(await refusedOn(t.http.post(contacts).set(keeper.auth).send({ ...name, tagIds: [shownTag.id, hiddenTag.id] }))).toEqual(['tagIds']);
      expect(await refusedOn(t.http.post(contacts).set(keeper.auth).send({ ...name, serviceIds: [hiddenService.id] }))).toEqual(['serviceIds']);
      // A tag typed by name finds the hidden one: not the caller's to give either. The answer is
      // the one a name no tag has gets from a role that may not create tags: it tells nothing.
      const typed = await t.http.post(contacts).set(keeper.auth).send({ ...name, newTags: [hiddenTag.name] }).expect(403);
      const missingName = unique('No such tag');
      const untyped = await t.http.post(contacts).set(keeper.auth).send({ ...name, newTags: [missingName] }).expect(403);
      // The same answer but for the name (stored Title Cased).
      expect(JSON.stringify(typed.body).replaceAll(hiddenTag.name, 'NAME')).toBe(JSON.stringify(untyped.body).replace(/No Such Tag\w+/g, 'NAME'));
      expect(typed.body.details).toEqual([{ field: 'newTags', message: `"${hiddenTag.name}" is not a tag you may use or create` }]);
      expect(await t.db.query('SELECT 1 FROM contacts WHERE last_name = $1', [name.lastName])).toEqual([]);

      const made = (await t.http
        .post(contacts)
        .set(keeper.auth)
        .send({ ...name, statusId: shownStatus.id, trafficSourceId: shownSource.id, tagIds: [shownTag.id], serviceIds: [shownService.id] })
        .expect(201)).body as { id: string; version: number };
      await t.http.patch(`${contacts}/${made.id}`).set(keeper.auth).send({ version: made.version, statusId: hiddenStatus.id }).expect(422);

      // Given by someone who may: an edit that sends them back unchanged, or keeps them, is fine.
      const withHidden = await insertContact({ statusId: hiddenStatus.id, trafficSourceId: hiddenSource.id });
      await link('contact_tags', 'tag_id', withHidden, hiddenTag.id);
      await link('contact_services', 'service_id', withHidden, hiddenService.id);
      const kept = (await t.http
        .patch(`${contacts}/${withHidden}`)
        .set(keeper.auth)
        .send({ version: 1, firstName: 'Kept', statusId: hiddenStatus.id, trafficSourceId: hiddenSource.id, tagIds: [hiddenTag.id, shownTag.id], serviceIds: [hiddenService.id] })
        .expect(200)).body as { version: number };
      expect((await linked('contact_tags', 'tag_id', withHidden)).sort()).toEqual([hiddenTag.id, shownTag.id].sort());
      // Taking one off is the caller's to do; putting it back is not.
      const untagged = (await t.http.patch(`${contacts}/${withHidden}`).set(keeper.auth).send({ version: kept.version, tagIds: [shownTag.id] }).expect(200)).body as { version: number };
      await t.http.patch(`${contacts}/${withHidden}`).set(keeper.auth).send({ version: untagged.version, tagIds: [shownTag.id, hiddenTag.id] }).expect(422);
      expect(await linked('contact_tags', 'tag_id', withHidden)).toEqual([shownTag.id]);

      const bulk = (body: Record<string, unknown>) => t.http.post(`${contacts}/bulk`).set(keeper.auth).send({ selection: { ids: [made.id] }, ...body });
      expect(await refusedOn(bulk({ action: 'setStatus', statusId: hiddenStatus.id }))).toEqual(['statusId']);
      expect(await refusedOn(bulk({ action: 'addTags', tagIds: [hiddenTag.id] }))).toEqual(['tagIds']);
      expect((await bulk({ action: 'addTags', tagIds: [shownTag.id] }).expect(200)).body).toEqual({ matched: 1, updated: 0 });
    });

    it('a contact created without a status gets the first lead status the caller may give; none given when its rules hide them all', async () => {
      const leadIds: Array<{ id: string }> = await t.db.query(`SELECT id FROM contact_statuses WHERE stage = 'lead' AND name_key = 'lead'`);
      const lead = leadIds[0]!.id;
      const walkIn = (await t.http.post(STATUSES).set(admin.auth).send({ name: unique('Walk-in'), stage: 'lead' }).expect(201)).body as LookupBody;
      const contactRights: StoredRule = { action: ['read', 'create'], subject: 'Contact' };
      const statusOf = async (session: Session, body: Record<string, unknown> = {}) => {
        const made = await t.http.post('/api/v1/contacts').set(session.auth).send({ firstName: 'Default', lastName: unique('status'), ...body }).expect(201);
        return (made.body as { status: { id: string } | null }).status?.id ?? null;
      };

      expect(await statusOf(staff)).toBe(lead);
      const walkInOnly = await userWith([{ action: 'read', subject: 'ContactStatus', conditions: { id: walkIn.id } }, contactRights]);
      expect(await statusOf(walkInOnly)).toBe(walkIn.id);

      const leads: Array<{ id: string }> = await t.db.query(`SELECT id FROM contact_statuses WHERE stage = 'lead'`);
      const noLead = await userWith([{ action: 'read', subject: 'ContactStatus', conditions: { id: { $nin: leads.map((row) => row.id) } } }, contactRights]);
      const lastName = unique('hidden default');
      const refused = await t.http.post('/api/v1/contacts').set(noLead.auth).send({ firstName: 'Default', lastName }).expect(422);
      expect(refused.body.details).toEqual([{ field: 'statusId', message: 'is required: the default status is not one your role may give' }]);
      expect(await t.db.query('SELECT 1 FROM contacts WHERE last_name = $1', [lastName])).toEqual([]);
      expect(await statusOf(noLead, { statusId: null })).toBeNull();
    });
  });
});
