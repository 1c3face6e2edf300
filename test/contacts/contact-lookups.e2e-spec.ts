import { register, Session } from '../support/actors';
import { createDatabase, dropDatabase, startTestApp, TestApp } from '../support/test-app';

interface ListedContact {
  id: string;
  status: { id: string; name: string; stage: string } | null;
  trafficSource: { id: string; name: string } | null;
  tags: Array<{ id: string; name: string; color: string | null }>;
}

/**
 * Every API process keeps the names of statuses, traffic sources and tags in memory for its
 * contact lists and profiles. A change made on one process shows on every other in the very
 * next answer, with no waiting: each contact statement reads the lookup epoch with its rows.
 */
describe('status, traffic source and tag names on contacts, across processes', () => {
  let name: string;
  let first: TestApp;
  let second: TestApp;
  let admin: Session;

  beforeAll(async () => {
    name = await createDatabase();
    first = await startTestApp({}, name);
    second = await startTestApp({}, name);
    admin = await register(first, 'admin');
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
    await dropDatabase(name);
  });

  const listed = async (app: TestApp, id: string): Promise<ListedContact> => {
    const page = await app.http.get('/api/v1/contacts').query({ q: 'Lookupson' }).set(admin.auth).expect(200);
    const found = (page.body.data as ListedContact[]).find((contact) => contact.id === id);
    if (!found) throw new Error(`contact ${id} is not listed`);
    return found;
  };
  const profile = async (app: TestApp, id: string): Promise<ListedContact> => (await app.http.get(`/api/v1/contacts/${id}`).set(admin.auth).expect(200)).body;
  const shown = (contact: ListedContact) => ({
    status: contact.status && { name: contact.status.name, stage: contact.status.stage },
    trafficSource: contact.trafficSource?.name ?? null,
    tags: contact.tags.map((tag) => [tag.name, tag.color]),
  });

  it('shows renamed entries at once on every process, in lists and profiles', async () => {
    const status = (await first.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: 'Warm', stage: 'prospect' }).expect(201)).body;
    const source = (await first.http.post('/api/v1/traffic-sources').set(admin.auth).send({ name: 'Fair' }).expect(201)).body;
    const contact = (
      await first.http
        .post('/api/v1/contacts')
        .set(admin.auth)
        .send({ firstName: 'Lou', lastName: 'Lookupson', statusId: status.id, trafficSourceId: source.id, newTags: ['Zinc', 'Amber'] })
        .expect(201)
    ).body as ListedContact;
    const zinc = contact.tags.find((tag) => tag.name === 'Zinc')!;

    const before = { status: { name: 'Warm', stage: 'prospect' }, trafficSource: 'Fair', tags: [['Amber', null], ['Zinc', null]] };
    for (const app of [first, second]) {
      expect(shown(await listed(app, contact.id))).toEqual(before);
      expect(shown(await profile(app, contact.id))).toEqual(before);
    }

    await first.http.patch(`/api/v1/contact-statuses/${status.id}`).set(admin.auth).send({ name: 'Hot', stage: 'customer' }).expect(200);
    await first.http.patch(`/api/v1/traffic-sources/${source.id}`).set(admin.auth).send({ name: 'Trade Show' }).expect(200);
    await first.http.patch(`/api/v1/tags/${zinc.id}`).set(admin.auth).send({ name: 'Aardvark', color: '#00ff00' }).expect(200);

    // Name order follows the new name too.
    const after = { status: { name: 'Hot', stage: 'customer' }, trafficSource: 'Trade Show', tags: [['Aardvark', '#00ff00'], ['Amber', null]] };
    for (const app of [second, first]) {
      expect(shown(await listed(app, contact.id))).toEqual(after);
      expect(shown(await profile(app, contact.id))).toEqual(after);
    }
  });

  it('names entries created on another process after this one kept its names', async () => {
    const contact = (await first.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Mo', lastName: 'Lookupson', newTags: ['Cobalt'] }).expect(201)).body as ListedContact & { version: number };
    await listed(second, contact.id);
    const source = (await first.http.post('/api/v1/traffic-sources').set(admin.auth).send({ name: 'Podcast' }).expect(201)).body;
    await first.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: contact.version, newTags: ['Quartz'], trafficSourceId: source.id }).expect(200);

    const seen = shown(await listed(second, contact.id));
    expect(seen.tags).toEqual([
      ['Cobalt', null],
      ['Quartz', null],
    ]);
    expect(seen.trafficSource).toBe('Podcast');
  });

  it('shows a deleted tag on no contact, and a replaced status as its replacement', async () => {
    const doomed = (await first.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: 'Doomed', stage: 'lead' }).expect(201)).body;
    const heir = (await first.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: 'Heir', stage: 'other' }).expect(201)).body;
    const contact = (await first.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Di', lastName: 'Lookupson', statusId: doomed.id, newTags: ['Ephemeral'] }).expect(201)).body as ListedContact;
    expect(shown(await listed(second, contact.id)).tags).toEqual([['Ephemeral', null]]);

    await first.http.delete(`/api/v1/tags/${contact.tags[0]!.id}`).query({ detach: true }).set(admin.auth).expect(204);
    await first.http.delete(`/api/v1/contact-statuses/${doomed.id}`).query({ replaceWith: heir.id }).set(admin.auth).expect(204);
    for (const app of [second, first]) {
      const seen = shown(await profile(app, contact.id));
      expect(seen.tags).toEqual([]);
      expect(seen.status).toEqual({ name: 'Heir', stage: 'other' });
    }
  });
});
