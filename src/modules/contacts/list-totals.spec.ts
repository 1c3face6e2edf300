import { performance } from 'node:perf_hooks';
import { CountedTotal, ListTotals, pageAgrees } from './list-totals';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits (up to 5 s) for a background count to have landed, however slow the machine. */
async function eventually(check: () => boolean | Promise<boolean>): Promise<void> {
  for (let waited = 0; !(await check()); waited += 5) {
    if (waited > 5000) throw new Error('timed out');
    await sleep(5);
  }
}
/**
 * Sleeps until a kept total has expired: it stays fresh for freshMs or ten times its count's
 * duration, from when the count finished, so a slow machine's counts keep it longer.
 */
async function untilExpired(kept: CountedTotal, freshMs: number, atLeastMs = 0): Promise<void> {
  const expiresAt = kept.countedAt + kept.countMs + Math.max(freshMs, 10 * kept.countMs, atLeastMs) + 20;
  await sleep(Math.max(0, expiresAt - performance.now()));
}

const statement = { sql: 'SELECT count(*) AS total FROM contacts WHERE x = $1', params: [1] };

/** A count that answers the next of `totals` after `delayMs`, recording each call. */
function counter(totals: number[], delayMs = 5) {
  const calls: string[] = [];
  let next = 0;
  const run = async (sql: string) => {
    calls.push(sql);
    const total = totals[Math.min(next, totals.length - 1)]!;
    next += 1;
    await sleep(delayMs);
    return [{ total }];
  };
  return { run, calls };
}

describe('ListTotals', () => {
  it('counts once for concurrent requests and answers the kept total while fresh', async () => {
    const { run, calls } = counter([42]);
    const totals = new ListTotals(run, { freshMs: 200, freshMaxMs: 1000 });
    const answers = await Promise.all([totals.count(statement), totals.count(statement), totals.count(statement)]);
    expect(answers.map((a) => a.total)).toEqual([42, 42, 42]);
    expect((await totals.count(statement)).total).toBe(42);
    expect(calls).toHaveLength(1);
  });

  it('answers an expired total at once while counting again, then the new one', async () => {
    const { run, calls } = counter([1, 2], 2);
    const totals = new ListTotals(run, { freshMs: 50, freshMaxMs: 1000 });
    const first = await totals.count(statement);
    expect(first.total).toBe(1);
    await untilExpired(first, 50);
    expect((await totals.count(statement)).total).toBe(1);
    expect(calls).toHaveLength(2);
    await eventually(async () => (await totals.count(statement)).total === 2);
    expect(calls).toHaveLength(2);
  });

  it('keeps the total for the next pages of a list up to freshMaxMs without counting again', async () => {
    const { run, calls } = counter([7, 8, 9]);
    const totals = new ListTotals(run, { freshMs: 20, freshMaxMs: 600 });
    const first = await totals.count(statement);
    expect(first.total).toBe(7);
    await untilExpired(first, 20);
    // Past freshMs: a continuing page still answers the kept total and starts no count.
    expect((await totals.count(statement, true)).total).toBe(7);
    expect(calls).toHaveLength(1);
    // A first page counts again (the expired total is served meanwhile).
    expect((await totals.count(statement)).total).toBe(7);
    expect(calls).toHaveLength(2);
    await eventually(async () => (await totals.count(statement, true)).total === 8);
    // Older than freshMaxMs: counted again even for a continuing page.
    await untilExpired(await totals.count(statement, true), 20, 600);
    await totals.count(statement, true);
    expect(calls).toHaveLength(3);
  });

  it('counts a continuing page that has no kept total, and forgets everything on clear', async () => {
    const { run, calls } = counter([3, 4]);
    const totals = new ListTotals(run, { freshMs: 1000, freshMaxMs: 5000 });
    expect((await totals.count(statement, true)).total).toBe(3);
    totals.clear();
    expect((await totals.count(statement, true)).total).toBe(4);
    expect(calls).toHaveLength(2);
  });

  it('a clear while a count runs still answers the waiting request, and keeps nothing from that count', async () => {
    const { run, calls } = counter([7, 8], 50);
    const totals = new ListTotals(run, { freshMs: 1000, freshMaxMs: 5000 });
    const during = totals.count(statement);
    totals.clear();
    expect((await during).total).toBe(7);
    expect((await totals.count(statement)).total).toBe(8);
    expect(calls).toHaveLength(2);
  });

  it('counts again, and forgets every kept total, when a page contradicts its kept total', async () => {
    const { run, calls } = counter([0, 3, 9]);
    const totals = new ListTotals(run, { freshMs: 60_000, freshMaxMs: 60_000 });
    const other = { ...statement, params: [2] };
    const kept = await totals.count(statement);
    // Another list's total, kept before the same unseen write.
    expect((await totals.count(other)).total).toBe(3);
    // Counted 0, yet the page read after shows two rows: written since, by a process that did not say.
    const checked = await totals.checked(statement, kept, { offset: 0, limit: 25, rows: 2 });
    expect(checked.total).toBe(9);
    expect(calls).toHaveLength(3);
    // A page that agrees keeps the total as it is, and counts nothing.
    expect(await totals.checked(statement, checked, { offset: 0, limit: 25, rows: 9 })).toBe(checked);
    expect(calls).toHaveLength(3);
    expect((await totals.count(other)).total).toBe(9);
    expect(calls).toHaveLength(4);
  });

  it('tells which pages a total allows', () => {
    // A full page: at least its rows past the offset.
    expect(pageAgrees(50, { offset: 25, limit: 25, rows: 25 })).toBe(true);
    expect(pageAgrees(49, { offset: 25, limit: 25, rows: 25 })).toBe(false);
    // A short page ends the list.
    expect(pageAgrees(30, { offset: 25, limit: 25, rows: 5 })).toBe(true);
    expect(pageAgrees(31, { offset: 25, limit: 25, rows: 5 })).toBe(false);
    expect(pageAgrees(0, { offset: 0, limit: 25, rows: 0 })).toBe(true);
    expect(pageAgrees(1, { offset: 0, limit: 25, rows: 0 })).toBe(false);
    // An empty page past the first only says the list ends before it.
    expect(pageAgrees(20, { offset: 25, limit: 25, rows: 0 })).toBe(true);
    expect(pageAgrees(26, { offset: 25, limit: 25, rows: 0 })).toBe(false);
    // A keyset page knows only its own rows.
    expect(pageAgrees(3, { limit: 25, rows: 3 })).toBe(true);
    expect(pageAgrees(500, { limit: 25, rows: 3 })).toBe(true);
    expect(pageAgrees(2, { limit: 25, rows: 3 })).toBe(false);
  });

  it('keeps distinct statements apart', async () => {
    const { run, calls } = counter([5, 6]);
    const totals = new ListTotals(run, { freshMs: 1000, freshMaxMs: 5000 });
    expect((await totals.count(statement)).total).toBe(5);
    expect((await totals.count({ ...statement, params: [2] })).total).toBe(6);
    expect(calls).toHaveLength(2);
  });
});
