/** What a job handler gets besides its payload. */
export interface JobContext {
  id: string;
  /** 1 on the first run, then 2, 3… on retries. */
  attempt: number;
  /** Reports progress, readable by admins through the jobs API. */
  progress(value: number | Record<string, unknown>): Promise<void>;
}

/** A kind of job, declared once and run the same way on both drivers. */
export interface JobDefinition<T = unknown> {
  /** Queue name, e.g. `contacts.import`. */
  queue: string;
  /** Jobs of a switched-off feature are held back (delayed) until it is on again. */
  feature?: string;
  /** Jobs of this queue one process runs at the same time. */
  concurrency?: number;
  /** Runs in all, first included. */
  attempts?: number;
  /** First retry delay; each further retry waits twice as long. */
  backoffMs?: number;
  /**
   * How long a running job stays claimed without a heartbeat; after that a job whose worker
   * died is handed to another worker. Shorter means faster takeover, more Redis traffic.
   */
  lockMs?: number;
  /** How often a job may be taken over from a dead worker before it counts as failed. */
  maxTakeovers?: number;
  handle(payload: T, context: JobContext): Promise<unknown>;
}

export interface EnqueueOptions {
  /** Same id, same job: enqueueing twice does not run it twice. */
  jobId?: string;
  delayMs?: number;
}

export type JobState = 'waiting' | 'active' | 'delayed' | 'completed' | 'failed';

/** A job that must exist while its work is unfinished, as its module's durable state says. */
export interface ExpectedJob<T = unknown> {
  jobId: string;
  payload: T;
  /**
   * Re-create the job only if the queue holds no trace of it; a job that failed for good stays
   * failed. For work whose durable state cannot tell "failed, a retry is pending" from "failed".
   */
  lostOnly?: boolean;
}

/**
 * Lists, from durable state (PostgreSQL), the jobs of one queue whose work is unfinished. The
 * queue layer re-creates any that the queue no longer holds: Redis restarted without its
 * data, or an embedded process stopped with jobs in memory. Must be cheap: it runs on start,
 * on every Redis reconnect and periodically.
 */
export type JobRecovery<T = unknown> = () => Promise<Array<ExpectedJob<T>>>;

export interface QueueCounts {
  queue: string;
  counts: Record<JobState, number>;
}

export interface FailedJob {
  id: string;
  queue: string;
  payload: unknown;
  error: string;
  attempts: number;
  failedAt: Date | null;
}

/** How jobs are stored and run: Redis (BullMQ) or this process's memory. */
export interface JobDriver {
  readonly name: 'bullmq' | 'in-process';
  enqueue(definition: JobDefinition, payload: unknown, options: EnqueueOptions): Promise<string>;
  /** Starts running this queue's jobs in this process. */
  process(definition: JobDefinition, run: (payload: unknown, context: JobContext) => Promise<unknown>, holdBack: () => number | null): Promise<void>;
  schedule(definition: JobDefinition, schedulerId: string, everyMs: number, payload: unknown): Promise<void>;
  unschedule(definition: JobDefinition, schedulerId: string): Promise<void>;
  counts(queue: string): Promise<Record<JobState, number>>;
  /** Where a job is, or null when the queue does not hold it (never enqueued, removed or lost). */
  state(queue: string, id: string): Promise<JobState | null>;
  /** Forgets a job that is not running (a completed one, so that its id can be enqueued again). */
  remove(queue: string, id: string): Promise<void>;
  /** Called after the connection to the queue store came back (a Redis restart may have lost jobs). */
  onReconnect(listener: () => void): void;
  failed(queue: string, start: number, end: number): Promise<FailedJob[]>;
  retry(queue: string, id: string): Promise<boolean>;
  /** Stops taking jobs, lets running ones finish, closes connections. */
  close(): Promise<void>;
}
