import type { EntityManager } from 'typeorm';

/** How a transaction holds a user row, weakest first. */
export type UserHold = 'key share' | 'no key update' | 'update';

const STRENGTH: Record<UserHold, number> = { 'key share': 0, 'no key update': 1, update: 2 };

/**
 * The one order in which transactions lock the records bulk writes work under, custom field
 * definitions, users and contacts, so that none waits in a circle:
 *
 *   first the record a bulk write works under: an import for its chunks and revert, a segment for
 *   its member additions (an account's deletion holds the imports and segments naming the
 *   account, through AccountReferences, rather than let their foreign keys' ON DELETE SET NULL
 *   reach them last);
 *   then custom field definitions, in id order: shared by a write storing values of them (an
 *   import chunk for the fields its mapping writes, once per chunk; a contact edit for the values
 *   it sends; an import's revert for every definition), exclusive for an edit of the field
 *   (options renamed or removed with their values, a purge) that then changes the contacts
 *   holding its values;
 *   then dynamic segments whose rules an edit of the field rewrites;
 *   then users, in id order, each once in the strongest mode the transaction needs (an
 *   assignee, the actor its rows will name, the account whose names or email it writes);
 *   then contacts, in id order (an account's own contact among them, never before its user);
 *   then the rows that hang off contacts (activities, members), as a contact's deletion reaches
 *   them through its cascades: an activity's edit moving its contact's last contact locks the
 *   contact first.
 *
 * Triggers write a contact's account when its names or email change and the reverse, and rows
 * naming a user take a key share on it: both are held here before the contacts are locked.
 * Definitions are held by the contacts module (CustomFieldsService.hold), before this is called.
 */
export async function holdUsers(manager: EntityManager, holds: Array<[string | null | undefined, UserHold]>): Promise<void> {
  const strongest = new Map<string, UserHold>();
  for (const [id, mode] of holds) {
    if (!id) continue;
    const key = id.toLowerCase();
    const held = strongest.get(key);
    if (!held || STRENGTH[mode] > STRENGTH[held]) strongest.set(key, mode);
  }
  // One statement per run of ids held alike: still a single pass in id order.
  const ids = [...strongest.keys()].sort();
  for (let start = 0; start < ids.length; ) {
    const mode = strongest.get(ids[start]!)!;
    let end = start + 1;
    while (end < ids.length && strongest.get(ids[end]!) === mode) end += 1;
    await manager.query(`SELECT id FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR ${mode.toUpperCase()}`, [ids.slice(start, end)]);
    start = end;
  }
}
