import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/**
 * Rows of other modules that name an account and that their own writers lock before any user or
 * contact (an import its chunks write under, a segment its member additions write under),
 * registered by those modules. An account's deletion clears them through their foreign keys'
 * ON DELETE SET NULL, which runs last, after the user and its contacts are locked: a writer
 * holding one of them and waiting for that user or one of those contacts would wait in a circle
 * with it. The deletion holds them first instead (core/identity/lock-order).
 */
@Injectable()
export class AccountReferences {
  private readonly naming = new Map<string, string>();

  /**
   * `table`'s rows naming the account are those `where` selects, `$1` standing for the account's
   * id. Tables are locked in name order, so every deletion takes them alike.
   */
  register(table: string, where: string): void {
    if (this.naming.has(table)) throw new Error(`Account references in "${table}" are registered twice`);
    this.naming.set(table, where);
  }

  /** Locks, for the key-preserving update their foreign keys will make, every row naming the account; how many. Before the user is locked. */
  async hold(manager: EntityManager, userId: string): Promise<number> {
    let held = 0;
    for (const [table, where] of this.sorted()) {
      const [{ rows }] = (await manager.query(`SELECT count(*)::int AS rows FROM (SELECT id FROM ${table} WHERE ${where} ORDER BY id FOR NO KEY UPDATE) held`, [userId])) as Array<{ rows: number }>;
      held += rows;
    }
    return held;
  }

  /**
   * How many rows name the account now, without locking them. Once the user is locked no new one
   * can be written (each takes a key share on it): more than {@link hold} counted means one was
   * written between the two, which the deletion then holds out of order; it starts again instead.
   */
  async count(manager: EntityManager, userId: string): Promise<number> {
    let rows = 0;
    for (const [table, where] of this.sorted()) {
      const [{ count }] = (await manager.query(`SELECT count(*)::int AS count FROM ${table} WHERE ${where}`, [userId])) as Array<{ count: number }>;
      rows += count;
    }
    return rows;
  }

  private sorted(): Array<[string, string]> {
    return [...this.naming].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}
