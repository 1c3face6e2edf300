import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { ClusterEventsService } from '../../src/core/cluster/cluster-events.service';
import { JobsService } from '../../src/core/jobs/jobs.service';
import { METRICS, MY_METRICS } from '../../src/modules/dashboard/dashboard.definitions';
import { REFRESH_WINDOW_MS, SNAPSHOT_WRITTEN } from '../../src/modules/dashboard/dashboard.service';
import { DASHBOARD_REFRESH_QUEUE, DASHBOARD_SCHEDULE_ID } from '../../src/modules/dashboard/jobs/dashboard-refresh.job';
import { createUserWithRoles, register, Session, systemRoleId } from '../support/actors';
import { startTestApp, TEST_REDIS_URL, TestApp } from '../support/test-app';
import { until } from '../support/wait';

/**
 * The dashboard end to end: data arranged with SQL and through the API, a refresh run by the
 * real queue (BullMQ on Redis, then in-process without Redis), every seed metric checked for
 * its exact value, the caller-only `me` numbers, and the module switched off and on again.
 */

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY);

/** First day of the UTC month / Monday of the UTC week of a moment, as the series name them. */
const monthOf = (date: Date) => `${date.toISOString().slice(0, 7)}-01`;
const mondayOf = (date: Date) => {
  const back = (date.getUTCDay() + 6) % 7;
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - back)).toISOString().slice(0, 10);
};
function lastMonths(moment: Date, count: number): string[] {
  return Array.from({ length: count }, (_, index) => new Date(Date.UTC(moment.getUTCFullYear(), moment.getUTCMonth() - (count - 1 - index), 1)).toISOString().slice(0, 10));
}
function lastWeeks(moment: Date, count: number): string[] {
  const monday = new Date(`${mondayOf(moment)}T00:00:00Z`).getTime();
  return Array.from({ length: count }, (_, index) => new Date(monday - (count - 1 - index) * 7 * DAY).toISOString().slice(0, 10));
}
/** How many of `dates` fall in each period. */
const countsPer = (periods: string[], dates: Date[], bucket: (date: Date) => string) => periods.map((period) => dates.filter((date) => bucket(date) === period).length);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for the start of a refresh window no earlier request has used, so the next refresh is a new job. */
async function freshRefreshWindow(): Promise<void> {
  await sleep(REFRESH_WINDOW_MS - (Date.now() % REFRESH_WINDOW_MS) + 50);
}

interface Metric {
  key: string;
  label: string;
  definition: string;
}

