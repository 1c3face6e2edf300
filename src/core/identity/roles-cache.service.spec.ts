import type { DataSource } from 'typeorm';
import { AbilityFactory } from '../access/ability.factory';
import { SubjectRegistry } from '../access/subject-registry';
import type { ClusterEventsService } from '../cluster/cluster-events.service';
import type { AuthUser } from './auth-user';
import type { Role } from './entities/role.entity';
import { ROLES_TTL_MS, RolesCache } from './roles-cache.service';

const ROLE_ID = '00000000-0000-4000-8000-0000000000aa';

describe('RolesCache', () => {
  let rules: Role['rules'];
  let find: jest.Mock;
  let publish: jest.Mock;
  let cache: RolesCache;

  beforeEach(() => {
    jest.useFakeTimers({ now: new Date('2030-01-01T00:00:00Z') });
    rules = [{ action: 'read', subject: 'Contact' }];
    // Each read answers a new object, as the database does.
    find = jest.fn(async () => [
      { id: ROLE_ID, systemKey: null, name: 'Readers', description: '', audience: 'staff', rules: structuredClone(rules), createdAt: new Date(0), updatedAt: new Date(0) } as Role,
    ]);
    publish = jest.fn(async () => undefined);
    const cluster = { on: jest.fn(), publish } as unknown as ClusterEventsService;
    cache = new RolesCache({ getRepository: () => ({ find }) } as unknown as DataSource, cluster);
    jest.spyOn(cache['logger'], 'warn').mockImplementation(() => undefined);
  });
  afterEach(() => jest.useRealTimers());

  it('reads the roles again once they are older than the TTL, so a missed change is not kept', async () => {
    expect((await cache.byId(ROLE_ID))?.rules).toEqual([{ action: 'read', subject: 'Contact' }]);
    rules = [];
    jest.advanceTimersByTime(ROLES_TTL_MS - 1);
    expect((await cache.byId(ROLE_ID))?.rules).toHaveLength(1);
    expect(find).toHaveBeenCalledTimes(1);

    jest.advanceTimersByTime(1);
    expect((await cache.byId(ROLE_ID))?.rules).toEqual([]);
    expect(find).toHaveBeenCalledTimes(2);
  });

  it('reads once for requests that arrive together after expiry', async () => {
    await cache.byId(ROLE_ID);
    jest.advanceTimersByTime(ROLES_TTL_MS);
    await Promise.all(Array.from({ length: 20 }, () => cache.byId(ROLE_ID)));
    expect(find).toHaveBeenCalledTimes(2);
  });

  it('hands out the same object for a role that did not change, and a new one for a role that did', async () => {
    const first = await cache.byId(ROLE_ID);
    jest.advanceTimersByTime(ROLES_TTL_MS);
    expect(await cache.byId(ROLE_ID)).toBe(first);

    rules = [];
    cache.invalidate();
    const changed = await cache.byId(ROLE_ID);
    expect(changed).not.toBe(first);
    expect(changed?.rules).toEqual([]);
  });

  it('does not fail a change that committed when the notice to other processes fails', async () => {
    publish.mockRejectedValueOnce(new Error('connection reset'));
    await expect(cache.changed()).resolves.toBeUndefined();
  });

  describe('with the ability factory', () => {
    const user: AuthUser = {
      id: 'u1',
      contactId: 'c1',
      email: 'ada@example.com',
      firstName: 'Ada',
      lastName: 'Lovelace',
      tokenVersion: 1,
      roles: [{ id: ROLE_ID, name: 'Readers', systemKey: null, audience: 'staff' }],
      accountType: 'staff',
      isAdmin: false,
    };
    let abilities: AbilityFactory;

    beforeEach(() => {
      abilities = new AbilityFactory(new SubjectRegistry(), cache);
    });

    it('keeps the built ability while the reloaded role is unchanged, and builds a fresh one once it changed', async () => {
      const ability = await abilities.forUser(user);
      expect(ability.can('read', 'Contact')).toBe(true);
      jest.advanceTimersByTime(ROLES_TTL_MS);
      expect(await abilities.forUser(user)).toBe(ability);

      rules = [];
      jest.advanceTimersByTime(ROLES_TTL_MS);
      const reduced = await abilities.forUser(user);
      expect(reduced).not.toBe(ability);
      expect(reduced.can('read', 'Contact')).toBe(false);
      // Between expiries a request reads nothing.
      const reads = find.mock.calls.length;
      await abilities.forUser(user);
      expect(find).toHaveBeenCalledTimes(reads);
    });
  });
});
