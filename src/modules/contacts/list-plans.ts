import { LRUCache } from 'lru-cache';
import { performance } from 'node:perf_hooks';
import { listPlan, SPARSE_SELECTION_ROWS, walkEstimateMs, type ListPlan, type SqlStatement } from './contacts.queries';

/** How long a page took with each plan, smoothed over the last few reads. */
interface PlanTimings {
  walk?: number;
  sparse?: number;
}

/** Weight of the newest timing: one slow read (a pause, a busy moment) does not flip a plan. */
const SMOOTHING = 0.3;
/**
 * What is learnt about a selection is kept this long from its first read, however often it is
 * read, then learnt again: the data changes, and the plan not taken is never timed again.
 */
const REMEMBER_MS = 10 * 60_000;

/**
 * Chooses how a filtered page is read (walking the order's index or sorting the few matches)
 * and learns from how long each read took. The first choice is `listPlan`'s estimate, which
 * cannot know the indexes: a walk is priced as if it tested rows across the whole table, while
 * a filter led by an index that keeps the list's order (assignee and status, by creation)
 * walks only its own rows and finds a page in ~1 ms where sorting its matches costs ~50 ms.
 * So a page slower than the other plan's estimate makes the next read of that selection try
 * the other plan, and from then on the faster one is taken. Until both were tried, an untried
 * sparse read is priced at its count's time, an untried walk at `walkEstimateMs`.
 */
export class ListPlans {
  private readonly timings: LRUCache<string, PlanTimings>;

  constructor(rememberMs = REMEMBER_MS) {
    this.timings = new LRUCache<string, PlanTimings>({ max: 2000, ttl: rememberMs });
  }

  /** Names a page's reads: the same matches in the same order, the same rows to pass. */
  static key(count: SqlStatement, orderSql: string, rowsToPage: number): string {
    return `${count.sql}\u0000${JSON.stringify(count.params)}\u0000${orderSql}\u0000${rowsToPage}`;
  }

  choose(key: string, filtered: boolean, matches: { total: number; countMs: number }, tableRows: number, rowsToPage: number): ListPlan {
    if (!filtered || matches.total > SPARSE_SELECTION_ROWS) return 'walk';
    const seen = this.timings.get(key);
    if (!seen) return listPlan(filtered, matches, tableRows, rowsToPage);
    const walk = seen.walk ?? walkEstimateMs(matches.total, tableRows, rowsToPage);
    const sparse = seen.sparse ?? matches.countMs;
    return walk <= sparse ? 'walk' : 'sparse';
  }

  /** Reads a page with `plan` and records how long it took. */
  async timed<T>(key: string, plan: ListPlan, read: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const rows = await read();
    this.observe(key, plan, performance.now() - started);
    return rows;
  }

  /** Records how long a page read with `plan` took. */
  observe(key: string, plan: ListPlan, ms: number): void {
    const seen = this.timings.get(key) ?? {};
    const before = seen[plan];
    this.timings.set(key, { ...seen, [plan]: before === undefined ? ms : before + SMOOTHING * (ms - before) }, { noUpdateTTL: true });
  }
}
