import type { Client } from 'pg';
import { CLUSTER_HEARTBEAT, ClusterEventsService } from '../../src/core/cluster/cluster-events.service';
import { ROLES_TTL_MS } from '../../src/core/identity/roles-cache.service';
import { createUserWithRoles, register, Session } from '../support/actors';
import { createDatabase, dropDatabase, startTestApp, TestApp } from '../support/test-app';

/**
 * API processes keep features, roles and custom fields in memory and drop them when another
 * process tells them through LISTEN/NOTIFY. These specs make the second process's listening
 * connection stop delivering without any error, as an idle connection dropped by a NAT or a
 * transaction-mode pooler does.
 */
const listenerOf = (t: TestApp): Client => (t.app.get(ClusterEventsService) as unknown as { listener: Client }).listener;

/** Polls `probe` until it answers `expected`; returns what it answered last and how long that took. */
async function untilStatus(probe: () => Promise<number>, expected: number, withinMs: number): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  let status = await probe();
  while (status !== expected && Date.now() - started < withinMs) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = await probe();
  }
  return { status, ms: Date.now() - started };
}

describe('two API processes on one database', () => {
  const heartbeat = { ...CLUSTER_HEARTBEAT };
  let name: string | undefined;
  let first: TestApp;
  let second: TestApp;
  let admin: Session;
  const started: TestApp[] = [];

  const start = async (beat: typeof CLUSTER_HEARTBEAT) => {
    Object.assign(CLUSTER_HEARTBEAT, beat);
    name = await createDatabase();
    started.push((first = await startTestApp({}, name)));
    started.push((second = await startTestApp({}, name)));
    admin = await register(first, 'admin');
  };
  afterEach(async () => {
    Object.assign(CLUSTER_HEARTBEAT, heartbeat);
    for (const app of started.splice(0).reverse()) await app.close();
    if (name) await dropDatabase(name);
    name = undefined;
  });

  describe('when the second one stops hearing notices', () => {
    beforeEach(() => start({ everyMs: 500, timeoutMs: 1000 }));

    const usersOnSecond = async () => (await second.http.get('/api/v1/users').set(admin.auth)).status;
    const toggleUsers = (enabled: boolean) => first.http.patch('/api/v1/features/users').set(admin.auth).send({ enabled }).expect(200);

    it.each([
      ['no longer listens (UNLISTEN)', 'UNLISTEN *'],
      ['holds its notices in an open transaction', 'BEGIN'],
    ])('reconnects when its connection %s, and catches up on what it missed', async (_, silence) => {
      const cluster = second.app.get(ClusterEventsService);
      let reconnected = 0;
      cluster.on('cluster.reconnected', () => (reconnected += 1));
      expect(await usersOnSecond()).toBe(200);

      const silenced = listenerOf(second);
      await silenced.query(silence);
      // The poll is a minute away in tests: only the listener can bring this toggle across.
      await toggleUsers(false);
      const off = await untilStatus(usersOnSecond, 404, 6000);
      expect(off.status).toBe(404);
      expect(reconnected).toBeGreaterThanOrEqual(1);
      expect(listenerOf(second)).not.toBe(silenced);

      // The new connection delivers again, within a second.
      await toggleUsers(true);
      const on = await untilStatus(usersOnSecond, 200, 1000);
      expect(on.status).toBe(200);
    });
  });

  describe('when the second one stops hearing notices and does not notice', () => {
    // Only the roles' own expiry is left to bound what the second process keeps.
    beforeEach(() => start({ everyMs: 3_600_000, timeoutMs: 1000 }));

    it('enforces reduced rights of a role within a few seconds', async () => {
      const role = (await first.http.post('/api/v1/roles').set(admin.auth).send({ name: 'User readers', rules: [{ action: 'read', subject: 'User' }] }).expect(201)).body;
      const reader = await createUserWithRoles(first, admin, [role.id], 'reader');
      const readAdminOnSecond = async () => (await second.http.get(`/api/v1/users/${admin.userId}`).set(reader.auth)).status;
      expect(await readAdminOnSecond()).toBe(200);

      await listenerOf(second).query('UNLISTEN *');
      await first.http.patch(`/api/v1/roles/${role.id}`).set(admin.auth).send({ rules: [] }).expect(200);
      expect(await first.http.get(`/api/v1/users/${admin.userId}`).set(reader.auth).then((r) => r.status)).toBe(403);

      const reduced = await untilStatus(readAdminOnSecond, 403, ROLES_TTL_MS + 3000);
      expect(reduced.status).toBe(403);
      expect(reduced.ms).toBeLessThanOrEqual(ROLES_TTL_MS + 2000);
    });
  });
});
