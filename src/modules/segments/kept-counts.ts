import { LRUCache } from 'lru-cache';
import { performance } from 'node:perf_hooks';

export interface KeptCountsOptions {
  /** Counts that took at least this long are kept; cheaper ones are always counted again. */
  slowMs: number;
  /** A kept count is fresh this long; */
  freshMs: number;
  /** then answered, while it is counted again, until this age; older ones are waited for. */
  staleMs: number;
  max: number;
}

/**
 * Slow counts kept by key (the statement and its parameters). A fresh one is answered as is;
 * an older one is answered while a single query counts again, so a busy caller never waits
 * for a recount; past `staleMs` the caller waits. Concurrent callers share one query.
 */
export class KeptCounts {
  private readonly kept: LRUCache<string, { count: number; at: number }>;
  private readonly counting = new Map<string, Promise<number>>();

  constructor(private readonly options: KeptCountsOptions) {
    this.kept = new LRUCache({ max: options.max, ttl: options.staleMs });
  }

  get(key: string, count: () => Promise<number>): Promise<number> {
    const kept = this.kept.get(key);
    if (kept && Date.now() - kept.at < this.options.freshMs) return Promise.resolve(kept.count);
    let counting = this.counting.get(key);
    if (!counting) {
      const at = Date.now();
      const started = performance.now();
      counting = count()
        .then((value) => {
          if (performance.now() - started >= this.options.slowMs) this.kept.set(key, { count: value, at });
          else this.kept.delete(key);
          return value;
        })
        .finally(() => this.counting.delete(key));
      this.counting.set(key, counting);
      // Answered from the kept count: a failure surfaces to whoever waits for the next one.
      if (kept) counting.catch(() => undefined);
    }
    return kept ? Promise.resolve(kept.count) : counting;
  }
}
