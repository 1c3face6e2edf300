import { SingleBar } from 'cli-progress';

export interface ProgressSnapshot {
  status: string;
  processed: number;
  total: number;
  counts: { created: number; updated: number; skipped: number; failed: number };
  /** A word on why the numbers do not move (queued, retrying…). */
  note?: string;
}

const RATE_WINDOW_MS = 15_000;

export const formatCount = (value: number): string => value.toLocaleString('en-US');

export function formatDuration(ms: number): string {
  if (ms < 9950) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** Rows per second over the last few seconds, and the time left at that pace. */
class RateMeter {
  private samples: Array<{ at: number; processed: number }> = [];

  add(processed: number, at = Date.now()): void {
    const last = this.samples[this.samples.length - 1];
    // A resumed import starts from its checkpoint: measure from there, not from zero.
    if (last && processed < last.processed) this.samples = [];
    this.samples.push({ at, processed });
    while (this.samples.length > 2 && at - this.samples[1]!.at > RATE_WINDOW_MS) this.samples.shift();
  }

  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 500 || last.processed === first.processed) return undefined;
    return ((last.processed - first.processed) * 1000) / (last.at - first.at);
  }

  eta(remaining: number): string {
    const rate = this.rate();
    if (remaining <= 0) return '0s';
    return rate ? formatDuration((remaining / rate) * 1000) : '-';
  }
}

/**
 * Shows an import's progress: a bar that redraws in place on a terminal, and plain lines at
 * a steady pace otherwise (CI logs, redirected output), so a log stays readable.
 */
export class ProgressReporter {
  private readonly meter = new RateMeter();
  private bar?: SingleBar;
  private lastLineAt = 0;
  private lastStatus?: string;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly options: { tty: boolean; intervalMs: number },
  ) {}

  update(snapshot: ProgressSnapshot): void {
    if (snapshot.status === 'running') this.meter.add(snapshot.processed);
    if (this.options.tty) return this.draw(snapshot);
    const now = Date.now();
    if (snapshot.status !== this.lastStatus || now - this.lastLineAt >= this.options.intervalMs) {
      this.lastLineAt = now;
      this.lastStatus = snapshot.status;
      this.out.write(`${this.line(snapshot)}\n`);
    }
  }

  /** Prints the last state as a line of its own and leaves the terminal clean. */
  finish(snapshot: ProgressSnapshot): void {
    if (this.bar) {
      this.draw(snapshot);
      this.bar.stop();
      this.bar = undefined;
    } else {
      this.out.write(`${this.line(snapshot)}\n`);
    }
  }

  rowsPerSecond(): number | undefined {
    return this.meter.rate();
  }

  private draw(snapshot: ProgressSnapshot): void {
    const payload = {
      state: snapshot.note ?? snapshot.status,
      created: formatCount(snapshot.counts.created),
      updated: formatCount(snapshot.counts.updated),
      skipped: formatCount(snapshot.counts.skipped),
      failed: formatCount(snapshot.counts.failed),
      rate: this.rateText(),
      etaText: this.meter.eta(snapshot.total - snapshot.processed),
    };
    if (!this.bar) {
      this.bar = new SingleBar({
        stream: this.out,
        format: '{bar} {percentage}% {value}/{total} rows | created {created} updated {updated} skipped {skipped} failed {failed} | {rate} | ETA {etaText} | {state}',
        hideCursor: true,
        barsize: 24,
        fps: 5,
        clearOnComplete: false,
        stopOnComplete: false,
      });
      this.bar.start(Math.max(snapshot.total, 1), snapshot.processed, payload);
    } else {
      this.bar.setTotal(Math.max(snapshot.total, 1));
      this.bar.update(snapshot.processed, payload);
    }
  }

  private line(snapshot: ProgressSnapshot): string {
    const percent = snapshot.total ? Math.floor((snapshot.processed * 100) / snapshot.total) : 0;
    const { created, updated, skipped, failed } = snapshot.counts;
    return [
      `[${new Date().toISOString().slice(11, 19)}] ${snapshot.note ?? snapshot.status} ${formatCount(snapshot.processed)}/${formatCount(snapshot.total)} rows (${percent}%)`,
      `created ${formatCount(created)} updated ${formatCount(updated)} skipped ${formatCount(skipped)} failed ${formatCount(failed)}`,
      this.rateText(),
      `ETA ${this.meter.eta(snapshot.total - snapshot.processed)}`,
    ].join(' | ');
  }

  private rateText(): string {
    const rate = this.meter.rate();
    return rate ? `${formatCount(Math.round(rate))} rows/s` : '- rows/s';
  }
}
