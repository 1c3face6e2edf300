let counter = 0;

/** A lowercase word unique to this run, so names never collide between tests. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}${counter}x${Date.now().toString(36)}`;
}

/** What the API makes of a lowercase single-word name. */
export function titled(word: string): string {
  return word.charAt(0).toUpperCase() + word.slice(1);
}
