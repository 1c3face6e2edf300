import { LRUCache } from 'lru-cache';
import { performance } from 'node:perf_hooks';
import { listPlan, SPARSE_SELECTION_ROWS, walkEstimateMs, type ListPlan, type SqlStatement } from './contacts.queries';

/** How long a page took with each plan, smoothed over the last few reads, and when each was last timed. */
interface PlanTimings {
  walk?: number;
  sparse?: number;
  walkAt?: number;
  sparseAt?: number;
  /** When a reader was last sent to try the plan not taken. */
  triedAt?: number;
}

/** A selection's first read while it is under way: readers arriving meanwhile wait for its time. */
interface FirstRead {
  plan: ListPlan;
  ended: Promise<void>;
  end: () => void;
}

/** Weight of the newest timing: one slow read (a pause, a busy moment) does not flip a plan. */
const SMOOTHING = 0.3;
/**
 * What is learnt about a selection is kept this long from its first read, however often it is
 * read, then learnt again: the data changes.
 */
const REMEMBER_MS = 10 * 60_000;
/** The longest a reader waits for a selection's first read to tell its time. */
const MAX_WAIT_MS = 50;
/**
 * At most one reader per this interval tries the plan not taken: when it has no time yet, or its
 * time is older than this. Two times taken under different loads do not compare (a plan timed
 * while many reads ran at once looks slow for good), so it is timed again under today's load.
 */
const TRY_OTHER_MS = 1_000;

/**
 * Chooses how a filtered page is read (walking the order's index or sorting the few matches)
 * and learns from how long each read took. The first choice is `listPlan`'s estimate, which
 * cannot know the indexes: a walk is priced as if it tested rows across the whole table, while
 * a filter led by an index that keeps the list's order (assignee and status, by creation)
 * walks only its own rows and finds a page in ~1 ms where sorting its matches costs ~50 ms.
 * So a plan not yet timed is priced at its estimate (a walk at `walkEstimateMs`, sorting at the
 * count's time), and the faster is taken.
 *
 * Many readers of one selection at once must not all take a plan whose time is unknown: fifty
 * sorts of the same matches at once took seconds each, where one walk takes a millisecond, and
 * made the sort look slow for good. So readers arriving during a selection's first read wait
 * for its time (`pick`), never longer than the other plan is estimated to take; and a plan with
 * no time, or one too old to compare, is tried by one reader at a time while the others keep to
 * the plan timed.
 */
export class ListPlans {
  private readonly timings: LRUCache<string, PlanTimings>;
  /** When each read under way began, by selection and plan. */
  private readonly underWay = new Map<string, Record<ListPlan, number[]>>();
  private readonly firstReads = new Map<string, FirstRead>();

  constructor(
    rememberMs = REMEMBER_MS,
    private readonly tryOtherMs = TRY_OTHER_MS,
  ) {
    this.timings = new LRUCache<string, PlanTimings>({ max: 2000, ttl: rememberMs });
  }

  /** Names a page's reads: the same matches in the same order, the same rows to pass. */
  static key(count: SqlStatement, orderSql: string, rowsToPage: number): string {
    return `${count.sql}\u0000${JSON.stringify(count.params)}\u0000${orderSql}\u0000${rowsToPage}`;
  }

  /**
   * `choose` for a reader about to read with `timed`. The first reader of a selection not yet
   * timed reads at once; those arriving before its read ends wait for its time, or until it has
   * run longer than the other plan is estimated to take.
   */
  async pick(key: string, filtered: boolean, matches: { total: number; countMs: number }, tableRows: number, rowsToPage: number): Promise<ListPlan> {
    if (!filtered || matches.total > SPARSE_SELECTION_ROWS || this.timings.has(key)) return this.choose(key, filtered, matches, tableRows, rowsToPage);
    const first = this.firstReads.get(key);
    if (!first) {
      // Taken before any await: readers resumed in the same turn (after one shared count) see it.
      const plan = this.choose(key, filtered, matches, tableRows, rowsToPage);
      let end: () => void = () => undefined;
      const ended = new Promise<void>((resolve) => (end = resolve));
      this.firstReads.set(key, { plan, ended, end });
      return plan;
    }
    const other = first.plan === 'sparse' ? walkEstimateMs(matches.total, tableRows, rowsToPage) : matches.countMs;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([first.ended, new Promise((resolve) => (timer = setTimeout(resolve, Math.min(MAX_WAIT_MS, other) + 1)))]);
    clearTimeout(timer);
    return this.choose(key, filtered, matches, tableRows, rowsToPage);
  }

