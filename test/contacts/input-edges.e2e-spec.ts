import { randomUUID } from 'node:crypto';
import { newPerson, register, Session, signUp, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

/**
 * Input at the edges of what the contacts API reads: each case must be answered with a 4xx in
 * the shared error shape that names the field and the reason, or be taken whole; never a 5xx,
 * never a value quietly dropped.
 */
describe('contacts: input at the edges', () => {
  let t: TestApp;
  let admin: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
  });
  afterAll(() => t.close());

  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

  describe('keys named like what every JavaScript object has', () => {
    it('a custom field cannot be keyed "prototype": a value sent under it was dropped unseen', async () => {
      const refused = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'prototype', label: 'Prototype', type: 'text' }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'key', message: 'is reserved: every object has a property of that name' }]);
    });

    it.each([
      ['constructor', { firstName: 'Ada', constructor: 'x' }],
      ['prototype', { firstName: 'Ada', prototype: 'x' }],
      ['hasOwnProperty', { firstName: 'Ada', hasOwnProperty: 'x' }],
      ['customFields.constructor', { firstName: 'Ada', customFields: { constructor: 'x' } }],
      ['customFields.prototype', { firstName: 'Ada', customFields: { prototype: 'x' } }],
      ['preferences.toString', { firstName: 'Ada', preferences: { toString: 'x' } }],
    ])('a body with %s is refused with that field named, and nothing is created', async (field, body) => {
      const before = await t.db.query('SELECT count(*)::int AS n FROM contacts');
      const refused = await t.http.post('/api/v1/contacts').set(admin.auth).send(body).expect(400);
      expect(refused.body.details).toEqual([{ field, message: 'is not an accepted field (a reserved name)' }]);
      expect(await t.db.query('SELECT count(*)::int AS n FROM contacts')).toEqual(before);
    });

    it.each(['constructor', 'toString', 'prototype'])('a query parameter named %s is refused like any unknown one', async (name) => {
      const refused = await t.http.get('/api/v1/contacts').set(admin.auth).query({ [name]: 'x' }).expect(400);
      expect(refused.body.details).toEqual([{ field: name, message: 'is not an accepted field (a reserved name)' }]);
    });

    it('so is a reserved key inside a filter sent in the query string', async () => {
      const filter = JSON.stringify({ field: 'firstName', op: 'is', value: 'Ada', constructor: 'x' });
      const refused = await t.http.get('/api/v1/contacts').set(admin.auth).query({ filter }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'filter.constructor', message: 'is not an accepted field (a reserved name)' }]);
    });
  });

  describe('bodies that are not UTF-8', () => {
    // Sent as the bytes they are: a JSON content type would otherwise have the client serialise the Buffer.
    const asBytes = (body: unknown) => body as string;
    it('a body holding bytes that are not UTF-8 is refused, not stored with them replaced', async () => {
      // {"firstName":"Ren\xe9"}: "é" as Latin-1, one byte that UTF-8 has no character for.
      const latin1 = Buffer.concat([Buffer.from('{"firstName":"Ren'), Buffer.from([0xe9]), Buffer.from('"}')]);
      const before = await t.db.query('SELECT count(*)::int AS n FROM contacts');
      const refused = await t.http.post('/api/v1/contacts').set(admin.auth).set('content-type', 'application/json').serialize(asBytes).send(latin1).expect(400);
      expect(refused.body.details).toEqual([{ field: 'body', message: 'must be UTF-8 text (it holds bytes that are not UTF-8)' }]);
      expect(await t.db.query('SELECT count(*)::int AS n FROM contacts')).toEqual(before);
    });

    it('UTF-8 text, a leading byte order mark included, is read as before', async () => {
      const text = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"firstName":"René"}')]);
      const created = await t.http.post('/api/v1/contacts').set(admin.auth).set('content-type', 'application/json').serialize(asBytes).send(text).expect(201);
      expect(created.body.firstName).toBe('René');
    });
  });

  describe('bodies that are not JSON', () => {
    it.each([
      ['malformed JSON', '{"firstName":', 'is not valid JSON'],
      ['a trailing comma', '{"firstName":"Ada",}', 'is not valid JSON'],
      ['an empty body', '', 'is empty: send a JSON object'],
    ])('%s is a 400 naming body', async (_label, text, message) => {
      const refused = await t.http.post('/api/v1/contacts').set(admin.auth).set('content-type', 'application/json').send(text).expect(400);
      expect(refused.body).toEqual(expect.objectContaining({ code: 'invalid_json', details: [{ field: 'body', message }] }));
    });
  });

  describe('a unique value taken between the check and the write', () => {
    it('a custom field key that another transaction commits meanwhile is a 409 naming key', async () => {
      const runner = t.db.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction();
        await runner.query(`INSERT INTO custom_fields (key, label, type) VALUES ('raced', 'Raced', 'text')`);
        // The service's check does not see the uncommitted row; its insert then waits on the unique index.
        const pending = t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'raced', label: 'Raced too', type: 'text' }).then((r) => r);
        await waitForLockWait(t);
        await runner.commitTransaction();
        const refused = await pending;
        expect(refused.status).toBe(409);
        expect(refused.body.details).toEqual([{ field: 'key', message: 'is already in use' }]);
      } finally {
        await runner.release();
      }
    });
  });

  describe('select options', () => {
    it.each([
      ['an invisible option', ['Red', '\u200b']],
      ['a control character', ['Red', 'Gr\u0085een']],
      ['a direction override', ['\u202eRed']],
    ])('%s is refused, as in the names of tags and statuses', async (_label, options) => {
      const refused = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `pick_${randomUUID().slice(0, 8)}`, label: 'Pick', type: 'select', options }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'options', message: 'must not contain control or invisible characters' }]);
    });

    it('an edit that brings one in is refused too; spaces inside an option stay fine', async () => {
      const field = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `size_${randomUUID().slice(0, 8)}`, label: 'Size', type: 'multi_select', options: ['Extra large', 'Small'] }).expect(201);
      const refused = await t.http.patch(`/api/v1/custom-fields/${field.body.id}`).set(admin.auth).send({ options: ['Extra large', 'Small', 'Tiny\u200b'] }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'options', message: 'must not contain control or invisible characters' }]);
    });

    it('so is a rename onto such a name, and the option keeps its name', async () => {
      const field = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `tier_${randomUUID().slice(0, 8)}`, label: 'Tier', type: 'select', options: ['Gold', 'Silver'] }).expect(201);
      const refused = await t.http.patch(`/api/v1/custom-fields/${field.body.id}`).set(admin.auth).send({ renameOptions: [{ from: 'Gold', to: '\u200b' }] }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'renameOptions.0.to', message: 'must not contain control or invisible characters' }]);
      expect((await t.http.get(`/api/v1/custom-fields/${field.body.id}`).set(admin.auth).expect(200)).body.options).toEqual(['Gold', 'Silver']);
    });
  });

  describe('names that are invisible', () => {
    it('a segment name, a custom field label or a saved mapping name holding a zero-width space or a control character is refused', async () => {
      const segment = await t.http.post('/api/v1/segments').set(admin.auth).send({ name: '\u200b', kind: 'static' }).expect(400);
      expect(segment.body.details).toEqual([{ field: 'name', message: 'must not contain control or invisible characters' }]);
      const field = await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: `lbl_${randomUUID().slice(0, 8)}`, label: '\u200b', type: 'text' }).expect(400);
      expect(field.body.details).toEqual([{ field: 'label', message: 'must not contain control or invisible characters' }]);
      const mapping = await t.http
        .post('/api/v1/contacts/import-mappings')
        .set(admin.auth)
        .send({ name: 'Leads\u0007', columns: [{ index: 0, header: 'Name', target: 'firstName' }] })
        .expect(400);
      expect(mapping.body.details).toEqual([{ field: 'name', message: 'must not contain control or invisible characters' }]);
    });
  });

  describe("people's names", () => {
    const INVISIBLE = 'must not contain control or invisible characters';

    it('a first or last name with a control or invisible character is refused on every route that writes one, and nothing is written', async () => {
      const contact = (await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Named' }).expect(201)).body;
      const staffRole = await systemRoleId(t, 'staff');
      const client = await signUp(t, newPerson('names'));
      const clientVersion = (await t.http.get('/api/v1/portal/me').set(client.auth).expect(200)).body.version;
      const before = await t.db.query('SELECT count(*)::int AS n FROM contacts');
      const refusals: Array<[string, () => PromiseLike<{ status: number; body: { details?: unknown } }>, string]> = [
        ['POST /contacts', () => t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'A\u0007B' }), 'firstName'],
        ['POST /contacts', () => t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Ok', lastName: '\u200b' }), 'lastName'],
        ['PATCH /contacts/:id', () => t.http.patch(`/api/v1/contacts/${contact.id}`).set(admin.auth).send({ version: contact.version, lastName: 'Evil\u202eName' }), 'lastName'],
        ['POST /users', () => t.http.post('/api/v1/users').set(admin.auth).send({ firstName: 'Line\nBreak', lastName: 'Ok', email: `names.${randomUUID()}@example.com`, roleIds: [staffRole] }), 'firstName'],
        ['PATCH /users/:id', () => t.http.patch(`/api/v1/users/${admin.userId}`).set(admin.auth).send({ lastName: 'Zero\u200bWidth' }), 'lastName'],
        ['PATCH /portal/me', () => t.http.patch('/api/v1/portal/me').set(client.auth).send({ version: clientVersion, firstName: 'Line\u2028Separated' }), 'firstName'],
        ['POST /auth/register', () => t.http.post('/api/v1/auth/register').send({ firstName: 'Tab\tbed', lastName: 'Ok', email: `names.${randomUUID()}@example.com`, password: 'a-long-enough-password' }), 'firstName'],
      ];
      for (const [route, send, field] of refusals) {
        const answer = await send();
        expect({ route, status: answer.status, details: answer.body.details }).toEqual({ route, status: 400, details: [{ field, message: INVISIBLE }] });
      }
      expect(await t.db.query('SELECT count(*)::int AS n FROM contacts')).toEqual(before);
      expect((await t.http.get(`/api/v1/contacts/${contact.id}`).set(admin.auth).expect(200)).body).toMatchObject({ lastName: '', version: contact.version });
    });

    it('the zero-width joiners Persian and Indic names need inside words are kept', async () => {
      const created = await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'می\u200cخواهم', lastName: 'क्\u200dष' }).expect(201);
      expect(created.body).toMatchObject({ firstName: 'می\u200cخواهم', lastName: 'क्\u200dष' });
    });
  });

  describe('a filter in the query string', () => {
    it('filter=null is refused like any other JSON that is no rule tree, not taken as no filter', async () => {
      for (const filter of ['null', '[]', '"x"']) {
        const refused = await t.http.get('/api/v1/contacts').set(admin.auth).query({ filter }).expect(400);
        expect(refused.body.details).toEqual([{ field: 'filter', message: 'must be a JSON object' }]);
      }
      await t.http.get('/api/v1/contacts/export').set(admin.auth).query({ filter: 'null' }).expect(400);
    });
  });

  describe('rule trees past their limits', () => {
    it('a rule of thousands of conditions is refused with one error, at the first condition too many', async () => {
      const or = Array.from({ length: 5000 }, (_, i) => ({ field: 'city', op: 'is', value: `c${i}` }));
      const refused = await t.http.post('/api/v1/segments/preview').set(admin.auth).send({ rule: { or } }).expect(400);
      expect(refused.body.details).toEqual([{ field: 'rule.or.100', message: 'more than 100 conditions' }]);
    });
  });

  describe('segments sent what their kind does not take', () => {
    it('a rule for a static segment, or members for a dynamic one, is refused naming the field sent', async () => {
      const fixed = await t.http.post('/api/v1/segments').set(admin.auth).send({ name: `Fixed ${randomUUID()}`, kind: 'static' }).expect(201);
      const withRule = await t.http.patch(`/api/v1/segments/${fixed.body.id}`).set(admin.auth).send({ rule: { field: 'city', op: 'is', value: 'Oslo' } }).expect(422);
      expect(withRule.body).toMatchObject({ code: 'segment_kind', details: [{ field: 'rule', message: expect.any(String) }] });

      const rule = { field: 'city', op: 'is', value: 'Oslo' };
      const dynamic = await t.http.post('/api/v1/segments').set(admin.auth).send({ name: `Ruled ${randomUUID()}`, kind: 'dynamic', rule }).expect(201);
      const added = await t.http.post(`/api/v1/segments/${dynamic.body.id}/members`).set(admin.auth).send({ filter: rule }).expect(422);
      expect(added.body).toMatchObject({ code: 'segment_kind', details: [{ field: 'filter', message: expect.any(String) }] });
      const removed = await t.http.delete(`/api/v1/segments/${dynamic.body.id}/members`).set(admin.auth).send({ contactIds: [randomUUID()] }).expect(422);
      expect(removed.body).toMatchObject({ code: 'segment_kind', details: [{ field: 'contactIds', message: expect.any(String) }] });
    });
  });

  describe('malformed and over-long paths', () => {
    it.each([101, 5000])('an id of %i characters reaches its route, which names the parameter', async (length) => {
      const response = await t.http.get(`/api/v1/contacts/${'a'.repeat(length)}`).set(admin.auth).expect(400);
      expect(response.body).toMatchObject({ statusCode: 400, details: [{ field: 'id', message: 'must be a UUID' }] });
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      const nested = await t.http.post(`/api/v1/contacts/imports/${'b'.repeat(length)}/cancel`).set(admin.auth).expect(400);
      expect(nested.body.details).toEqual([{ field: 'id', message: 'must be a UUID' }]);
      // Parameters that are names, not ids, are looked up and not found.
      await t.http.patch(`/api/v1/features/${'c'.repeat(length)}`).set(admin.auth).send({ enabled: true }).expect(404);
      await t.http.post(`/api/v1/jobs/contacts.import/${'d'.repeat(length)}/retry`).set(admin.auth).expect(404);
    });

    it('a malformed percent-encoding in the path is a 400 in the API error shape that does not echo the URL', async () => {
      const response = await t.http.get('/api/v1/contacts/%zz').set(admin.auth).expect(400);
      expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringContaining('malformed percent-encoding'), code: 'invalid_url' });
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    });
  });

  describe('keyset cursors', () => {
    it('a cursor whose time has an offset PostgreSQL refuses pages from the UTC instant it names', async () => {
      const first = await t.http.post('/api/v1/contacts').set(admin.auth).send({ firstName: 'Cursor', lastName: 'Offset' }).expect(201);
      // 2099-01-01T23:59 at +23:59 is 2099-01-01T00:00Z: after every contact, so a descending page holds them all.
      const cursor = b64(['2099-01-01T23:59:00+23:59', randomUUID(), '-createdAt']);
      const listed = await t.http.get('/api/v1/contacts').set(admin.auth).query({ cursor, sort: '-createdAt' }).expect(200);
      expect(listed.body.data.map((c: { id: string }) => c.id)).toContain(first.body.id);
      const searched = await t.http.post('/api/v1/contacts/search').set(admin.auth).send({ cursor, sort: '-createdAt' }).expect(200);
      expect(searched.body.data.map((c: { id: string }) => c.id)).toContain(first.body.id);
    });

    it('a segment page takes the same cursor', async () => {
      const segment = await t.http.post('/api/v1/segments').set(admin.auth).send({ name: `Edges ${randomUUID()}`, kind: 'static' }).expect(201);
      const cursor = b64(['2099-01-01T23:59:00+23:59', randomUUID(), '-createdAt']);
      await t.http.get(`/api/v1/segments/${segment.body.id}/contacts`).set(admin.auth).query({ cursor, sort: '-createdAt' }).expect(200);
    });
  });
});

/** Waits until some session of the app's database waits on a lock. */
async function waitForLockWait(t: TestApp): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    const [{ n }] = (await t.db.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)) as Array<{ n: number }>;
    if (n > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('No session came to wait on a lock');
}
