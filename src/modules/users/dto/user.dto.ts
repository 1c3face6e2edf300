import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsOptional, IsString, IsUUID, MaxLength, MinLength } from 'class-validator';
import { RoleSummaryDto } from '../../../core/auth/dto/auth.dto';
import { PageQueryDto } from '../../../core/http/pagination';
import { IsEmailAddress, IsPersonName, IsPhone, Omittable, trim } from '../../../core/http/dto-helpers';

const toBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

export class UserQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Only users holding this role.' })
  @IsOptional()
  @IsUUID('all', { message: 'must be a UUID' })
  roleId?: string;

  @ApiPropertyOptional({ enum: ['staff', 'client'] })
  @IsOptional()
  @IsIn(['staff', 'client'])
  accountType?: 'staff' | 'client';

  @ApiPropertyOptional({ type: Boolean })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  isActive?: boolean;
}

export class CreateUserDto {
  @ApiProperty({ maxLength: 100 })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsPersonName()
  firstName: string;

  @ApiProperty({ maxLength: 100 })
  @Transform(trim)
  @IsString()
  @MaxLength(100)
  @IsPersonName()
  lastName: string;

  @ApiProperty({ format: 'email', maxLength: 254 })
  @Transform(trim)
  @IsEmailAddress()
  @MaxLength(254)
  email: string;

  @ApiPropertyOptional({ nullable: true, maxLength: 50 })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(50)
  @IsPhone()
  phone?: string;

  @ApiProperty({ type: [String], format: 'uuid', description: 'Roles to give; at least one.' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  roleIds: string[];

  @ApiPropertyOptional({ default: true, description: 'Mail the person a link to choose their password.' })
  @Omittable()
  @IsBoolean()
  sendInvite?: boolean;
}

export class UpdateUserDto {
  @ApiPropertyOptional({ maxLength: 100 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsPersonName()
  firstName?: string;

  @ApiPropertyOptional({ maxLength: 100 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MaxLength(100)
  @IsPersonName()
  lastName?: string;

  @ApiPropertyOptional({ format: 'email', maxLength: 254 })
  @Omittable()
  @Transform(trim)
  @IsEmailAddress()
  @MaxLength(254)
  email?: string;

  @ApiPropertyOptional({ maxLength: 50, nullable: true, type: String })
  @IsOptional()
  @Transform(trim)
  @IsString()
  @MaxLength(50)
  @IsPhone()
  phone?: string;

  @ApiPropertyOptional({ description: 'false deactivates the account and ends its sessions.' })
  @Omittable()
  @IsBoolean()
  isActive?: boolean;
}

export class SetUserRolesDto {
  @ApiProperty({ type: [String], format: 'uuid' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(20)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  roleIds: string[];
}

export class PasswordResetRequestDto {
  @ApiProperty({
    enum: ['send', 'force'],
    description: '`send` mails a reset link; `force` also clears the current password and ends every session.',
  })
  @IsIn(['send', 'force'])
  mode: 'send' | 'force';
}

export class UserDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  contactId: string;

  @ApiProperty({ format: 'email' })
  email: string;

  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;

  @ApiProperty({ nullable: true, type: String })
  phone: string | null;

  @ApiProperty()
  isActive: boolean;

  @ApiProperty({ description: 'False while an invited user has not chosen a password yet.' })
  hasPassword: boolean;

  @ApiProperty({ enum: ['staff', 'client'], enumName: 'AccountType' })
  accountType: 'staff' | 'client';

  @ApiProperty({ type: [RoleSummaryDto] })
  roles: RoleSummaryDto[];

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  lastLoginAt: Date | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}
