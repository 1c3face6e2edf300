import { Queue } from 'bullmq';
import { DASHBOARD_REFRESH_QUEUE, DASHBOARD_SCHEDULE_ID } from '../../src/modules/dashboard/jobs/dashboard-refresh.job';
import { LAST_CONTACTED_QUEUE, LAST_CONTACTED_SCHEDULE_ID } from '../../src/modules/contacts/activities.service';
import { register, Session } from '../support/actors';
import { Child, freePort, startRedis } from '../support/processes';
import { clearQueues, createDatabase, dropDatabase, startTestApp, TestApp } from '../support/test-app';
import { until } from '../support/wait';

/** How long a request may take to answer while Redis is away: well under any client's timeout. */
const ANSWER_WITHIN_MS = 8000;

describe('the API while its Redis does not answer', () => {
  let t: TestApp | undefined;
  let admin: Session;
  let port: number;
  let redis: (Child & { url: string }) | undefined;
  let database: string;
  let importId: string;

  const timed = async <T>(request: PromiseLike<T>): Promise<{ response: T; ms: number }> => {
    const started = Date.now();
    const response = await request;
    return { response, ms: Date.now() - started };
  };

  const schedulers = async (): Promise<string[]> => {
    const ids: string[] = [];
    for (const name of [DASHBOARD_REFRESH_QUEUE, LAST_CONTACTED_QUEUE]) {
      const queue = new Queue(name, { connection: { url: redis!.url }, prefix: database });
      try {
        ids.push(...(await queue.getJobSchedulers()).map((scheduler) => scheduler.key));
      } finally {
        await queue.close();
      }
    }
    return ids.sort();
  };

  beforeAll(async () => {
    database = await createDatabase();
    port = await freePort();
    // Nothing listens there yet: start-up must not wait for it.
    t = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${port}/0` }, database);
    // Signing up and in are throttled in the process meanwhile, not refused.
    admin = await register(t, 'admin');
  }, 60_000);

  afterAll(async () => {
    await t?.close();
    await redis?.kill();
    await clearQueues(database);
    await dropDatabase(database);
  });

  it('starts, answers /health, and answers 503 where a queue is needed', async () => {
    await t!.http.get('/health').expect(200);
    const { response, ms } = await timed(t!.http.get('/api/v1/jobs').set(admin.auth));
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ statusCode: 503, code: 'queue_unavailable' });
    expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    const failed = await t!.http.get(`/api/v1/jobs/${DASHBOARD_REFRESH_QUEUE}/failed`).set(admin.auth);
    expect(failed.status).toBe(503);
    const refresh = await t!.http.post('/api/v1/dashboard/refresh').set(admin.auth);
    expect(refresh.status).toBe(503);
  });

  it('queues an import all the same: it runs once Redis is back', async () => {
    const uploaded = (await t!.http.post('/api/v1/contacts/imports').set(admin.auth).attach('file', Buffer.from('First Name,Email\nQueued,queued@example.com\n'), 'queued.csv').expect(201)).body;
    importId = uploaded.id;
    await t!.http.put(`/api/v1/contacts/imports/${importId}/settings`).set(admin.auth).send({ columns: uploaded.columns, mode: 'create' }).expect(200);
    const { response, ms } = await timed(t!.http.post(`/api/v1/contacts/imports/${importId}/run`).set(admin.auth));
    expect({ status: response.status, importStatus: response.body.status }).toEqual({ status: 202, importStatus: 'queued' });
    expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    // Started once: a second run is refused, not queued twice.
    expect((await t!.http.post(`/api/v1/contacts/imports/${importId}/run`).set(admin.auth)).status).toBe(409);
  });

  it('applies the schedules once Redis comes, answers 503 again, promptly, when it goes, and still shuts down', async () => {
    redis = await startRedis(port);
    await until(async () => ((await t!.http.get('/api/v1/jobs').set(admin.auth)).status === 200 ? true : undefined), 20_000, 'the jobs API to answer');
    await until(async () => ((await schedulers()).join() === [DASHBOARD_SCHEDULE_ID, LAST_CONTACTED_SCHEDULE_ID].sort().join() ? true : undefined), 20_000, 'the schedules');
    const imported = await until(
      async () => {
        const body = (await t!.http.get(`/api/v1/contacts/imports/${importId}`).set(admin.auth).expect(200)).body;
        return body.status === 'completed' ? body : undefined;
      },
      60_000,
      'the queued import to run',
    );
    expect(imported.counts).toMatchObject({ created: 1 });

    await redis.kill();
    const { response, ms } = await timed(t!.http.get('/api/v1/jobs').set(admin.auth));
    expect(response.status).toBe(503);
    expect(response.body).toMatchObject({ code: 'queue_unavailable' });
    expect(ms).toBeLessThan(ANSWER_WITHIN_MS);
    await t!.http.get('/health').expect(200);

    const closing = t!;
    t = undefined;
    expect((await timed(closing.close())).ms).toBeLessThan(ANSWER_WITHIN_MS);
  });
});
