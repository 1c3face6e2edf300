import { backOffice, Fixture, MatrixRow, once, unique } from '../matrix-support';

type LookupPath = 'contact-statuses' | 'tags' | 'services' | 'traffic-sources';

/** Records made through the API as admin, one per call, for rows that change or remove them. */
const fresh = {
  contact: async (f: Fixture, extra: Record<string, unknown> = {}) =>
    (await f.t.http.post('/api/v1/contacts').set(f.sessions.admin.auth).send({ firstName: 'Matrix', lastName: unique('c'), ...extra }).expect(201)).body.id as string,
  trashedContact: async (f: Fixture) => {
    const id = await fresh.contact(f);
    await f.t.http.delete(`/api/v1/contacts/${id}`).set(f.sessions.admin.auth).expect(204);
    return id;
  },
  activityOn: async (f: Fixture, contactId: string) =>
    (await f.t.http.post(`/api/v1/contacts/${contactId}/activities`).set(f.sessions.admin.auth).send({ type: 'note', subject: 'matrix' }).expect(201)).body.id as string,
  customField: async (f: Fixture, removed = false) => {
    const id = (await f.t.http.post('/api/v1/custom-fields').set(f.sessions.admin.auth).send({ key: unique('m'), label: 'Matrix', type: 'text' }).expect(201)).body.id as string;
    if (removed) await f.t.http.delete(`/api/v1/custom-fields/${id}`).set(f.sessions.admin.auth).expect(204);
    return id;
  },
  lookup: async (f: Fixture, path: LookupPath) =>
    (await f.t.http.post(`/api/v1/${path}`).set(f.sessions.admin.auth).send(lookupBody(path)).expect(201)).body.id as string,
};

const lookupBody = (path: LookupPath) => (path === 'contact-statuses' ? { name: unique('Status '), stage: 'other' } : { name: unique('Item ') });

