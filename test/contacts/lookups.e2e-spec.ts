import { randomUUID } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { buildAbility } from '../../src/core/access/app-ability';
import { setChangeContext } from '../../src/modules/contacts/contacts.change-context';
import { LookupsService } from '../../src/modules/contacts/lookups.service';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { titled, unique } from '../support/names';

/**
 * The admin-managed lists contacts refer to: statuses, tags, services and traffic sources.
 * Contacts are arranged with SQL (the contacts API is not what is under test here).
 */

interface LookupBody {
  id: string;
  name: string;
  contactCount: number;
  stage?: string;
  position?: number;
  color?: string | null;
  createdAt: string;
  updatedAt: string;
}

const ADMINISTRATOR = buildAbility([{ action: 'manage', subject: 'all' }]);

const LISTS = [
  { path: '/api/v1/contact-statuses', subject: 'ContactStatus', audit: 'contact-status', body: (name: string) => ({ name, stage: 'prospect' }) },
  { path: '/api/v1/tags', subject: 'Tag', audit: 'tag', body: (name: string) => ({ name }) },
  { path: '/api/v1/services', subject: 'Service', audit: 'service', body: (name: string) => ({ name }) },
  { path: '/api/v1/traffic-sources', subject: 'TrafficSource', audit: 'traffic-source', body: (name: string) => ({ name }) },
] as const;

