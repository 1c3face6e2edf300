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
