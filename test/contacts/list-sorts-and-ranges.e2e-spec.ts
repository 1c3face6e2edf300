import { randomUUID } from 'node:crypto';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

describe('contact lists: sorts, date ranges, phone search, error paths, bulk selections', () => {
  let t: TestApp;
  let admin: Session;
  let staffA: Session;
  let staffB: Session;

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    const staffRole = await systemRoleId(t, 'staff');
    // Assignees sort by name: "Test aaa…" before "Test bbb…".
    staffA = await createUserWithRoles(t, admin, [staffRole], 'aaa');
    staffB = await createUserWithRoles(t, admin, [staffRole], 'bbb');
  });
  afterAll(() => t.close());

  const create = (body: Record<string, unknown>) => t.http.post('/api/v1/contacts').set(admin.auth).send(body).expect(201).then((r) => r.body as { id: string });
  const list = (query: Record<string, string | number>) => t.http.get('/api/v1/contacts').set(admin.auth).query(query);
  const search = (body: Record<string, unknown>) => t.http.post('/api/v1/contacts/search').set(admin.auth).send(body);
  const ids = (body: { data: Array<{ id: string }> }) => body.data.map((c) => c.id);
  const marker = (prefix: string) => `${prefix}${Date.now().toString(36)}${Math.round(Math.random() * 1e4)}`;

  describe('date-only bounds', () => {
    let m: string;
    const at: Record<string, string> = {};
    beforeAll(async () => {
      m = marker('rng');
      const instants = { d1: '2026-11-19T23:59:59Z', d2: '2026-11-20T00:00:00Z', d3: '2026-11-20T23:59:59.999Z', d4: '2026-11-21T00:00:00Z' };
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'at', label: 'At', type: 'datetime' }).expect(201);
      for (const [key, instant] of Object.entries(instants)) {
        const { id } = await create({ firstName: key, lastName: m });
        at[key] = id;
        await t.db.query('UPDATE contacts SET created_at = $2, custom_fields = jsonb_build_object($3::text, $4::text) WHERE id = $1', [id, instant, 'at', instant]);
        await t.http.post(`/api/v1/contacts/${id}/activities`).set(admin.auth).send({ type: 'call', occurredAt: instant }).expect(201);
      }
    });
    const keysOf = (body: { data: Array<{ id: string }> }) => ids(body).map((id) => Object.keys(at).find((key) => at[key] === id)).sort();

    it('a date-only "to" includes that whole (UTC) day; a date-only "from" starts at its beginning', async () => {
      expect(keysOf((await list({ q: m, createdFrom: '2026-11-20', createdTo: '2026-11-20' }).expect(200)).body)).toEqual(['d2', 'd3']);
      expect(keysOf((await list({ q: m, createdTo: '2026-11-20' }).expect(200)).body)).toEqual(['d1', 'd2', 'd3']);
      expect(keysOf((await list({ q: m, lastContactedFrom: '2026-11-20', lastContactedTo: '2026-11-20' }).expect(200)).body)).toEqual(['d2', 'd3']);
      expect(keysOf((await list({ q: m, lastContactedFrom: '2026-11-21' }).expect(200)).body)).toEqual(['d4']);
      // Full date-times stay exact.
      expect(keysOf((await list({ q: m, createdTo: '2026-11-20T00:00:00Z' }).expect(200)).body)).toEqual(['d1', 'd2']);
      expect(keysOf((await list({ q: m, createdFrom: '2026-11-20T00:00:01Z', createdTo: '2026-11-21T00:00:00Z' }).expect(200)).body)).toEqual(['d3', 'd4']);
    });

    it('a time as the API shows it (milliseconds) bounds the contact it was read from, which PostgreSQL keeps to the microsecond', async () => {
      const { id } = await create({ firstName: 'micro', lastName: m });
      await t.http.post(`/api/v1/contacts/${id}/activities`).set(admin.auth).send({ type: 'call', occurredAt: '2026-11-18T10:00:00Z' }).expect(201);
      await t.db.query("UPDATE contacts SET created_at = '2026-11-18T09:00:00.123456Z', last_contacted_at = '2026-11-18T10:00:00.000789Z' WHERE id = $1", [id]);
      const shown = (await t.http.get(`/api/v1/contacts/${id}`).set(admin.auth).expect(200)).body as { createdAt: string; lastContactedAt: string };
      expect([shown.createdAt, shown.lastContactedAt]).toEqual(['2026-11-18T09:00:00.123Z', '2026-11-18T10:00:00.000Z']);
      const found = async (query: Record<string, string>) => ids((await list({ q: m, ...query }).expect(200)).body).includes(id);
      expect(await found({ createdFrom: shown.createdAt, createdTo: shown.createdAt })).toBe(true);
      expect(await found({ lastContactedFrom: shown.lastContactedAt, lastContactedTo: shown.lastContactedAt })).toBe(true);
      expect(await found({ createdTo: '2026-11-18T09:00:00.122Z' })).toBe(false);
      expect(await found({ lastContactedFrom: '2026-11-18T10:00:00.001Z' })).toBe(false);
      const after = async (value: string) => ids((await search({ q: m, filter: { field: 'createdAt', op: 'after', value }, limit: 100 }).expect(200)).body).includes(id);
      expect([await after(shown.createdAt), await after('2026-11-18T09:00:00.122Z'), await after('2026-11-18T09:00:00.123455Z')]).toEqual([false, true, true]);
    });

    it('date-only values in datetime rules cover whole days', async () => {
      const matching = async (op: string, value: string) => keysOf((await search({ q: m, filter: { field: 'custom.at', op, value }, limit: 100 }).expect(200)).body);
      expect(await matching('lte', '2026-11-20')).toEqual(['d1', 'd2', 'd3']);
      expect(await matching('lt', '2026-11-20')).toEqual(['d1']);
      expect(await matching('gte', '2026-11-20')).toEqual(['d2', 'd3', 'd4']);
      expect(await matching('gt', '2026-11-20')).toEqual(['d4']);
      expect(await matching('after', '2026-11-19')).toEqual(['d2', 'd3', 'd4']);
      expect(await matching('before', '2026-11-21')).toEqual(['d1', 'd2', 'd3']);
      expect(await matching('lte', '2026-11-20T23:59:59.999Z')).toEqual(['d1', 'd2', 'd3']);
      expect(await matching('lte', '2026-11-20T23:59:59.998Z')).toEqual(['d1', 'd2']);
    });
  });

  describe('custom values as written', () => {
    beforeAll(async () => {
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'kickoff_at', label: 'Kickoff', type: 'datetime' }).expect(201);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'remark', label: 'Remark', type: 'text' }).expect(201);
    });

    it('a custom date-time keeps its microseconds, so a filter at that precision finds it', async () => {
      const m = marker('micro');
      const { id } = await create({ firstName: 'Micro', lastName: m, customFields: { kickoff_at: '2024-05-05T12:00:00.123456789+02:00' } });
      const profile = (await t.http.get(`/api/v1/contacts/${id}`).set(admin.auth).expect(200)).body;
      expect(profile.customFields.kickoff_at).toBe('2024-05-05T10:00:00.123456Z');
      const matching = async (op: string, value: string) => ids((await search({ q: m, filter: { field: 'custom.kickoff_at', op, value } }).expect(200)).body);
      expect(await matching('gte', '2024-05-05T10:00:00.1234Z')).toEqual([id]);
      expect(await matching('gt', '2024-05-05T10:00:00.123456Z')).toEqual([]);
      // Without an offset a date-time is UTC, as in filters.
      const local = await create({ firstName: 'Local', lastName: m, customFields: { kickoff_at: '2024-05-05T10:00' } });
      expect((await t.http.get(`/api/v1/contacts/${local.id}`).set(admin.auth).expect(200)).body.customFields.kickoff_at).toBe('2024-05-05T10:00:00.000Z');
    });

    it('blank custom text is no value: it clears the field and sorts with the missing ones, last', async () => {
      const m = marker('blank');
      const blank = await create({ firstName: 'Blank', lastName: m, customFields: { remark: '   ' } });
      const apple = await create({ firstName: 'Apple', lastName: m, customFields: { remark: 'apple' } });
      const none = await create({ firstName: 'None', lastName: m });
      expect((await t.http.get(`/api/v1/contacts/${blank.id}`).set(admin.auth).expect(200)).body.customFields).toEqual({});
      const sorted = ids((await list({ q: m, sort: 'custom.remark' }).expect(200)).body);
      expect(sorted[0]).toBe(apple.id);
      expect(sorted.slice(1).sort()).toEqual([blank.id, none.id].sort());
      // Clearing a stored value by sending blank text.
      await t.http.patch(`/api/v1/contacts/${apple.id}`).set(admin.auth).send({ version: 1, customFields: { remark: '' } }).expect(200);
      expect((await t.http.get(`/api/v1/contacts/${apple.id}`).set(admin.auth).expect(200)).body.customFields).toEqual({});
    });
  });

  describe('empty last names', () => {
    it('sort last by last name, ascending and descending', async () => {
      const m = marker('nolast');
      const none = await create({ firstName: 'Nolast', company: m });
      const alpha = await create({ firstName: 'Alpha', lastName: 'Aardvark', company: m });
      const zed = await create({ firstName: 'Zed', lastName: 'Zebra', company: m });
      expect(ids((await list({ q: m, sort: 'lastName' }).expect(200)).body)).toEqual([alpha.id, zed.id, none.id]);
      expect(ids((await list({ q: m, sort: '-lastName' }).expect(200)).body)).toEqual([zed.id, alpha.id, none.id]);
      expect(ids((await search({ q: m, sort: 'lastName' }).expect(200)).body)).toEqual([alpha.id, zed.id, none.id]);
    });
  });

  describe('search by phone number', () => {
    it('finds a contact by its phone as shown, without the country code, by its trailing groups, or with other separators', async () => {
      const m = marker('Phone');
      const { id } = await create({ firstName: m, lastName: 'Caller', phone: '+54 258 2517464' });
      await create({ firstName: m, lastName: 'Other', phone: '+54 259 2517464' });
      for (const q of ['+54 258 2517464', '+542582517464', '258 2517464', '2582517464', '(258) 251-7464', '258.251.7464', '+54-258-251', '2582517']) {
        const found = (await list({ q }).expect(200)).body;
        expect({ q, ids: ids(found) }).toEqual({ q, ids: [id] });
      }
      // Both share the last group.
      expect((await list({ q: '2517464' }).expect(200)).body.meta.total).toBe(2);
      expect((await list({ q: '258 9999' }).expect(200)).body.meta.total).toBe(0);
      // Names and companies are found as before.
      expect(ids((await list({ q: `${m} caller` }).expect(200)).body)).toEqual([id]);

      // Stored without a country code, typed with one.
      const local = String(Math.floor(1e6 + Math.random() * 8e6));
      const national = await create({ firstName: m, lastName: 'Local', phone: `(555) ${local.slice(0, 3)}-${local.slice(3)}` });
      for (const q of [`+1 555 ${local.slice(0, 3)} ${local.slice(3)}`, `+1 (555) ${local}`]) {
        expect({ q, ids: ids((await list({ q }).expect(200)).body) }).toEqual({ q, ids: [national.id] });
      }
    });
  });

  describe('search by email', () => {
    it('finds an email by its start, also where it joins words with _ or -, at every letter typed', async () => {
      const m = marker('mail').toLowerCase();
      const firstLast = await create({ firstName: 'Zed', lastName: 'Quux', email: `first_last_${m}@corp.example` });
      const hyphened = await create({ firstName: 'Mary-Ann', lastName: 'Smith', email: `mary-ann.${m}@corp.example` });
      const dotted = await create({ firstName: 'John', lastName: 'Dotted', email: `john.${m}.4020@acme.example` });
      const typed = `john.${m}.4020@acme.example`;
      for (let length = 5; length <= typed.length; length += 1) {
        const q = typed.slice(0, length);
        expect({ q, ids: ids((await list({ q }).expect(200)).body) }).toEqual({ q, ids: [dotted.id] });
      }
      for (const [q, id] of [
        [`first_last_${m}`, firstLast.id],
        [`first_last_${m.slice(0, 3)}`, firstLast.id],
        [`first_last_${m}@corp`, firstLast.id],
        [`mary-ann.${m}`, hyphened.id],
        [`mary-ann.${m}@`, hyphened.id],
        [`Smith Mary-Ann.${m}`, hyphened.id],
      ] as const) {
        expect({ q, ids: ids((await list({ q }).expect(200)).body) }).toEqual({ q, ids: [id] });
      }
      // Each word still has to match: a joined word matching alone is not enough.
      expect((await list({ q: `first_last_${m} nobody` }).expect(200)).body.meta.total).toBe(0);
    });
  });

  describe('errors name what the caller sent', () => {
    it('query parameters', async () => {
      expect((await list({ createdFrom: '2026-02-30' }).expect(400)).body.details).toEqual([{ field: 'createdFrom', message: expect.any(String) }]);
      expect((await list({ q: 'ada', createdTo: '2026-02-30' }).expect(400)).body.details).toEqual([{ field: 'createdTo', message: expect.any(String) }]);
      expect((await list({ lastContactedTo: '2026-13-01' }).expect(400)).body.details).toEqual([{ field: 'lastContactedTo', message: expect.any(String) }]);
      const unknown = await list({ q: 'ada', filter: JSON.stringify({ field: 'nope', op: 'is', value: 1 }) }).expect(400);
      expect(unknown.body.details).toEqual([{ field: 'filter.field', message: 'unknown field "nope"' }]);
      const deep = await list({ q: 'ada', createdFrom: '2026-01-01', filter: JSON.stringify({ and: [{ field: 'city', op: 'is', value: 'x' }, { field: 'nope', op: 'is', value: 1 }] }) }).expect(400);
      expect(deep.body.details).toEqual([{ field: 'filter.and.1.field', message: 'unknown field "nope"' }]);
      expect((await list({ filter: JSON.stringify({ field: 'city', op: 'gt', value: 1 }) }).expect(400)).body.details).toEqual([{ field: 'filter.op', message: expect.any(String) }]);
    });

    it('text a filter in the query string holds once parsed, as in a body', async () => {
      for (const [value, message] of [
        ['a\u0000b', 'must not contain the NUL character (\\u0000)'],
        ['a\ud800b', 'must be well-formed Unicode (it holds an unpaired surrogate)'],
      ]) {
        const filter = JSON.stringify({ field: 'city', op: 'is', value });
        expect((await list({ filter }).expect(400)).body.details).toEqual([{ field: 'filter.value', message }]);
        expect((await t.http.get('/api/v1/contacts/export').set(admin.auth).query({ filter }).expect(400)).body.details).toEqual([{ field: 'filter.value', message }]);
        expect((await search({ filter: JSON.parse(filter) }).expect(400)).body.details).toEqual([{ field: 'filter.value', message }]);
      }
    });

    it('one reading of date-times: offsets without a colon or past ±15:59 are taken in filters as in query parameters', async () => {
      const m = marker('offset');
      const { id } = await create({ firstName: 'Offset', lastName: m });
      await t.db.query('UPDATE contacts SET created_at = $2 WHERE id = $1', [id, '2030-01-01T12:00:00Z']);
      for (const [from, found] of [
        ['2030-01-01T14:00:00+0200', true],
        ['2030-01-02T04:00:00+16:00', true],
        ['2030-01-02T05:00:00+16:00', false],
      ] as const) {
        expect(ids((await search({ q: m, filter: { field: 'createdAt', op: 'gte', value: from } }).expect(200)).body)).toEqual(found ? [id] : []);
        expect(ids((await list({ q: m, createdFrom: from }).expect(200)).body)).toEqual(found ? [id] : []);
      }
    });

    it('date-times with a fraction of a second finer than PostgreSQL reads, nested too deep, or at the last instant it keeps', async () => {
      const longFraction = `2026-01-01T00:00:00.${'1'.repeat(300)}Z`;
      expect((await list({ createdFrom: longFraction }).expect(400)).body.details).toEqual([{ field: 'createdFrom', message: expect.any(String) }]);
      expect((await list({ createdFrom: `2026-01-01T00:00:00.${'1'.repeat(300)}` }).expect(400)).body.details).toEqual([{ field: 'createdFrom', message: expect.any(String) }]);
      const filtered = await search({ filter: { field: 'createdAt', op: 'after', value: longFraction } }).expect(400);
      expect(filtered.body.details).toEqual([{ field: 'filter.value', message: 'must be an ISO 8601 date or date-time (after)' }]);
      // Nanoseconds are read (cut to the microseconds stored), even at the very end of year 9999.
      await search({ filter: { field: 'createdAt', op: 'before', value: '9999-12-31T23:59:59.999999999' } }).expect(200);
      await list({ createdTo: '9999-12-31T23:59:59.999999999' }).expect(200);
      // Written as text: building (or stringifying) it as an object would itself overflow the stack.
      const nested = `{"filter":${'{"not":'.repeat(20_000)}{"field":"city","op":"is","value":"x"}${'}'.repeat(20_000)}}`;
      const deep = await t.http.post('/api/v1/contacts/search').set(admin.auth).set('content-type', 'application/json').send(nested).expect(400);
      expect(deep.body.details).toEqual([{ field: ['filter', ...Array<string>(31).fill('not')].join('.'), message: 'nests deeper than 32 levels' }]);
    });
  });

  describe('bulk selections', () => {
    const bulk = (body: Record<string, unknown>) => t.http.post('/api/v1/contacts/bulk').set(admin.auth).send(body);

    it('takes up to 10000 ids, as documented', async () => {
      const m = marker('bulk');
      const a = await create({ firstName: 'Bulk', lastName: m, assignedToId: staffA.userId });
      const b = await create({ firstName: 'Bulk', lastName: m, assignedToId: staffA.userId });
      const many = [a.id, b.id, ...Array.from({ length: 9998 }, () => randomUUID())];
      expect((await bulk({ action: 'unassign', selection: { ids: many } }).expect(200)).body).toEqual({ matched: 2, updated: 2 });
      const tooMany = await bulk({ action: 'unassign', selection: { ids: [...many, randomUUID()] } }).expect(400);
      expect(tooMany.body.details[0].field).toMatch(/^selection\.ids/);
    });

    it('{"and": []} selects every contact, on purpose only', async () => {
      const live = Number((await t.db.query('SELECT count(*) AS n FROM contacts WHERE deleted_at IS NULL'))[0].n);
      expect((await search({ filter: { and: [] } }).expect(200)).body.meta.total).toBe(live);
      expect((await list({ filter: JSON.stringify({ and: [] }) }).expect(200)).body.meta.total).toBe(live);
      const tag = (await t.http.post('/api/v1/tags').set(admin.auth).send({ name: marker('Everyone') }).expect(201)).body;
      expect((await bulk({ action: 'addTags', tagIds: [tag.id], selection: { filter: { and: [] } } }).expect(200)).body).toEqual({ matched: live, updated: live });
      for (const filter of [{ or: [] }, {}, { not: { or: [] } }]) {
        await bulk({ action: 'removeTags', tagIds: [tag.id], selection: { filter } }).expect(400);
      }
    });
  });

  describe('sorting by every listed column', () => {
    let m: string;
    const key: Record<string, string> = {};
    const statuses: Record<string, string> = {};
    const sources: Record<string, string> = {};

    beforeAll(async () => {
      m = marker('srt');
      const status = async (name: string, stage: string, position: number) =>
        (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: `${name} ${m}`, stage, position }).expect(201)).body.id as string;
      statuses.a = await status('Yak', 'customer', 40);
      statuses.b = await status('Zed', 'lead', 50);
      statuses.c = await status('Ant', 'prospect', 50);
      const source = async (name: string) => (await t.http.post('/api/v1/traffic-sources').set(admin.auth).send({ name: `${name} ${m}` }).expect(201)).body.id as string;
      sources.bravo = await source('Bravo');
      sources.alpha = await source('alpha');
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'pick', label: 'Pick', type: 'select', options: ['C', 'a', 'b'] }).expect(201);
      await t.http.post('/api/v1/custom-fields').set(admin.auth).send({ key: 'txt', label: 'Txt', type: 'text' }).expect(201);
      const rows: Array<[string, Record<string, unknown>]> = [
        ['c1', { phone: '555 0003', jobTitle: 'beta', statusId: statuses.b, assignedToId: staffA.userId, trafficSourceId: sources.bravo, customFields: { pick: 'C', txt: 'Zeta' } }],
        ['c2', { phone: null, jobTitle: 'Alpha', statusId: statuses.a, trafficSourceId: null, customFields: { pick: 'a', txt: 'alpha' } }],
        ['c3', { phone: '555 0001', jobTitle: null, statusId: statuses.c, assignedToId: staffB.userId, trafficSourceId: sources.alpha, customFields: { pick: 'b', txt: 'Beta' } }],
        ['c4', { phone: '555 0002', jobTitle: 'alpha', statusId: null, assignedToId: staffA.userId, trafficSourceId: sources.bravo, customFields: {} }],
        ['c5', { phone: '555 0001', jobTitle: 'Gamma', statusId: statuses.a, assignedToId: staffB.userId, customFields: { txt: 'gamma' } }],
        ['c6', { phone: null, jobTitle: null, statusId: null, customFields: {} }],
      ];
      for (const [name, fields] of rows) {
        const { id } = await create({ firstName: name, lastName: 'Sorted', company: m, ...fields });
        key[id] = name;
        // Creation sets the Lead status when none is given.
        if (fields.statusId === null) await t.http.patch(`/api/v1/contacts/${id}`).set(admin.auth).send({ version: 1, statusId: null }).expect(200);
      }
    });

    const byId = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const idOf = (name: string) => Object.keys(key).find((id) => key[id] === name)!;
    /**
     * The expected order: each key ascending or descending with missing values last, then the
     * id in the direction of the last key.
     */
    function expected(values: Record<string, Array<string | number | null>>, descending: boolean): string[] {
      return Object.keys(values).sort((x, y) => {
        const [a, b] = [values[x]!, values[y]!];
        for (let i = 0; i < a.length; i++) {
          if (a[i] === b[i]) continue;
          if (a[i] === null) return 1;
          if (b[i] === null) return -1;
          return (a[i]! < b[i]! ? -1 : 1) * (descending ? -1 : 1);
        }
        return byId(idOf(x), idOf(y)) * (descending ? -1 : 1);
      });
    }

    const stageRank = { lead: 0, prospect: 1, customer: 2, other: 3 };
    const SORTS: Record<string, Record<string, Array<string | number | null>>> = {
      phone: { c1: ['555 0003'], c2: [null], c3: ['555 0001'], c4: ['555 0002'], c5: ['555 0001'], c6: [null] },
      jobTitle: { c1: ['beta'], c2: ['alpha'], c3: [null], c4: ['alpha'], c5: ['gamma'], c6: [null] },
      // The statuses' own order: position, then name.
      status: { c1: [50, 'zed'], c2: [40, 'yak'], c3: [50, 'ant'], c4: [null, null], c5: [40, 'yak'], c6: [null, null] },
      stage: { c1: [stageRank.lead], c2: [stageRank.customer], c3: [stageRank.prospect], c4: [null], c5: [stageRank.customer], c6: [null] },
      assignedTo: { c1: ['aaa'], c2: [null], c3: ['bbb'], c4: ['aaa'], c5: ['bbb'], c6: [null] },
      trafficSource: { c1: ['bravo'], c2: [null], c3: ['alpha'], c4: ['bravo'], c5: [null], c6: [null] },
      'custom.pick': { c1: ['c'], c2: ['a'], c3: ['b'], c4: [null], c5: [null], c6: [null] },
      'custom.txt': { c1: ['zeta'], c2: ['alpha'], c3: ['beta'], c4: [null], c5: ['gamma'], c6: [null] },
    };

    it.each(Object.keys(SORTS))('sorts by %s both ways, the same through every plan and page', async (name) => {
      for (const descending of [false, true]) {
        const sort = `${descending ? '-' : ''}${name}`;
        const want = expected(SORTS[name]!, descending);
        // A few matches: read from the matches, then sorted.
        const filtered = (await list({ q: m, sort, limit: 100 }).expect(200)).body;
        expect({ sort, order: ids(filtered).map((id) => key[id]) }).toEqual({ sort, order: want });
        for (const page of [1, 2, 3]) {
          expect(ids((await list({ q: m, sort, limit: 2, page }).expect(200)).body).map((id) => key[id])).toEqual(want.slice((page - 1) * 2, page * 2));
        }
        // Unfiltered: the walk of the whole list, first page and offset pages alike.
        const whole = ids((await list({ sort, limit: 100 }).expect(200)).body);
        expect(whole.filter((id) => key[id]).map((id) => key[id])).toEqual(want);
        const paged: string[] = [];
        for (let page = 1; page <= Math.ceil(whole.length / 3); page++) paged.push(...ids((await list({ sort, limit: 3, page }).expect(200)).body));
        expect(paged).toEqual(whole);
      }
    });

    it('combines a new sort with others and keeps cursors to the timestamp sorts', async () => {
      const combined = (await list({ q: m, sort: 'status,-jobTitle', limit: 100 }).expect(200)).body;
      expect(ids(combined).map((id) => key[id])).toEqual(['c5', 'c2', 'c3', 'c1', 'c4', 'c6']);
      const cursor = (await list({ sort: '-createdAt', limit: 1 }).expect(200)).body.meta.nextCursor;
      expect(cursor).toEqual(expect.any(String));
      for (const sort of ['phone', 'jobTitle', 'status', 'stage', 'assignedTo', 'trafficSource']) {
        const first = (await list({ sort, limit: 2 }).expect(200)).body;
        expect(first.meta.nextCursor).toBeUndefined();
        expect((await list({ sort, cursor }).expect(400)).body.details).toEqual([{ field: 'cursor', message: expect.any(String) }]);
      }
      expect(idOf('c1')).toBeDefined();
    });

    it('sorts the same in POST /contacts/search', async () => {
      const searched = (await search({ q: m, sort: '-trafficSource', limit: 100 }).expect(200)).body;
      expect(ids(searched).map((id) => key[id])).toEqual(expected(SORTS.trafficSource!, true));
    });
  });
});
