import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { ArrayMaxSize, ArrayMinSize, IsArray, IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, MinLength } from 'class-validator';
import { MAX_PAGE_SIZE, PageQueryDto } from '../../../core/http/pagination';
import { PersonRefDto } from '../../contacts/dto/contact.dto';
import { CONTACT_FILTER_NODE } from '../../contacts/dto/contact-filter.dto';
import type { FilterNode } from '../../contacts/filters/contact-filter.types';
import { SEGMENT_KINDS, type SegmentKind } from '../entities/segment.entity';
import { asSent, IsVisibleText, Omittable, trim } from '../../../core/http/dto-helpers';



const RULE_DESCRIPTION =
  'The contacts rule language, as in `POST /contacts/search`: `{"and": [...]}`, `{"or": [...]}`, `{"not": {...}}` or a condition ' +
  '`{"field": "stage", "op": "is", "value": "customer"}` over q, firstName, lastName, email, phone, company, jobTitle, city, region, ' +
  'postalCode, country, status, stage, trafficSource, assignedTo, hasAccount, tags, services, createdAt, updatedAt, lastContactedAt, custom.<key>. ' +
  'Errors name the bad clause (`rule.and.1.op`).';

const RULE_EXAMPLE = { and: [{ field: 'stage', op: 'is', value: 'customer' }, { field: 'lastContactedAt', op: 'notInLastDays', value: 30 }] };

const SORT = /^-?[A-Za-z][A-Za-z0-9_.]*(,-?[A-Za-z][A-Za-z0-9_.]*)*$/;

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/** `q` searches the name; `sort` takes name, createdAt and updatedAt. */
export class SegmentQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: SEGMENT_KINDS })
  @IsOptional()
  @IsIn(SEGMENT_KINDS)
  kind?: SegmentKind;
}

/** The segment's contacts: `q` searches them, `sort` takes the contact list's fields (custom.<key> included). */
export class SegmentContactsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'Keyset paging: pass `meta.nextCursor` of the previous page (sort createdAt or updatedAt); `page` is then ignored.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

// ---------------------------------------------------------------------------------------------
// Writing segments
// ---------------------------------------------------------------------------------------------

export class CreateSegmentDto {
  @ApiProperty({ maxLength: 100, example: 'Customers gone quiet', description: 'Unique regardless of case.' })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsVisibleText()
  name: string;

  @ApiPropertyOptional({ nullable: true, maxLength: 1000 })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @ApiProperty({ enum: SEGMENT_KINDS, description: 'static: a list of members you add and remove; dynamic: every contact matching `rule`. Fixed once created.' })
  @IsIn(SEGMENT_KINDS)
  kind: SegmentKind;

  @ApiPropertyOptional({ ...CONTACT_FILTER_NODE, description: `Required for dynamic segments, refused for static ones. ${RULE_DESCRIPTION}`, example: RULE_EXAMPLE })
  @Omittable()
  @Transform(asSent)
  @IsObject({ message: 'must be a rule object' })
  rule?: FilterNode;
}

export class UpdateSegmentDto {
  @ApiPropertyOptional({ maxLength: 100 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsVisibleText()
  name?: string;

  @ApiPropertyOptional({ maxLength: 1000 })
  @Omittable()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @ApiPropertyOptional({ ...CONTACT_FILTER_NODE, description: `Dynamic segments only: the new rule. ${RULE_DESCRIPTION}` })
  @Omittable()
  @Transform(asSent)
  @IsObject({ message: 'must be a rule object' })
  rule?: FilterNode;
}

export class PreviewSegmentDto {
  @ApiProperty({ ...CONTACT_FILTER_NODE, description: RULE_DESCRIPTION, example: RULE_EXAMPLE })
  @Transform(asSent)
  @IsObject({ message: 'must be a rule object' })
  rule: FilterNode;

  @ApiPropertyOptional({ example: 'lastName', description: 'As for the contact list.' })
  @Omittable()
  @IsString()
  @MaxLength(200)
  @Matches(SORT, { message: 'must be a comma-separated list of field names' })
  sort?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 25, description: 'Size of the first page; the server caps it at PAGE_SIZE_MAX.' })
  @Omittable()
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;
}