/** An uploaded import, through the API. */
const uploadImport = async (f: Fixture, configured = false) => {
  const uploaded = (await f.t.http.post('/api/v1/contacts/imports').set(f.sessions.admin.auth).attach('file', Buffer.from(`First Name,Email\nMatrix,${unique('imp')}@example.com\n`), 'matrix.csv').expect(201)).body;
  if (configured) await f.t.http.put(`/api/v1/contacts/imports/${uploaded.id}/settings`).set(f.sessions.admin.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
  return uploaded.id as string;
};

/** Records the contacts rows share. */
const shared = {
  contact: (f: Fixture) => once(f, 'contact', () => fresh.contact(f)),
  activity: (f: Fixture) => once(f, 'activity', async () => fresh.activityOn(f, await shared.contact(f))),
  customField: (f: Fixture) => once(f, 'customField', () => fresh.customField(f)),
  lookup: (f: Fixture, path: LookupPath) => once(f, `lookup:${path}`, () => fresh.lookup(f, path)),
  importId: (f: Fixture) => once(f, 'import', () => uploadImport(f, true)),
};

/** The contacts module: contacts, activities, custom fields and the lookup lists. */
export const CONTACTS_ROWS: MatrixRow[] = [
  // Contacts: the back office. Clients use the portal; the restricted role has no contact rights.
  { method: 'get', path: '/api/v1/contacts', feature: 'contacts', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts', feature: 'contacts', body: () => ({ firstName: 'Matrix' }), expect: backOffice(201) },
  { method: 'post', path: '/api/v1/contacts/search', feature: 'contacts', body: () => ({ q: 'matrix' }), expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contacts/trash', feature: 'contacts', expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contacts/export', feature: 'contacts', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/bulk', feature: 'contacts', body: async (f) => ({ selection: { ids: [await shared.contact(f)] }, action: 'unassign' }), expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contacts/{id}', feature: 'contacts', params: async (f) => ({ id: await shared.contact(f) }), expect: backOffice(200) },
  { method: 'patch', path: '/api/v1/contacts/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.contact(f) }), body: () => ({ version: 1, city: 'Matrixville' }), expect: backOffice(200) },
  { method: 'delete', path: '/api/v1/contacts/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.contact(f) }), expect: backOffice(204) },
  { method: 'post', path: '/api/v1/contacts/{id}/restore', feature: 'contacts', params: async (f) => ({ id: await fresh.trashedContact(f) }), expect: backOffice(200) },
  { method: 'delete', path: '/api/v1/contacts/{id}/purge', feature: 'contacts', params: async (f) => ({ id: await fresh.trashedContact(f) }), expect: backOffice(204, 403) },
  {
    method: 'post',
    path: '/api/v1/contacts/{id}/account',
    feature: 'contacts',
    params: async (f) => ({ id: await fresh.contact(f, { email: `${unique('acct')}@example.com` }) }),
    body: () => ({ accountType: 'client', sendInvite: false }),
    expect: backOffice(201),
  },
  { method: 'get', path: '/api/v1/contacts/{contactId}/activities', feature: 'contacts', params: async (f) => ({ contactId: await shared.contact(f) }), expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/{contactId}/activities', feature: 'contacts', params: async (f) => ({ contactId: await shared.contact(f) }), body: () => ({ type: 'call', subject: 'Matrix call' }), expect: backOffice(201) },
  { method: 'get', path: '/api/v1/activities/{id}', feature: 'contacts', params: async (f) => ({ id: await shared.activity(f) }), expect: backOffice(200) },
  // Someone else's activity: only its author or an admin edits or deletes it.
  { method: 'patch', path: '/api/v1/activities/{id}', feature: 'contacts', params: async (f) => ({ id: await shared.activity(f) }), body: () => ({ subject: 'Edited' }), expect: backOffice(200, 403) },
  { method: 'delete', path: '/api/v1/activities/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.activityOn(f, await shared.contact(f)) }), expect: backOffice(204, 403) },
  // Custom field definitions: staff read them, admins manage them.
  { method: 'get', path: '/api/v1/custom-fields', feature: 'contacts', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/custom-fields', feature: 'contacts', body: () => ({ key: unique('k'), label: 'Matrix', type: 'text' }), expect: backOffice(201, 403) },
  { method: 'get', path: '/api/v1/custom-fields/{id}', feature: 'contacts', params: async (f) => ({ id: await shared.customField(f) }), expect: backOffice(200) },
  { method: 'patch', path: '/api/v1/custom-fields/{id}', feature: 'contacts', params: async (f) => ({ id: await shared.customField(f) }), body: () => ({ label: 'Renamed' }), expect: backOffice(200, 403) },
  { method: 'delete', path: '/api/v1/custom-fields/{id}', feature: 'contacts', params: async (f) => ({ id: await fresh.customField(f) }), expect: backOffice(204, 403) },
  { method: 'post', path: '/api/v1/custom-fields/{id}/restore', feature: 'contacts', params: async (f) => ({ id: await fresh.customField(f, true) }), expect: backOffice(200, 403) },
  { method: 'delete', path: '/api/v1/custom-fields/{id}/purge', feature: 'contacts', params: async (f) => ({ id: await fresh.customField(f, true) }), expect: backOffice(204, 403) },
  // Statuses, tags, services and traffic sources: staff read them (and create tags, as they tag contacts), admins manage them.
  ...(['contact-statuses', 'tags', 'services', 'traffic-sources'] as LookupPath[]).flatMap((path): MatrixRow[] => [
    { method: 'get', path: `/api/v1/${path}`, feature: 'contacts', expect: backOffice(200) },
    { method: 'post', path: `/api/v1/${path}`, feature: 'contacts', body: () => lookupBody(path), expect: backOffice(201, path === 'tags' ? 201 : 403) },
    { method: 'get', path: `/api/v1/${path}/{id}`, feature: 'contacts', params: async (f) => ({ id: await shared.lookup(f, path) }), expect: backOffice(200) },
    { method: 'patch', path: `/api/v1/${path}/{id}`, feature: 'contacts', params: async (f) => ({ id: await shared.lookup(f, path) }), body: () => lookupBody(path), expect: backOffice(200, 403) },
    { method: 'delete', path: `/api/v1/${path}/{id}`, feature: 'contacts', params: async (f) => ({ id: await fresh.lookup(f, path) }), expect: backOffice(204, 403) },
  ]),
  { method: 'get', path: '/api/v1/tags/{id}/contacts', feature: 'contacts', params: async (f) => ({ id: await shared.lookup(f, 'tags') }), expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contact-statuses/{id}/contacts', feature: 'contacts', params: async (f) => ({ id: await shared.lookup(f, 'contact-statuses') }), expect: backOffice(200) },

  // Imports: staff and admins (Contact import permission); clients never.
  {
    method: 'post',
    path: '/api/v1/contacts/imports',
    feature: 'contacts',
    body: () => undefined,
    expect: backOffice(400),
  },
  { method: 'get', path: '/api/v1/contacts/imports', feature: 'contacts', expect: backOffice(200) },
  { method: 'get', path: '/api/v1/contacts/imports/{id}', feature: 'contacts', params: async (f) => ({ id: await shared.importId(f) }), expect: backOffice(200) },
  { method: 'put', path: '/api/v1/contacts/imports/{id}/settings', feature: 'contacts', params: async (f) => ({ id: await uploadImport(f) }), body: () => ({ columns: [{ index: 0, header: 'First Name', target: 'firstName' }], mode: 'create' }), expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/imports/{id}/dry-run', feature: 'contacts', params: async (f) => ({ id: await shared.importId(f) }), expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/imports/{id}/run', feature: 'contacts', params: async (f) => ({ id: await uploadImport(f, true) }), expect: backOffice(202) },
  { method: 'get', path: '/api/v1/contacts/imports/{id}/rejected', feature: 'contacts', params: async (f) => ({ id: await shared.importId(f) }), expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/imports/{id}/cancel', feature: 'contacts', params: async (f) => ({ id: await uploadImport(f) }), expect: backOffice(200) },
  // Not yet run: past authorization, reverting is a conflict.
  { method: 'post', path: '/api/v1/contacts/imports/{id}/revert', feature: 'contacts', params: async (f) => ({ id: await shared.importId(f) }), expect: backOffice(409) },
  { method: 'get', path: '/api/v1/contacts/import-mappings', feature: 'contacts', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/contacts/import-mappings', feature: 'contacts', body: () => ({ name: unique('Mapping '), columns: [] }), expect: backOffice(201) },
  { method: 'delete', path: '/api/v1/contacts/import-mappings/{id}', feature: 'contacts', params: async (f) => ({ id: (await f.t.http.post('/api/v1/contacts/import-mappings').set(f.sessions.admin.auth).send({ name: unique('Mapping '), columns: [] }).expect(201)).body.id }), expect: backOffice(204) },
];
