import { BadRequestException, ConflictException, UnauthorizedException } from '@nestjs/common';

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
