import { SPARSE_SELECTION_ROWS, walkEstimateMs } from './contacts.queries';
import { ListPlans } from './list-plans';

const TABLE = 1_000_000;
const count = { sql: 'SELECT count(*)::int AS total FROM contacts c WHERE c.status_id = $1', params: ['s'] };

describe('ListPlans', () => {
  it('starts from the estimate: few matches found quickly are sorted, the rest walked', () => {
    const plans = new ListPlans();
    expect(plans.choose('a', true, { total: 1510, countMs: 25 }, TABLE, 25)).toBe('sparse');
    expect(plans.choose('b', true, { total: SPARSE_SELECTION_ROWS + 1, countMs: 1 }, TABLE, 25)).toBe('walk');
    expect(plans.choose('c', false, { total: 3, countMs: 1 }, TABLE, 25)).toBe('walk');
  });

  it('tries the walk after a sparse read slower than the walk was estimated, and keeps the faster', () => {
    const plans = new ListPlans();
    const matches = { total: 1510, countMs: 25 };
    // An index keeps this filter's rows in the list's order: sorting its matches is the slow way.
    plans.observe('k', plans.choose('k', true, matches, TABLE, 25), 49);
    expect(walkEstimateMs(matches.total, TABLE, 25)).toBeLessThan(49);
    const next = plans.choose('k', true, matches, TABLE, 25);
    expect(next).toBe('walk');
    plans.observe('k', next, 1.1);
    for (let read = 0; read < 5; read++) {
      expect(plans.choose('k', true, matches, TABLE, 25)).toBe('walk');
      plans.observe('k', 'walk', 1.2);
    }
  });

  it('keeps sorting the matches when the walk, estimated or seen, is slower', () => {
    const plans = new ListPlans();
    // One match in a million: the walk would test the whole table.
    const rare = { total: 1, countMs: 2 };
    plans.observe('rare', plans.choose('rare', true, rare, TABLE, 25), 3);
    expect(plans.choose('rare', true, rare, TABLE, 25)).toBe('sparse');
    // Walked first (the count was slow), the walk turned out slower than sorting: back to sparse.
    const slowCount = { total: 1500, countMs: 200 };
    expect(plans.choose('s', true, slowCount, TABLE, 25)).toBe('walk');
    plans.observe('s', 'walk', 400);
    expect(plans.choose('s', true, slowCount, TABLE, 25)).toBe('sparse');
    plans.observe('s', 'sparse', 150);
    expect(plans.choose('s', true, slowCount, TABLE, 25)).toBe('sparse');
  });

  it('prices a plan not yet timed at least as long as its oldest read under way, so concurrent first reads do not all take it', async () => {
    const plans = new ListPlans();
    const matches = { total: 1510, countMs: 5 };
    const walkEstimate = walkEstimateMs(matches.total, TABLE, 25);
    let finish: () => void = () => undefined;
    const first = plans.choose('k', true, matches, TABLE, 25);
    expect(first).toBe('sparse');
    const reading = plans.timed('k', first, () => new Promise<void>((resolve) => (finish = resolve)));
    // Just begun: the estimate still holds.
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('sparse');
    await new Promise((resolve) => setTimeout(resolve, walkEstimate + 15));
    // Under way for longer than the walk was estimated: readers arriving now walk.
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('walk');
    finish();
    await reading;
    // Ended: its time is known, and is what counts from now on.
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('walk');
  });

  it("has readers arriving during a selection's first read wait for its time, at most as long as the other plan is estimated to take", async () => {
    const matches = { total: 1510, countMs: 5 };
    const walkEstimate = walkEstimateMs(matches.total, TABLE, 25);
    // The first read is quick: those waiting learn it, and sort too.
    const quick = new ListPlans();
    let finishQuick: () => void = () => undefined;
    const quickRead = quick.timed('k', await quick.pick('k', true, matches, TABLE, 25), () => new Promise<void>((resolve) => (finishQuick = resolve)));
    const waiting = Promise.all([1, 2, 3].map(() => quick.pick('k', true, matches, TABLE, 25)));
    finishQuick();
    expect(await waiting).toEqual(['sparse', 'sparse', 'sparse']);
    await quickRead;
    // The first read is slow: those waiting give up once it outlasts the walk's estimate, and walk.
    const slow = new ListPlans();
    let finishSlow: () => void = () => undefined;
    const slowRead = slow.timed('k', await slow.pick('k', true, matches, TABLE, 25), () => new Promise<void>((resolve) => (finishSlow = resolve)));
    const started = Date.now();
    expect(await Promise.all([1, 2, 3].map(() => slow.pick('k', true, matches, TABLE, 25)))).toEqual(['walk', 'walk', 'walk']);
    expect(Date.now() - started).toBeGreaterThanOrEqual(Math.floor(walkEstimate));
    finishSlow();
    await slowRead;
  });

  it('does not let a read under way outweigh a plan already timed', async () => {
    const plans = new ListPlans();
    const matches = { total: 1510, countMs: 25 };
    plans.observe('k', 'sparse', 49);
    plans.observe('k', 'walk', 1);
    let finish: () => void = () => undefined;
    const reading = plans.timed('k', 'walk', () => new Promise<void>((resolve) => (finish = resolve)));
    await new Promise((resolve) => setTimeout(resolve, 70));
    // One walk held up (a busy moment) is not a reason to sort: the walk's time is known.
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('walk');
    finish();
    await reading;
  });

  it('forgets reads that failed', async () => {
    const plans = new ListPlans();
    const matches = { total: 1510, countMs: 5 };
    await expect(plans.timed('k', 'sparse', () => Promise.reject(new Error('connection lost')))).rejects.toThrow('connection lost');
    await new Promise((resolve) => setTimeout(resolve, walkEstimateMs(matches.total, TABLE, 25) + 15));
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('sparse');
  });

  it('reads the plan not taken again now and then, by one reader, so times taken under another load do not stick', async () => {
    const plans = new ListPlans(60_000, 30);
    const matches = { total: 1510, countMs: 25 };
    // The walk was timed while many reads ran at once; sorting since, under a calmer load.
    plans.observe('k', 'walk', 2000);
    plans.observe('k', 'sparse', 80);
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('sparse');
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect([plans.choose('k', true, matches, TABLE, 25), plans.choose('k', true, matches, TABLE, 25)]).toEqual(['walk', 'sparse']);
    // Timed again under the load of the moment, the walk's old time is replaced, not smoothed.
    plans.observe('k', 'walk', 2);
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('walk');
    // Consecutive reads are smoothed: one slow walk does not flip it back.
    plans.observe('k', 'walk', 150);
    expect(plans.choose('k', true, matches, TABLE, 25)).toBe('walk');
  });

  it('does not flip on one slow read of the faster plan', () => {
    const plans = new ListPlans();
    plans.observe('k', 'sparse', 49);
    plans.observe('k', 'walk', 1);
    plans.observe('k', 'walk', 120);
    expect(plans.choose('k', true, { total: 1510, countMs: 25 }, TABLE, 25)).toBe('walk');
  });

  it('learns a selection again once its time is up, even while it is read all along', async () => {
    const plans = new ListPlans(40);
    const matches = { total: 1510, countMs: 25 };
    plans.observe('k', 'sparse', 49);
    plans.observe('k', 'walk', 1);
    const chosen: string[] = [];
    const until = Date.now() + 120;
    while (Date.now() < until) {
      const plan = plans.choose('k', true, matches, TABLE, 25);
      chosen.push(plan);
      plans.observe('k', plan, plan === 'walk' ? 1 : 49);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(chosen[0]).toBe('walk');
    // Forgotten after 40 ms though read every few: the next read starts from the estimate again.
    expect(chosen).toContain('sparse');
  });

  it('tells pages apart by selection, order and depth', () => {
    const key = ListPlans.key(count, 'c.created_at DESC, c.id DESC', 25);
    expect(ListPlans.key({ ...count, params: ['t'] }, 'c.created_at DESC, c.id DESC', 25)).not.toBe(key);
    expect(ListPlans.key(count, 'c.last_name, c.id', 25)).not.toBe(key);
    expect(ListPlans.key(count, 'c.created_at DESC, c.id DESC', 50)).not.toBe(key);
    expect(ListPlans.key({ ...count }, 'c.created_at DESC, c.id DESC', 25)).toBe(key);
  });
});
