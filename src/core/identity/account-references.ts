import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';

/** Locks, for update, the rows of one kind that name the account `userId`. */
export type AccountReferenceHold = (manager: EntityManager, userId: string) => Promise<void>;

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
  private readonly holds = new Map<string, AccountReferenceHold>();

  /** `kind` names the rows (a table); kinds are locked in name order, so every deletion takes them alike. */
  register(kind: string, hold: AccountReferenceHold): void {
    if (this.holds.has(kind)) throw new Error(`Account references "${kind}" are registered twice`);
    this.holds.set(kind, hold);
  }

  /** Locks every registered row naming the account; before the user is locked. */
  async hold(manager: EntityManager, userId: string): Promise<void> {
    for (const kind of [...this.holds.keys()].sort()) await this.holds.get(kind)!(manager, userId);
  }
}
