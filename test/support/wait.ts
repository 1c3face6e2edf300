/** Polls `probe` until it returns a value; fails after `timeoutMs`, naming what it waited for. */
export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'a condition'): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
