import { Queue } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { JobsService } from '../../src/core/jobs/jobs.service';
import { createUserWithRoles, register, Session } from '../support/actors';
import { startTestApp, TestApp, TEST_REDIS_URL } from '../support/test-app';
import { until } from '../support/wait';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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

  it('gives a retried job all its attempts again, with backoff, as on its first run', async () => {
    const name = queue('again');
    let runs = 0;
    jobs.define({
      queue: name,
      attempts: 2,
      backoffMs: 50,
      handle: async () => {
        runs += 1;
        throw new Error('still down');
      },
    });
    const id = await jobs.enqueue(name, {});
    await until(async () => (runs === 2 && (await jobs.driver.state(name, id)) === 'failed' ? true : undefined), 15_000, 'the job to fail for good');

    await t.http.post(`/api/v1/jobs/${name}/${id}/retry`).set(admin.auth).expect(204);
    // Between its two runs the job waits delayed, so "failed" after the third run means no backoff retry was left.
    await until(async () => (runs >= 3 && (await jobs.driver.state(name, id)) === 'failed' ? true : undefined), 15_000, 'the job to fail again');
    expect(runs).toBe(4);
    const failed = (await t.http.get(`/api/v1/jobs/${name}/failed`).set(admin.auth).expect(200)).body;
    expect(failed).toEqual([expect.objectContaining({ id, attempts: 2, error: 'still down' })]);
  });

  it('runs a failed job once when it is retried several times at once, and answers the others as for a job that is not failed', async () => {
    const name = queue('twice');
    const runs = new Map<string, number>();
    jobs.define<{ key: string }>({
      queue: name,
      attempts: 1,
      handle: async ({ key }) => {
        runs.set(key, (runs.get(key) ?? 0) + 1);
        if (runs.get(key) === 1) throw new Error('first run fails');
      },
    });
    const [viaHttp, direct] = [await jobs.enqueue(name, { key: 'http' }), await jobs.enqueue(name, { key: 'direct' })];
    const states = async () => [await jobs.driver.state(name, viaHttp), await jobs.driver.state(name, direct)];
    await until(async () => ((await states()).join() === 'failed,failed' ? true : undefined), 15_000, 'both jobs to fail');

    const retries = await Promise.all(Array.from({ length: 6 }, () => t.http.post(`/api/v1/jobs/${name}/${viaHttp}/retry`).set(admin.auth)));
    expect(retries.map((response) => response.status).sort()).toEqual([204, 404, 404, 404, 404, 404]);
    expect(retries.find((response) => response.status === 404)!.body).toMatchObject({ code: 'job_not_found' });
    // Started in the same tick: on BullMQ both calls find the job failed before either moves it.
    const outcomes = await Promise.allSettled([jobs.retry(name, direct), jobs.retry(name, direct)]);
    expect(outcomes.map((outcome) => outcome.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(outcomes.find((outcome) => outcome.status === 'rejected')).toMatchObject({ reason: { status: 404 } });

    await until(async () => ((await states()).join() === 'completed,completed' ? true : undefined), 15_000, 'the retried jobs to complete');
    expect(Object.fromEntries(runs)).toEqual({ http: 2, direct: 2 });
  });

  it("limits a role to the queues its rules name: other queues' jobs are hidden (404), retrying needs update on the queue (403)", async () => {
    const [mine, watched, other] = [queue('mine'), queue('watched'), queue('other')];
    for (const name of [mine, watched, other]) {
      jobs.define({
        queue: name,
        attempts: 1,
        handle: async () => {
          throw new Error(`${name} is down`);
        },
      });
    }
    const ids = { mine: await jobs.enqueue(mine, { secret: 'm' }), watched: await jobs.enqueue(watched, { secret: 'w' }), other: await jobs.enqueue(other, { secret: 'o' }) };
    await until(
      async () => ((await Promise.all([jobs.driver.state(mine, ids.mine), jobs.driver.state(watched, ids.watched), jobs.driver.state(other, ids.other)])).every((s) => s === 'failed') ? true : undefined),
      15_000,
      'the three jobs to fail',
    );
    const role = await t.http
      .post('/api/v1/roles')
      .set(admin.auth)
      .send({
        name: `Queue operator ${mine}`,
        rules: [
          { action: ['read', 'update'], subject: 'Job', conditions: { queue: mine } },
          { action: 'read', subject: 'Job', conditions: { queue: watched } },
        ],
      })
      .expect(201);
    const operator = await createUserWithRoles(t, admin, [role.body.id], 'queueop');

    const overview = (await t.http.get('/api/v1/jobs').set(operator.auth).expect(200)).body;
    expect(overview.queues.map((q: { queue: string }) => q.queue)).toEqual([mine, watched].sort());
    expect((await t.http.get('/api/v1/jobs').set(admin.auth).expect(200)).body.queues.map((q: { queue: string }) => q.queue)).toEqual(expect.arrayContaining([mine, watched, other]));

    expect((await t.http.get(`/api/v1/jobs/${mine}/failed`).set(operator.auth).expect(200)).body).toEqual([expect.objectContaining({ id: ids.mine, payload: { secret: 'm' } })]);
    expect((await t.http.get(`/api/v1/jobs/${watched}/failed`).set(operator.auth).expect(200)).body).toEqual([expect.objectContaining({ id: ids.watched })]);
    const hidden = await t.http.get(`/api/v1/jobs/${other}/failed`).set(operator.auth).expect(404);
    expect(JSON.stringify(hidden.body)).not.toContain('is down');

    await t.http.post(`/api/v1/jobs/${other}/${ids.other}/retry`).set(operator.auth).expect(404);
    const readOnly = await t.http.post(`/api/v1/jobs/${watched}/${ids.watched}/retry`).set(operator.auth).expect(403);
    expect(readOnly.body).toMatchObject({ code: 'forbidden' });
    await t.http.post(`/api/v1/jobs/${mine}/${ids.mine}/retry`).set(operator.auth).expect(204);
    // Refused retries changed nothing.
    expect([await jobs.driver.state(other, ids.other), await jobs.driver.state(watched, ids.watched)]).toEqual(['failed', 'failed']);
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

  it('re-creates, once, the jobs a module says are unfinished and the queue no longer holds', async () => {
    const name = queue('recover');
    // The module's durable state: what is still to do (a lost queue forgets it, this does not).
    const unfinished = new Map<string, { n: number }>([
      ['lost-1', { n: 1 }],
      ['lost-2', { n: 2 }],
    ]);
    const seen: Array<{ n: number }> = [];
    jobs.define<{ n: number }>({
      queue: name,
      handle: async (payload) => {
        seen.push(payload);
        unfinished.delete(`lost-${payload.n}`);
      },
    });
    jobs.recoverWith(name, async () => [...unfinished].map(([jobId, payload]) => ({ jobId, payload, lostOnly: jobId === 'lost-2' })));
    expect(await jobs.recover()).toBeGreaterThanOrEqual(2);
    await until(async () => (seen.length === 2 ? true : undefined), 15_000, 'both jobs to run');
    await jobs.recover();
    await sleep(300);
    expect(seen.sort((a, b) => a.n - b.n)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await jobs.driver.state(name, 'lost-1')).toBe('completed');
  });

  it('never starts a second run of a job running in this process, even when the queue lost it', async () => {
    const name = queue('busy');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const unfinished = new Set(['busy-1']);
    let runs = 0;
    jobs.define({
      queue: name,
      handle: async () => {
        runs += 1;
        await gate;
        unfinished.delete('busy-1');
      },
    });
    jobs.recoverWith(name, async () => [...unfinished].map((jobId) => ({ jobId, payload: {} })));
    await jobs.enqueue(name, {}, { jobId: 'busy-1' });
    await jobs.enqueue(name, {}, { jobId: 'later-1', delayMs: 60_000 });
    try {
      await until(async () => (runs === 1 ? true : undefined), 15_000, 'the job to start');
      expect(await jobs.ensure(name, {}, 'later-1')).toBe('present');
      if (driverName === 'bullmq') {
        // What a Redis restart without persistence does to the queue: every key gone, the running job's too.
        const redisQueue = new Queue(name, { connection: { url: TEST_REDIS_URL }, prefix: new URL(t.databaseUrl).pathname.slice(1) });
        await redisQueue.obliterate({ force: true });
        await redisQueue.close();
        expect(await jobs.driver.state(name, 'busy-1')).toBeNull();
      }
      expect(await jobs.ensure(name, {}, 'busy-1')).toBe('running-here');
      await jobs.recover();
    } finally {
      // Released whatever happened: a job left running would hold up the app's shutdown.
      release();
    }
    await until(async () => (unfinished.size === 0 ? true : undefined), 15_000, 'the job to finish');
    await jobs.recover();
    await sleep(500);
    expect(runs).toBe(1);
  });

  it('runs again a job that failed for good or completed while its work is unfinished, unless asked to leave failed ones', async () => {
    const name = queue('stuck');
    let healthy = false;
    const runs: string[] = [];
    jobs.define<{ id: string }>({
      queue: name,
      attempts: 1,
      handle: async (payload) => {
        runs.push(payload.id);
        if (!healthy && payload.id === 'f') throw new Error('the database is away');
      },
    });
    await jobs.enqueue(name, { id: 'f' }, { jobId: 'stuck-f' });
    await jobs.enqueue(name, { id: 'c' }, { jobId: 'stuck-c' });
    const states = async () => [await jobs.driver.state(name, 'stuck-f'), await jobs.driver.state(name, 'stuck-c')];
    await until(async () => ((await states()).join() === 'failed,completed' ? true : undefined), 15_000, 'one failed and one completed job');

    // Work that cannot tell "failed, retry pending" from "failed" asks for lost jobs only.
    jobs.recoverWith(name, async () => [{ jobId: 'stuck-f', payload: { id: 'f' }, lostOnly: true }]);
    await jobs.recover();
    expect(await states()).toEqual(['failed', 'completed']);

    healthy = true;
    expect(await jobs.ensure(name, { id: 'f' }, 'stuck-f')).toBe('retried');
    expect(await jobs.ensure(name, { id: 'c' }, 'stuck-c')).toBe('re-enqueued');
    await until(async () => ((await states()).join() === 'completed,completed' && runs.length === 4 ? true : undefined), 15_000, 'both to run again');
    expect(runs.sort()).toEqual(['c', 'c', 'f', 'f']);
    await expect(jobs.ensure('no-such-queue', {}, 'x')).rejects.toMatchObject({ status: 404 });
  });

  it('is for admins only', async () => {
    const client = await register(t, 'client');
    await t.http.get('/api/v1/jobs').set(client.auth).expect(403);
    await t.http.get('/api/v1/jobs').expect(401);
  });
});