describe('contact lookups: statuses, tags, services, traffic sources', () => {
  let t: TestApp;
  let admin: Session;
  let staff: Session;
  let client: Session;
  let staffRoleId: string;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    client = await register(t, 'client');
    staffRoleId = await systemRoleId(t, 'staff');
    staff = await createUserWithRoles(t, admin, [staffRoleId], 'staff');
  });
  afterAll(() => t.close());

  /** Inserts a contact directly; `deleted` puts it in the trash. */
  async function insertContact(
    values: Partial<{ statusId: string | null; trafficSourceId: string | null; firstName: string; lastName: string; company: string; assignedToId: string; deleted: boolean }> = {},
  ): Promise<string> {
    const tag = unique('c');
    const rows: Array<{ id: string }> = await t.db.query(
      `INSERT INTO contacts (first_name, last_name, email, company, status_id, traffic_source_id, assigned_to_id, deleted_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::boolean THEN now() END) RETURNING id`,
      [
        values.firstName ?? 'Lookup',
        values.lastName ?? tag,
        `${tag}@example.com`,
        values.company ?? null,
        values.statusId ?? null,
        values.trafficSourceId ?? null,
        values.assignedToId ?? null,
        values.deleted ?? false,
      ],
    );
    return rows[0]!.id;
  }

  async function tagContact(contactId: string, tagId: string): Promise<void> {
    await t.db.query('INSERT INTO contact_tags (contact_id, tag_id) VALUES ($1, $2)', [contactId, tagId]);
  }

  async function tagsOf(contactId: string): Promise<string[]> {
    const rows: Array<{ tag_id: string }> = await t.db.query('SELECT tag_id FROM contact_tags WHERE contact_id = $1 ORDER BY tag_id', [contactId]);
    return rows.map((row) => row.tag_id);
  }

  async function statusOf(contactId: string): Promise<string | null> {
    const rows: Array<{ status_id: string | null }> = await t.db.query('SELECT status_id FROM contacts WHERE id = $1', [contactId]);
    return rows[0]!.status_id;
  }

  async function create(path: string, body: object, session = admin): Promise<LookupBody> {
    return (await t.http.post(path).set(session.auth).send(body).expect(201)).body as LookupBody;
  }

  async function auditActions(subjectId: string): Promise<Array<{ action: string; actor_id: string | null; subject_type: string }>> {
    return t.db.query('SELECT action, actor_id, subject_type FROM audit_logs WHERE subject_id = $1 ORDER BY created_at, action', [subjectId]);
  }

  describe('names', () => {
    it('stores names Title Cased: "social media" becomes "Social Media"', async () => {
      const tag = await t.http.post('/api/v1/tags').set(admin.auth).send({ name: '  social   media  ' }).expect(201);
      expect(tag.body).toMatchObject({ name: 'Social Media', color: null, contactCount: 0 });
      const [row] = await t.db.query('SELECT name, name_key FROM tags WHERE id = $1', [tag.body.id]);
      expect(row).toEqual({ name: 'Social Media', name_key: 'social media' });

      const status = await create('/api/v1/contact-statuses', { name: 'hot LEAD', stage: 'lead' });
      expect(status).toMatchObject({ name: 'Hot Lead', stage: 'lead', contactCount: 0 });
      const service = await create('/api/v1/services', { name: 'web design' });
      expect(service.name).toBe('Web Design');
      const source = await create('/api/v1/traffic-sources', { name: 'trade-fair flyer' });
      expect(source.name).toBe('Trade-Fair Flyer');

      const fetched = await t.http.get(`/api/v1/tags/${tag.body.id}`).set(admin.auth).expect(200);
      expect(fetched.body).toEqual(tag.body);
    });

    it('puts a new status after the last one, past 10000 too, and orders equal positions by name either way', async () => {
      const [{ top }] = await t.db.query('SELECT max(position)::int AS top FROM contact_statuses');
      const far = await create('/api/v1/contact-statuses', { name: unique('far'), stage: 'other', position: Math.max(top + 1, 10000) });
      const next = await create('/api/v1/contact-statuses', { name: unique('next'), stage: 'other' });
      expect(next.position).toBe((far.position as number) + 1);
      const zed = await create('/api/v1/contact-statuses', { name: `Zed ${unique('tie')}`, stage: 'other', position: next.position });
      const abe = await create('/api/v1/contact-statuses', { name: `Abe ${unique('tie')}`, stage: 'other', position: next.position });
      const order = async (query: Record<string, string>) =>
        ((await t.http.get('/api/v1/contact-statuses').query({ limit: 100, ...query }).set(admin.auth).expect(200)).body.data as LookupBody[])
          .map((status) => status.id)
          .filter((id) => [next.id, zed.id, abe.id].includes(id));
      expect(await order({})).toEqual([abe.id, next.id, zed.id]);
      expect(await order({ sort: 'position' })).toEqual(await order({}));
    });

    it('keeps names unique regardless of case, on create and on rename, with 409 naming the field', async () => {
      for (const list of LISTS) {
        const word = unique('dup');
        const first = await create(list.path, list.body(word));
        expect(first.name).toBe(titled(word));

        const duplicate = await t.http.post(list.path).set(admin.auth).send(list.body(word.toUpperCase())).expect(409);
        expect(duplicate.body.details).toEqual([expect.objectContaining({ field: 'name' })]);
        expect(duplicate.body.code).toMatch(/_name_taken$/);

        const other = await create(list.path, list.body(unique('other')));
        const rename = await t.http.patch(`${list.path}/${other.id}`).set(admin.auth).send({ name: ` ${word} ` }).expect(409);
        expect(rename.body.details).toEqual([expect.objectContaining({ field: 'name' })]);
        const unchanged = await t.http.get(`${list.path}/${other.id}`).set(admin.auth).expect(200);
        expect(unchanged.body.name).toBe(other.name);

        // Renaming to the same name in another case is no conflict with itself.
        const same = await t.http.patch(`${list.path}/${first.id}`).set(admin.auth).send({ name: word.toUpperCase() }).expect(200);
        expect(same.body.name).toBe(titled(word));

        const [{ count }] = await t.db.query(`SELECT count(*)::int AS count FROM ${tableOf(list.path)} WHERE name_key = lower($1)`, [word]);
        expect(count).toBe(1);
      }
    });

    it('the starter traffic source "Social Media" already exists, so "social media" is taken', async () => {
      const response = await t.http.post('/api/v1/traffic-sources').set(admin.auth).send({ name: 'social media' }).expect(409);
      expect(response.body.details).toEqual([expect.objectContaining({ field: 'name' })]);
    });

    it('refuses invalid input with 400 and field details', async () => {
      const cases: Array<[string, object, string]> = [
        ['/api/v1/tags', { name: '' }, 'name'],
        ['/api/v1/tags', { name: 'x'.repeat(101) }, 'name'],
        ['/api/v1/tags', { name: 'Fine', color: 'red' }, 'color'],
        ['/api/v1/tags', { name: 'Fine', shade: '#ffffff' }, 'shade'],
        ['/api/v1/contact-statuses', { name: 'Fine' }, 'stage'],
        ['/api/v1/contact-statuses', { name: 'Fine', stage: 'vip' }, 'stage'],
        ['/api/v1/contact-statuses', { name: 'Fine', stage: 'lead', position: -1 }, 'position'],
        ['/api/v1/services', {}, 'name'],
        ['/api/v1/traffic-sources', { name: 42 }, 'name'],
      ];
      for (const [path, body, field] of cases) {
        const response = await t.http.post(path).set(admin.auth).send(body);
        expect({ path, body, status: response.status }).toEqual({ path, body, status: 400 });
        expect(response.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
      }
      // CSV files list a contact's tags in one cell: a tag name with a separator would not come back whole.
      for (const name of ['Sales, EMEA', 'a;b']) {
        const separated = await t.http.post('/api/v1/tags').set(admin.auth).send({ name }).expect(400);
        expect(separated.body.details).toEqual([{ field: 'name', message: 'must not contain "," or ";" (they separate tags in CSV files)' }]);
      }
      // A contact's services share one cell too; a traffic source has a cell of its own.
      const service = await t.http.post('/api/v1/services').set(admin.auth).send({ name: 'Web, Mobile' }).expect(400);
      expect(service.body.details).toEqual([{ field: 'name', message: 'must not contain "," or ";" (they separate services in CSV files)' }]);
      const webService = await create('/api/v1/services', { name: unique('web') });
      await t.http.patch(`/api/v1/services/${webService.id}`).set(admin.auth).send({ name: 'Web; Mobile' }).expect(400);
      await t.http.post('/api/v1/traffic-sources').set(admin.auth).send({ name: `Google, paid ${unique('ads')}` }).expect(201);
      const typed = await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Tagged', newTags: ['ok', 'Sales, EMEA'] }).expect(400);
      expect(typed.body.details).toEqual([expect.objectContaining({ field: 'newTags' })]);
      const tag = await create('/api/v1/tags', { name: unique('nulled') });
      await t.http.patch(`/api/v1/tags/${tag.id}`).set(admin.auth).send({ name: 'Renamed; Split' }).expect(400);
      const nullName = await t.http.patch(`/api/v1/tags/${tag.id}`).set(admin.auth).send({ name: null }).expect(400);
      expect(nullName.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'name' })]));
      await t.http.get('/api/v1/tags/not-a-uuid').set(admin.auth).expect(400);
      await t.http.get(`/api/v1/tags/${randomUUID()}`).set(admin.auth).expect(404);
      await t.http.patch(`/api/v1/services/${randomUUID()}`).set(admin.auth).send({ name: 'Nobody' }).expect(404);
      await t.http.delete(`/api/v1/traffic-sources/${randomUUID()}`).set(admin.auth).expect(404);
    });

    it('takes an accent typed apart as the same name, and refuses invisible characters naming the field', async () => {
      const word = unique('cafe');
      const composed = await create('/api/v1/tags', { name: `${word}\u00e9` });
      const apart = await t.http.post('/api/v1/tags').set(admin.auth).send({ name: `${word}e\u0301` }).expect(409);
      expect(apart.body.code).toBe('tag_name_taken');
      expect(composed.name.normalize('NFC')).toBe(composed.name);
      for (const name of [`${word}\u200bx`, `\u202e${word}`]) {
        const refused = await t.http.post('/api/v1/tags').set(admin.auth).send({ name }).expect(400);
        expect(refused.body.details).toEqual([{ field: 'name', message: 'must not contain control or invisible characters' }]);
      }
    });

    it('holds the name as stored (Title Cased) to 100 characters with 400 naming it; İ and ß stay one letter', async () => {
      const tooLong = 'x'.repeat(101);
      for (const list of LISTS) {
        const created = await t.http.post(list.path).set(admin.auth).send(list.body(tooLong));
        expect({ path: list.path, status: created.status, details: created.body.details }).toEqual({ path: list.path, status: 400, details: [expect.objectContaining({ field: 'name' })] });
        const entry = await create(list.path, list.body(unique('grow')));
        const renamed = await t.http.patch(`${list.path}/${entry.id}`).set(admin.auth).send({ name: tooLong });
        expect({ path: list.path, status: renamed.status, details: renamed.body.details }).toEqual({ path: list.path, status: 400, details: [expect.objectContaining({ field: 'name' })] });
        // "İ" is the capital of a plain i: as many characters stored as typed, never i and a combining dot.
        const word = unique('i');
        const dotted = `${'İ'.repeat(100 - word.length - 1)} ${word.toUpperCase().replace(/I/g, 'İ')}`;
        const stored = await create(list.path, list.body(dotted));
        expect([...stored.name]).toHaveLength(100);
        expect(stored.name).toBe(`İ${'i'.repeat(100 - word.length - 2)} ${titled(word)}`.replace(/ I/, ' İ'));
      }
      const typed = await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Dotted', newTags: ['fine', tooLong] }).expect(400);
      expect(typed.body.details).toEqual([expect.objectContaining({ field: 'newTags' })]);
      // Length as PostgreSQL counts it: 60 emoji are 120 UTF-16 units but 60 characters.
      const emoji = await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Emoji', newTags: ['😀'.repeat(60)] }).expect(201);
      expect(emoji.body.tags.map((tag: { name: string }) => tag.name)).toEqual(['😀'.repeat(60)]);

      // "ß" has no one-letter capital ("SS"): it is left as it is.
      const word = unique('eta');
      const service = await create('/api/v1/services', { name: `ßeta ${word}` });
      expect(service.name).toBe(`ßeta ${titled(word)}`);
      const tag = await create('/api/v1/tags', { name: `straße ${word}` });
      expect(tag.name).toBe(`Straße ${titled(word)}`);
    });

    it('renames "İ…" to "I…" as a change of its own name, not a clash with itself', async () => {
      const word = unique('zmir');
      const status = await create('/api/v1/contact-statuses', { name: `İ${word} lead`, stage: 'lead' });
      expect(status.name).toBe(`İ${word} Lead`);
      const renamed = await t.http.patch(`/api/v1/contact-statuses/${status.id}`).set(admin.auth).send({ name: `I${word} lead` }).expect(200);
      expect(renamed.body.name).toBe(`I${word} Lead`);
      // Another entry spelt either way is the same name.
      expect((await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: `İ${word} LEAD`, stage: 'lead' }).expect(409)).body.code).toBe('status_name_taken');
    });

    it('edits a tag colour and a status stage and position; null removes the colour', async () => {
      const tag = await create('/api/v1/tags', { name: unique('coloured'), color: '#1E90FF' });
      expect(tag.color).toBe('#1e90ff');
      const recoloured = await t.http.patch(`/api/v1/tags/${tag.id}`).set(admin.auth).send({ color: '#00ff00' }).expect(200);
      expect(recoloured.body).toMatchObject({ id: tag.id, name: tag.name, color: '#00ff00' });
      const cleared = await t.http.patch(`/api/v1/tags/${tag.id}`).set(admin.auth).send({ color: null }).expect(200);
      expect(cleared.body.color).toBeNull();

      const status = await create('/api/v1/contact-statuses', { name: unique('staged'), stage: 'lead' });
      const changed = await t.http.patch(`/api/v1/contact-statuses/${status.id}`).set(admin.auth).send({ stage: 'customer', position: 42 }).expect(200);
      expect(changed.body).toMatchObject({ id: status.id, stage: 'customer', position: 42 });

      const audit = await auditActions(tag.id);
      expect(audit.map((row) => row.action)).toEqual(['tag.create', 'tag.update', 'tag.update']);
      expect(audit.every((row) => row.actor_id === admin.userId && row.subject_type === 'Tag')).toBe(true);
    });

    it('a new status goes after the last one unless a position is given', async () => {
      const [{ max }] = await t.db.query('SELECT max(position)::int AS max FROM contact_statuses');
      const last = await create('/api/v1/contact-statuses', { name: unique('last'), stage: 'other' });
      expect(last.position).toBe(max + 1);
      const placed = await create('/api/v1/contact-statuses', { name: unique('placed'), stage: 'other', position: 0 });
      expect(placed.position).toBe(0);
    });
  });

  describe('listing', () => {
    it('counts the contacts not in the trash that use each entry', async () => {
      const tag = await create('/api/v1/tags', { name: unique('counted') });
      const status = await create('/api/v1/contact-statuses', { name: unique('counted'), stage: 'prospect' });
      const service = await create('/api/v1/services', { name: unique('counted') });
      const source = await create('/api/v1/traffic-sources', { name: unique('counted') });

      const live1 = await insertContact({ statusId: status.id, trafficSourceId: source.id });
      const live2 = await insertContact({ statusId: status.id });
      const trashed = await insertContact({ statusId: status.id, trafficSourceId: source.id, deleted: true });
      for (const contactId of [live1, live2, trashed]) await tagContact(contactId, tag.id);
      await t.db.query('INSERT INTO contact_services (contact_id, service_id) VALUES ($1, $3), ($2, $3)', [live1, trashed, service.id]);

      const expectations: Array<[string, LookupBody, number]> = [
        ['/api/v1/tags', tag, 2],
        ['/api/v1/contact-statuses', status, 2],
        ['/api/v1/services', service, 1],
        ['/api/v1/traffic-sources', source, 1],
      ];
      for (const [path, entry, count] of expectations) {
        const one = await t.http.get(`${path}/${entry.id}`).set(staff.auth).expect(200);
        expect({ path, count: one.body.contactCount }).toEqual({ path, count });
        const listed = await t.http.get(path).query({ q: entry.name }).set(staff.auth).expect(200);
        expect(listed.body.data).toEqual([expect.objectContaining({ id: entry.id, contactCount: count })]);
      }

      // Restoring the trashed contact brings it back into the counts.
      await t.db.query('UPDATE contacts SET deleted_at = NULL WHERE id = $1', [trashed]);
      const restored = await t.http.get(`/api/v1/tags/${tag.id}`).set(staff.auth).expect(200);
      expect(restored.body.contactCount).toBe(3);
    });

    it('pages with { data, meta }, searches with q and sorts by whitelisted fields', async () => {
      const word = unique('paged');
      const names = ['alpha', 'bravo', 'charlie'].map((prefix) => `${prefix} ${word}`);
      const created: LookupBody[] = [];
      for (const name of names) created.push(await create('/api/v1/services', { name }));
      // bravo has two contacts, charlie one, alpha none.
      for (const [index, count] of [[1, 2], [2, 1]] as const) {
        for (let i = 0; i < count; i += 1) {
          const contactId = await insertContact();
          await t.db.query('INSERT INTO contact_services (contact_id, service_id) VALUES ($1, $2)', [contactId, created[index]!.id]);
        }
      }

      const first = await t.http.get('/api/v1/services').query({ q: word, limit: 2 }).set(admin.auth).expect(200);
      expect(Object.keys(first.body).sort()).toEqual(['data', 'meta']);
      expect(first.body.meta).toEqual({ page: 1, limit: 2, total: 3 });
      expect(first.body.data.map((s: LookupBody) => s.name)).toEqual([`Alpha ${titled(word)}`, `Bravo ${titled(word)}`]);
      const second = await t.http.get('/api/v1/services').query({ q: word, limit: 2, page: 2 }).set(admin.auth).expect(200);
      expect(second.body).toEqual({ data: [expect.objectContaining({ id: created[2]!.id })], meta: { page: 2, limit: 2, total: 3 } });

      const byCount = await t.http.get('/api/v1/services').query({ q: word.toUpperCase(), sort: '-contactCount' }).set(admin.auth).expect(200);
      expect(byCount.body.data.map((s: LookupBody) => [s.id, s.contactCount])).toEqual([
        [created[1]!.id, 2],
        [created[2]!.id, 1],
        [created[0]!.id, 0],
      ]);
      const byNameDesc = await t.http.get('/api/v1/services').query({ q: word, sort: '-name' }).set(admin.auth).expect(200);
      expect(byNameDesc.body.data.map((s: LookupBody) => s.id)).toEqual([created[2]!.id, created[1]!.id, created[0]!.id]);

      const all = await t.http.get('/api/v1/services').query({ limit: 100 }).set(admin.auth).expect(200);
      const [{ total }] = await t.db.query('SELECT count(*)::int AS total FROM services');
      expect(all.body.meta.total).toBe(total);

      // LIKE wildcards are literal.
      const wildcard = await t.http.get('/api/v1/services').query({ q: '%' }).set(admin.auth).expect(200);
      expect(wildcard.body).toEqual({ data: [], meta: { page: 1, limit: 25, total: 0 } });

      // Statuses sort by stage in the funnel's order, as contacts do.
      const byStage = await t.http.get('/api/v1/contact-statuses').query({ sort: 'stage,name', limit: 100 }).set(admin.auth).expect(200);
      const stages = byStage.body.data.map((status: { stage: string }) => status.stage);
      const order = ['lead', 'prospect', 'customer', 'other'];
      expect(stages).toEqual([...stages].sort((a: string, b: string) => order.indexOf(a) - order.indexOf(b)));
      expect(new Set(stages).size).toBeGreaterThan(2);

      const badSort = await t.http.get('/api/v1/services').query({ sort: 'shoeSize' }).set(admin.auth).expect(400);
      expect(badSort.body.details).toEqual([expect.objectContaining({ field: 'sort' })]);
      const badLimit = await t.http.get('/api/v1/tags').query({ limit: 0 }).set(admin.auth).expect(400);
      expect(badLimit.body.details).toEqual([expect.objectContaining({ field: 'limit' })]);
    });

    it('lists statuses by position, with the starter statuses in place', async () => {
      const response = await t.http.get('/api/v1/contact-statuses').query({ limit: 100 }).set(staff.auth).expect(200);
      const statuses = response.body.data as LookupBody[];
      expect(statuses.map((s) => s.name)).toEqual(expect.arrayContaining(['Lead', 'Prospect', 'Customer']));
      const positions = statuses.map((s) => s.position!);
      expect(positions).toEqual([...positions].sort((a, b) => a - b));
    });
  });

  describe('the contacts in a tag or status', () => {
    it('lists contacts without a last name after the others, both ways', async () => {
      const tag = await create('/api/v1/tags', { name: unique('nameless') });
      const nameless = await insertContact({ firstName: 'Aaron', lastName: '' });
      const adams = await insertContact({ firstName: 'Zed', lastName: 'Adams' });
      const brown = await insertContact({ firstName: 'Amy', lastName: 'Brown' });
      for (const contactId of [nameless, adams, brown]) await tagContact(contactId, tag.id);
      const listed = async (sort?: string) =>
        (await t.http.get(`/api/v1/tags/${tag.id}/contacts`).query(sort ? { sort } : {}).set(staff.auth).expect(200)).body.data.map((c: { id: string }) => c.id);
      expect(await listed()).toEqual([adams, brown, nameless]);
      expect(await listed('lastName')).toEqual([adams, brown, nameless]);
      expect(await listed('-lastName')).toEqual([brown, adams, nameless]);
    });

    it('lists the live contacts with a tag, paginated, with the listed fields only', async () => {
      const tag = await create('/api/v1/tags', { name: unique('members') });
      const zed = await insertContact({ firstName: 'Zed', lastName: 'Adams', company: 'Acme' });
      const amy = await insertContact({ firstName: 'Amy', lastName: 'Brown' });
      const trashed = await insertContact({ firstName: 'Gone', deleted: true });
      const untagged = await insertContact({ firstName: 'Untagged' });
      for (const contactId of [zed, amy, trashed]) await tagContact(contactId, tag.id);

      const response = await t.http.get(`/api/v1/tags/${tag.id}/contacts`).set(staff.auth).expect(200);
      expect(response.body.meta).toEqual({ page: 1, limit: 25, total: 2 });
      // Sorted by last name, then first name.
      expect(response.body.data.map((c: { id: string }) => c.id)).toEqual([zed, amy]);
      expect(Object.keys(response.body.data[0]).sort()).toEqual(['company', 'createdAt', 'email', 'firstName', 'id', 'lastName']);
      expect(response.body.data[0]).toMatchObject({ id: zed, firstName: 'Zed', lastName: 'Adams', company: 'Acme' });
      expect(response.body.data.map((c: { id: string }) => c.id)).not.toContain(untagged);

      const paged = await t.http.get(`/api/v1/tags/${tag.id}/contacts`).query({ limit: 1, page: 2, sort: 'firstName' }).set(staff.auth).expect(200);
      expect(paged.body).toEqual({ data: [expect.objectContaining({ id: zed })], meta: { page: 2, limit: 1, total: 2 } });
      const searched = await t.http.get(`/api/v1/tags/${tag.id}/contacts`).query({ q: 'acme' }).set(staff.auth).expect(200);
      expect(searched.body.data.map((c: { id: string }) => c.id)).toEqual([zed]);

      await t.http.get(`/api/v1/tags/${randomUUID()}/contacts`).set(staff.auth).expect(404);
      const badSort = await t.http.get(`/api/v1/tags/${tag.id}/contacts`).query({ sort: 'salary' }).set(staff.auth).expect(400);
      expect(badSort.body.details).toEqual([expect.objectContaining({ field: 'sort' })]);
      await t.http.get(`/api/v1/tags/${tag.id}/contacts`).set(client.auth).expect(403);
    });

    it('lists the live contacts in a status', async () => {
      const status = await create('/api/v1/contact-statuses', { name: unique('members'), stage: 'lead' });
      const inside = await insertContact({ statusId: status.id });
      await insertContact({ statusId: status.id, deleted: true });
      await insertContact();
      const response = await t.http.get(`/api/v1/contact-statuses/${status.id}/contacts`).set(admin.auth).expect(200);
      expect(response.body).toEqual({ data: [expect.objectContaining({ id: inside })], meta: { page: 1, limit: 25, total: 1 } });
      await t.http.get(`/api/v1/contact-statuses/${randomUUID()}/contacts`).set(admin.auth).expect(404);
    });

    it("is limited by the caller's read conditions on contacts", async () => {
      const role = await t.http
        .post('/api/v1/roles')
        .set(admin.auth)
        .send({
          name: `Own contacts ${unique('role')}`,
          audience: 'staff',
          rules: [
            { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
            { action: ['read', 'update'], subject: ['Tag', 'ContactStatus'] },
          ],
        })
        .expect(201);
      const rep = await createUserWithRoles(t, admin, [role.body.id], 'rep');
      const status = await create('/api/v1/contact-statuses', { name: unique('assigned'), stage: 'lead' });
      const tag = await create('/api/v1/tags', { name: unique('assigned') });
      const mine = await insertContact({ statusId: status.id, assignedToId: rep.userId });
      const theirs = await insertContact({ statusId: status.id, assignedToId: staff.userId });
      const nobodys = await insertContact({ statusId: status.id });
      for (const contactId of [mine, theirs, nobodys]) await tagContact(contactId, tag.id);

      for (const path of [`/api/v1/contact-statuses/${status.id}/contacts`, `/api/v1/tags/${tag.id}/contacts`]) {
        const limited = await t.http.get(path).set(rep.auth).expect(200);
        expect(limited.body).toEqual({ data: [expect.objectContaining({ id: mine })], meta: { page: 1, limit: 25, total: 1 } });
        const everything = await t.http.get(path).set(staff.auth).expect(200);
        expect(everything.body.data.map((c: { id: string }) => c.id).sort()).toEqual([mine, theirs, nobodys].sort());
      }
      // Counts too are of the contacts the caller may read: they would tell of the others.
      expect((await t.http.get(`/api/v1/tags/${tag.id}`).set(rep.auth).expect(200)).body.contactCount).toBe(1);
      expect((await t.http.get(`/api/v1/contact-statuses/${status.id}`).set(rep.auth).expect(200)).body.contactCount).toBe(1);
      expect((await t.http.get(`/api/v1/tags/${tag.id}`).set(staff.auth).expect(200)).body.contactCount).toBe(3);
      // An edit answers the same count, whether it changed anything or not.
      expect((await t.http.patch(`/api/v1/tags/${tag.id}`).set(rep.auth).send({}).expect(200)).body.contactCount).toBe(1);
      expect((await t.http.patch(`/api/v1/tags/${tag.id}`).set(rep.auth).send({ color: '#aabbcc' }).expect(200)).body.contactCount).toBe(1);
      expect((await t.http.patch(`/api/v1/contact-statuses/${status.id}`).set(rep.auth).send({ stage: 'lead' }).expect(200)).body.contactCount).toBe(1);
    });
  });

  describe('deleting', () => {
    it('deletes an unused entry without options, and audits it', async () => {
      for (const list of LISTS) {
        const entry = await create(list.path, list.body(unique('unused')));
        await t.http.delete(`${list.path}/${entry.id}`).set(admin.auth).expect(204);
        await t.http.get(`${list.path}/${entry.id}`).set(admin.auth).expect(404);
        await t.http.delete(`${list.path}/${entry.id}`).set(admin.auth).expect(404);
        const audit = await auditActions(entry.id);
        expect(audit).toEqual([
          { action: `${list.audit}.create`, actor_id: admin.userId, subject_type: list.subject },
          { action: `${list.audit}.delete`, actor_id: admin.userId, subject_type: list.subject },
        ]);
      }
    });

    it('refuses to delete an entry in use with 409 in_use and the count, and changes nothing', async () => {
      const tag = await create('/api/v1/tags', { name: unique('busy') });
      const status = await create('/api/v1/contact-statuses', { name: unique('busy'), stage: 'lead' });
      const contacts = [await insertContact({ statusId: status.id }), await insertContact({ statusId: status.id }), await insertContact({ statusId: status.id })];
      for (const contactId of contacts) await tagContact(contactId, tag.id);

      for (const [path, entry] of [
        ['/api/v1/tags', tag],
        ['/api/v1/contact-statuses', status],
      ] as const) {
        const refused = await t.http.delete(`${path}/${entry.id}`).set(admin.auth).expect(409);
        expect(refused.body.code).toBe('in_use');
        expect(refused.body.message).toMatch(/\b3 contact\(s\)/);
        expect(refused.body.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'replaceWith' })]));
        const explicitNo = await t.http.delete(`${path}/${entry.id}`).query({ detach: 'false' }).set(admin.auth).expect(409);
        expect(explicitNo.body.code).toBe('in_use');
        await t.http.get(`${path}/${entry.id}`).set(admin.auth).expect(200);
      }
      for (const contactId of contacts) {
        expect(await tagsOf(contactId)).toEqual([tag.id]);
        expect(await statusOf(contactId)).toBe(status.id);
      }
    });

    it('an entry used only by contacts in the trash is still in use (they keep their references)', async () => {
      const source = await create('/api/v1/traffic-sources', { name: unique('trashonly') });
      await insertContact({ trafficSourceId: source.id, deleted: true });
      const listed = await t.http.get(`/api/v1/traffic-sources/${source.id}`).set(admin.auth).expect(200);
      expect(listed.body.contactCount).toBe(0);
      const refused = await t.http.delete(`/api/v1/traffic-sources/${source.id}`).set(admin.auth).expect(409);
      expect(refused.body).toMatchObject({ code: 'in_use', message: expect.stringMatching(/in the trash/) });
      await t.http.delete(`/api/v1/traffic-sources/${source.id}`).query({ detach: 'true' }).set(admin.auth).expect(204);
    });

    it('answers 422 for a replacement that is unknown, of another list, or the deleted entry itself, and 400 for both options', async () => {
      const status = await create('/api/v1/contact-statuses', { name: unique('kept'), stage: 'lead' });
      const contactId = await insertContact({ statusId: status.id });
      const tag = await create('/api/v1/tags', { name: unique('elsewhere') });

      const unknown = await t.http.delete(`/api/v1/contact-statuses/${status.id}`).query({ replaceWith: randomUUID() }).set(admin.auth).expect(422);
      expect(unknown.body.details).toEqual([expect.objectContaining({ field: 'replaceWith' })]);
      await t.http.delete(`/api/v1/contact-statuses/${status.id}`).query({ replaceWith: tag.id }).set(admin.auth).expect(422);
      const self = await t.http.delete(`/api/v1/contact-statuses/${status.id}`).query({ replaceWith: status.id }).set(admin.auth).expect(422);
      expect(self.body.details).toEqual([expect.objectContaining({ field: 'replaceWith' })]);
      const both = await t.http.delete(`/api/v1/contact-statuses/${status.id}`).query({ replaceWith: randomUUID(), detach: 'true' }).set(admin.auth).expect(400);
      expect(both.body.details).toEqual([expect.objectContaining({ field: 'detach' })]);
      const malformed = await t.http.delete(`/api/v1/contact-statuses/${status.id}`).query({ replaceWith: 'lead' }).set(admin.auth).expect(400);
      expect(malformed.body.details).toEqual([expect.objectContaining({ field: 'replaceWith' })]);
      const badFlag = await t.http.delete(`/api/v1/contact-statuses/${status.id}`).query({ detach: 'yes' }).set(admin.auth).expect(400);
      expect(badFlag.body.details).toEqual([expect.objectContaining({ field: 'detach' })]);

      await t.http.get(`/api/v1/contact-statuses/${status.id}`).set(admin.auth).expect(200);
      expect(await statusOf(contactId)).toBe(status.id);
    });

    it('replaceWith moves the contacts of a status, trash included, and the history records the admin and source "lookup"', async () => {
      const old = await create('/api/v1/contact-statuses', { name: unique('retired'), stage: 'lead' });
      const replacement = await create('/api/v1/contact-statuses', { name: unique('successor'), stage: 'prospect' });
      const moved = [await insertContact({ statusId: old.id }), await insertContact({ statusId: old.id }), await insertContact({ statusId: old.id, deleted: true })];
      const bystander = await insertContact({ statusId: replacement.id });
      const versions: Array<{ id: string; version: number }> = await t.db.query('SELECT id, version FROM contacts WHERE id = ANY($1::uuid[])', [moved]);

      await t.http.delete(`/api/v1/contact-statuses/${old.id}`).query({ replaceWith: replacement.id }).set(admin.auth).expect(204);

      await t.http.get(`/api/v1/contact-statuses/${old.id}`).set(admin.auth).expect(404);
      for (const contactId of moved) expect(await statusOf(contactId)).toBe(replacement.id);
      expect(await statusOf(bystander)).toBe(replacement.id);
      const after: Array<{ id: string; version: number }> = await t.db.query('SELECT id, version FROM contacts WHERE id = ANY($1::uuid[])', [moved]);
      for (const row of after) expect(row.version).toBe(versions.find((v) => v.id === row.id)!.version + 1);

      const history: Array<{ contact_id: string; from_status_id: string | null; to_status_id: string; changed_by_id: string; source: string }> = await t.db.query(
        `SELECT contact_id, from_status_id, to_status_id, changed_by_id, source FROM contact_status_history
          WHERE contact_id = ANY($1::uuid[]) AND source = 'lookup' ORDER BY contact_id`,
        [moved],
      );
      // The old status is gone: the history no longer points at it, but keeps its name and stage.
      expect(history).toEqual(
        [...moved].sort().map((contactId) => ({ contact_id: contactId, from_status_id: null, to_status_id: replacement.id, changed_by_id: admin.userId, source: 'lookup' })),
      );
      const profile = (await t.http.get(`/api/v1/contacts/${moved[0]}`).set(admin.auth).expect(200)).body;
      expect(profile.statusHistory.map((change: { from: unknown; to: unknown; source: string }) => [change.source, change.from, change.to])).toEqual([
        ['lookup', { id: null, name: old.name, stage: 'lead' }, { id: replacement.id, name: replacement.name, stage: 'prospect' }],
        ['api', null, { id: null, name: old.name, stage: 'lead' }],
      ]);
      const listed = await t.http.get(`/api/v1/contact-statuses/${replacement.id}`).set(admin.auth).expect(200);
      expect(listed.body.contactCount).toBe(3);

      const [audit] = await t.db.query(`SELECT actor_id, before, after FROM audit_logs WHERE action = 'contact-status.delete' AND subject_id = $1`, [old.id]);
      expect(audit).toMatchObject({ actor_id: admin.userId, before: { name: old.name }, after: { replacedWith: replacement.id, contactsMoved: 3 } });
    });

    it('detach leaves the contacts of a status without one, recorded in the history', async () => {
      const old = await create('/api/v1/contact-statuses', { name: unique('detached'), stage: 'other' });
      const contactId = await insertContact({ statusId: old.id });
      await t.http.delete(`/api/v1/contact-statuses/${old.id}`).query({ detach: 'true' }).set(admin.auth).expect(204);
      expect(await statusOf(contactId)).toBeNull();
      const history = await t.db.query(`SELECT to_status_id, changed_by_id, source FROM contact_status_history WHERE contact_id = $1 AND source = 'lookup'`, [contactId]);
      expect(history).toEqual([{ to_status_id: null, changed_by_id: admin.userId, source: 'lookup' }]);
    });

    it('replaceWith gives the contacts of a tag the other tag (once), and detach takes the tag off', async () => {
      const old = await create('/api/v1/tags', { name: unique('merged') });
      const into = await create('/api/v1/tags', { name: unique('target') });
      const onlyOld = await insertContact();
      const both = await insertContact();
      await tagContact(onlyOld, old.id);
      await tagContact(both, old.id);
      await tagContact(both, into.id);

      // Upper-case UUIDs name the same records.
      await t.http.delete(`/api/v1/tags/${old.id.toUpperCase()}`).query({ replaceWith: into.id.toUpperCase() }).set(admin.auth).expect(204);
      expect(await tagsOf(onlyOld)).toEqual([into.id]);
      expect(await tagsOf(both)).toEqual([into.id]);
      const target = await t.http.get(`/api/v1/tags/${into.id}`).set(admin.auth).expect(200);
      expect(target.body.contactCount).toBe(2);
      const [audit] = await t.db.query(`SELECT after FROM audit_logs WHERE action = 'tag.delete' AND subject_id = $1`, [old.id]);
      expect(audit.after).toEqual({ replacedWith: into.id, contactsMoved: 2 });

      const dropped = await create('/api/v1/tags', { name: unique('dropped') });
      await tagContact(onlyOld, dropped.id);
      await t.http.delete(`/api/v1/tags/${dropped.id}`).query({ detach: true }).set(admin.auth).expect(204);
      expect(await tagsOf(onlyOld)).toEqual([into.id]);
      await t.http.get(`/api/v1/tags/${dropped.id}`).set(admin.auth).expect(404);
    });

    it('replaceWith and detach work for services and traffic sources too', async () => {
      const oldSource = await create('/api/v1/traffic-sources', { name: unique('oldsource') });
      const newSource = await create('/api/v1/traffic-sources', { name: unique('newsource') });
      const fromSource = await insertContact({ trafficSourceId: oldSource.id });
      await t.http.delete(`/api/v1/traffic-sources/${oldSource.id}`).query({ replaceWith: newSource.id }).set(admin.auth).expect(204);
      const [moved] = await t.db.query('SELECT traffic_source_id FROM contacts WHERE id = $1', [fromSource]);
      expect(moved.traffic_source_id).toBe(newSource.id);
      await t.http.delete(`/api/v1/traffic-sources/${newSource.id}`).query({ detach: 'true' }).set(admin.auth).expect(204);
      const [detached] = await t.db.query('SELECT traffic_source_id FROM contacts WHERE id = $1', [fromSource]);
      expect(detached.traffic_source_id).toBeNull();

      const oldService = await create('/api/v1/services', { name: unique('oldservice') });
      const newService = await create('/api/v1/services', { name: unique('newservice') });
      const interested = await insertContact();
      await t.db.query('INSERT INTO contact_services (contact_id, service_id) VALUES ($1, $2)', [interested, oldService.id]);
      await t.http.delete(`/api/v1/services/${oldService.id}`).query({ replaceWith: newService.id }).set(admin.auth).expect(204);
      const services: Array<{ service_id: string }> = await t.db.query('SELECT service_id FROM contact_services WHERE contact_id = $1', [interested]);
      expect(services).toEqual([{ service_id: newService.id }]);
      await t.http.delete(`/api/v1/services/${newService.id}`).query({ detach: 'true' }).set(admin.auth).expect(204);
      const none: unknown[] = await t.db.query('SELECT 1 FROM contact_services WHERE contact_id = $1', [interested]);
      expect(none).toEqual([]);
    });
  });

  describe('ensureTags (creating tags by typing their names)', () => {
    it('title-cases, dedupes regardless of case, creates the missing ones and returns ids in input order; refuses a blank name', async () => {
      const lookups = t.app.get(LookupsService, { strict: false });
      const existing = await create('/api/v1/tags', { name: unique('existing') });
      const fresh = unique('fresh');
      const other = unique('other');

      // As a contact write calls it: inside a transaction that names its actor.
      const asAdmin = <T>(work: (manager: EntityManager) => Promise<T>) =>
        t.db.transaction(async (manager) => {
          await setChangeContext(manager, admin.userId, 'api');
          return work(manager);
        });
      // A blank name is a mistake to report, not one to skip: nothing is created.
      await expect(asAdmin((manager) => lookups.ensureTags(manager, [fresh, '  '], ADMINISTRATOR))).rejects.toMatchObject({ details: [{ field: 'newTags', message: 'must not hold a blank name' }] });
      expect(await t.db.query('SELECT 1 FROM tags WHERE name_key = $1', [fresh])).toEqual([]);
      const ids = await asAdmin((manager) => lookups.ensureTags(manager, [` ${fresh} `, existing.name.toUpperCase(), fresh.toUpperCase(), other], ADMINISTRATOR));

      const rows: Array<{ id: string; name: string }> = await t.db.query('SELECT id, name FROM tags WHERE id = ANY($1::uuid[])', [ids]);
      const nameOf = new Map(rows.map((row) => [row.id, row.name]));
      expect(ids).toHaveLength(3);
      expect(ids.map((id) => nameOf.get(id))).toEqual([titled(fresh), existing.name, titled(other)]);
      expect(ids[1]).toBe(existing.id);
      const [{ count }] = await t.db.query('SELECT count(*)::int AS count FROM tags WHERE name_key = ANY($1::text[])', [[fresh, other, existing.name.toLowerCase()]]);
      expect(count).toBe(3);

      // New tags are audited; running it again creates nothing and returns the same ids.
      const audit: Array<{ subject_id: string; actor_id: string }> = await t.db.query(`SELECT subject_id, actor_id FROM audit_logs WHERE action = 'tag.create' AND subject_id = ANY($1::text[])`, [[ids[0], ids[2]]]);
      expect(audit).toHaveLength(2);
      expect(audit.every((row) => row.actor_id === admin.userId)).toBe(true);
      const again = await asAdmin((manager) => lookups.ensureTags(manager, [other, fresh], ADMINISTRATOR));
      expect(again).toEqual([ids[2], ids[0]]);
      expect(await asAdmin((manager) => lookups.ensureTags(manager, [], ADMINISTRATOR))).toEqual([]);
    });

    it('survives concurrent calls creating the same new tag', async () => {
      const lookups = t.app.get(LookupsService, { strict: false });
      const word = unique('race');
      const results = await Promise.all(Array.from({ length: 5 }, () => t.db.transaction((manager) => lookups.ensureTags(manager, [word], ADMINISTRATOR))));
      const [{ id }] = await t.db.query('SELECT id FROM tags WHERE name_key = $1', [word]);
      expect(results).toEqual(Array.from({ length: 5 }, () => [id]));
    });
  });

  describe('who may do what', () => {
    it('staff read every list, create only tags (as they tag contacts), and get 403 on update and delete', async () => {
      for (const list of LISTS) {
        const entry = await create(list.path, list.body(unique('guarded')));
        await t.http.get(list.path).set(staff.auth).expect(200);
        await t.http.get(`${list.path}/${entry.id}`).set(staff.auth).expect(200);

        if (list.path === '/api/v1/tags') {
          await t.http.post(list.path).set(staff.auth).send(list.body(unique('staffmade'))).expect(201);
        } else {
          const created = await t.http.post(list.path).set(staff.auth).send(list.body(unique('staffmade'))).expect(403);
          expect(created.body.code).toBe('forbidden');
        }
        await t.http.patch(`${list.path}/${entry.id}`).set(staff.auth).send({ name: unique('renamed') }).expect(403);
        await t.http.delete(`${list.path}/${entry.id}`).set(staff.auth).expect(403);
        await t.http.delete(`${list.path}/${entry.id}`).query({ detach: 'true' }).set(staff.auth).expect(403);

        const still = await t.http.get(`${list.path}/${entry.id}`).set(admin.auth).expect(200);
        expect(still.body.name).toBe(entry.name);
      }
      await t.http.get(`/api/v1/contact-statuses/${(await create('/api/v1/contact-statuses', { name: unique('s'), stage: 'lead' })).id}/contacts`).set(staff.auth).expect(200);
    });

    it('client accounts get 403 and anonymous callers 401', async () => {
      for (const list of LISTS) {
        const entry = await create(list.path, list.body(unique('hidden')));
        await t.http.get(list.path).set(client.auth).expect(403);
        await t.http.get(`${list.path}/${entry.id}`).set(client.auth).expect(403);
        await t.http.post(list.path).set(client.auth).send(list.body(unique('clientmade'))).expect(403);
        await t.http.patch(`${list.path}/${entry.id}`).set(client.auth).send({ name: unique('x') }).expect(403);
        await t.http.delete(`${list.path}/${entry.id}`).set(client.auth).expect(403);
        await t.http.get(list.path).expect(401);
        await t.http.post(list.path).send(list.body(unique('anon'))).expect(401);
      }
    });

    it('answers 404 everywhere when the contacts module is off', async () => {
      await t.http.patch('/api/v1/features/segments').set(admin.auth).send({ enabled: false }).expect(200);
      await t.http.patch('/api/v1/features/dashboard').set(admin.auth).send({ enabled: false }).expect(200);
      await t.http.patch('/api/v1/features/client-portal').set(admin.auth).send({ enabled: false }).expect(200);
      await t.http.patch('/api/v1/features/contacts').set(admin.auth).send({ enabled: false }).expect(200);
      try {
        for (const list of LISTS) {
          const response = await t.http.get(list.path).set(admin.auth).expect(404);
          expect(response.body).toMatchObject({ code: 'feature_disabled', feature: 'contacts' });
        }
      } finally {
        for (const key of ['contacts', 'segments', 'dashboard', 'client-portal']) {
          await t.http.patch(`/api/v1/features/${key}`).set(admin.auth).send({ enabled: true }).expect(200);
        }
      }
      await t.http.get('/api/v1/tags').set(admin.auth).expect(200);
    });
  });
});

function tableOf(path: string): string {
  return { '/api/v1/contact-statuses': 'contact_statuses', '/api/v1/tags': 'tags', '/api/v1/services': 'services', '/api/v1/traffic-sources': 'traffic_sources' }[path]!;
}
