import { Injectable, Logger, NotFoundException, OnApplicationBootstrap, OnApplicationShutdown, ServiceUnavailableException } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { AppAbility, subjectOf } from '../access/app-ability';
import { assertCanOnRecord } from '../access/record-access';
import { FeaturesService } from '../features/features.service';
import { BullMqJobDriver } from './drivers/bullmq.driver';
import { InProcessJobDriver } from './drivers/in-process.driver';
import type { EnqueueOptions, ExpectedJob, FailedJob, JobDefinition, JobDriver, JobRecovery, QueueCounts } from './job.types';

/** How long a job of a switched-off feature waits before it is looked at again. */
const HOLD_BACK_MS = 60_000;
/** How often processes that run jobs look for lost ones, besides on start and on every Redis reconnect. */
const RECOVERY_INTERVAL_MS = 30_000;

/** What {@link JobsService.ensure} found and did. */
export type EnsureOutcome = 'present' | 'running-here' | 'enqueued' | 'retried' | 're-enqueued';

/**
 * The one queue layer: modules declare their jobs here and enqueue by queue name; the
 * driver is BullMQ when REDIS_URL is set and this process's memory otherwise. Whether this
 * process runs jobs is configuration (JOBS_PROCESS); a worker process always does.
 */
@Injectable()
export class JobsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  private readonly definitions = new Map<string, JobDefinition>();
  /** The schedules this process set, by queue and id: applied again when Redis may have lost them. */
  private readonly schedules = new Map<string, { queue: string; id: string; everyMs: number; payload: unknown }>();
  /** Schedules removed while Redis was away: removed from it once it is back. */
  private readonly removals = new Map<string, { queue: string; id: string }>();
  private readonly recoveries = new Map<string, JobRecovery>();
  /** Jobs this process is running now, by queue and id, so recovery never starts them twice. */
  private readonly runningHere = new Map<string, number>();
  readonly driver: JobDriver;
  private started = false;
  private stopped = false;
  private recoveryTimer?: NodeJS.Timeout;
  private recovering?: Promise<number>;
  private recoverAgain = false;

  constructor(
    private readonly config: AppConfig,
    private readonly features: FeaturesService,
  ) {
    this.driver = config.redisUrl ? new BullMqJobDriver(config.redisUrl, config.jobs.prefix) : new InProcessJobDriver();
  }

  /** Declares a kind of job; call from a module's onModuleInit (later works too). */
  define<T>(definition: JobDefinition<T>): void {
    this.definitions.set(definition.queue, definition as JobDefinition);
    if (this.started && this.processing()) void this.start(definition as JobDefinition);
  }

  async enqueue<T>(queue: string, payload: T, options: EnqueueOptions = {}): Promise<string> {
    return this.driver.enqueue(this.definition(queue), payload, options);
  }

  /**
   * Runs `queue` every `everyMs` (one schedule per id across all processes with BullMQ). While
   * Redis is away the schedule is kept here and applied when it is back.
   */
  async schedule(queue: string, id: string, everyMs: number, payload: unknown = {}): Promise<void> {
    this.schedules.set(`${queue}\u0000${id}`, { queue, id, everyMs, payload });
    this.removals.delete(`${queue}\u0000${id}`);
    if (!this.started) return;
    try {
      await this.driver.schedule(this.definition(queue), id, everyMs, payload);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      this.logger.warn(`The ${queue} schedule "${id}" is applied when Redis is back: ${error.message}`);
    }
  }

  async unschedule(queue: string, id: string): Promise<void> {
    const key = `${queue}\u0000${id}`;
    this.schedules.delete(key);
    try {
      await this.driver.unschedule(this.definition(queue), id);
      this.removals.delete(key);
    } catch (error) {
      if (!(error instanceof ServiceUnavailableException)) throw error;
      this.removals.set(key, { queue, id });
      this.logger.warn(`The ${queue} schedule "${id}" is removed when Redis is back: ${error.message}`);
    }
  }

  /** Job counts per queue: of every queue, or given a caller's ability, of those they may read. */
  async counts(ability?: AppAbility): Promise<QueueCounts[]> {
    const readable = this.queues().filter((queue) => !ability || ability.can('read', subjectOf('Job', { queue })));
    return Promise.all(readable.map(async (queue) => ({ queue, counts: await this.driver.counts(queue) })));
  }

  /** {@link failed} for a caller, who must be allowed to read the queue's jobs. */
  async failedFor(ability: AppAbility, queue: string, page: number, limit: number): Promise<FailedJob[]> {
    this.assertCan(ability, 'read', queue);
    return this.failed(queue, page, limit);
  }

  /** {@link retry} for a caller, who must be allowed to update the queue's jobs. */
  async retryFor(ability: AppAbility, queue: string, id: string): Promise<void> {
    this.assertCan(ability, 'update', queue);
    await this.retry(queue, id);
  }

  async failed(queue: string, page: number, limit: number): Promise<FailedJob[]> {
    this.definition(queue);
    return this.driver.failed(queue, (page - 1) * limit, page * limit - 1);
  }

  async retry(queue: string, id: string): Promise<void> {
    this.definition(queue);
    if (!(await this.driver.retry(queue, id))) throw new NotFoundException({ message: 'No failed job with that id in this queue', code: 'job_not_found' });
  }

  queues(): string[] {
    return [...this.definitions.keys()].sort();
  }

  /**
   * Declares where a queue's unfinished work is recorded durably. Processes that run jobs
   * compare that with the queue on start, on every Redis reconnect and every 30 s, and
   * re-create what the queue lost (see {@link ensure}). Call from a module's onModuleInit.
   */
  recoverWith<T>(queue: string, expected: JobRecovery<T>): void {
    this.recoveries.set(queue, expected as JobRecovery);
  }

  /**
   * Makes sure a job whose work is unfinished will run: enqueued again when the queue does not
   * hold it, retried when it failed for good, run again when it is marked completed. A job that
   * is waiting, delayed or running (here or in another worker) is left alone.
   */
  async ensure<T>(queue: string, payload: T, jobId: string): Promise<EnsureOutcome> {
    const definition = this.definition(queue);
    const found = await this.inspect(queue, jobId);
    if (found === 'running-here' || found === 'present') return found;
    return this.restore(definition, { jobId, payload }, found);
  }

  /** One pass over every declared recovery; returns how many jobs were re-created. Never throws. */
  recover(): Promise<number> {
    if (this.recovering) {
      this.recoverAgain = true;
      return this.recovering;
    }
    this.recovering = (async () => {
      let restored = 0;
      do {
        this.recoverAgain = false;
        for (const queue of this.recoveries.keys()) restored += await this.recoverQueue(queue);
      } while (this.recoverAgain && !this.stopped);
      return restored;
    })().finally(() => (this.recovering = undefined));
    return this.recovering;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.processing()) {
      this.logger.log('Jobs are queued here and run by worker processes (JOBS_PROCESS=false)');
    } else {
      for (const definition of this.definitions.values()) await this.start(definition);
      this.logger.log(`Running jobs of ${this.definitions.size} queue(s) with the ${this.driver.name} driver`);
    }
    this.started = true;
    // Not awaited: with Redis down, start-up must not wait for it; its return applies them (below).
    void this.reschedule();
    // A Redis that restarted without its data lost schedules and queued jobs alike.
    this.driver.onReconnect(() => {
      if (this.stopped) return;
      void this.reschedule();
      if (this.processing()) void this.recover();
    });
    if (this.processing()) {
      // Not awaited: with Redis down, start-up must not wait for it.
      void this.recover();
      this.recoveryTimer = setInterval(() => void this.recover(), RECOVERY_INTERVAL_MS);
      this.recoveryTimer.unref();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.recoveryTimer);
    await this.driver.close();
  }

  private async reschedule(): Promise<void> {
    for (const [key, removal] of this.removals) {
      try {
        await this.driver.unschedule(this.definition(removal.queue), removal.id);
        this.removals.delete(key);
      } catch (error) {
        this.logger.warn(`Could not remove the ${removal.queue} schedule "${removal.id}": ${(error as Error).message}`);
      }
    }
    for (const schedule of this.schedules.values()) {
      try {
        await this.driver.schedule(this.definition(schedule.queue), schedule.id, schedule.everyMs, schedule.payload);
      } catch (error) {
        this.logger.warn(`Could not apply the ${schedule.queue} schedule "${schedule.id}": ${(error as Error).message}`);
      }
    }
  }

  private async recoverQueue(queue: string): Promise<number> {
    const definition = this.definitions.get(queue);
    const expected = this.recoveries.get(queue)!;
    if (!definition || this.stopped) return 0;
    try {
      const suspects: Array<{ job: ExpectedJob; found: 'completed' | 'failed' | null }> = [];
      for (const job of await expected()) {
        const found = await this.inspect(queue, job.jobId);
        if (found === 'present' || found === 'running-here' || (job.lostOnly && found !== null)) continue;
        suspects.push({ job, found });
      }
      if (!suspects.length) return 0;
      // Listed again after looking at the queue: a job finishes by recording its outcome
      // durably first, so one that just finished drops out here instead of running twice.
      const unfinished = new Set((await expected()).map((job) => job.jobId));
      let restored = 0;
      for (const { job, found } of suspects) {
        if (this.stopped || !unfinished.has(job.jobId) || this.runsHere(queue, job.jobId)) continue;
        const outcome = await this.restore(definition, job, found);
        this.logger.warn(`Job ${queue}/${job.jobId} ${outcome}: ${found === null ? 'the queue had lost it' : `it was ${found} while its work is unfinished`}`);
        restored += 1;
      }
      return restored;
    } catch (error) {
      this.logger.warn(`Could not look for lost ${queue} jobs: ${(error as Error).message}`);
      return 0;
    }
  }

  /** 'present' for a job that will run or is running elsewhere; otherwise where it is (null: nowhere). */
  private async inspect(queue: string, jobId: string): Promise<'running-here' | 'present' | 'completed' | 'failed' | null> {
    if (this.runsHere(queue, jobId)) return 'running-here';
    const state = await this.driver.state(queue, jobId);
    return state === null || state === 'completed' || state === 'failed' ? state : 'present';
  }

  private async restore(definition: JobDefinition, job: ExpectedJob, found: 'completed' | 'failed' | null): Promise<'enqueued' | 'retried' | 're-enqueued'> {
    if (found === 'failed' && (await this.driver.retry(definition.queue, job.jobId))) return 'retried';
    if (found === 'completed') await this.driver.remove(definition.queue, job.jobId);
    await this.driver.enqueue(definition, job.payload, { jobId: job.jobId });
    return found === null ? 'enqueued' : 're-enqueued';
  }

  private runsHere(queue: string, jobId: string): boolean {
    return this.runningHere.has(`${queue}\u0000${jobId}`);
  }

  /** An embedded deployment has no other process to run its jobs, so it always runs them. */
  private processing(): boolean {
    return this.config.jobs.process || this.driver.name === 'in-process';
  }

  private start(definition: JobDefinition): Promise<void> {
    return this.driver.process(
      definition,
      async (payload, context) => {
        const key = `${definition.queue}\u0000${context.id}`;
        this.runningHere.set(key, (this.runningHere.get(key) ?? 0) + 1);
        try {
          return await definition.handle(payload, context);
        } finally {
          const left = this.runningHere.get(key)! - 1;
          if (left) this.runningHere.set(key, left);
          else this.runningHere.delete(key);
        }
      },
      () => this.holdBack(definition),
    );
  }

  private holdBack(definition: JobDefinition): number | null {
    if (definition.feature && !this.features.isEnabled(definition.feature as never)) {
      this.logger.warn(`Holding back a ${definition.queue} job: the "${definition.feature}" feature is off`);
      return HOLD_BACK_MS;
    }
    return null;
  }

  /** A queue the caller may not read is reported as missing, like one that does not exist. */
  private assertCan(ability: AppAbility, action: 'read' | 'update', queue: string): void {
    assertCanOnRecord(ability, action, 'Job', { queue }, `There is no queue "${queue}"`);
  }

  private definition(queue: string): JobDefinition {
    const definition = this.definitions.get(queue);
    if (!definition) throw new NotFoundException({ message: `There is no queue "${queue}"`, code: 'queue_not_found' });
    return definition;
  }
}
