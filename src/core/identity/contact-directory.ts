import type { EntityManager } from 'typeorm';
import type { AccountType } from './auth-user';

export interface ContactDetails {
  firstName: string;
  lastName: string;
  email: string;
  phone?: string | null;
  /** The account's kind: a client's contact starts as a lead; staff are no prospects. */
  accountType: AccountType;
}

export interface ContactSummary {
  id: string;
  firstName: string;
  lastName: string;
  email: string | null;
  phone: string | null;
}

/**
 * What the platform needs from the contacts module, which implements it: every account
 * belongs to a contact, and the first sign-up seeds the basic lists.
 * Declared here so core depends on an interface, never on a module.
 */
export abstract class ContactDirectory {
  /**
   * Creates the contact an account will belong to, a client's with the default (lead) status,
   * a staff member's with none. `actorId`
   * is who opens the account (its status history names them); null when a person signs up.
   */
  abstract createForAccount(manager: EntityManager, details: ContactDetails, actorId: string | null): Promise<ContactSummary>;

  /**
   * The contact a confirmed sign-up with this email becomes the account of, locked: a live
   * contact without an account. `taken` when the address is a trashed contact's or an
   * account's; null when no contact has it.
   */
  abstract claimForSignUp(manager: EntityManager, email: string): Promise<ContactSummary | 'taken' | null>;

  /** Locks an account's own contact, after the user (core/identity/lock-order). */
  abstract lockForAccountChange(manager: EntityManager, contactId: string): Promise<void>;

  /**
   * Takes a user off contacts, trashed ones included: as their assignee (an edit: a new version,
   * as the profile shows it) and, for an account being deleted (`created`), as their creator (not
   * shown, no new version), so the foreign keys' ON DELETE SET NULL, which would lock them in
   * table order, finds none left. Locks the account's own contact `contactId` with them, in one
   * pass in id order, as every writer of several contacts locks them. Taken after the user, held
   * for update: new ties to it wait meanwhile. How many contacts were unassigned.
   */
  abstract releaseFrom(manager: EntityManager, userId: string, contactId: string, ties: { created: boolean }): Promise<number>;

  /**
   * The contact's account was opened, removed, (de)activated or changed kind, all of which its
   * profile shows: a new version of the contact, so clients that follow versions see it.
   */
  abstract accountChanged(manager: EntityManager, contactId: string): Promise<void>;

  /** After a commit that changed contacts outside the contacts module (an account's): lists count again. */
  abstract changed(): void;

  abstract findById(manager: EntityManager, contactId: string): Promise<ContactSummary | null>;

  /** Updates the phone of a contact (names and email follow the account through database triggers). */
  abstract updatePhone(manager: EntityManager, contactId: string, phone: string | null): Promise<void>;

  /** Makes sure the basic statuses, services and traffic sources exist. Idempotent. */
  abstract ensureStarterData(manager: EntityManager): Promise<void>;
}
