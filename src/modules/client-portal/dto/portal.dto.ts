import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, MaxLength, Min, MinLength } from 'class-validator';
import { PageQueryDto } from '../../../core/http/pagination';
import { ACTIVITY_TYPES, type ActivityType } from '../../contacts/entities/activity.entity';
import { CUSTOM_FIELD_TYPES, type CustomFieldType } from '../../contacts/entities/custom-field.entity';
import { ContactPreferencesDto, PreferencesChange, type UpdateContactPreferencesDto } from '../../contacts/dto/contact-preferences.dto';
import { PORTAL_SECTION_FEATURES, type PortalSectionFeature } from '../portal-sections';
import { asSent, IsEmailAddress, IsPersonName, IsPhone, Omittable, trim } from '../../../core/http/dto-helpers';

const emptyToNull = ({ value }: { value: unknown }) => (typeof value === 'string' ? (value.trim() === '' ? null : value.trim()) : value);

/** The fields a client may ever change in the portal; their permission rules decide which of them they actually may. */
export const PORTAL_EDITABLE_FIELDS = [
  'firstName',
  'lastName',
  'phone',
  'addressLine1',
  'addressLine2',
  'city',
  'region',
  'postalCode',
  'country',
  'preferences',
  'customFields',
] as const;
export type PortalEditableField = (typeof PORTAL_EDITABLE_FIELDS)[number];

// ----- details -----------------------------------------------------------------------------

