import type { MatrixRow } from '../matrix-support';
import { CONTACTS_ROWS } from './contacts.rows';
import { CORE_ROWS } from './core.rows';
import { DASHBOARD_ROWS } from './dashboard.rows';
import { PORTAL_ROWS } from './portal.rows';
import { SEGMENTS_ROWS } from './segments.rows';
import { USERS_ROWS } from './users.rows';

/** Every module's rows; a module adds its file here. */
export const MATRIX: MatrixRow[] = [...CORE_ROWS, ...USERS_ROWS, ...CONTACTS_ROWS, ...SEGMENTS_ROWS, ...DASHBOARD_ROWS, ...PORTAL_ROWS];