// ---------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------

export class AddSegmentMembersDto {
  @ApiPropertyOptional({ type: [String], format: 'uuid', minItems: 1, maxItems: 10000, description: 'These contacts.' })
  @Omittable()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10000)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  contactIds?: string[];

  @ApiPropertyOptional({ ...CONTACT_FILTER_NODE, description: `Every contact matching this rule right now (later changes do not follow). ${RULE_DESCRIPTION.replace('rule.and', 'filter.and')}` })
  @Omittable()
  @Transform(asSent)
  @IsObject({ message: 'must be a rule object' })
  filter?: FilterNode;
}

export class RemoveSegmentMembersDto {
  @ApiProperty({ type: [String], format: 'uuid', minItems: 1, maxItems: 10000, description: 'The contacts to take out.' })
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10000)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  contactIds: string[];
}

export class AddSegmentMembersResultDto {
  @ApiProperty({ type: 'integer', description: 'Live contacts the selection found that you may read; only these are added.' })
  matched: number;

  @ApiProperty({ type: 'integer', description: 'Contacts that were not members before.' })
  added: number;

  @ApiProperty({ type: 'integer', description: 'Matched contacts that already were members.' })
  alreadyMembers: number;

  @ApiProperty({ type: 'integer', description: 'Members you may read, after the change.' })
  contactCount: number;
}

export class RemoveSegmentMembersResultDto {
  @ApiProperty({ type: 'integer', description: 'Members taken out (only contacts you may read are touched).' })
  removed: number;

  @ApiProperty({ type: 'integer', description: 'Members you may read, after the change.' })
  contactCount: number;
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

export class SegmentDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  name: string;

  @ApiProperty()
  description: string;

  @ApiProperty({ enum: SEGMENT_KINDS })
  kind: SegmentKind;

  @ApiProperty({ ...CONTACT_FILTER_NODE, nullable: true, description: 'The rule of a dynamic segment; null for static ones.' })
  rule: FilterNode | null;

  @ApiProperty({ type: 'integer', description: 'Contacts in the segment right now that you may read (live ones, not in the trash).' })
  contactCount: number;

  @ApiProperty({
    type: [String],
    description: 'Clauses of the rule on what is gone (custom fields deleted, purged or of another type now; tags, statuses, services, traffic sources or assignees that no longer exist), each with what it now does: hold for no contact, or exclude no contact.',
  })
  warnings: string[];

  @ApiProperty({ type: PersonRefDto, nullable: true })
  createdBy: PersonRefDto | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

/** One node of a dynamic segment's rule, with whether it holds for the contact. */
export class ExplainNodeDto {
  @ApiProperty({ description: 'Whether this group or condition holds for the contact (an unknown value counts as false, as in the list).' })
  matched: boolean;

  @ApiPropertyOptional({ type: () => [ExplainNodeDto], description: 'An AND group: its children.' })
  and?: ExplainNodeDto[];

  @ApiPropertyOptional({ type: () => [ExplainNodeDto], description: 'An OR group: its children.' })
  or?: ExplainNodeDto[];

  @ApiPropertyOptional({ type: () => ExplainNodeDto, description: 'A negation: the negated node.' })
  not?: ExplainNodeDto;

  @ApiPropertyOptional({ description: 'A condition: its field.', example: 'stage' })
  field?: string;

  @ApiPropertyOptional({ description: 'A condition: its operator.', example: 'is' })
  op?: string;

  @ApiPropertyOptional({
    description: 'A condition: its value, as in the rule.',
    oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'number' }] } }],
  })
  value?: unknown;
}

export class SegmentExplanationDto {
  @ApiProperty({ format: 'uuid' })
  segmentId: string;

  @ApiProperty({ format: 'uuid' })
  contactId: string;

  @ApiProperty({ description: 'Whether the contact is in the segment (the rule as a whole matched).' })
  matched: boolean;

  @ApiProperty({ type: ExplainNodeDto, description: 'The rule tree, every group and condition annotated.' })
  rule: ExplainNodeDto;

  @ApiProperty({ type: [String], description: 'As on the segment.' })
  warnings: string[];
}
