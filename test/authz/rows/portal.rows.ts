import type { Actor, MatrixRow } from '../matrix-support';

/**
 * Portal routes: for clients only, each acting on their own data (so the other client gets the
 * same answer); staff, the restricted role (a staff audience) and admins belong to the back office.
 */
const portal = (status: number): Record<Actor, number> => ({ anonymous: 401, client: status, otherClient: status, staff: 403, restricted: 403, admin: 403 });

/** The client portal. Bodies leave the shared sessions and records as they are. */
export const PORTAL_ROWS: MatrixRow[] = [
  { method: 'get', path: '/api/v1/portal/dashboard', feature: 'client-portal', expect: portal(200) },
  { method: 'get', path: '/api/v1/portal/me', feature: 'client-portal', expect: portal(200) },
  // A version no contact reaches: a client gets past authorization to the concurrency check (409).
  { method: 'patch', path: '/api/v1/portal/me', feature: 'client-portal', body: () => ({ version: 1_000_000, city: 'Matrixville' }), expect: portal(409) },
  // A wrong current password: a client gets past authorization to the password check (400), and stays signed in.
  {
    method: 'post',
    path: '/api/v1/portal/change-password',
    feature: 'client-portal',
    body: () => ({ currentPassword: 'wrong-password', password: 'another-long-password' }),
    expect: portal(400),
  },
  // A token that belongs to no session: signing it out is a no-op (204) that ends none of the fixture sessions.
  { method: 'post', path: '/api/v1/portal/logout', feature: 'client-portal', body: () => ({ refreshToken: 'not-a-real-refresh-token' }), expect: portal(204) },
  { method: 'get', path: '/api/v1/portal/timeline', feature: 'client-portal', expect: portal(200) },
];
