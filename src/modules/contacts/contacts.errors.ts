import { ConflictException, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import type { FieldErrorDto } from '../../core/http/error-response.dto';

export class ContactNotFoundError extends NotFoundException {
  constructor() {
    super({ message: 'Contact not found', code: 'contact_not_found' });
  }
}

export class StaleContactVersionError extends ConflictException {
  constructor(current: number) {
    super({
      message: `The contact was changed by someone else (now at version ${current}); reload it and apply your change again`,
      code: 'stale_version',
      details: [{ field: 'version', message: `is stale; the current version is ${current}` }],
    });
  }
}

/**
 * Where the contact holding the email is, as far as the caller may know: `unseen` for one its
 * rules hide (that an address is taken cannot be kept from whoever tries it; where, can).
 */
export type EmailHolder = 'live' | 'trash' | 'unseen';

export class ContactEmailTakenError extends ConflictException {
  /** `creating`: the request would add a contact, which restoring the trashed one may replace. */
  constructor(holder: EmailHolder, creating = false) {
    const inTrash = creating ? 'A contact in the trash has this email; restore it instead' : 'A contact in the trash has this email';
    super({
      message: holder === 'trash' ? inTrash : holder === 'live' ? 'Another contact has this email' : 'This email is already in use',
      code: 'contact_email_taken',
      details: [{ field: 'email', message: 'is already used by another contact' }],
    });
  }
}

export class ContactHasAccountError extends ConflictException {
  constructor(action: string) {
    super({ message: `The contact has a user account; delete the account before you ${action} the contact`, code: 'contact_has_account' });
  }
}

export class AccountExistsError extends ConflictException {
  constructor() {
    super({ message: 'The contact already has an account', code: 'account_exists' });
  }
}

export class ContactRuleError extends UnprocessableEntityException {
  constructor(message: string, details?: FieldErrorDto[]) {
    super({ message, code: 'contact_rule', ...(details ? { details } : {}) });
  }
}

export class UnknownReferenceError extends UnprocessableEntityException {
  constructor(field: string, what: string) {
    super({ message: `Unknown ${what}`, code: 'unknown_reference', details: [{ field, message: `does not name an existing ${what}` }] });
  }
}
