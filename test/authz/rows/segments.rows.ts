import { backOffice, Fixture, MatrixRow, once, unique } from '../matrix-support';

/** Records made through the API as admin, one per call, for rows that change or remove them. */
const fresh = {
  segment: async (f: Fixture, kind: 'static' | 'dynamic' = 'static') =>
    (
      await f.t.http
        .post('/api/v1/segments')
        .set(f.sessions.admin.auth)
        .send({ name: unique('Matrix segment '), kind, ...(kind === 'dynamic' ? { rule: { field: 'lastName', op: 'startsWith', value: 'matrix' } } : {}) })
        .expect(201)
    ).body.id as string,
  contact: async (f: Fixture) =>
    (await f.t.http.post('/api/v1/contacts').set(f.sessions.admin.auth).send({ firstName: 'Matrix', lastName: unique('seg') }).expect(201)).body.id as string,
};

/** Records the segments rows share. */
const shared = {
  staticSegment: (f: Fixture) => once(f, 'segment:static', () => fresh.segment(f, 'static')),
  dynamicSegment: (f: Fixture) => once(f, 'segment:dynamic', () => fresh.segment(f, 'dynamic')),
  contact: (f: Fixture) => once(f, 'segment:contact', () => fresh.contact(f)),
};

const RULE = { and: [{ field: 'stage', op: 'in', value: ['lead', 'customer'] }, { field: 'tags', op: 'empty' }] };

/** Segments: back-office work. Clients use the portal; the restricted role has no segment rights. */
export const SEGMENTS_ROWS: MatrixRow[] = [
  { method: 'get', path: '/api/v1/segments', feature: 'segments', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/segments', feature: 'segments', body: () => ({ name: unique('Matrix new '), kind: 'static' }), expect: backOffice(201) },
  { method: 'post', path: '/api/v1/segments/preview', feature: 'segments', body: () => ({ rule: RULE, limit: 5 }), expect: backOffice(200) },
  { method: 'get', path: '/api/v1/segments/{id}', feature: 'segments', params: async (f) => ({ id: await shared.dynamicSegment(f) }), expect: backOffice(200) },
  { method: 'patch', path: '/api/v1/segments/{id}', feature: 'segments', params: async (f) => ({ id: await fresh.segment(f) }), body: () => ({ description: 'Edited' }), expect: backOffice(200) },
  { method: 'delete', path: '/api/v1/segments/{id}', feature: 'segments', params: async (f) => ({ id: await fresh.segment(f) }), expect: backOffice(204) },
  { method: 'get', path: '/api/v1/segments/{id}/contacts', feature: 'segments', params: async (f) => ({ id: await shared.staticSegment(f) }), expect: backOffice(200) },
  {
    method: 'post',
    path: '/api/v1/segments/{id}/members',
    feature: 'segments',
    params: async (f) => ({ id: await shared.staticSegment(f) }),
    body: async (f) => ({ contactIds: [await shared.contact(f)] }),
    expect: backOffice(200),
  },
  {
    method: 'delete',
    path: '/api/v1/segments/{id}/members',
    feature: 'segments',
    params: async (f) => ({ id: await shared.staticSegment(f) }),
    body: async (f) => ({ contactIds: [await shared.contact(f)] }),
    expect: backOffice(200),
  },
  {
    method: 'get',
    path: '/api/v1/segments/{id}/explain/{contactId}',
    feature: 'segments',
    params: async (f) => ({ id: await shared.dynamicSegment(f), contactId: await shared.contact(f) }),
    expect: backOffice(200),
  },
];
