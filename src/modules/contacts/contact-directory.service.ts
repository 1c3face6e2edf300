import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { ContactDetails, ContactDirectory, ContactSummary } from '../../core/identity/contact-directory';
import { DEFAULT_STATUS_ORDER, STARTER_SERVICES, STARTER_STATUSES, STARTER_TRAFFIC_SOURCES } from './contacts.starter-data';
import { setChangeContext } from './contacts.change-context';
import { Contact } from './entities/contact.entity';
import { newContactVersion } from './contacts.queries';
import { ContactListTotals } from './list-totals';

/** The contacts module's side of the account ↔ contact link that core relies on. */
@Injectable()
export class ContactDirectoryService extends ContactDirectory {
  constructor(private readonly totals: ContactListTotals) {
    super();
  }

  async createForAccount(manager: EntityManager, details: ContactDetails, actorId: string | null): Promise<ContactSummary> {
    await setChangeContext(manager, actorId, actorId ? 'api' : 'registration');
    const [status] =
      details.accountType === 'client'
        ? ((await manager.query(`SELECT id FROM contact_statuses WHERE stage = 'lead' ORDER BY ${DEFAULT_STATUS_ORDER} LIMIT 1`)) as Array<{ id: string }>)
        : [];
    const inserted = await manager.insert(Contact, {
      firstName: details.firstName,
      lastName: details.lastName,
      email: details.email.trim(),
      phone: details.phone ?? null,
      statusId: status?.id ?? null,
    });
    const id = (inserted.identifiers[0] as { id: string }).id;
    return (await this.findById(manager, id))!;
  }

  async findById(manager: EntityManager, contactId: string): Promise<ContactSummary | null> {
    const contact = await manager.findOne(Contact, { where: { id: contactId } });
    return contact ? { id: contact.id, firstName: contact.firstName, lastName: contact.lastName, email: contact.email, phone: contact.phone } : null;
  }

  async claimForSignUp(manager: EntityManager, email: string): Promise<ContactSummary | 'taken' | null> {
    const [contact] = (await manager.query(
      `SELECT c.id, c.deleted_at IS NOT NULL OR EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id) AS taken
         FROM contacts c WHERE c.email_key = lower($1) FOR UPDATE`,
      [email],
    )) as Array<{ id: string; taken: boolean }>;
    if (!contact) return null;
    return contact.taken ? 'taken' : this.findById(manager, contact.id);
  }

  async lockForAccountChange(manager: EntityManager, contactId: string): Promise<void> {
    await manager.query('SELECT id FROM contacts WHERE id = $1 FOR UPDATE', [contactId]);
  }

  async releaseFrom(manager: EntityManager, userId: string, contactId: string, ties: { created: boolean }): Promise<number> {
    // Found through indexes: the assignee ones (see assignedToSql) and contacts_created_by_idx.
    const [{ unassigned }] = (await manager.query(
      `WITH picked AS (
         SELECT id, assigned_to_id IS NOT DISTINCT FROM $1 AS assigned FROM contacts
          WHERE id = $2 OR ${assignedToSql('$1')}${ties.created ? ' OR created_by_id = $1' : ''}
          ORDER BY id FOR UPDATE),
       changed AS (
         UPDATE contacts c SET
             assigned_to_id = CASE WHEN picked.assigned THEN NULL ELSE c.assigned_to_id END,
             created_by_id = CASE WHEN $3 AND c.created_by_id = $1 THEN NULL ELSE c.created_by_id END,
             version = c.version + picked.assigned::int,
             updated_at = CASE WHEN picked.assigned THEN now() ELSE c.updated_at END
           FROM picked WHERE c.id = picked.id AND (picked.assigned OR $3 AND c.created_by_id = $1)
         RETURNING picked.assigned)
       SELECT count(*) FILTER (WHERE assigned)::int AS unassigned FROM changed`,
      [userId, contactId, ties.created],
    )) as Array<{ unassigned: number }>;
    return unassigned;
  }

  async accountChanged(manager: EntityManager, contactId: string): Promise<void> {
    await newContactVersion(manager, contactId);
  }

  changed(): void {
    this.totals.clear();
  }

  async updatePhone(manager: EntityManager, contactId: string, phone: string | null): Promise<void> {
    await manager.query('UPDATE contacts SET phone = $2, version = version + 1, updated_at = now() WHERE id = $1 AND phone IS DISTINCT FROM $2', [contactId, phone]);
  }

  async ensureStarterData(manager: EntityManager): Promise<void> {
    for (const [position, status] of STARTER_STATUSES.entries()) {
      await manager.query('INSERT INTO contact_statuses (name, stage, position) VALUES ($1, $2, $3) ON CONFLICT (name_key) DO NOTHING', [
        status.name,
        status.stage,
        position,
      ]);
    }
    for (const name of STARTER_SERVICES) {
      await manager.query('INSERT INTO services (name) VALUES ($1) ON CONFLICT (name_key) DO NOTHING', [name]);
    }
    for (const name of STARTER_TRAFFIC_SOURCES) {
      await manager.query('INSERT INTO traffic_sources (name) VALUES ($1) ON CONFLICT (name_key) DO NOTHING', [name]);
    }
  }
}

/**
 * Contacts assigned to a user, live or trashed, as two conditions the live and the trashed
 * assignee indexes each answer: the plain `assigned_to_id = $1` matches neither partial index
 * and reads the whole table.
 */
export function assignedToSql(userParam: string): string {
  return `(assigned_to_id = ${userParam} AND deleted_at IS NULL OR assigned_to_id = ${userParam} AND deleted_at IS NOT NULL)`;
}
