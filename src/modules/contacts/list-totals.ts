import { LRUCache } from 'lru-cache';
import { performance } from 'node:perf_hooks';
import type { SqlStatement } from './contacts.queries';

/** A list's total and how long counting it took (what reading its matches costs, roughly). */
export interface CountedTotal {
  total: number;
  countMs: number;
}

type RunQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

const FRESH_MS = 2000;
const FRESH_MAX_MS = 30_000;
const LIVE_ROWS_FRESH_MS = 60_000;

/**
 * Totals of recent list queries, fresh for two seconds, or ten times as long as counting
 * took: counting a million rows costs hundreds of milliseconds, and a busy list asks the
 * same count many times a second; the longer rule keeps recounts of a large selection to a
 * tenth of one core at most. Concurrent requests share one count, and an expired total is
 * served while a new one is counted, so no request queues behind a recount. The owner drops
 * them on its own writes; other processes' writes show within that time plus one count.
 */
export class ListTotals {
  private readonly totals: LRUCache<string, CountedTotal, SqlStatement>;
  private liveRows?: { rows: Promise<number>; at: number };

  constructor(private readonly run: RunQuery) {
    this.totals = new LRUCache<string, CountedTotal, SqlStatement>({
      max: 2000,
      ttl: FRESH_MS,
      allowStale: true,
      fetchMethod: async (_key, _stale, { context, options }) => {
        const started = performance.now();
        const [row] = await this.run(context.sql, context.params);
        const countMs = performance.now() - started;
        options.ttl = Math.min(FRESH_MAX_MS, Math.max(FRESH_MS, 10 * countMs));
        return { total: Number(row!.total), countMs };
      },
    });
  }

  async count(statement: SqlStatement): Promise<CountedTotal> {
    return (await this.totals.fetch(`${statement.sql}\u0000${JSON.stringify(statement.params)}`, { context: statement }))!;
  }

  /** The planner's estimate of the contacts table's rows (trash included), refreshed every minute. */
  estimatedContacts(): Promise<number> {
    if (!this.liveRows || performance.now() - this.liveRows.at > LIVE_ROWS_FRESH_MS) {
      const rows = this.run(`SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = 'contacts'::regclass`, []).then(([row]) => Number(row?.n ?? 0));
      rows.catch(() => (this.liveRows = undefined));
      this.liveRows = { rows, at: performance.now() };
    }
    return this.liveRows.rows;
  }

  clear(): void {
    this.totals.clear();
  }
}
