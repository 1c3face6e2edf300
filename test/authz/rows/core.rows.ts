import { newPerson } from '../../support/actors';
import { adminOnly, all, MatrixRow, signedIn } from '../matrix-support';

/** Core: auth, features, mail outbox, health. */
export const CORE_ROWS: MatrixRow[] = [
  // Public routes: the same answer for everyone.
  { method: 'get', path: '/health', expect: all(200) },
  { method: 'get', path: '/health/ready', expect: all(200) },
  { method: 'post', path: '/api/v1/auth/register', body: () => newPerson('matrix'), expect: all(202) },
  { method: 'post', path: '/api/v1/auth/register/confirm', body: () => ({ token: 'not-a-real-sign-up-token', password: 'a-long-enough-password' }), expect: all(400) },
  { method: 'post', path: '/api/v1/auth/login', body: (f) => ({ email: f.loginEmail, password: 'a-long-enough-password' }), expect: all(200) },
  { method: 'post', path: '/api/v1/auth/refresh', body: () => ({ refreshToken: 'not-a-real-refresh-token' }), expect: all(401) },
  { method: 'post', path: '/api/v1/auth/logout', body: () => ({ refreshToken: 'not-a-real-refresh-token' }), expect: all(204) },
  { method: 'post', path: '/api/v1/auth/forgot-password', body: () => ({ email: 'nobody@example.com' }), expect: all(202) },
  { method: 'post', path: '/api/v1/auth/reset-password', body: () => ({ token: 'not-a-real-reset-token', password: 'another-long-password' }), expect: all(400) },

  // Any signed-in account.
  { method: 'get', path: '/api/v1/auth/me', expect: signedIn(200) },
  { method: 'post', path: '/api/v1/auth/change-password', body: () => ({ currentPassword: 'wrong-password', password: 'another-long-password' }), expect: signedIn(400) },
  { method: 'get', path: '/api/v1/features', expect: signedIn(200) },

  // Admin only.
  { method: 'patch', path: '/api/v1/features/{key}', params: () => ({ key: 'visitors' }), body: () => ({ enabled: false }), expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/mail/outbox', expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/jobs', expect: adminOnly(200) },
  { method: 'get', path: '/api/v1/jobs/{queue}/failed', params: () => ({ queue: 'contacts.import' }), expect: adminOnly(200) },
  { method: 'post', path: '/api/v1/jobs/{queue}/{job}/retry', params: () => ({ queue: 'contacts.import', job: 'no-such-job' }), expect: adminOnly(404) },

];
