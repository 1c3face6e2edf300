import { randomUUID } from 'node:crypto';
import { JobsService } from '../../src/core/jobs/jobs.service';
import { register, Session } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';
import { until } from '../support/wait';

/** The same checks against both drivers: BullMQ on Redis, and in-process for the embedded shape. */
describe.each([
  ['bullmq', {}],
  ['in-process', { REDIS_URL: '' }],
] as const)('jobs on the %s driver', (driverName, env) => {
  let t: TestApp;
  let admin: Session;
  let jobs: JobsService;
  const queue = (name: string) => `test.${name}.${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    t = await startTestApp(env);
    admin = await register(t, 'admin');
    jobs = t.app.get(JobsService);
  });
  afterAll(() => t.close());

  it('runs a declared job with its payload, once per job id', async () => {
    expect(jobs.driver.name).toBe(driverName);
    const seen: unknown[] = [];
    const name = queue('echo');
    jobs.define({ queue: name, handle: async (payload) => void seen.push(payload) });
    await jobs.enqueue(name, { n: 1 }, { jobId: 'only-once' });
    await jobs.enqueue(name, { n: 1 }, { jobId: 'only-once' });
    await until(async () => (seen.length === 1 ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen).toEqual([{ n: 1 }]);
    const overview = (await t.http.get('/api/v1/jobs').set(admin.auth).expect(200)).body;
    expect(overview.driver).toBe(driverName);
    expect(overview.queues.find((q: { queue: string }) => q.queue === name).counts).toMatchObject({ completed: 1, failed: 0 });
  });

  it('retries with backoff, lists what failed with its error, and runs it again on request', async () => {
    const name = queue('flaky');
    let attempts = 0;
    let healthy = false;
    jobs.define({
      queue: name,
      attempts: 2,
      backoffMs: 50,
      handle: async () => {
        attempts += 1;
        if (!healthy) throw new Error('the remote end is down');
      },
    });
    const id = await jobs.enqueue(name, { k: 'v' });
    const failed = await until(async () => {
      const list = (await t.http.get(`/api/v1/jobs/${name}/failed`).set(admin.auth).expect(200)).body;
      return list.length ? list : undefined;
    }, 15_000);
    expect(attempts).toBe(2);
    expect(failed).toEqual([expect.objectContaining({ id, queue: name, error: 'the remote end is down', attempts: 2, payload: { k: 'v' } })]);

    healthy = true;
    await t.http.post(`/api/v1/jobs/${name}/${id}/retry`).set(admin.auth).expect(204);
    await until(async () => (attempts === 3 ? true : undefined));
    await until(async () => {
      const overview = (await t.http.get('/api/v1/jobs').set(admin.auth).expect(200)).body;
      const counts = overview.queues.find((q: { queue: string }) => q.queue === name).counts;
      return counts.completed === 1 && counts.failed === 0 ? true : undefined;
    }, 15_000);
    await t.http.post(`/api/v1/jobs/${name}/${id}/retry`).set(admin.auth).expect(404);
    await t.http.get('/api/v1/jobs/no-such-queue/failed').set(admin.auth).expect(404);
  });

  it('holds back the jobs of a switched-off feature instead of running or dropping them', async () => {
    const name = queue('held');
    const seen: unknown[] = [];
    jobs.define({ queue: name, feature: 'visitors', handle: async (payload) => void seen.push(payload) });
    await jobs.enqueue(name, { held: true });
    await until(async () => {
      const overview = (await t.http.get('/api/v1/jobs').set(admin.auth).expect(200)).body;
      return overview.queues.find((q: { queue: string }) => q.queue === name).counts.delayed === 1 ? true : undefined;
    }, 15_000);
    expect(seen).toEqual([]);
  });

  it('is for admins only', async () => {
    const client = await register(t, 'client');
    await t.http.get('/api/v1/jobs').set(client.auth).expect(403);
    await t.http.get('/api/v1/jobs').expect(401);
  });
});
