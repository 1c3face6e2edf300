import { Injectable, Logger, NotFoundException, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { FeaturesService } from '../features/features.service';
import { BullMqJobDriver } from './drivers/bullmq.driver';
import { InProcessJobDriver } from './drivers/in-process.driver';
import type { EnqueueOptions, FailedJob, JobDefinition, JobDriver, QueueCounts } from './job.types';

/** How long a job of a switched-off feature waits before it is looked at again. */
const HOLD_BACK_MS = 60_000;

/**
 * The one queue layer: modules declare their jobs here and enqueue by queue name; the
 * driver is BullMQ when REDIS_URL is set and this process's memory otherwise. Whether this
 * process runs jobs is configuration (JOBS_PROCESS); a worker process always does.
 */
@Injectable()
export class JobsService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  private readonly definitions = new Map<string, JobDefinition>();
  private readonly schedules: Array<{ queue: string; id: string; everyMs: number; payload: unknown }> = [];
  readonly driver: JobDriver;
  private started = false;

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

  /** Runs `queue` every `everyMs` (one schedule per id across all processes with BullMQ). */
  async schedule(queue: string, id: string, everyMs: number, payload: unknown = {}): Promise<void> {
    this.schedules.push({ queue, id, everyMs, payload });
    if (this.started) await this.driver.schedule(this.definition(queue), id, everyMs, payload);
  }

  async unschedule(queue: string, id: string): Promise<void> {
    await this.driver.unschedule(this.definition(queue), id);
  }

  async counts(): Promise<QueueCounts[]> {
    return Promise.all([...this.definitions.keys()].sort().map(async (queue) => ({ queue, counts: await this.driver.counts(queue) })));
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

  async onApplicationBootstrap(): Promise<void> {
    if (!this.processing()) {
      this.logger.log('Jobs are queued here and run by worker processes (JOBS_PROCESS=false)');
    } else {
      for (const definition of this.definitions.values()) await this.start(definition);
      this.logger.log(`Running jobs of ${this.definitions.size} queue(s) with the ${this.driver.name} driver`);
    }
    this.started = true;
    for (const schedule of this.schedules) await this.driver.schedule(this.definition(schedule.queue), schedule.id, schedule.everyMs, schedule.payload);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.driver.close();
  }

  /** An embedded deployment has no other process to run its jobs, so it always runs them. */
  private processing(): boolean {
    return this.config.jobs.process || this.driver.name === 'in-process';
  }

  private start(definition: JobDefinition): Promise<void> {
    return this.driver.process(definition, (payload, context) => definition.handle(payload, context), () => this.holdBack(definition));
  }

  private holdBack(definition: JobDefinition): number | null {
    if (definition.feature && !this.features.isEnabled(definition.feature as never)) {
      this.logger.warn(`Holding back a ${definition.queue} job: the "${definition.feature}" feature is off`);
      return HOLD_BACK_MS;
    }
    return null;
  }

  private definition(queue: string): JobDefinition {
    const definition = this.definitions.get(queue);
    if (!definition) throw new NotFoundException({ message: `There is no queue "${queue}"`, code: 'queue_not_found' });
    return definition;
  }
}
