import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';
import { IsEmailAddress, IsPersonName, IsPhone, trim } from '../../http/dto-helpers';
import { EMAIL_MESSAGE } from '../../http/formats';


export const PASSWORD_RULE = { min: 10, max: 200 };

export class PasswordField {
  @ApiProperty({ minLength: PASSWORD_RULE.min, maxLength: PASSWORD_RULE.max, format: 'password', example: 'correct horse battery' })
  @IsString()
  @MinLength(PASSWORD_RULE.min, { message: `must be at least ${PASSWORD_RULE.min} characters long` })
  @MaxLength(PASSWORD_RULE.max)
  password: string;
}

export class RegisterDto extends PasswordField {
  @ApiProperty({ maxLength: 100, example: 'Ada' })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsPersonName()
  firstName: string;

  @ApiProperty({ maxLength: 100, example: 'Lovelace' })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsPersonName()
  lastName: string;

  @ApiProperty({ format: 'email', maxLength: 254, example: 'ada@example.com' })
  @Transform(trim)
  @IsEmailAddress()
  @MaxLength(254)
  email: string;

  @ApiPropertyOptional({ maxLength: 50, example: '+44 20 7946 0958', nullable: true })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(50)
  @IsPhone()
  phone?: string;
}

export class LoginDto {
  @ApiProperty({ format: 'email', maxLength: 254, example: 'ada@example.com' })
  @Transform(trim)
  // Not IsEmailAddress: an account stored before its stricter rule must still be able to sign in.
  @IsEmail({}, { message: EMAIL_MESSAGE })
  @MaxLength(254)
  email: string;

  @ApiProperty({ format: 'password', maxLength: PASSWORD_RULE.max })
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(PASSWORD_RULE.max)
  password: string;
}

export class RefreshDto {
  @ApiProperty({ description: 'The refresh token from the last login or refresh.' })
  @IsString()
  @MinLength(10)
  @MaxLength(200)
  refreshToken: string;
}

export class ForgotPasswordDto {
  @ApiProperty({ format: 'email', maxLength: 254 })
  @Transform(trim)
  // Not IsEmailAddress: a reset must reach an account stored before its stricter rule.
  @IsEmail({}, { message: EMAIL_MESSAGE })
  @MaxLength(254)
  email: string;
}

export class ResetPasswordDto extends PasswordField {
  @ApiProperty({ description: 'The token from the reset or invitation link.' })
  @IsString()
  @MinLength(10)
  @MaxLength(200)
  token: string;
}

export class ConfirmSignUpDto {
  @ApiProperty({ description: 'The token from the sign-up confirmation link.' })
  @IsString()
  @MinLength(10)
  @MaxLength(200)
  token: string;

  @ApiProperty({ format: 'password', maxLength: PASSWORD_RULE.max, description: 'The password chosen when signing up: a link opens only the sign-up it was sent for.' })
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(PASSWORD_RULE.max)
  password: string;
}

export class ChangePasswordDto extends PasswordField {
  @ApiProperty({ format: 'password', maxLength: PASSWORD_RULE.max })
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(PASSWORD_RULE.max)
  currentPassword: string;
}

export class RoleSummaryDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Staff' })
  name: string;

  @ApiProperty({ enum: ['admin', 'staff', 'client'], nullable: true, type: String })
  systemKey: 'admin' | 'staff' | 'client' | null;

  @ApiProperty({ enum: ['staff', 'client'] })
  audience: 'staff' | 'client';
}

export class PermissionRuleDto {
  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] })
  action: string | string[];

  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] })
  subject: string | string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: true })
  conditions?: Record<string, unknown>;

  @ApiPropertyOptional({ type: [String] })
  fields?: string[];

  @ApiPropertyOptional()
  inverted?: boolean;
}

export class MeDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid', description: 'The contact this account belongs to.' })
  contactId: string;

  @ApiProperty({ format: 'email' })
  email: string;

  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;

  @ApiProperty({ enum: ['staff', 'client'], enumName: 'AccountType', description: 'Where a front end should send this user: the back office or the client portal.' })
  accountType: 'staff' | 'client';

  @ApiProperty({ type: [RoleSummaryDto] })
  roles: RoleSummaryDto[];

  @ApiProperty({ type: [PermissionRuleDto], description: 'The CASL rules in force, for showing and hiding UI.' })
  rules: PermissionRuleDto[];
}

export class TokensDto {
  @ApiProperty({ description: 'Short-lived JWT for the Authorization: Bearer header.' })
  accessToken: string;

  @ApiProperty({ description: 'Single-use token to obtain the next pair; rotate on every use.' })
  refreshToken: string;

  @ApiProperty({ example: 'Bearer' })
  tokenType: 'Bearer';

  @ApiProperty({ type: 'integer', description: 'Seconds until the access token expires.', example: 900 })
  expiresIn: number;

  @ApiProperty({ type: MeDto })
  user: MeDto;
}

export class AcceptedDto {
  @ApiProperty({ example: 'If an account exists for that address, a reset link is on its way.' })
  message: string;
}