export class UpdatePortalProfileDto {
  @ApiPropertyOptional({ maxLength: 100 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsPersonName()
  firstName?: string;

  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(100)
  @IsPersonName()
  lastName?: string | null;

  @ApiPropertyOptional({ maxLength: 50, nullable: true, type: String, example: '+44 20 7946 0958' })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(50)
  @IsPhone()
  phone?: string | null;

  @ApiPropertyOptional({ maxLength: 200, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(200)
  addressLine1?: string | null;

  @ApiPropertyOptional({ maxLength: 200, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(200)
  addressLine2?: string | null;

  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(100)
  city?: string | null;

  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(100)
  region?: string | null;

  @ApiPropertyOptional({ maxLength: 20, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(20)
  postalCode?: string | null;

  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @IsString()
  @MaxLength(100)
  country?: string | null;

  @PreferencesChange('Only the keys sent change; null clears one.')
  preferences?: UpdateContactPreferencesDto;

  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'Values of custom fields by key; null clears one. Only fields listed in `editableFields` of your details can be changed.',
    example: { favourite_colour: 'blue' },
  })
  @Omittable()
  @Transform(asSent)
  @IsObject({ message: 'must be an object' })
  customFields?: Record<string, unknown>;

  @ApiPropertyOptional({
    format: 'email',
    maxLength: 254,
    description: 'Your login cannot be changed here: a different address is refused with 422 (a new address needs verification). Sending the current one is harmless.',
  })
  @Omittable()
  @Transform(trim)
  @IsEmailAddress()
  @MaxLength(254)
  email?: string;

  @ApiProperty({ type: 'integer', description: 'The version you read; a stale one is refused with 409 instead of overwriting a newer change.', example: 3 })
  @IsInt()
  @Min(1)
  version: number;
}

export class PortalCustomFieldDto {
  @ApiProperty({ example: 'favourite_colour' })
  key: string;

  @ApiProperty({ example: 'Favourite colour' })
  label: string;

  @ApiProperty({ enum: CUSTOM_FIELD_TYPES, enumName: 'CustomFieldType' })
  type: CustomFieldType;

  @ApiProperty({ type: [String], description: 'The choices of select and multi_select fields.' })
  options: string[];

  @ApiProperty()
  required: boolean;

  @ApiProperty({
    // OpenAPI 3.0 has no null type: the first choice takes null.
    anyOf: [{ type: 'string', nullable: true }, { type: 'number' }, { type: 'boolean' }, { type: 'array', items: { type: 'string' } }],
    description: 'The value, typed by `type`; null when not set.',
  })
  value: unknown;
}

export class PortalProfileDto {
  @ApiProperty({ format: 'uuid', description: 'Your contact id.' })
  id: string;

  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;

  @ApiProperty({ nullable: true, type: String, format: 'email', description: 'Your login; not editable here.' })
  email: string | null;

  @ApiProperty({ nullable: true, type: String })
  phone: string | null;

  @ApiProperty({ nullable: true, type: String })
  company: string | null;

  @ApiProperty({ nullable: true, type: String })
  jobTitle: string | null;

  @ApiProperty({ nullable: true, type: String })
  addressLine1: string | null;

  @ApiProperty({ nullable: true, type: String })
  addressLine2: string | null;

  @ApiProperty({ nullable: true, type: String })
  city: string | null;

  @ApiProperty({ nullable: true, type: String })
  region: string | null;

  @ApiProperty({ nullable: true, type: String })
  postalCode: string | null;

  @ApiProperty({ nullable: true, type: String })
  country: string | null;

  @ApiProperty({ nullable: true, type: String, example: 'Customer', description: 'The name of your status, for display; only staff change it.' })
  status: string | null;

  @ApiProperty({ type: ContactPreferencesDto })
  preferences: ContactPreferencesDto;

  @ApiProperty({ type: [PortalCustomFieldDto], description: 'Additional fields, internal ones left out.' })
  customFields: PortalCustomFieldDto[];

  @ApiProperty({
    type: 'array',
    items: { type: 'string', enum: [...PORTAL_EDITABLE_FIELDS] },
    description: 'The fields you may change with PATCH /portal/me, as your permissions stand.',
  })
  editableFields: PortalEditableField[];

  @ApiProperty({ type: 'integer', description: 'Send it back with an update.' })
  version: number;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

// ----- dashboard ---------------------------------------------------------------------------

export class PortalPersonDto {
  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;
}

export class PortalAssigneeDto extends PortalPersonDto {
  @ApiProperty({ format: 'email' })
  email: string;

  @ApiProperty({ nullable: true, type: String })
  phone: string | null;
}

export class PortalOpenItemDto {
  @ApiProperty({ example: 'tasks', description: '`tasks`, or the key of the section the items come from.' })
  key: string;

  @ApiProperty({ example: 'Upcoming tasks' })
  label: string;

  @ApiProperty({ type: 'integer', example: 2 })
  count: number;
}

export class PortalSectionDto {
  @ApiProperty({ example: 'invoices', description: 'Stable; pick the widget by it.' })
  key: string;

  @ApiProperty({ enum: PORTAL_SECTION_FEATURES, enumName: 'PortalSectionFeature', description: 'The module the section comes from.' })
  feature: PortalSectionFeature;

  @ApiProperty({ example: 'Your invoices' })
  title: string;

  @ApiProperty({ type: 'integer', description: 'Items waiting on you in this section.' })
  openCount: number;

  @ApiProperty({ type: 'object', additionalProperties: true, description: "The section's content; its shape is documented by the module it comes from." })
  data: Record<string, unknown>;
}

export class PortalDashboardDto {
  @ApiProperty({ example: 'Welcome to your client portal.' })
  welcomeText: string;

  @ApiProperty({ type: PortalPersonDto, description: 'You.' })
  client: PortalPersonDto;

  @ApiProperty({ type: PortalAssigneeDto, nullable: true, description: 'Your contact person; null while nobody is assigned.' })
  assignee: PortalAssigneeDto | null;

  @ApiProperty({ type: [PortalOpenItemDto], description: 'Counts of what is waiting on you: upcoming tasks, then one entry per section.' })
  openItems: PortalOpenItemDto[];

  @ApiProperty({ type: [PortalSectionDto], description: 'Invoices, visits…: present only while their module is on.' })
  sections: PortalSectionDto[];
}

// ----- timeline ----------------------------------------------------------------------------

/** `q` searches subject and body; `sort` takes occurredAt (default: newest first). */
export class PortalTimelineQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ACTIVITY_TYPES, enumName: 'ActivityType', description: 'Only entries of this type.' })
  @IsOptional()
  @IsIn(ACTIVITY_TYPES)
  type?: ActivityType;
}

export class PortalTimelineItemDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: ACTIVITY_TYPES, enumName: 'ActivityType' })
  type: ActivityType;

  @ApiProperty()
  subject: string;

  @ApiProperty()
  body: string;

  @ApiProperty({ format: 'date-time', description: 'When it happened, or for a task when it is due.' })
  occurredAt: Date;

  @ApiProperty({ type: PortalPersonDto, nullable: true, description: 'Who logged it, by name only; null once their account is gone.' })
  author: PortalPersonDto | null;
}
