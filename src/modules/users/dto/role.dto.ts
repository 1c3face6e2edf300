import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsObject, IsOptional, IsString, MaxLength, MinLength, ValidateNested } from 'class-validator';
import { asSent, IsVisibleText, Omittable, trim } from '../../../core/http/dto-helpers';


export class RuleDto {
  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], example: 'read', description: 'manage, create, read, update, delete, or a subject-specific action.' })
  @IsString({ each: true })
  @MaxLength(50, { each: true })
  action: string | string[];

  @ApiProperty({ oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }], example: 'Contact' })
  @IsString({ each: true })
  @MaxLength(50, { each: true })
  subject: string | string[];

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { assignedToId: '${user.id}' },
    description: 'MongoDB-style conditions over the subject fields; `${user.id}`, `${user.contactId}` and `${user.email}` are replaced per request.',
  })
  @Omittable()
  @Transform(asSent)
  @IsObject()
  conditions?: Record<string, unknown>;

  @ApiPropertyOptional({ type: [String], description: 'Limit the rule to these fields.' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  fields?: string[];

  @ApiPropertyOptional({ description: 'A "cannot" rule.' })
  @Omittable()
  @IsBoolean()
  inverted?: boolean;

  @ApiPropertyOptional({ maxLength: 200 })
  @Omittable()
  @IsString()
  @MaxLength(200)
  reason?: string;
}

export class CreateRoleDto {
  @ApiProperty({ maxLength: 100, example: 'Sales rep' })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsVisibleText()
  name: string;

  @ApiPropertyOptional({ nullable: true, maxLength: 500 })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ enum: ['staff', 'client'], default: 'staff', description: 'Back office (staff) or client portal (client).' })
  @Omittable()
  @IsIn(['staff', 'client'])
  audience?: 'staff' | 'client';

  @ApiProperty({ type: [RuleDto] })
  @IsArray()
  @ArrayMaxSize(200)
  @ValidateNested({ each: true })
  @Type(() => RuleDto)
  rules: RuleDto[];
}

export class UpdateRoleDto {
  @ApiPropertyOptional({ maxLength: 100 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsVisibleText()
  name?: string;

  @ApiPropertyOptional({ maxLength: 500 })
  @Omittable()
  @IsString()
  @MaxLength(500)
  description?: string;

  @ApiPropertyOptional({ type: [RuleDto], description: 'Replaces the stored rules (system roles keep their built-in ones).' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(200)
  @ValidateNested({ each: true })
  @Type(() => RuleDto)
  rules?: RuleDto[];
}

export class RoleDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  name: string;

  @ApiProperty()
  description: string;

  @ApiProperty({ enum: ['admin', 'staff', 'client'], nullable: true, type: String })
  systemKey: 'admin' | 'staff' | 'client' | null;

  @ApiProperty({ enum: ['staff', 'client'] })
  audience: 'staff' | 'client';

  @ApiProperty({ type: [RuleDto], description: 'Rules stored on the role.' })
  rules: RuleDto[];

  @ApiProperty({ type: [RuleDto], description: 'Built-in rules of a system role; they cannot be removed.' })
  builtInRules: RuleDto[];

  @ApiProperty({ type: 'integer', description: 'How many users hold this role.' })
  userCount: number;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

export class SubjectFieldDto {
  @ApiProperty()
  name: string;

  @ApiProperty({ enum: ['uuid', 'string', 'number', 'boolean', 'date', 'uuid[]', 'string[]'] })
  type: string;
}

export class PermissionSubjectDto {
  @ApiProperty({ example: 'Contact' })
  name: string;

  @ApiProperty()
  description: string;

  @ApiProperty({ type: [String] })
  actions: string[];

  @ApiProperty({ type: [SubjectFieldDto] })
  fields: SubjectFieldDto[];

  @ApiProperty({ type: [String], description: 'Actions whose rules may list `fields` (checked field by field); rules for other actions apply to whole records.' })
  fieldLimitedActions: string[];
}
