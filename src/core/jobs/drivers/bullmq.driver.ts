import { Logger } from '@nestjs/common';
import { DelayedError, Job, Queue, Worker } from 'bullmq';
import Redis from 'ioredis';
import type { EnqueueOptions, FailedJob, JobContext, JobDefinition, JobDriver, JobState } from '../job.types';

/** A progress report waits at most this long for Redis: the job's work must not stall on it. */
const PROGRESS_TIMEOUT_MS = 2000;
/** Connections come back one by one after a Redis restart; listeners hear of it once. */
const RECONNECT_SETTLE_MS = 1000;

/**
 * Jobs in Redis through BullMQ: the driver for PostgreSQL + Redis deployments, where any
 * number of worker processes share the queues and a killed worker's jobs are taken over.
 */
export class BullMqJobDriver implements JobDriver {
  readonly name = 'bullmq' as const;
  private readonly logger = new Logger('Jobs');
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private readonly connections: Redis[] = [];
  private readonly reconnectListeners: Array<() => void> = [];
  private reconnectTimer?: NodeJS.Timeout;
  private closing = false;

  /** `prefix` namespaces the Redis keys, so deployments sharing a Redis never take each other's jobs. */
  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
  ) {}

  private connection(): Redis {
    // BullMQ wants maxRetriesPerRequest null on blocking connections.
    const connection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    connection.on('error', (error) => this.logger.warn(`Redis (jobs): ${error.message}`));
    let lost = false;
    connection.on('close', () => (lost = true));
    connection.on('ready', () => {
      if (!lost || this.closing) return;
      lost = false;
      this.reconnected();
    });
    this.connections.push(connection);
    return connection;
  }

  private reconnected(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.logger.log('Redis (jobs): connection restored');
      for (const listener of this.reconnectListeners) listener();
    }, RECONNECT_SETTLE_MS);
    this.reconnectTimer.unref();
  }

  onReconnect(listener: () => void): void {
    this.reconnectListeners.push(listener);
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection(), prefix: this.prefix });
      // Without a listener BullMQ prints connection errors to the console itself.
      queue.on('error', (error) => this.logger.warn(`Queue ${name}: ${error.message}`));
      this.queues.set(name, queue);
    }
    return queue;
  }

  async enqueue(definition: JobDefinition, payload: unknown, options: EnqueueOptions): Promise<string> {
    const job = await this.queue(definition.queue).add(definition.queue, payload, {
      jobId: options.jobId,
      delay: options.delayMs,
      attempts: definition.attempts ?? 3,
      backoff: { type: 'exponential', delay: definition.backoffMs ?? 5000 },
      removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
      removeOnFail: { age: 30 * 24 * 3600 },
    });
    return job.id!;
  }

  async process(definition: JobDefinition, run: (payload: unknown, context: JobContext) => Promise<unknown>, holdBack: () => number | null): Promise<void> {
    const connection = this.connection();
    const worker = new Worker(
      definition.queue,
      async (job: Job, token?: string) => {
        const heldFor = holdBack();
        if (heldFor !== null) {
          // The feature is off: keep the job, try again later, without spending an attempt.
          await job.moveToDelayed(Date.now() + heldFor, token);
          throw new DelayedError();
        }
        return run(job.data, { id: job.id!, attempt: job.attemptsMade + 1, progress: (value) => this.progress(job, connection, value) });
      },
      {
        connection,
        prefix: this.prefix,
        concurrency: definition.concurrency ?? 1,
        lockDuration: definition.lockMs ?? 30_000,
        stalledInterval: definition.lockMs ?? 30_000,
        maxStalledCount: definition.maxTakeovers ?? 1,
      },
    );
    worker.on('failed', (job, error) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) this.logger.error(`Job ${definition.queue}/${job.id} failed after ${job.attemptsMade} attempt(s): ${error.message}`);
    });
    worker.on('error', (error) => this.logger.warn(`Worker ${definition.queue}: ${error.message}`));
    this.workers.push(worker);
  }

  /**
   * Progress is for people watching; the job's own state is durable elsewhere. So a report
   * never holds the job up while Redis is away, nor fails it when a restarted Redis lost it.
   */
  private async progress(job: Job, connection: Redis, value: number | Record<string, unknown>): Promise<void> {
    if (connection.status !== 'ready') return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([job.updateProgress(value), new Promise((resolve) => (timer = setTimeout(resolve, PROGRESS_TIMEOUT_MS)))]);
    } catch (error) {
      this.logger.warn(`Progress of ${job.queueName}/${job.id} not recorded: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async schedule(definition: JobDefinition, schedulerId: string, everyMs: number, payload: unknown): Promise<void> {
    await this.queue(definition.queue).upsertJobScheduler(schedulerId, { every: everyMs }, { name: definition.queue, data: payload });
  }

  async unschedule(definition: JobDefinition, schedulerId: string): Promise<void> {
    await this.queue(definition.queue).removeJobScheduler(schedulerId);
  }

  async counts(queue: string): Promise<Record<JobState, number>> {
    const counts = await this.queue(queue).getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized');
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  async state(queue: string, id: string): Promise<JobState | null> {
    const state = await this.queue(queue).getJobState(id);
    switch (state) {
      case 'unknown':
        return null;
      case 'prioritized':
      case 'waiting-children':
        return 'waiting';
      default:
        return state as JobState;
    }
  }

  async remove(queue: string, id: string): Promise<void> {
    const job = await this.queue(queue).getJob(id);
    if (job && (await job.isCompleted())) await job.remove();
  }

  async failed(queue: string, start: number, end: number): Promise<FailedJob[]> {
    const jobs = await this.queue(queue).getFailed(start, end);
    return jobs.map((job) => ({
      id: job.id!,
      queue,
      payload: job.data,
      error: job.failedReason ?? '',
      attempts: job.attemptsMade,
      failedAt: job.finishedOn ? new Date(job.finishedOn) : null,
    }));
  }

  async retry(queue: string, id: string): Promise<boolean> {
    const job = await this.queue(queue).getJob(id);
    if (!job || !(await job.isFailed())) return false;
    await job.retry('failed');
    return true;
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    // Workers first: close() lets running jobs finish (a killed process's jobs are taken over as stalled).
    await Promise.allSettled(this.workers.map((worker) => worker.close()));
    await Promise.allSettled([...this.queues.values()].map((queue) => queue.close()));
    await Promise.allSettled(this.connections.map((connection) => connection.quit()));
  }
}
