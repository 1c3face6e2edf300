import { BadRequestException, ConflictException, UnauthorizedException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';

export class InvalidCredentialsError extends UnauthorizedException {
  constructor() {
    super({ message: 'Email or password is incorrect', code: 'invalid_credentials' });
  }
}

export class InvalidRefreshTokenError extends UnauthorizedException {
  constructor(reason = 'The refresh token is invalid, expired or already used') {
    super({ message: reason, code: 'invalid_refresh_token' });
  }
}

export class InvalidPasswordTokenError extends BadRequestException {
  constructor() {
    super({ message: 'The link is invalid, expired or already used', code: 'invalid_token', details: [{ field: 'token', message: 'is invalid, expired or already used' }] });
  }
}

export class SignUpPasswordMismatchError extends BadRequestException {
  constructor() {
    super({
      message: 'The password is not the one chosen for the sign-up this link confirms: use the link of your own sign-up',
      code: 'sign_up_password_mismatch',
      details: [{ field: 'password', message: 'is not the password chosen for this sign-up' }],
    });
  }
}

export class EmailTakenError extends ConflictException {
  constructor() {
    super({
      message: 'An account or contact with this email already exists: sign in, reset your password, or ask for an invitation',
      code: 'email_taken',
      details: [{ field: 'email', message: 'is already in use' }],
    });
  }
}

export class WrongCurrentPasswordError extends BadRequestException {
  constructor() {
    super({ message: 'The current password is incorrect', code: 'wrong_current_password', details: [{ field: 'currentPassword', message: 'is incorrect' }] });
  }
}

/** The unique keys an email of an account or contact is checked against. */
const EMAIL_KEYS = ['users_email_key_key', 'contacts_email_key_key'];

/** Whether a write broke the unique email of accounts or of contacts: it lost a race for the address. */
export function isEmailConflict(error: unknown): boolean {
  const driverError = error instanceof QueryFailedError ? (error.driverError as { code?: string; constraint?: string }) : undefined;
  return driverError?.code === '23505' && EMAIL_KEYS.includes(driverError.constraint ?? '');
}

/** A write that lost a race for an email to a concurrent one: answered as the pre-check answers. */
export function emailTakenOnConflict(error: unknown): never {
  if (isEmailConflict(error)) throw new EmailTakenError();
  throw error;
}
