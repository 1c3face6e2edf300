import { Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { EnqueueOptions, FailedJob, JobContext, JobDefinition, JobDriver, JobState } from '../job.types';

interface MemoryJob {
  id: string;
  queue: string;
  payload: unknown;
  attempts: number;
  state: JobState;
  runAt: number;
  error?: string;
  failedAt?: Date;
}

/**
 * Jobs in this process's memory, for the embedded single-process shape only: durable state
 * belongs in PostgreSQL (an import row and its checkpoint), so a restart resumes from there.
 */
export class InProcessJobDriver implements JobDriver {
  readonly name = 'in-process' as const;
  private readonly logger = new Logger('Jobs');
  private readonly jobs = new Map<string, MemoryJob>();
  private readonly runners = new Map<string, { definition: JobDefinition; run: (payload: unknown, context: JobContext) => Promise<unknown>; holdBack: () => number | null; active: number }>();
  private readonly schedules = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private timer?: NodeJS.Timeout;
  private closed = false;

  async enqueue(definition: JobDefinition, payload: unknown, options: EnqueueOptions): Promise<string> {
    const id = options.jobId ?? randomUUID();
    // As with BullMQ, a job id that is still known (even completed) is not run again.
    if (this.jobs.has(id)) return id;
    this.jobs.set(id, { id, queue: definition.queue, payload, attempts: 0, state: options.delayMs ? 'delayed' : 'waiting', runAt: Date.now() + (options.delayMs ?? 0) });
    this.tick();
    return id;
  }

  async process(definition: JobDefinition, run: (payload: unknown, context: JobContext) => Promise<unknown>, holdBack: () => number | null): Promise<void> {
    this.runners.set(definition.queue, { definition, run, holdBack, active: 0 });
    this.timer ??= setInterval(() => this.tick(), 250);
    this.timer.unref();
    this.tick();
  }

  async schedule(definition: JobDefinition, schedulerId: string, everyMs: number, payload: unknown): Promise<void> {
    await this.unschedule(definition, schedulerId);
    const timer = setInterval(() => void this.enqueue(definition, payload, { jobId: `${schedulerId}:${Math.floor(Date.now() / everyMs)}` }), everyMs);
    timer.unref();
    this.schedules.set(`${definition.queue}:${schedulerId}`, timer);
  }

  async unschedule(definition: JobDefinition, schedulerId: string): Promise<void> {
    const key = `${definition.queue}:${schedulerId}`;
    clearInterval(this.schedules.get(key));
    this.schedules.delete(key);
  }

  async counts(queue: string): Promise<Record<JobState, number>> {
    const counts: Record<JobState, number> = { waiting: 0, active: 0, delayed: 0, completed: 0, failed: 0 };
    for (const job of this.jobs.values()) if (job.queue === queue) counts[job.state] += 1;
    return counts;
  }

  async state(queue: string, id: string): Promise<JobState | null> {
    const job = this.jobs.get(id);
    return job && job.queue === queue ? job.state : null;
  }

  async remove(queue: string, id: string): Promise<void> {
    const job = this.jobs.get(id);
    if (job && job.queue === queue && job.state !== 'active') this.jobs.delete(id);
  }

  /** Memory never comes back with less than it had: there is nothing to hear. */
  onReconnect(): void {}

  async failed(queue: string, start: number, end: number): Promise<FailedJob[]> {
    return [...this.jobs.values()]
      .filter((job) => job.queue === queue && job.state === 'failed')
      .sort((a, b) => (b.failedAt?.getTime() ?? 0) - (a.failedAt?.getTime() ?? 0))
      .slice(start, end + 1)
      .map((job) => ({ id: job.id, queue, payload: job.payload, error: job.error ?? '', attempts: job.attempts, failedAt: job.failedAt ?? null }));
  }

  async retry(queue: string, id: string): Promise<boolean> {
    const job = this.jobs.get(id);
    if (!job || job.queue !== queue || job.state !== 'failed') return false;
    Object.assign(job, { state: 'waiting', attempts: 0, runAt: Date.now(), error: undefined, failedAt: undefined });
    this.tick();
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const timer of this.schedules.values()) clearInterval(timer);
    await Promise.allSettled([...this.running]);
  }

  /** Keeps the newest completed jobs only, as BullMQ does with removeOnComplete. */
  private forgetOldCompleted(keep = 1000): void {
    const completed = [...this.jobs.values()].filter((job) => job.state === 'completed');
    for (const job of completed.slice(0, Math.max(0, completed.length - keep))) this.jobs.delete(job.id);
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const job of this.jobs.values()) {
      if ((job.state !== 'waiting' && job.state !== 'delayed') || job.runAt > now) continue;
      const runner = this.runners.get(job.queue);
      if (!runner || runner.active >= (runner.definition.concurrency ?? 1)) continue;
      const heldFor = runner.holdBack();
      if (heldFor !== null) {
        Object.assign(job, { state: 'delayed', runAt: now + heldFor });
        continue;
      }
      job.state = 'active';
      job.attempts += 1;
      runner.active += 1;
      const context: JobContext = { id: job.id, attempt: job.attempts, progress: async () => undefined };
      const done = runner
        .run(job.payload, context)
        .then(() => {
          job.state = 'completed';
          this.forgetOldCompleted();
        })
        .catch((error: Error) => {
          const attempts = runner.definition.attempts ?? 3;
          if (job.attempts < attempts) {
            Object.assign(job, { state: 'delayed', runAt: Date.now() + (runner.definition.backoffMs ?? 5000) * 2 ** (job.attempts - 1), error: error.message });
          } else {
            Object.assign(job, { state: 'failed', error: error.message, failedAt: new Date() });
            this.logger.error(`Job ${job.queue}/${job.id} failed after ${job.attempts} attempt(s): ${error.message}`);
          }
        })
        .finally(() => {
          runner.active -= 1;
          this.running.delete(done);
          this.tick();
        });
      this.running.add(done);
    }
  }
}