describe('dashboard (BullMQ on Redis)', () => {
  let t: TestApp;
  let admin: Session;
  let staffA: Session;
  let staffB: Session;
  const status: Record<string, string> = {};
  const source: Record<string, string> = {};
  const names: Record<string, string> = {};

  beforeAll(async () => {
    t = await startTestApp();
    admin = await register(t, 'admin');
    const staffRoleId = await systemRoleId(t, 'staff');
    staffA = await createUserWithRoles(t, admin, [staffRoleId], 'alpha');
    staffB = await createUserWithRoles(t, admin, [staffRoleId], 'beta');
    for (const row of (await t.db.query('SELECT id, name FROM contact_statuses')) as Array<{ id: string; name: string }>) status[row.name] = row.id;
    for (const row of (await t.db.query('SELECT id, name FROM traffic_sources')) as Array<{ id: string; name: string }>) source[row.name] = row.id;
    for (const row of (await t.db.query(`SELECT id, first_name || ' ' || last_name AS name FROM users`)) as Array<{ id: string; name: string }>) names[row.id] = row.name;
  });
  afterAll(() => t.close());

  async function idleQueue(): Promise<void> {
    const jobs = t.app.get(JobsService);
    await until(async () => {
      const counts = (await jobs.counts()).find((queue) => queue.queue === DASHBOARD_REFRESH_QUEUE)!.counts;
      return counts.waiting + counts.active === 0 ? true : undefined;
    }, 20_000, 'the refresh queue to be idle');
  }

  /** Asks for a refresh and waits for a snapshot computed after the request. */
  async function refreshed(session: Session) {
    await freshRefreshWindow();
    const requestedAt = Date.now();
    const queued = await t.http.post('/api/v1/dashboard/refresh').set(session.auth).expect(202);
    expect(queued.body).toEqual({ jobId: expect.any(String), currentComputedAt: expect.anything() });
    // Asked again at once: the same job, nothing more queued.
    const again = await t.http.post('/api/v1/dashboard/refresh').set(session.auth).expect(202);
    expect(again.body.jobId).toBe(queued.body.jobId);
    return until(
      async () => {
        const body = (await t.http.get('/api/v1/dashboard').set(session.auth).expect(200)).body;
        return body.status === 'ready' && new Date(body.computedAt).getTime() >= requestedAt ? body : undefined;
      },
      30_000,
      'a new snapshot',
    );
  }

  it('answers "pending" before the first snapshot, queues one, and shows it once computed', async () => {
    await idleQueue();
    await t.db.query('DELETE FROM dashboard_snapshots');
    // The process keeps the latest snapshot until told that the table changed, as a refresh would tell it.
    await t.app.get(ClusterEventsService).publish(SNAPSHOT_WRITTEN, null);
    await freshRefreshWindow();
    const pending = await t.http.get('/api/v1/dashboard').set(staffA.auth).expect(200);
    expect(pending.body).toEqual({ status: 'pending', computedAt: null, durationMs: null, trigger: null, refreshJobId: expect.any(String), metrics: null });
    const ready = await until(async () => {
      const body = (await t.http.get('/api/v1/dashboard').set(staffA.auth).expect(200)).body;
      return body.status === 'ready' ? body : undefined;
    });
    expect(ready).toMatchObject({ status: 'ready', trigger: 'manual', refreshJobId: null, durationMs: expect.any(Number), metrics: { contacts: { value: 3 } } });
    const [stored] = await t.db.query('SELECT trigger, computed_at, metrics FROM dashboard_snapshots ORDER BY computed_at DESC LIMIT 1');
    expect(new Date(stored.computed_at).toISOString()).toBe(ready.computedAt);
    expect(stored.metrics).toEqual(ready.metrics);
  });

  describe('with contacts, activities and status changes arranged', () => {
    const at: Record<string, Date> = {};
    const ids: Record<string, string> = {};
    let snapshot: { computedAt: string; durationMs: number; trigger: string; metrics: Record<string, Metric & Record<string, unknown>> };

    beforeAll(async () => {
      // The starting point: the three staff accounts' own contacts, created just now, without a status (staff are no leads).
      const base: Array<{ status_id: string | null; n: number }> = await t.db.query('SELECT status_id, count(*)::int AS n FROM contacts GROUP BY status_id');
      expect(base).toEqual([{ status_id: null, n: 3 }]);

      status.Vip = (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: 'VIP', stage: 'customer' }).expect(201)).body.id;
      status.Inactive = (await t.http.post('/api/v1/contact-statuses').set(admin.auth).send({ name: 'Inactive', stage: 'other' }).expect(201)).body.id;

      const insert = async (key: string, values: { status?: string; assignee?: Session; source?: string; created: number; trashed?: boolean }) => {
        at[`${key}.created`] = daysAgo(values.created);
        const [row] = await t.db.query(
          `INSERT INTO contacts (first_name, last_name, status_id, assigned_to_id, traffic_source_id, created_at, deleted_at)
           VALUES ('Dash', $1, $2, $3, $4, $5, CASE WHEN $6::boolean THEN now() END) RETURNING id`,
          [key, values.status ? status[values.status] : null, values.assignee?.userId ?? null, values.source ? source[values.source] : null, at[`${key}.created`], values.trashed ?? false],
        );
        ids[key] = row.id;
      };
      await insert('k1', { status: 'Customer', assignee: staffA, source: 'Website', created: 2 });
      await insert('k2', { status: 'Customer', source: 'Website', created: 40 });
      await insert('k3', { status: 'Vip', assignee: staffB, source: 'Referral', created: 100 });
      await insert('k4', { status: 'Customer', assignee: staffA, created: 300 });
      await insert('k5', { status: 'Vip', source: 'Referral', created: 400 });
      await insert('k6', { status: 'Customer', assignee: staffA, source: 'Website', created: 5, trashed: true });
      await insert('l1', { status: 'Lead', assignee: staffA, source: 'Website', created: 20 });
      await insert('l2', { status: 'Lead', created: 30, trashed: true });
      await insert('p1', { status: 'Prospect', assignee: staffA, source: 'Referral', created: 60 });
      await insert('o1', { status: 'Inactive', created: 500 });
      await insert('n1', { assignee: staffB, source: 'Website', created: 3 });

      const activity = async (key: string, contact: string, author: Session, days: number) => {
        at[key] = daysAgo(days);
        await t.db.query(`INSERT INTO activities (contact_id, author_id, type, subject, occurred_at) VALUES ($1, $2, 'note', $3, $4)`, [ids[contact], author.userId, key, at[key]]);
      };
      await activity('k2.call', 'k2', staffB, 10);
      await activity('k3.call', 'k3', staffB, 20);
      await activity('k4.call', 'k4', staffA, 45);
      await activity('p1.call', 'p1', staffB, 70);

      const history = async (contact: string, from: string, to: string, days: number) =>
        t.db.query('INSERT INTO contact_status_history (contact_id, from_status_id, to_status_id, changed_at) VALUES ($1, $2, $3, $4)', [ids[contact], status[from], status[to], daysAgo(days)]);
      await history('k3', 'Lead', 'Vip', 90);
      // An import's revert putting a customer back is no conversion.
      await t.db.query(`INSERT INTO contact_status_history (contact_id, from_status_id, to_status_id, changed_at, source) VALUES ($1, $2, $3, $4, 'revert')`, [ids.k1, status.Lead, status.Customer, daysAgo(1)]);
      await history('k2', 'Prospect', 'Customer', 35);
      await history('k4', 'Lead', 'Customer', 250);
      await history('k4', 'Lead', 'Customer', 400);
      await history('k6', 'Lead', 'Customer', 3);
      await history('p1', 'Lead', 'Prospect', 50);

      // Through the API: a lead converted by staff A today, with a call; one converted and then trashed.
      const x1 = (
        await t.http
          .post('/api/v1/contacts')
          .set(staffA.auth)
          .send({ firstName: 'Dash', lastName: 'x1', statusId: status.Lead, assignedToId: staffA.userId, trafficSourceId: source.Website })
          .expect(201)
      ).body;
      ids.x1 = x1.id;
      at['x1.created'] = new Date(x1.createdAt);
      await t.http.patch(`/api/v1/contacts/${x1.id}`).set(staffA.auth).send({ version: x1.version, statusId: status.Customer }).expect(200);
      const x2 = (await t.http.post('/api/v1/contacts').set(staffB.auth).send({ firstName: 'Dash', lastName: 'x2', statusId: status.Lead }).expect(201)).body;
      await t.http.patch(`/api/v1/contacts/${x2.id}`).set(staffB.auth).send({ version: x2.version, statusId: status.Customer }).expect(200);
      await t.http.delete(`/api/v1/contacts/${x2.id}`).set(staffB.auth).expect(204);

      const logged = async (key: string, session: Session, contact: string, body: object) => {
        at[key] = new Date((await t.http.post(`/api/v1/contacts/${ids[contact]}/activities`).set(session.auth).send(body).expect(201)).body.occurredAt);
      };
      await logged('k1.call', staffA, 'k1', { type: 'meeting', occurredAt: daysAgo(2).toISOString() });
      await logged('l1.call', admin, 'l1', { type: 'email', occurredAt: daysAgo(5).toISOString() });
      await logged('x1.call', staffA, 'x1', { type: 'call', subject: 'Closing call' });
      // The latest activity of all, on a trashed contact: not the "last contacted".
      await t.db.query(`INSERT INTO activities (contact_id, author_id, type, subject) VALUES ($1, $2, 'call', 'Trashed')`, [ids.k6, staffA.userId]);

      snapshot = await refreshed(staffA);
    });

    it('counts contacts, customers and leads, live ones only', () => {
      // 3 account contacts + k1 k2 k3 k4 k5 l1 p1 o1 n1 x1; k6, l2 and x2 are in the trash.
      expect(snapshot.metrics.contacts.value).toBe(13);
      // k1 k2 k3 k4 k5 x1 (Customer and VIP are both at the customer stage).
      expect(snapshot.metrics.customers.value).toBe(6);
      // l1 alone: the staff accounts' own contacts are no leads.
      expect(snapshot.metrics.leads.value).toBe(1);
    });

    it('counts customers not contacted for 1 week, 2 weeks and 1 month, never contacted included', () => {
      expect(snapshot.metrics.customersNotContacted1Week.value).toBe(4); // k2 (10 days), k3 (20), k4 (45), k5 (never)
      expect(snapshot.metrics.customersNotContacted2Weeks.value).toBe(3); // k3, k4, k5
      expect(snapshot.metrics.customersNotContacted1Month.value).toBe(2); // k4, k5
    });

    it('names the last contacted contact, when, what and who, ignoring the trash', () => {
      expect(snapshot.metrics.lastContacted.value).toEqual({
        at: at['x1.call']!.toISOString(),
        contactId: ids.x1,
        contactName: 'Dash x1',
        activityId: expect.any(String),
        activityType: 'call',
        activitySubject: 'Closing call',
        authorId: staffA.userId,
        authorName: names[staffA.userId],
      });
    });

    it('counts customers not assigned', () => {
      expect(snapshot.metrics.customersUnassigned.value).toBe(2); // k2, k5
    });

    it('counts conversions per month over the last 12 months', () => {
      const computedAt = new Date(snapshot.computedAt);
      const periods = lastMonths(computedAt, 12);
      // x1 today through the API, k3 90 days ago, k4 250 days ago; not k4 400 days ago, not the trashed k6 and x2,
      // not prospect → customer, not lead → prospect.
      const conversions = [at['x1.created']!, daysAgo(90), daysAgo(250)];
      expect(snapshot.metrics.conversionsPerMonth).toMatchObject({ interval: 'month', periods, values: countsPer(periods, conversions, monthOf), total: 3 });
    });

    it('counts new contacts per month by traffic source', () => {
      const periods = lastMonths(new Date(snapshot.computedAt), 12);
      const created = (...keys: string[]) => keys.map((key) => at[`${key}.created`]!);
      const accounts = [new Date(), new Date(), new Date()];
      const expected = (name: string, dates: Date[]) => ({ id: source[name] ?? null, name, values: countsPer(periods, dates, monthOf), total: dates.length });
      expect(snapshot.metrics.newContactsPerMonthBySource).toMatchObject({
        interval: 'month',
        periods,
        series: [
          expected('Advertising', []),
          expected('Event', []),
          expected('Other', []),
          expected('Referral', created('k3', 'p1')),
          expected('Social Media', []),
          expected('Website', created('k1', 'k2', 'l1', 'n1', 'x1')),
          { ...expected('No traffic source', [...created('k4'), ...accounts]), id: null },
        ],
      });
    });

    it('counts contacts per status and per stage', () => {
      expect(snapshot.metrics.contactsPerStatus).toMatchObject({
        items: [
          { statusId: status.Lead, name: 'Lead', stage: 'lead', value: 1 },
          { statusId: status.Prospect, name: 'Prospect', stage: 'prospect', value: 1 },
          { statusId: status.Customer, name: 'Customer', stage: 'customer', value: 4 },
          { statusId: status.Vip, name: 'Vip', stage: 'customer', value: 2 },
          { statusId: status.Inactive, name: 'Inactive', stage: 'other', value: 1 },
          { statusId: null, name: 'No status', stage: null, value: 4 },
        ],
      });
      expect(snapshot.metrics.contactsPerStage).toMatchObject({
        items: [
          { stage: 'lead', name: 'Lead', value: 1 },
          { stage: 'prospect', name: 'Prospect', value: 1 },
          { stage: 'customer', name: 'Customer', value: 6 },
          { stage: 'other', name: 'Other', value: 1 },
          { stage: null, name: 'No status', value: 4 },
        ],
      });
    });

    it('counts activities per staff member per week over the last 8 weeks', () => {
      const periods = lastWeeks(new Date(snapshot.computedAt), 8);
      const series = (session: Session, keys: string[]) => ({ id: session.userId, name: names[session.userId], values: countsPer(periods, keys.map((key) => at[key]!), mondayOf), total: keys.length });
      // Not p1's call (70 days ago) nor the call on the trashed k6.
      expect(snapshot.metrics.activitiesPerStaffPerWeek).toMatchObject({
        interval: 'week',
        periods,
        series: [series(staffA, ['k1.call', 'k4.call', 'x1.call']), series(staffB, ['k2.call', 'k3.call']), series(admin, ['l1.call'])],
      });
    });

    it('gives every metric its key, a label and a definition', () => {
      expect(Object.keys(snapshot.metrics).sort()).toEqual(Object.keys(METRICS).sort());
      for (const [key, metric] of Object.entries(snapshot.metrics)) {
        expect({ key: metric.key, label: metric.label, definition: metric.definition }).toEqual({ key, ...METRICS[key as keyof typeof METRICS] });
        expect(metric.definition).toMatch(/contact|activit/);
      }
      for (const key of ['customersNotContacted1Week', 'customersNotContacted2Weeks', 'customersNotContacted1Month']) {
        expect(snapshot.metrics[key]!.definition).toMatch(/last_contacted_at/);
        expect(snapshot.metrics[key]!.definition).toMatch(/never contacted is included/);
      }
      expect(snapshot).toMatchObject({ trigger: 'manual', durationMs: expect.any(Number) });
    });

    it("gives each staff member their own numbers, over their own contacts only", async () => {
      const mine = async (session: Session) => (await t.http.get('/api/v1/dashboard/me').set(session.auth).expect(200)).body;
      const stages = (lead: number, prospect: number, customer: number, other: number, none: number) =>
        [lead, prospect, customer, other, none].map((value, index) => ({ stage: ['lead', 'prospect', 'customer', 'other', null][index], value }));

      const a = await mine(staffA);
      const weeks = lastWeeks(new Date(a.computedAt), 8);
      // k1 k4 l1 p1 x1; the trashed k6 is not counted.
      expect(a).toMatchObject({
        userId: staffA.userId,
        contacts: { key: 'contacts', value: 5 },
        contactsPerStage: { items: stages(1, 1, 3, 0, 0) },
        customersNotContacted1Week: { value: 1 }, // k4
        customersNotContacted2Weeks: { value: 1 },
        customersNotContacted1Month: { value: 1 },
        activitiesPerWeek: { interval: 'week', periods: weeks, values: countsPer(weeks, [at['k1.call']!, at['k4.call']!, at['x1.call']!], mondayOf), total: 3 },
      });
      for (const key of Object.keys(MY_METRICS) as Array<keyof typeof MY_METRICS>) expect(a[key]).toMatchObject({ key, ...MY_METRICS[key] });

      const b = await mine(staffB);
      expect(b).toMatchObject({
        userId: staffB.userId,
        contacts: { value: 2 }, // k3, n1
        contactsPerStage: { items: stages(0, 0, 1, 0, 1) },
        customersNotContacted1Week: { value: 1 }, // k3, 20 days
        customersNotContacted2Weeks: { value: 1 },
        customersNotContacted1Month: { value: 0 },
        activitiesPerWeek: { total: 2 },
      });

      const own = await mine(admin);
      expect(own).toMatchObject({ userId: admin.userId, contacts: { value: 0 }, contactsPerStage: { items: stages(0, 0, 0, 0, 0) }, activitiesPerWeek: { total: 1 } });
    });

    it('sends the snapshot compressed to clients that accept it (brotli first, then gzip), as is to others', async () => {
      // Straight through the app (no client that would decompress on its own).
      const raw = async (acceptEncoding: string | undefined) => {
        const response = await t.app.getHttpAdapter().getInstance().inject({ method: 'GET', url: '/api/v1/dashboard', headers: { ...staffB.auth, ...(acceptEncoding === undefined ? {} : { 'accept-encoding': acceptEncoding }) } });
        expect(response.statusCode).toBe(200);
        return { headers: response.headers, body: response.rawPayload };
      };
      const plain = await raw('identity');
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers.vary).toMatch(/accept-encoding/i);
      const json = JSON.parse(plain.body.toString('utf8'));
      expect(json.computedAt).toBe(snapshot.computedAt);

      const cases: Array<[string | undefined, string | undefined, (body: Buffer) => Buffer]> = [
        ['gzip, deflate, br', 'br', brotliDecompressSync],
        ['gzip', 'gzip', gunzipSync],
        ['br;q=0.5, gzip', 'gzip', gunzipSync],
        ['br;q=0, gzip;q=0', undefined, (body) => body],
        ['compress', undefined, (body) => body],
        [undefined, undefined, (body) => body],
      ];
      for (const [accepted, encoding, decode] of cases) {
        const response = await raw(accepted);
        expect([accepted, response.headers['content-encoding']]).toEqual([accepted, encoding]);
        expect(JSON.parse(decode(response.body).toString('utf8'))).toEqual(json);
        if (encoding) expect(response.body.length).toBeLessThan(plain.body.length / 2);
      }
    });

    it('withholds the last contacted contact and activity from a role that may not read them, and only that', async () => {
      const role = async (name: string, rules: object[]) =>
        (await t.http.post('/api/v1/roles').set(admin.auth).send({ name, audience: 'staff', rules: [{ action: 'read', subject: 'Dashboard' }, ...rules] }).expect(201)).body.id as string;
      const ownContacts = await role('Dashboard, own contacts', [
        { action: 'read', subject: 'Contact', conditions: { assignedToId: '${user.id}' } },
        { action: 'read', subject: 'Activity' },
      ]);
      const ownActivities = await role('Dashboard, own activities', [
        { action: 'read', subject: 'Contact' },
        { action: 'read', subject: 'Activity', conditions: { authorId: '${user.id}' } },
      ]);
      const allButVip = await role('Dashboard, all but customers', [
        { action: 'read', subject: ['Contact', 'Activity'] },
        { action: 'read', subject: 'Contact', inverted: true, conditions: { statusId: status.Customer } },
      ]);
      const ownContactsUser = await createUserWithRoles(t, admin, [ownContacts], 'own-contacts');
      const ownActivitiesUser = await createUserWithRoles(t, admin, [ownActivities], 'own-activities');
      const allButVipUser = await createUserWithRoles(t, admin, [allButVip], 'all-but-vip');

      const full = (await t.http.get('/api/v1/dashboard').set(staffB.auth).expect(200)).body;
      expect(full.metrics.lastContacted.value.contactId).toBe(ids.x1);
      expect(full.metrics.lastContacted).not.toHaveProperty('withheld');
      const withheld = { ...full, metrics: { ...full.metrics, lastContacted: { ...full.metrics.lastContacted, value: null, withheld: true } } };
      // x1 is staff A's contact and a customer; its call was logged by staff A. Everything else is the same snapshot.
      for (const session of [ownContactsUser, ownActivitiesUser, allButVipUser]) {
        expect((await t.http.get('/api/v1/dashboard').set(session.auth).expect(200)).body).toEqual(withheld);
        const compressed = await t.app
          .getHttpAdapter()
          .getInstance()
          .inject({ method: 'GET', url: '/api/v1/dashboard', headers: { ...session.auth, 'accept-encoding': 'br' } });
        expect(compressed.headers['content-encoding']).toBe('br');
        expect(JSON.parse(brotliDecompressSync(compressed.rawPayload).toString('utf8'))).toEqual(withheld);
      }

      // Once x1 is theirs (assigned to them; the call logged by them), they see it whole.
      await t.db.query('UPDATE contacts SET assigned_to_id = $2 WHERE id = $1', [ids.x1, ownContactsUser.userId]);
      expect((await t.http.get('/api/v1/dashboard').set(ownContactsUser.auth).expect(200)).body).toEqual(full);
      await t.db.query(`UPDATE activities SET author_id = $2 WHERE contact_id = $1 AND subject = 'Closing call'`, [ids.x1, ownActivitiesUser.userId]);
      expect((await t.http.get('/api/v1/dashboard').set(ownActivitiesUser.auth).expect(200)).body.metrics.lastContacted.value).toMatchObject({ contactId: ids.x1 });
      await t.db.query(`UPDATE activities SET author_id = $2 WHERE contact_id = $1 AND subject = 'Closing call'`, [ids.x1, staffA.userId]);
      await t.db.query('UPDATE contacts SET assigned_to_id = $2 WHERE id = $1', [ids.x1, staffA.userId]);
    });

    it('keeps showing the same snapshot until the next refresh', async () => {
      await t.db.query(`INSERT INTO contacts (first_name, last_name) VALUES ('Dash', 'late')`);
      const body = (await t.http.get('/api/v1/dashboard').set(staffB.auth).expect(200)).body;
      expect(body.computedAt).toBe(snapshot.computedAt);
      expect(body.metrics.contacts.value).toBe(13);
    });
  });

  describe('switched off and on again', () => {
    const ON = { enabled: true };
    const OFF = { enabled: false };
    let queue: Queue;
    let connection: Redis;

    beforeAll(() => {
      connection = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
      // The app's queues live under its JOBS_PREFIX, which the test harness sets to the database name.
      queue = new Queue(DASHBOARD_REFRESH_QUEUE, { connection, prefix: new URL(t.databaseUrl).pathname.slice(1) });
    });
    afterAll(async () => {
      await queue.close();
      await connection.quit();
    });

    const scheduler = async () => (await queue.getJobSchedulers()).find((entry) => entry.key === DASHBOARD_SCHEDULE_ID);

    it('answers 404 on every route, leaves the document and removes the schedule; all of it comes back when on', async () => {
      expect(await scheduler()).toMatchObject({ every: 300_000 });

      await t.http.patch('/api/v1/features/dashboard').set(admin.auth).send(OFF).expect(200);
      for (const [method, path] of [['get', '/api/v1/dashboard'], ['post', '/api/v1/dashboard/refresh'], ['get', '/api/v1/dashboard/me']] as const) {
        const response = await t.http[method](path).set(staffA.auth).expect(404);
        expect(response.body).toMatchObject({ statusCode: 404, code: 'feature_disabled', feature: 'dashboard' });
      }
      const document = (await t.http.get('/docs-json').expect(200)).body;
      expect(Object.keys(document.paths).filter((path: string) => path.startsWith('/api/v1/dashboard'))).toEqual([]);
      expect(document.tags.map((tag: { name: string }) => tag.name)).not.toContain('dashboard');
      expect(document.components.schemas.DashboardDto).toBeUndefined();
      await until(async () => ((await scheduler()) ? undefined : true), 10_000, 'the schedule to be removed');

      await t.http.patch('/api/v1/features/dashboard').set(admin.auth).send(ON).expect(200);
      await t.http.get('/api/v1/dashboard').set(staffA.auth).expect(200);
      expect(Object.keys((await t.http.get('/docs-json').expect(200)).body.paths)).toEqual(expect.arrayContaining(['/api/v1/dashboard', '/api/v1/dashboard/refresh', '/api/v1/dashboard/me']));
      expect(await until(() => scheduler(), 10_000, 'the schedule to come back')).toMatchObject({ every: 300_000, template: { data: { trigger: 'schedule' } } });
    });

    it('is also switched off, schedule included, with contacts, which it needs', async () => {
      await t.http.patch('/api/v1/features/contacts').set(admin.auth).send(OFF).expect(409);
      await t.http.patch('/api/v1/features/segments').set(admin.auth).send(OFF).expect(200);
      await t.http.patch('/api/v1/features/client-portal').set(admin.auth).send(OFF).expect(200);
      await t.http.patch('/api/v1/features/dashboard').set(admin.auth).send(OFF).expect(200);
      await t.http.patch('/api/v1/features/contacts').set(admin.auth).send(OFF).expect(200);
      await t.http.patch('/api/v1/features/dashboard').set(admin.auth).send(ON).expect(409);
      await t.http.get('/api/v1/dashboard').set(staffA.auth).expect(404);
      await until(async () => ((await scheduler()) ? undefined : true), 10_000, 'the schedule to be removed');
      for (const key of ['contacts', 'dashboard', 'segments', 'client-portal']) await t.http.patch(`/api/v1/features/${key}`).set(admin.auth).send(ON).expect(200);
      await until(() => scheduler(), 10_000, 'the schedule to come back');
    });
  });

  it('computes again when asked after the refresh of the same window finished', async () => {
    await idleQueue();
    await freshRefreshWindow();
    const window = Math.floor(Date.now() / REFRESH_WINDOW_MS);
    const newer = (since: number) =>
      until(async () => {
        const body = (await t.http.get('/api/v1/dashboard').set(admin.auth).expect(200)).body;
        return body.status === 'ready' && new Date(body.computedAt).getTime() >= since ? body : undefined;
      }, 10_000, 'a new snapshot');
    const firstAt = Date.now();
    const first = (await t.http.post('/api/v1/dashboard/refresh').set(admin.auth).expect(202)).body;
    const before = await newer(firstAt);
    await idleQueue();

    await t.db.query(`INSERT INTO contacts (first_name, last_name) VALUES ('Dash', 'after refresh')`);
    const againAt = Date.now();
    const again = (await t.http.post('/api/v1/dashboard/refresh').set(admin.auth).expect(202)).body;
    // Still the same window: the finished job is run again rather than taken for this request.
    expect(Math.floor(againAt / REFRESH_WINDOW_MS)).toBe(window);
    expect(again.jobId).toBe(first.jobId);
    expect(again.currentComputedAt).toBe(before.computedAt);
    const after = await newer(againAt);
    expect(after.metrics.contacts.value).toBe(before.metrics.contacts.value + 1);
  });

  it('shows a new snapshot at once in every API process, not only the one that computed it', async () => {
    const other = await startTestApp({}, new URL(t.databaseUrl).pathname.slice(1));
    try {
      const read = async (app: TestApp) => (await app.http.get('/api/v1/dashboard').set(staffA.auth).expect(200)).body;
      const before = await read(other);
      expect(before).toMatchObject({ status: 'ready', computedAt: (await read(t)).computedAt });
      // Both processes run jobs here; whichever computes the refresh, the other one only hears about it.
      const after = await refreshed(staffA);
      expect(after.computedAt).not.toBe(before.computedAt);
      const seen = await until(async () => {
        const body = await read(other);
        return body.computedAt === after.computedAt ? body : undefined;
      }, 5000, 'the other process to show the new snapshot');
      expect(seen.metrics).toEqual(after.metrics);
    } finally {
      await other.close();
    }
  });
});

