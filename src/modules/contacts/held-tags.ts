import type { EntityManager } from 'typeorm';

export interface HeldTag {
  id: string;
  name: string;
  name_key: string;
}

/**
 * The tags of these names, created where missing and held (FOR KEY SHARE) against deletion until
 * the transaction ends. A tag deleted between the insert and the hold has freed its name: it is
 * created anew rather than left off. Names are told apart by PostgreSQL's lower(), as the unique
 * name_key is; they come back in the order given. Undefined when tags kept being deleted under three attempts: the caller says so.
 */
export async function holdTagsNamed(manager: EntityManager, names: string[]): Promise<{ held: HeldTag[]; created: Array<{ id: string; name: string }> } | undefined> {
  // One name per key, the first given, in the order given.
  const wanted: Array<{ name: string; key: string }> = await manager.query(
    `SELECT name, key FROM (SELECT DISTINCT ON (lower(name)) name, lower(name) AS key, ord FROM unnest($1::text[]) WITH ORDINALITY AS given (name, ord) ORDER BY lower(name), ord) first ORDER BY ord`,
    [names],
  );
  const keys = wanted.map((tag) => tag.key);
  const created: Array<{ id: string; name: string }> = [];
  let held: HeldTag[] = [];
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const missing = wanted.filter((tag) => !held.some((row) => row.name_key === tag.key)).map((tag) => tag.name);
    created.push(...((await manager.query('INSERT INTO tags (name) SELECT unnest($1::text[]) ON CONFLICT (name_key) DO NOTHING RETURNING id, name', [missing])) as typeof created));
    held = await manager.query(
      'SELECT t.id, t.name, t.name_key FROM unnest($1::text[]) WITH ORDINALITY AS wanted (key, ord) JOIN tags t ON t.name_key = wanted.key ORDER BY wanted.ord FOR KEY SHARE OF t',
      [keys],
    );
    if (held.length === keys.length) return { held, created };
  }
  return undefined;
}
