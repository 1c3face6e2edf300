import { randomUUID } from 'node:crypto';
import { newPerson } from '../../support/actors';
import { adminOnly, MatrixRow } from '../matrix-support';

/** The users module: accounts and roles. */
export const USERS_ROWS: MatrixRow[] = [
  // Users module. Staff read users (to pick assignees); the restricted role reads only itself.
  { method: 'get', path: '/api/v1/users', feature: 'users', expect: { anonymous: 401, client: 403, otherClient: 403, staff: 200, restricted: 200, admin: 200 } },
  {
    method: 'get',
    path: '/api/v1/users/{id}',
    feature: 'users',
    params: (f) => ({ id: f.sessions.client.userId }),
    expect: { anonymous: 401, client: 403, otherClient: 403, staff: 200, restricted: 404, admin: 200 },
  },
  // An unknown role id: admin gets past authorization to the business rule (422).
  { method: 'post', path: '/api/v1/users', feature: 'users', body: () => ({ ...newPerson('nouser'), password: undefined, phone: undefined, roleIds: [randomUUID()], sendInvite: false }), expect: adminOnly(422) },
  { method: 'patch', path: '/api/v1/users/{id}', feature: 'users', params: (f) => ({ id: f.sessions.client.userId }), body: () => ({ lastName: 'Renamed' }), expect: adminOnly(200) },
  { method: 'put', path: '/api/v1/users/{id}/roles', feature: 'users', params: (f) => ({ id: f.sessions.client.userId }), body: (f) => ({ roleIds: [f.clientRoleId] }), expect: adminOnly(200) },
  // Deleting the only admin is refused after authorization (409).
  { method: 'delete', path: '/api/v1/users/{id}', feature: 'users', params: (f) => ({ id: f.sessions.admin.userId }), expect: adminOnly(409) },
  { method: 'post', path: '/api/v1/users/{id}/password-reset', feature: 'users', params: (f) => ({ id: f.sessions.otherClient.userId }), body: () => ({ mode: 'send' }), expect: adminOnly(202) },
  { method: 'get', path: '/api/v1/roles', feature: 'users', expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/roles/subjects', feature: 'users', expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/roles/{id}', feature: 'users', params: (f) => ({ id: f.staffRoleId }), expect: adminOnly(200) },
  // Rules naming an unknown subject: admin reaches rule validation (400).
  { method: 'post', path: '/api/v1/roles', feature: 'users', body: () => ({ name: `Matrix ${randomUUID()}`, rules: [{ action: 'read', subject: 'Nothing' }] }), expect: adminOnly(400) },
  { method: 'patch', path: '/api/v1/roles/{id}', feature: 'users', params: (f) => ({ id: f.clientRoleId }), body: () => ({ description: 'Customers with portal access.' }), expect: adminOnly(200) },
  { method: 'delete', path: '/api/v1/roles/{id}', feature: 'users', params: (f) => ({ id: f.adminRoleId }), expect: adminOnly(422) },

];