  choose(key: string, filtered: boolean, matches: { total: number; countMs: number }, tableRows: number, rowsToPage: number): ListPlan {
    if (!filtered || matches.total > SPARSE_SELECTION_ROWS) return 'walk';
    const seen = this.timings.get(key);
    const running = this.underWay.get(key);
    if (!seen && !running) return listPlan(filtered, matches, tableRows, rowsToPage);
    const now = performance.now();
    const estimate: Record<ListPlan, number> = { walk: walkEstimateMs(matches.total, tableRows, rowsToPage), sparse: matches.countMs };
    if (!seen) {
      // Only first reads under way: each plan is at least as slow as its oldest read so far.
      const runningFor = (plan: ListPlan) => (running?.[plan].length ? now - running[plan][0]! : 0);
      return Math.max(estimate.walk, runningFor('walk')) <= Math.max(estimate.sparse, runningFor('sparse')) ? 'walk' : 'sparse';
    }
    const price = (plan: ListPlan) => seen[plan] ?? estimate[plan];
    const best: ListPlan = price('walk') <= price('sparse') ? 'walk' : 'sparse';
    const other: ListPlan = best === 'walk' ? 'sparse' : 'walk';
    const mayTry = now - (seen.triedAt ?? -Infinity) > this.tryOtherMs;
    if (seen[best] === undefined) {
      // Priced by its estimate only: one reader tries it, the others keep to the plan timed.
      if (mayTry && !running?.[best].length) {
        seen.triedAt = now;
        return best;
      }
      return other;
    }
    const otherAt = seen[`${other}At`];
    if (otherAt !== undefined && now - otherAt > this.tryOtherMs && mayTry) {
      seen.triedAt = now;
      return other;
    }
    return best;
  }

  /** Reads a page with `plan` and records how long it took. */
  async timed<T>(key: string, plan: ListPlan, read: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const running = this.underWay.get(key) ?? { walk: [], sparse: [] };
    this.underWay.set(key, running);
    // Reads begin in time order, so the oldest under way is always the first.
    running[plan].push(started);
    try {
      const rows = await read();
      this.observe(key, plan, performance.now() - started);
      return rows;
    } finally {
      running[plan].splice(running[plan].indexOf(started), 1);
      if (!running.walk.length && !running.sparse.length && this.underWay.get(key) === running) this.underWay.delete(key);
      // Whichever read ends first ends the wait: a failed one too, and those waiting then read.
      this.endFirstRead(key);
    }
  }

  /** Records how long a page read with `plan` took. */
  observe(key: string, plan: ListPlan, ms: number): void {
    const seen = this.timings.get(key) ?? {};
    const now = performance.now();
    // A time older than the try interval was taken under another load: replaced, not smoothed.
    const lastAt = seen[`${plan}At`];
    const before = lastAt !== undefined && now - lastAt > this.tryOtherMs ? undefined : seen[plan];
    this.timings.set(key, { ...seen, [plan]: before === undefined ? ms : before + SMOOTHING * (ms - before), [`${plan}At`]: now }, { noUpdateTTL: true });
    this.endFirstRead(key);
  }

  private endFirstRead(key: string): void {
    const first = this.firstReads.get(key);
    if (!first) return;
    this.firstReads.delete(key);
    first.end();
  }
}
