import { KeptCounts } from './kept-counts';

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

/** A count that takes `ms` and answers the next value of `values`, recording each call. */
function counter(ms: number, values: number[]) {
  const calls: number[] = [];
  const count = async () => {
    calls.push(Date.now());
    if (ms) await sleep(ms);
    const value = values.shift();
    if (value === undefined) throw new Error('counted once too often');
    return value;
  };
  return { count, calls };
}

describe('KeptCounts', () => {
  // Wide margins: the timers run on a shared, busy machine.
  const options = { slowMs: 30, freshMs: 600, staleMs: 1800, max: 10 };

  it('counts a cheap count every time', async () => {
    const counts = new KeptCounts(options);
    const { count, calls } = counter(0, [1, 2, 3]);
    expect(await counts.get('k', count)).toBe(1);
    expect(await counts.get('k', count)).toBe(2);
    expect(await counts.get('k', count)).toBe(3);
    expect(calls).toHaveLength(3);
  });

  it('answers a slow count from memory while fresh, for its key only', async () => {
    const counts = new KeptCounts(options);
    const { count, calls } = counter(40, [10, 20]);
    expect(await counts.get('a', count)).toBe(10);
    expect(await counts.get('a', count)).toBe(10);
    expect(await counts.get('b', count)).toBe(20);
    expect(calls).toHaveLength(2);
  });

  it('shares one query between concurrent callers', async () => {
    const counts = new KeptCounts(options);
    const { count, calls } = counter(40, [7]);
    expect(await Promise.all([counts.get('k', count), counts.get('k', count), counts.get('k', count)])).toEqual([7, 7, 7]);
    expect(calls).toHaveLength(1);
  });

  it('past freshness, answers the kept count at once and counts again once in the background', async () => {
    const counts = new KeptCounts(options);
    const { count, calls } = counter(40, [1, 2]);
    expect(await counts.get('k', count)).toBe(1);
    await sleep(options.freshMs + 10);
    // The old value, so nobody waited for the new count.
    expect(await Promise.all([counts.get('k', count), counts.get('k', count)])).toEqual([1, 1]);
    expect(calls).toHaveLength(2);
    await sleep(250);
    expect(await counts.get('k', count)).toBe(2);
    expect(calls).toHaveLength(2);
  });

  it('past staleness, waits for a new count', async () => {
    const counts = new KeptCounts(options);
    const { count, calls } = counter(40, [1, 2]);
    expect(await counts.get('k', count)).toBe(1);
    await sleep(options.staleMs + 20);
    expect(await counts.get('k', count)).toBe(2);
    expect(calls).toHaveLength(2);
  });

  it('forgets a count that became cheap', async () => {
    const counts = new KeptCounts(options);
    let ms = 40;
    let value = 0;
    const count = async () => {
      if (ms) await sleep(ms);
      return ++value;
    };
    expect(await counts.get('k', count)).toBe(1);
    await sleep(options.freshMs + 10);
    ms = 0;
    expect(await counts.get('k', count)).toBe(1); // kept, recounted in the background
    await sleep(100);
    expect(await counts.get('k', count)).toBe(3); // the cheap recount was not kept: counted again
  });

  it('passes a failed count to those waiting for it, and keeps nothing', async () => {
    const counts = new KeptCounts(options);
    let fail = true;
    const count = async () => {
      await sleep(40);
      if (fail) throw new Error('database down');
      return 5;
    };
    await expect(Promise.all([counts.get('k', count), counts.get('k', count)])).rejects.toThrow('database down');
    fail = false;
    expect(await counts.get('k', count)).toBe(5);
  });
});
