import { backOffice, MatrixRow } from '../matrix-support';

/** Dashboard: back-office analytics. Staff and admins read and refresh it; clients use the portal; the restricted role has no dashboard rights. */
export const DASHBOARD_ROWS: MatrixRow[] = [
  { method: 'get', path: '/api/v1/dashboard', feature: 'dashboard', expect: backOffice(200) },
  { method: 'post', path: '/api/v1/dashboard/refresh', feature: 'dashboard', expect: backOffice(202) },
  { method: 'get', path: '/api/v1/dashboard/me', feature: 'dashboard', expect: backOffice(200) },
];
