import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { PageQueryDto } from '../../../core/http/pagination';
import { CONTACT_STAGES, type ContactStage } from '../entities/contact-status.entity';
import { Omittable, trim } from '../../../core/http/dto-helpers';
import { LIST_ITEM, listItemMessage, TAG_NAME, TAG_NAME_MESSAGE } from '../contacts.naming';

/** The highest position a status may be given; new ones go after the last, up to it. */
export const STATUS_POSITION_MAX = 1_000_000;

const toBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);
const lowerCase = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value);


const NAME_DESCRIPTION = 'Stored Title Cased ("social media" becomes "Social Media"); unique regardless of case.';

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/** `q` searches the name; `sort` takes name, createdAt and contactCount (statuses also position). */
export class LookupQueryDto extends PageQueryDto {}

export class DeleteLookupQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Move the contacts that use the deleted entry to this one (of the same list).' })
  @IsOptional()
  @IsUUID('all', { message: 'must be a UUID' })
  replaceWith?: string;

  @ApiPropertyOptional({ type: Boolean, description: 'Take the deleted entry off the contacts that use it.' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  detach?: boolean;
}

/** `q` searches name, email and company; `sort` takes firstName, lastName, email, company and createdAt. */
export class LookupContactsQueryDto extends PageQueryDto {}

// ---------------------------------------------------------------------------------------------
// Statuses
// ---------------------------------------------------------------------------------------------

export class CreateContactStatusDto {
  @ApiProperty({ maxLength: 100, example: 'Qualified lead', description: NAME_DESCRIPTION })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  name: string;

  @ApiProperty({ enum: CONTACT_STAGES, enumName: 'ContactStage', description: 'What analytics counts contacts in this status as.' })
  @IsIn(CONTACT_STAGES)
  stage: ContactStage;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: STATUS_POSITION_MAX, description: 'Order in pickers; defaults to after the last status.' })
  @Omittable()
  @IsInt()
  @Min(0)
  @Max(STATUS_POSITION_MAX)
  position?: number;
}

export class UpdateContactStatusDto {
  @ApiPropertyOptional({ maxLength: 100, description: NAME_DESCRIPTION })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  name?: string;

  @ApiPropertyOptional({ enum: CONTACT_STAGES, enumName: 'ContactStage' })
  @Omittable()
  @IsIn(CONTACT_STAGES)
  stage?: ContactStage;

  @ApiPropertyOptional({ type: 'integer', minimum: 0, maximum: STATUS_POSITION_MAX })
  @Omittable()
  @IsInt()
  @Min(0)
  @Max(STATUS_POSITION_MAX)
  position?: number;
}

export class ContactStatusDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Qualified Lead' })
  name: string;

  @ApiProperty({ enum: CONTACT_STAGES, enumName: 'ContactStage' })
  stage: ContactStage;

  @ApiProperty({ type: 'integer' })
  position: number;

  @ApiProperty({ type: 'integer', description: 'Contacts (not in the trash) in this status that the caller may read.' })
  contactCount: number;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

// ---------------------------------------------------------------------------------------------
// Tags
// ---------------------------------------------------------------------------------------------

const COLOR = /^#[0-9a-fA-F]{6}$/;
const COLOR_MESSAGE = 'must be a colour in the form #rrggbb';

export class CreateTagDto {
  @ApiProperty({ maxLength: 100, example: 'vip', description: NAME_DESCRIPTION })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @Matches(TAG_NAME, { message: TAG_NAME_MESSAGE })
  name: string;

  @ApiPropertyOptional({ example: '#1e90ff', pattern: '^#[0-9a-fA-F]{6}$', maxLength: 7, nullable: true, type: String })
  @IsOptional()
  @Transform(lowerCase)
  @IsString()
  @MaxLength(7)
  @Matches(COLOR, { message: COLOR_MESSAGE })
  color?: string | null;
}

export class UpdateTagDto {
  @ApiPropertyOptional({ maxLength: 100, description: NAME_DESCRIPTION })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @Matches(TAG_NAME, { message: TAG_NAME_MESSAGE })
  name?: string;

  @ApiPropertyOptional({ example: '#1e90ff', pattern: '^#[0-9a-fA-F]{6}$', maxLength: 7, nullable: true, type: String, description: '`null` removes the colour.' })
  @IsOptional()
  @Transform(lowerCase)
  @IsString()
  @MaxLength(7)
  @Matches(COLOR, { message: COLOR_MESSAGE })
  color?: string | null;
}

export class TagDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Vip' })
  name: string;

  @ApiProperty({ example: '#1e90ff', nullable: true, type: String })
  color: string | null;

  @ApiProperty({ type: 'integer', description: 'Contacts (not in the trash) with this tag that the caller may read.' })
  contactCount: number;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

// ---------------------------------------------------------------------------------------------
// Services and traffic sources: a name and nothing else
// ---------------------------------------------------------------------------------------------

export class CreateNamedLookupDto {
  @ApiProperty({ maxLength: 100, example: 'social media', description: NAME_DESCRIPTION })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  name: string;
}

export class UpdateNamedLookupDto {
  @ApiPropertyOptional({ maxLength: 100, description: NAME_DESCRIPTION })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  name?: string;
}

// Whole classes rather than subclasses: class-validator lets a subclass's checks of a property
// replace the inherited ones of the same kind, which would drop the length limits.
const SERVICE_NAME_DESCRIPTION = `${NAME_DESCRIPTION} No "," or ";" (a contact's services share one CSV cell).`;

export class CreateServiceOfferingDto {
  @ApiProperty({ maxLength: 100, example: 'web design', description: SERVICE_NAME_DESCRIPTION })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @Matches(LIST_ITEM, { message: listItemMessage('services') })
  name: string;
}

export class UpdateServiceOfferingDto {
  @ApiPropertyOptional({ maxLength: 100, description: SERVICE_NAME_DESCRIPTION })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @Matches(LIST_ITEM, { message: listItemMessage('services') })
  name?: string;
}

export class ServiceOfferingDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Consulting' })
  name: string;

  @ApiProperty({ type: 'integer', description: 'Contacts (not in the trash) interested in this service that the caller may read.' })
  contactCount: number;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

export class TrafficSourceDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ example: 'Social Media' })
  name: string;

  @ApiProperty({ type: 'integer', description: 'Contacts (not in the trash) from this source that the caller may read.' })
  contactCount: number;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

// ---------------------------------------------------------------------------------------------
// The contacts in a tag or status
// ---------------------------------------------------------------------------------------------

export class LookupContactDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;

  @ApiProperty({ format: 'email', nullable: true, type: String })
  email: string | null;

  @ApiProperty({ nullable: true, type: String })
  company: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;
}
