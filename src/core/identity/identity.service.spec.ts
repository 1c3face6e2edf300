import type { DataSource } from 'typeorm';
import type { ClusterEventsService } from '../cluster/cluster-events.service';
import { IdentityService } from './identity.service';
import type { RolesCache } from './roles-cache.service';

const USER_ID = '00000000-0000-4000-8000-000000000001';

/** The account's row as the database answers it, with the token version of the moment. */
function accountRow(tokenVersion: number) {
  return { id: USER_ID, contact_id: 'c1', email: 'ada@example.com', first_name: 'Ada', last_name: 'Lovelace', token_version: tokenVersion, is_active: true, role_ids: null };
}

describe('IdentityService.loadAuthUser', () => {
  let tokenVersion: number;
  let pending: Array<() => void>;
  let query: jest.Mock;
  let identity: IdentityService;

  beforeEach(() => {
    tokenVersion = 1;
    pending = [];
    // Each read answers when released, with the row as it is at that moment.
    query = jest.fn(() => new Promise((resolve) => pending.push(() => resolve([accountRow(tokenVersion)]))));
    const cluster = { on: jest.fn(), publish: jest.fn(async () => undefined) } as unknown as ClusterEventsService;
    identity = new IdentityService({ query } as unknown as DataSource, { byId: jest.fn() } as unknown as RolesCache, cluster);
  });

  const releaseAll = () => pending.splice(0).forEach((release) => release());

  it('reads the account once for requests that arrive together, then keeps it', async () => {
    const users = Array.from({ length: 20 }, () => identity.loadAuthUser(USER_ID, 1));
    releaseAll();
    expect((await Promise.all(users)).every((user) => user?.id === USER_ID)).toBe(true);
    expect(query).toHaveBeenCalledTimes(1);

    expect((await identity.loadAuthUser(USER_ID, 1))?.email).toBe('ada@example.com');
    expect(query).toHaveBeenCalledTimes(1);
  });

  it('does not keep a read that started before the account changed', async () => {
    const before = identity.loadAuthUser(USER_ID, 1);
    // The password changes (token version 2) while that read is under way.
    tokenVersion = 2;
    await identity.changed(USER_ID);
    const after = identity.loadAuthUser(USER_ID, 1);
    expect(query).toHaveBeenCalledTimes(2);

    // The old read answers last, with the row it saw before the change…
    pending[1]!();
    tokenVersion = 1;
    pending[0]!();
    await before;
    expect(await after).toBeNull();
    // …and the old token stays refused: what it read was not kept.
    tokenVersion = 2;
    const again = identity.loadAuthUser(USER_ID, 1);
    releaseAll();
    expect(await again).toBeNull();
  });
});
