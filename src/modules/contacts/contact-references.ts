import { Injectable } from '@nestjs/common';

/**
 * What other modules keep of contacts (a static segment's members…), registered by those
 * modules: a contact so kept counts as used, and an import's revert leaves it in place rather
 * than removing it with what was kept of it.
 */
@Injectable()
export class ContactReferences {
  private readonly references: Array<(contactId: string) => string> = [];

  /** `exists` turns an SQL expression naming a contact's id into a condition true when that contact is kept. */
  register(exists: (contactId: string) => string): void {
    this.references.push(exists);
  }

  /** True (in SQL) when some module keeps the contact whose id `contactId` names. */
  keptSql(contactId: string): string {
    return this.references.length ? `(${this.references.map((exists) => exists(contactId)).join(' OR ')})` : 'FALSE';
  }
}