describe('dashboard on the embedded default without Redis (in-process jobs)', () => {
  let t: TestApp;
  let admin: Session;
  let jobs: JobsService;

  beforeAll(async () => {
    // A one-second schedule, so scheduled refreshes can be seen coming and going.
    t = await startTestApp({ REDIS_URL: '', DASHBOARD_REFRESH_MS: '1000' });
    admin = await register(t, 'admin');
    jobs = t.app.get(JobsService);
  });
  afterAll(() => t.close());

  /** Every job the refresh queue has seen, whatever its state. */
  const queuedJobs = async () => Object.values((await jobs.counts()).find((queue) => queue.queue === DASHBOARD_REFRESH_QUEUE)!.counts).reduce((sum, n) => sum + n, 0);
  const latest = async () => (await t.http.get('/api/v1/dashboard').set(admin.auth).expect(200)).body;
  const scheduledSince = (moment: number) =>
    t.db.query(`SELECT count(*)::int AS n FROM dashboard_snapshots WHERE trigger = 'schedule' AND computed_at > $1`, [new Date(moment)]) as Promise<Array<{ n: number }>>;

  it('refreshes on demand in this process', async () => {
    expect(jobs.driver.name).toBe('in-process');
    await t.db.query(`INSERT INTO contacts (first_name, last_name, created_at) VALUES ('Embedded', 'One', now()), ('Embedded', 'Two', now())`);
    await freshRefreshWindow();
    const requestedAt = new Date();
    const queued = await t.http.post('/api/v1/dashboard/refresh').set(admin.auth).expect(202);
    expect((await t.http.post('/api/v1/dashboard/refresh').set(admin.auth).expect(202)).body.jobId).toBe(queued.body.jobId);
    // Scheduled snapshots keep arriving every second here, so the manual one is looked up by its trigger.
    const manual = await until(async () => {
      const rows: Array<{ metrics: { contacts: { value: number }; leads: { value: number } } }> = await t.db.query(
        `SELECT metrics FROM dashboard_snapshots WHERE trigger = 'manual' AND computed_at >= $1`,
        [requestedAt],
      );
      return rows[0];
    });
    // The admin's own contact (no lead: staff are none) and the two inserted ones.
    expect(manual.metrics.contacts.value).toBe(3);
    expect(manual.metrics.leads.value).toBe(0);
    expect(await latest()).toMatchObject({ status: 'ready', metrics: { contacts: { value: 3 }, leads: { value: 0 } } });
  });

  it('computes again when asked after the refresh of the same window finished', async () => {
    await freshRefreshWindow();
    const manualSince = (moment: number) =>
      until(async () => {
        const rows: Array<{ metrics: { contacts: { value: number } } }> = await t.db.query(
          `SELECT metrics FROM dashboard_snapshots WHERE trigger = 'manual' AND computed_at >= $1 ORDER BY computed_at DESC LIMIT 1`,
          [new Date(moment)],
        );
        return rows[0];
      }, 10_000, 'a manual snapshot');
    const firstAt = Date.now();
    const first = (await t.http.post('/api/v1/dashboard/refresh').set(admin.auth).expect(202)).body;
    const before = await manualSince(firstAt);
    // Finished, not only written: a request while it still runs shares it.
    await until(async () => ((await jobs.driver.state(DASHBOARD_REFRESH_QUEUE, first.jobId)) === 'completed' ? true : undefined), 5000, 'the refresh to finish');
    await t.db.query(`INSERT INTO contacts (first_name, last_name) VALUES ('Embedded', 'Later')`);
    const againAt = Date.now();
    const again = (await t.http.post('/api/v1/dashboard/refresh').set(admin.auth).expect(202)).body;
    expect(Math.floor(againAt / REFRESH_WINDOW_MS)).toBe(Math.floor(firstAt / REFRESH_WINDOW_MS));
    expect(again.jobId).toBe(first.jobId);
    expect((await manualSince(againAt)).metrics.contacts.value).toBe(before.metrics.contacts.value + 1);
  });

  it('refreshes on the schedule, stops queueing while the feature is off and resumes when it is on', async () => {
    const started = Date.now();
    await until(async () => ((await scheduledSince(started))[0]!.n > 0 ? true : undefined), 10_000, 'a scheduled snapshot');

    await t.http.patch('/api/v1/features/dashboard').set(admin.auth).send({ enabled: false }).expect(200);
    await sleep(300);
    const off = Date.now();
    const queued = await queuedJobs();
    await sleep(2500);
    // With the schedule still there, two more jobs would have been queued (and held back) by now.
    expect(await queuedJobs()).toBe(queued);
    expect((await scheduledSince(off))[0]!.n).toBe(0);

    await t.http.patch('/api/v1/features/dashboard').set(admin.auth).send({ enabled: true }).expect(200);
    const on = Date.now();
    await until(async () => ((await scheduledSince(on))[0]!.n > 0 ? true : undefined), 10_000, 'a scheduled snapshot after switching on');
  });
});
