import { Logger, ServiceUnavailableException } from '@nestjs/common';
import { DelayedError, ErrorCode, Job, Queue, Worker } from 'bullmq';
import Redis, { RedisOptions } from 'ioredis';
import type { EnqueueOptions, FailedJob, JobContext, JobDefinition, JobDriver, JobState } from '../job.types';

/** A progress report waits at most this long for Redis: the job's work must not stall on it. */
const PROGRESS_TIMEOUT_MS = 2000;
/** Connections come back one by one after a Redis restart; listeners hear of it once. */
const RECONNECT_SETTLE_MS = 1000;
/** How long a queue operation waits for a connection attempt under way before answering that Redis is away. */
const CONNECT_WAIT_MS = 3000;
/** Errors of a command that Redis never answered: the connection failed under it. */
const CONNECTION_ERROR = /Connection is closed|enableOfflineQueue|max retries per request|ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT/i;

/** What requests get while Redis is away (503), instead of waiting for it. */
export function queueUnavailable(): ServiceUnavailableException {
  return new ServiceUnavailableException({ message: 'The job queue (Redis) does not answer; try again shortly', code: 'queue_unavailable' });
}

/**
 * Jobs in Redis through BullMQ: the driver for PostgreSQL + Redis deployments, where any
 * number of worker processes share the queues and a killed worker's jobs are taken over.
 */
export class BullMqJobDriver implements JobDriver {
  readonly name = 'bullmq' as const;
  private readonly logger = new Logger('Jobs');
  private readonly queues = new Map<string, { queue: Queue; connection: Redis }>();
  private readonly workers: Array<{ worker: Worker; connection: Redis }> = [];
  private readonly connections: Redis[] = [];
  private readonly reconnectListeners: Array<() => void> = [];
  private reconnectTimer?: NodeJS.Timeout;
  private closing = false;
  /** An operation was refused for want of Redis since listeners last heard from it. */
  private refused = false;

  /** `prefix` namespaces the Redis keys, so deployments sharing a Redis never take each other's jobs. */
  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
  ) {}

  /**
   * Workers' connections keep their commands until Redis answers (BullMQ wants maxRetriesPerRequest
   * null on blocking connections); queues' connections are given bounded options by their callers.
   */
  private connection(options: RedisOptions = { maxRetriesPerRequest: null }): Redis {
    const connection = new Redis(this.redisUrl, options);
    connection.on('error', (error) => this.logger.warn(`Redis (jobs): ${error.message}`));
    let lost = false;
    connection.on('close', () => (lost = true));
    connection.on('ready', () => {
      // After a refused operation too: a first attempt that outlasted the wait may end ready without a 'close'.
      if (!(lost || this.refused) || this.closing) return;
      lost = false;
      this.refused = false;
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

  private queue(name: string): { queue: Queue; connection: Redis } {
    let entry = this.queues.get(name);
    if (!entry) {
      // Queues serve requests: while Redis is away their commands fail at once instead of waiting for it.
      const connection = this.connection({ maxRetriesPerRequest: 1, enableOfflineQueue: false });
      const queue = new Queue(name, { connection, prefix: this.prefix });
      // Without a listener BullMQ prints connection errors to the console itself.
      queue.on('error', (error) => this.logger.warn(`Queue ${name}: ${error.message}`));
      const created = { queue, connection };
      // BullMQ keeps a failed start for good (Redis went away again as it connected): the next use starts afresh.
      queue.waitUntilReady().catch(() => {
        if (this.closing || this.queues.get(name) !== created) return;
        this.queues.delete(name);
        void queue.close().catch(() => undefined);
        connection.disconnect();
      });
      this.queues.set(name, (entry = created));
    }
    return entry;
  }

  /** Runs `operation` on a queue, or answers 503 within a bounded time while Redis does not answer. */
  private async onQueue<T>(name: string, operation: (queue: Queue) => Promise<T>): Promise<T> {
    const { queue, connection } = this.queue(name);
    try {
      await this.reachable(connection);
      return await operation(queue);
    } catch (error) {
      if (error instanceof ServiceUnavailableException || connection.status !== 'ready' || CONNECTION_ERROR.test((error as Error).message)) {
        this.refused = true;
        throw queueUnavailable();
      }
      throw error;
    }
  }

  /** Resolves once the connection is ready; waits only for an attempt under way, and at most CONNECT_WAIT_MS. */
  private reachable(connection: Redis): Promise<void> {
    if (connection.status === 'ready') return Promise.resolve();
    if (connection.status !== 'connecting' && connection.status !== 'connect') return Promise.reject(queueUnavailable());
    return new Promise((resolve, reject) => {
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        connection.off('ready', ready);
        connection.off('close', failed);
        connection.off('end', failed);
        if (ok) resolve();
        else reject(queueUnavailable());
      };
      const ready = () => settle(true);
      const failed = () => settle(false);
      const timer = setTimeout(failed, CONNECT_WAIT_MS);
      connection.once('ready', ready);
      connection.once('close', failed);
      connection.once('end', failed);
    });
  }

  async enqueue(definition: JobDefinition, payload: unknown, options: EnqueueOptions): Promise<string> {
    const job = await this.onQueue(definition.queue, (queue) =>
      queue.add(definition.queue, payload, {
        jobId: options.jobId,
        delay: options.delayMs,
        attempts: definition.attempts ?? 3,
        backoff: { type: 'exponential', delay: definition.backoffMs ?? 5000 },
        removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
        removeOnFail: { age: 30 * 24 * 3600 },
      }),
    );
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
    this.workers.push({ worker, connection });
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
    await this.onQueue(definition.queue, (queue) => queue.upsertJobScheduler(schedulerId, { every: everyMs }, { name: definition.queue, data: payload }));
  }

  async unschedule(definition: JobDefinition, schedulerId: string): Promise<void> {
    await this.onQueue(definition.queue, (queue) => queue.removeJobScheduler(schedulerId));
  }

  async counts(queue: string): Promise<Record<JobState, number>> {
    const counts = await this.onQueue(queue, (q) => q.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized'));
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      completed: counts.completed ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  async state(queue: string, id: string): Promise<JobState | null> {
    const state = await this.onQueue(queue, (q) => q.getJobState(id));
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
    await this.onQueue(queue, async (q) => {
      const job = await q.getJob(id);
      if (job && (await job.isCompleted())) await job.remove();
    });
  }

  async failed(queue: string, start: number, end: number): Promise<FailedJob[]> {
    const jobs = await this.onQueue(queue, (q) => q.getFailed(start, end));
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
    return this.onQueue(queue, async (q) => {
      const job = await q.getJob(id);
      if (!job) return false;
      try {
        // A retry is a new start: all the job's attempts again, as the in-process driver gives.
        await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
        return true;
      } catch (error) {
        // Not failed, or no longer: another retry of it may have come first. Answered as for any job that is not failed.
        const code = (error as { code?: unknown }).code;
        if (code === ErrorCode.JobNotInState || code === ErrorCode.JobNotExist) return false;
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    // Workers first: close() lets running jobs finish (a killed process's jobs are taken over as stalled).
    // Without Redis no job can record its end, and waiting for it would hold the shutdown forever.
    await Promise.allSettled(this.workers.map(({ worker, connection }) => worker.close(connection.status !== 'ready')));
    await Promise.allSettled([...this.queues.values()].map(({ queue }) => queue.close()));
    // quit() waits for Redis (or is refused without an offline queue): a connection that is not up just stops.
    await Promise.allSettled(this.connections.map((connection) => (connection.status === 'ready' ? connection.quit() : connection.disconnect())));
  }
}
