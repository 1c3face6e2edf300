import { performance } from 'node:perf_hooks';
import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import { ClusterEventsService } from '../../core/cluster/cluster-events.service';
import { PooledSql } from '../../database/pooled-sql';
import type { SqlStatement } from './contacts.queries';

/** A list's total and how long counting it took (what reading its matches costs, roughly). */
export interface CountedTotal {
  total: number;
  countMs: number;
  /** When the count started (performance.now()). */
  countedAt: number;
}

type RunQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

const LIVE_ROWS_FRESH_MS = 60_000;

export interface ListTotalsTiming {
  /** A total is fresh at least this long, */
  freshMs: number;
  /** or ten times as long as counting took, up to this. */
  freshMaxMs: number;
}

/**
 * Totals of recent list queries, fresh for two seconds, or ten times as long as counting
 * took: counting a million rows costs hundreds of milliseconds, and a busy list asks the
 * same count many times a second; the longer rule keeps recounts of a large selection to a
 * tenth of one core at most. Concurrent requests share one count, and an expired total is
 * served while a new one is counted, so no request queues behind a recount. Writers in this
 * process drop them once they commit; a page that contradicts its kept total (see `checked`)
 * drops them too, so other processes' writes show within that time at worst, and at once
 * where a list's page shows more or fewer rows than its total allows.
 */
export class ListTotals {
  private readonly totals: LRUCache<string, CountedTotal, SqlStatement>;
  private liveRows?: { rows: Promise<number>; at: number };
  /** Bumped by clear(): counts under an earlier generation are never handed out again. */
  private generation = 0;

  constructor(
    private readonly run: RunQuery,
    private readonly timing: ListTotalsTiming = { freshMs: 2000, freshMaxMs: 30_000 },
  ) {
    this.totals = new LRUCache<string, CountedTotal, SqlStatement>({
      max: 2000,
      ttl: timing.freshMs,
      allowStale: true,
      fetchMethod: async (_key, _stale, { context, options }) => {
        const started = performance.now();
        const [row] = await this.run(context.sql, context.params);
        const countMs = performance.now() - started;
        options.ttl = Math.min(this.timing.freshMaxMs, Math.max(this.timing.freshMs, 10 * countMs));
        return { total: Number(row!.total), countMs, countedAt: started };
      },
    });
  }

  /**
   * The statement's total. `continuing` is for the next pages of a list already shown (keyset
   * paging): they answer the total kept from its first page, up to 30 s old, without counting
   * again, so scrolling deep into a large selection does not keep recounting it.
   */
  async count(statement: SqlStatement, continuing = false): Promise<CountedTotal> {
    const key = `${this.generation}\u0000${statement.sql}\u0000${JSON.stringify(statement.params)}`;
    if (continuing) {
      const kept = this.totals.peek(key, { allowStale: true });
      if (kept && performance.now() - kept.countedAt < this.timing.freshMaxMs) return kept;
    }
    return (await this.totals.fetch(key, { context: statement }))!;
  }

  /**
   * The total, checked against the page read after it was counted. A kept total that the page
   * contradicts (rows past its end, or a last page that ends short of it) predates a write this
   * process was not told of, another process's: every kept total may, so all are dropped and
   * this one is counted again. `offset` is undefined for keyset pages.
   */
  async checked(statement: SqlStatement, counted: CountedTotal, page: { offset?: number; limit: number; rows: number }): Promise<CountedTotal> {
    if (pageAgrees(counted.total, page)) return counted;
    this.clear();
    return this.count(statement);
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

  /**
   * Forgets every kept total. Counts still running finish for the requests waiting on them
   * (emptying the cache would abort them, failing those requests) but are kept under the
   * previous generation, which nothing asks for again.
   */
  clear(): void {
    this.generation += 1;
  }
}

/** Whether a page of `rows` read at `offset` (undefined: a keyset page) can belong to a list of `total`. */
export function pageAgrees(total: number, { offset, limit, rows }: { offset?: number; limit: number; rows: number }): boolean {
  if (offset === undefined) return total >= rows;
  if (rows >= limit) return total >= offset + rows;
  // A short page is the last one: it ends the list, unless it is empty past the end.
  if (rows > 0 || offset === 0) return total === offset + rows;
  return total <= offset;
}

/** Published once a write that changed many contacts at once (an import, a lookup's deletion) has committed. */
export const CONTACTS_CHANGED = 'contacts.changed';

/**
 * The contact lists' kept totals: one set per process. Writers of a single contact drop this
 * process's; writers of many drop every process's (`changedEverywhere`).
 */
@Injectable()
export class ContactListTotals extends ListTotals {
  constructor(
    sql: PooledSql,
    private readonly cluster: ClusterEventsService,
  ) {
    super((statement, params) => sql.query(statement, params));
    cluster.on(CONTACTS_CHANGED, () => this.clear());
    cluster.on('cluster.reconnected', () => this.clear());
  }

  /** After a committed write that changed many contacts: every process drops its kept totals. */
  async changedEverywhere(): Promise<void> {
    this.clear();
    // Committed already: a notice that cannot be sent does not fail the write (totals expire on their own).
    await this.cluster.publish(CONTACTS_CHANGED, null).catch(() => undefined);
  }
}
