import { ConflictException, NotFoundException, UnprocessableEntityException } from '@nestjs/common';

export class RoleNotFoundError extends NotFoundException {
  constructor() {
    super({ message: 'Role not found', code: 'role_not_found' });
  }
}

export class LastAdminError extends ConflictException {
  constructor() {
    super({ message: 'This would leave the deployment without an active admin; make another user admin first', code: 'last_admin' });
  }
}

export class SystemRoleError extends UnprocessableEntityException {
  constructor(message: string) {
    super({ message, code: 'system_role' });
  }
}

export class RoleInUseError extends ConflictException {
  constructor(count: number) {
    super({ message: `The role is held by ${count} user(s); give them another role first`, code: 'role_in_use' });
  }
}

export class RoleNameTakenError extends ConflictException {
  constructor() {
    super({ message: 'A role with this name already exists', code: 'role_name_taken', details: [{ field: 'name', message: 'is already in use' }] });
  }
}

export class UnknownRolesError extends UnprocessableEntityException {
  constructor(ids: string[]) {
    super({ message: `Unknown role id(s): ${ids.join(', ')}`, code: 'unknown_roles', details: [{ field: 'roleIds', message: 'contains unknown role ids' }] });
  }
}

/**
 * An email another record holds, told to whoever manages accounts: which kind, and for a
 * contact without an account, that the account is opened from it rather than made beside it.
 * `unseen` for a caller who may not read every contact: that the address is taken, not where.
 */
export class AccountEmailTakenError extends ConflictException {
  /** `creating`: the request would add an account, which opening the contact's own may replace. */
  constructor(holder: { kind: 'account' } | { kind: 'contact'; contactId: string; inTrash: boolean } | { kind: 'unseen' }, creating: boolean) {
    const message =
      holder.kind === 'unseen'
        ? 'This email is already in use'
        : holder.kind === 'account'
          ? 'Another account has this email'
          : !creating
            ? `A contact${holder.inTrash ? ' in the trash' : ''} has this email`
            : holder.inTrash
              ? `A contact in the trash has this email: restore it, then open its account with POST /api/v1/contacts/${holder.contactId}/account`
              : `A contact has this email: open its account with POST /api/v1/contacts/${holder.contactId}/account instead`;
    const detail = holder.kind === 'unseen' ? 'is already in use' : holder.kind === 'account' ? 'is already used by another account' : 'is the email of a contact without an account';
    super({ message, code: 'email_taken', details: [{ field: 'email', message: detail }] });
  }
}
