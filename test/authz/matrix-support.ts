import type { Session } from '../support/actors';
import type { TestApp } from '../support/test-app';

/** The callers every route is tried with. */
export type Actor = 'anonymous' | 'client' | 'otherClient' | 'staff' | 'restricted' | 'admin';
export const ACTORS: Actor[] = ['anonymous', 'client', 'otherClient', 'staff', 'restricted', 'admin'];

export interface Fixture {
  t: TestApp;
  sessions: Record<Exclude<Actor, 'anonymous'>, Session>;
  clientRoleId: string;
  adminRoleId: string;
  staffRoleId: string;
  loginEmail: string;
  /** Records a module's rows share, made once on first use (see {@link once}). */
  shared: Map<string, Promise<string>>;
}

export interface MatrixRow {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** As in the OpenAPI document; `{id}`-style parameters are filled by `params`. */
  path: string;
  /** The feature the route belongs to; with it off, every caller gets 404. */
  feature?: string;
  /** Path parameters; may create a fresh record per call, so state-changing rows repeat cleanly. */
  params?: (f: Fixture) => Record<string, string> | Promise<Record<string, string>>;
  body?: (f: Fixture) => unknown;
  query?: Record<string, string>;
  expect: Record<Actor, number>;
}

let sequence = 0;
export const unique = (prefix: string) => `${prefix}${Date.now().toString(36)}${(sequence += 1)}`;

/** A record the rows of a module share, made on first use. */
export function once(f: Fixture, key: string, make: () => Promise<string>): Promise<string> {
  let value = f.shared.get(key);
  if (!value) {
    value = make();
    f.shared.set(key, value);
  }
  return value;
}

export const all = (status: number): Record<Actor, number> => Object.fromEntries(ACTORS.map((a) => [a, status])) as Record<Actor, number>;
export const signedIn = (status: number): Record<Actor, number> => ({ ...all(status), anonymous: 401 });
export const adminOnly = (status: number): Record<Actor, number> => ({ anonymous: 401, client: 403, otherClient: 403, staff: 403, restricted: 403, admin: status });
/** Back-office routes: clients are sent to the portal, the restricted role has no rights there. */
export const backOffice = (status: number, staffStatus = status): Record<Actor, number> => ({
  anonymous: 401,
  client: 403,
  otherClient: 403,
  staff: staffStatus,
  restricted: 403,
  admin: status,
});
