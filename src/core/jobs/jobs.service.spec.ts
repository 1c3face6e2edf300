import { ForbiddenException, Logger, NotFoundException } from '@nestjs/common';
import type { AppConfig } from '../../config/app-config';
import { buildAbility } from '../access/app-ability';
import type { FeaturesService } from '../features/features.service';
import { queueUnavailable } from './drivers/bullmq.driver';
import type { JobDriver } from './job.types';
import { JobsService } from './jobs.service';

/** An API process (it runs no jobs) on the in-process driver, or on `driver` when given. */
function service(driver?: Partial<JobDriver>): JobsService {
  const config = { redisUrl: undefined, jobs: { process: false, prefix: 'test' } } as unknown as AppConfig;
  const jobs = new JobsService(config, { isEnabled: () => true } as unknown as FeaturesService);
  if (driver) Object.assign(jobs, { driver: { name: 'bullmq', onReconnect: () => undefined, close: async () => undefined, ...driver } });
  return jobs;
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('JobsService', () => {
  // The warnings these cases provoke are expected (each spec file has its own Logger).
  beforeAll(() => Logger.overrideLogger(false));

  describe('with a queue store that does not answer', () => {
    it('starts without waiting to apply the schedules, and applies them when the store is back', async () => {
      const reconnected: Array<() => void> = [];
      // The first attempt never settles, as with Redis away and commands kept until it answers.
      const schedule = jest.fn().mockReturnValueOnce(new Promise<void>(() => undefined)).mockResolvedValue(undefined);
      const jobs = service({ schedule, onReconnect: (listener) => void reconnected.push(listener) });
      jobs.define({ queue: 'reports', handle: async () => undefined });
      await jobs.schedule('reports', 'nightly', 60_000, { kind: 'nightly' });
      expect(schedule).not.toHaveBeenCalled();

      await jobs.onApplicationBootstrap();
      expect(schedule).toHaveBeenCalledTimes(1);
      for (const listener of reconnected) listener();
      await flush();
      expect(schedule).toHaveBeenCalledTimes(2);
      expect(schedule).toHaveBeenLastCalledWith(expect.objectContaining({ queue: 'reports' }), 'nightly', 60_000, { kind: 'nightly' });
      await jobs.onApplicationShutdown();
    });

    it('keeps a schedule set while the store is away instead of failing its caller, and still reports other errors', async () => {
      const reconnected: Array<() => void> = [];
      const schedule = jest.fn().mockResolvedValue(undefined);
      const jobs = service({ schedule, onReconnect: (listener) => void reconnected.push(listener) });
      jobs.define({ queue: 'reports', handle: async () => undefined });
      await jobs.onApplicationBootstrap();

      schedule.mockRejectedValueOnce(queueUnavailable());
      await expect(jobs.schedule('reports', 'hourly', 3_600_000)).resolves.toBeUndefined();
      for (const listener of reconnected) listener();
      await flush();
      expect(schedule).toHaveBeenLastCalledWith(expect.objectContaining({ queue: 'reports' }), 'hourly', 3_600_000, {});

      schedule.mockRejectedValueOnce(new Error('a bug'));
      await expect(jobs.schedule('reports', 'daily', 86_400_000)).rejects.toThrow('a bug');
      await jobs.onApplicationShutdown();
    });
  });

  describe('with a queue store that goes away and comes back', () => {
    it('removes a schedule dropped while the store was away once it is back, unless it was set again', async () => {
      const reconnected: Array<() => void> = [];
      const schedule = jest.fn().mockResolvedValue(undefined);
      const unschedule = jest.fn().mockResolvedValue(undefined);
      const jobs = service({ schedule, unschedule, onReconnect: (listener) => void reconnected.push(listener) });
      jobs.define({ queue: 'reports', handle: async () => undefined });
      await jobs.schedule('reports', 'nightly', 60_000);
      await jobs.schedule('reports', 'hourly', 3_600_000);
      await jobs.onApplicationBootstrap();
      await flush();

      unschedule.mockRejectedValue(queueUnavailable());
      await expect(jobs.unschedule('reports', 'nightly')).resolves.toBeUndefined();
      await expect(jobs.unschedule('reports', 'hourly')).resolves.toBeUndefined();
      // Switched on again before the store came back: kept.
      await jobs.schedule('reports', 'hourly', 3_600_000);
      unschedule.mockReset().mockResolvedValue(undefined);
      schedule.mockClear();

      for (const listener of reconnected) listener();
      await flush();
      expect(unschedule.mock.calls.map(([, id]) => id)).toEqual(['nightly']);
      expect(schedule.mock.calls.map(([, id]) => id)).toEqual(['hourly']);

      unschedule.mockRejectedValueOnce(new Error('a bug'));
      await expect(jobs.unschedule('reports', 'hourly')).rejects.toThrow('a bug');
      await jobs.onApplicationShutdown();
    });
  });

  describe('for a caller whose rules name queues', () => {
    const operator = buildAbility([
      { action: ['read', 'update'], subject: 'Job', conditions: { queue: 'mine' } },
      { action: 'read', subject: 'Job', conditions: { queue: 'watched' } },
    ]);
    let jobs: JobsService;

    beforeEach(async () => {
      jobs = service();
      for (const queue of ['mine', 'other', 'watched']) jobs.define({ queue, handle: async () => undefined });
      await jobs.enqueue('other', {}, { jobId: 'o1' });
    });
    afterEach(() => jobs.onApplicationShutdown());

    it('counts the queues they may read, and every queue for the process itself', async () => {
      expect((await jobs.counts(operator)).map((entry) => entry.queue)).toEqual(['mine', 'watched']);
      expect((await jobs.counts()).map((entry) => entry.queue)).toEqual(['mine', 'other', 'watched']);
      expect(await jobs.counts(buildAbility([{ action: 'manage', subject: 'all' }]))).toHaveLength(3);
    });

    it('reports a queue they may not read as missing, and refuses a retry they may only read', async () => {
      await expect(jobs.failedFor(operator, 'mine', 1, 25)).resolves.toEqual([]);
      await expect(jobs.failedFor(operator, 'other', 1, 25)).rejects.toBeInstanceOf(NotFoundException);
      await expect(jobs.retryFor(operator, 'other', 'o1')).rejects.toBeInstanceOf(NotFoundException);
      await expect(jobs.retryFor(operator, 'watched', 'w1')).rejects.toBeInstanceOf(ForbiddenException);
      // Allowed, so the answer is about the job: there is no failed job with that id.
      await expect(jobs.retryFor(operator, 'mine', 'm1')).rejects.toMatchObject({ response: { code: 'job_not_found' } });
      await expect(jobs.failedFor(operator, 'no-such-queue', 1, 25)).rejects.toBeInstanceOf(NotFoundException);
    });
  });
});
