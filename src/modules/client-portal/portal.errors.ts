import { ConflictException, UnprocessableEntityException } from '@nestjs/common';

export class PortalStaleVersionError extends ConflictException {
  constructor(current: number) {
    super({
      message: `Your details were changed in the meantime (now at version ${current}); reload them and apply your change again`,
      code: 'stale_version',
      details: [{ field: 'version', message: `is stale; the current version is ${current}` }],
    });
  }
}

/** The email is the login: a new one must be verified, which the portal cannot do yet. */
export class EmailChangeRefusedError extends UnprocessableEntityException {
  constructor() {
    super({
      message: 'Your email address is your login and cannot be changed here: a new address has to be verified first. Ask your contact person to change it',
      code: 'email_change_not_allowed',
      details: [{ field: 'email', message: 'cannot be changed in the portal' }],
    });
  }
}
