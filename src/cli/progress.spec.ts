import { formatDuration, ProgressReporter, ProgressSnapshot } from './progress';

/** Collects what the reporter writes, as a non-terminal stdout would receive it. */
function capture(): { stream: NodeJS.WriteStream; lines: () => string[] } {
  let text = '';
  const stream = { isTTY: false, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream;
  return { stream, lines: () => text.split('\n').filter(Boolean) };
}

const snapshot = (status: string, processed: number, total = 10_000): ProgressSnapshot => ({
  status,
  processed,
  total,
  counts: { created: processed, updated: 0, skipped: 0, failed: 0 },
});

describe('formatDuration', () => {
  it.each([
    [0, '0.0s'],
    [1234, '1.2s'],
    [42_000, '42s'],
    [125_000, '2m05s'],
    [3_725_000, '1h02m'],
  ])('%d ms is %s', (ms, text) => expect(formatDuration(ms)).toBe(text));
});

describe('ProgressReporter without a terminal', () => {
  afterEach(() => jest.useRealTimers());

  it('prints a line per status change and otherwise one per interval, with the rate and time left', () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T10:00:00Z') });
    const out = capture();
    const reporter = new ProgressReporter(out.stream, { tty: false, intervalMs: 5000 });
    reporter.update(snapshot('queued', 0));
    reporter.update(snapshot('running', 0));
    jest.advanceTimersByTime(1000);
    reporter.update(snapshot('running', 1000)); // within the interval: no line
    jest.advanceTimersByTime(4000);
    reporter.update(snapshot('running', 5000));
    reporter.finish(snapshot('completed', 10_000));
    const lines = out.lines();
    expect(lines).toHaveLength(4);
    expect(lines[0]).toBe('[10:00:00] queued 0/10,000 rows (0%) | created 0 updated 0 skipped 0 failed 0 | - rows/s | ETA -');
    expect(lines[1]).toMatch(/^\[10:00:00\] running 0\/10,000 rows \(0%\)/);
    // 5,000 rows in 5 s: 1,000 rows/s, so 5,000 rows left take 5 s.
    expect(lines[2]).toBe('[10:00:05] running 5,000/10,000 rows (50%) | created 5,000 updated 0 skipped 0 failed 0 | 1,000 rows/s | ETA 5.0s');
    expect(lines[3]).toMatch(/^\[10:00:05\] completed 10,000\/10,000 rows \(100%\) .* \| ETA 0s$/);
    expect(lines.join('\n')).not.toMatch(/\u001b/);
  });

  it('measures a resumed import from its checkpoint, not from zero', () => {
    jest.useFakeTimers({ now: new Date('2026-01-01T10:00:00Z') });
    const reporter = new ProgressReporter(capture().stream, { tty: false, intervalMs: 1000 });
    reporter.update(snapshot('running', 6000));
    jest.advanceTimersByTime(2000);
    reporter.update(snapshot('running', 8000));
    expect(reporter.rowsPerSecond()).toBe(1000);
  });

  it('shows a note in place of the status while the numbers cannot move', () => {
    const out = capture();
    new ProgressReporter(out.stream, { tty: false, intervalMs: 1000 }).update({ ...snapshot('queued', 0), note: 'queued, waiting for a worker' });
    expect(out.lines()[0]).toMatch(/^\[[\d:]+\] queued, waiting for a worker 0\/10,000 rows/);
  });
});

describe('ProgressReporter on a terminal', () => {
  it('draws one bar redrawn in place, ending on the final counts', () => {
    let text = '';
    const stream = { isTTY: true, columns: 200, write: (chunk: string) => ((text += chunk), true) } as unknown as NodeJS.WriteStream;
    const reporter = new ProgressReporter(stream, { tty: true, intervalMs: 5000 });
    reporter.update(snapshot('running', 0));
    reporter.update(snapshot('running', 5000));
    reporter.finish({ ...snapshot('completed', 10_000), counts: { created: 9000, updated: 500, skipped: 300, failed: 200 } });
    // Redrawn with cursor moves rather than printed line after line.
    expect(text).toMatch(/\u001b\[/);
    const frames = text.split(/\u001b\[[0-9;?]*[A-Za-z]/).filter((frame) => frame.includes('rows'));
    expect(frames[0]).toMatch(/^-{24} 0% 0\/10000 rows \| created 0 updated 0 skipped 0 failed 0 \| - rows\/s \| ETA - \| running$/);
    expect(frames[frames.length - 1]).toMatch(/^={24} 100% 10000\/10000 rows \| created 9,000 updated 500 skipped 300 failed 200 \| .* \| ETA 0s \| completed$/);
    expect(text.split('\n').filter((line) => line.includes('rows'))).toHaveLength(1);
  });
});
