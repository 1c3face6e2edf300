import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
  ValidateNested,
} from 'class-validator';
import { MAX_PAGE_SIZE, PageQueryDto } from '../../../core/http/pagination';
import { CHANGE_SOURCES, type ChangeSource } from '../contacts.change-context';
import { ACTIVITY_TYPES, type ActivityType } from '../entities/activity.entity';
import { CONTACT_STAGES } from '../entities/contact-status.entity';
import type { FilterNode } from '../filters/contact-filter.types';
import { CONTACT_FILTER_NODE } from './contact-filter.dto';
import { ContactPreferencesDto, PreferencesChange, type UpdateContactPreferencesDto } from './contact-preferences.dto';
import { asSent, IsEmailAddress, IsPersonName, IsPhone, Omittable, queryInteger, trim } from '../../../core/http/dto-helpers';
import { IsDateTime } from '../../../core/http/date-time';
import { TAG_NAME, TAG_NAME_MESSAGE } from '../contacts.naming';

const emptyToNull = ({ value }: { value: unknown }) => (typeof value === 'string' ? (value.trim() === '' ? null : value.trim()) : value);
/** List filters take a date or a date-time, with or without an offset (none: UTC). */
const DATE_OR_DATE_TIME_MESSAGE = 'must be an ISO 8601 date or date-time';
const CURSOR_DESCRIPTION =
  'Keyset paging for deep scrolling: pass `meta.nextCursor` of the previous page, with the same sort. Works with sort createdAt or ' +
  'updatedAt (either direction); `page` is then ignored (and `meta.page` is 1).';
const DATE_BOUND_DESCRIPTION =
  'an ISO 8601 date, standing for that whole UTC day, or a date-time (UTC when it has no offset); a date-time written to the millisecond, as answers show times, stands for that whole millisecond.';
const toBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);
/** `a,b` or repeated parameters, as a list. */
const toList = ({ value }: { value: unknown }) =>
  value === undefined ? undefined : (Array.isArray(value) ? value : [value]).flatMap((item) => String(item).split(',')).map((item) => item.trim()).filter(Boolean);
const parseJson = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
};

const FILTER_DESCRIPTION =
  'A rule tree: `{"and": [...]}`, `{"or": [...]}`, `{"not": {...}}` or a condition `{"field": "stage", "op": "is", "value": "customer"}`. ' +
  'Fields: q, firstName, lastName, email, phone, company, jobTitle, city, region, postalCode, country, status, stage, trafficSource, assignedTo, ' +
  'hasAccount, tags, services, createdAt, updatedAt, lastContactedAt, custom.<key>. Operators depend on the field type: is, isNot, contains, ' +
  'notContains, startsWith, in, notIn, empty, notEmpty, gt, gte, lt, lte, before, after, inLastDays, notInLastDays, hasAny, hasAll, hasNone, matches. ' +
  'A list value holds at most 1000 values (10000 for id, status, trafficSource and assignedTo). A date-only value against a date-time field ' +
  'stands for that whole UTC day: `lte` and `before`/`lt` take it in or leave it out whole, `gte` starts and `gt`/`after` ends with it; ' +
  'likewise a date-time written to the millisecond, as answers show times (the database keeps microseconds), stands for that whole millisecond. ' +
  '`{"and": []}` matches every contact.';
const CONTACT_SORT_DESCRIPTION =
  'Comma-separated fields; prefix with `-` for descending, e.g. `-createdAt,lastName`. Sortable: firstName, lastName, email, phone, company, ' +
  'jobTitle, city, country, status (the statuses\' own order: position, then name), stage (lead, prospect, customer, other), assignedTo ' +
  "(the assignee's first, then last name), trafficSource (its name), createdAt, updatedAt, lastContactedAt and custom.<key>. Text sorts " +
  'ignore case, empty values come last either way, and ties are broken by id.';
const CONTACT_SEARCH_DESCRIPTION =
  'Every word must start a word of the name, email, phone or company. A phone number is found however it is typed (with or without ' +
  'its country code, spaces, dashes, dots or parentheses), and by its trailing groups as stored (`258 2517464` finds `+54 258 2517464`).';

export class ContactWritableFields {
  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(100)
  @IsPersonName()
  lastName?: string | null;

  @ApiPropertyOptional({ format: 'email', maxLength: 254, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsEmailAddress()
  @MaxLength(254)
  email?: string | null;

  @ApiPropertyOptional({ maxLength: 50, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @IsPhone()
  phone?: string | null;

  @ApiPropertyOptional({ maxLength: 200, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(200)
  company?: string | null;

  @ApiPropertyOptional({ maxLength: 200, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(200)
  jobTitle?: string | null;

  @ApiPropertyOptional({ maxLength: 200, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(200)
  addressLine1?: string | null;

  @ApiPropertyOptional({ maxLength: 200, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(200)
  addressLine2?: string | null;

  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(100)
  city?: string | null;

  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(100)
  region?: string | null;

  @ApiPropertyOptional({ maxLength: 20, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(20)
  postalCode?: string | null;

  @ApiPropertyOptional({ maxLength: 100, nullable: true, type: String })
  @IsOptional()
  @Transform(emptyToNull)
  @ValidateIf((_, value) => value !== null)
  @IsString()
  @MaxLength(100)
  country?: string | null;

  @ApiPropertyOptional({ format: 'uuid', nullable: true, type: String, description: 'Defaults to the Lead status on creation.' })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsUUID('all', { message: 'must be a UUID' })
  statusId?: string | null;

  @ApiPropertyOptional({ format: 'uuid', nullable: true, type: String })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsUUID('all', { message: 'must be a UUID' })
  trafficSourceId?: string | null;

  @ApiPropertyOptional({ format: 'uuid', nullable: true, type: String, description: 'A staff user.' })
  @IsOptional()
  @ValidateIf((_, value) => value !== null)
  @IsUUID('all', { message: 'must be a UUID' })
  assignedToId?: string | null;

  @ApiPropertyOptional({ type: [String], format: 'uuid', maxItems: 100, description: 'The complete set of tags (replaces the current one).' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(100)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  tagIds?: string[];

  @ApiPropertyOptional({ type: [String], maxItems: 50, description: 'Tag names to add; missing tags are created (Title Cased).', example: ['vip', 'newsletter'] })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MinLength(1, { each: true, message: 'must not contain empty names' })
  @MaxLength(100, { each: true })
  @Matches(TAG_NAME, { each: true, message: TAG_NAME_MESSAGE })
  newTags?: string[];

  @ApiPropertyOptional({ type: [String], format: 'uuid', maxItems: 100, description: 'The complete set of services (replaces the current one).' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(100)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  serviceIds?: string[];

  @ApiPropertyOptional({ type: 'object', additionalProperties: true, description: 'Values of custom fields by key; null clears one.', example: { budget: 5000 } })
  @Omittable()
  @Transform(asSent)
  @IsObject()
  customFields?: Record<string, unknown>;

  @PreferencesChange('What the person told you of their preferences (clients set them in the portal). Only the keys sent change; null clears one.')
  preferences?: UpdateContactPreferencesDto;
}

export class CreateContactDto extends ContactWritableFields {
  @ApiProperty({ maxLength: 100, example: 'Ada' })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsPersonName()
  firstName: string;
}

export class UpdateContactDto extends ContactWritableFields {
  @ApiPropertyOptional({ maxLength: 100 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsPersonName()
  firstName?: string;

  @ApiProperty({ type: 'integer', description: 'The version you read; a stale one is refused with 409 instead of overwriting a newer change.', example: 3 })
  @IsInt()
  @Min(1)
  version: number;
}

export class ContactQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: CONTACT_SORT_DESCRIPTION, example: '-createdAt' })
  declare sort?: string;

  @ApiPropertyOptional({ description: CONTACT_SEARCH_DESCRIPTION, maxLength: 200 })
  declare q?: string;

  @ApiPropertyOptional({ type: [String], format: 'uuid', description: 'Status ids (comma-separated or repeated).' })
  @IsOptional()
  @Transform(toList)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  status?: string[];

  @ApiPropertyOptional({ type: [String], enum: CONTACT_STAGES, enumName: 'ContactStage', description: 'Status stages.' })
  @IsOptional()
  @Transform(toList)
  @IsIn(CONTACT_STAGES, { each: true })
  stage?: string[];

  @ApiPropertyOptional({ type: [String], format: 'uuid', description: 'Tag ids; see tagsMode.' })
  @IsOptional()
  @Transform(toList)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  tags?: string[];

  @ApiPropertyOptional({ enum: ['any', 'all'], default: 'any' })
  @IsOptional()
  @IsIn(['any', 'all'])
  tagsMode?: 'any' | 'all';

  @ApiPropertyOptional({ type: [String], format: 'uuid' })
  @IsOptional()
  @Transform(toList)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  services?: string[];

  @ApiPropertyOptional({ type: [String], format: 'uuid' })
  @IsOptional()
  @Transform(toList)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  trafficSource?: string[];

  @ApiPropertyOptional({ type: [String], description: 'Assignee user ids, or `me`.' })
  @IsOptional()
  @Transform(toList)
  @Matches(/^(me|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/, { each: true, message: 'must be a list of UUIDs or "me"' })
  assignedTo?: string[];

  @ApiPropertyOptional({ type: Boolean, description: 'Contacts without a status.' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  noStatus?: boolean;

  @ApiPropertyOptional({ type: Boolean, description: 'Contacts without any tag.' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  noTags?: boolean;

  @ApiPropertyOptional({ type: Boolean, description: 'Contacts without any service.' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  noServices?: boolean;

  @ApiPropertyOptional({ type: Boolean, description: 'Contacts without a traffic source.' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  noTrafficSource?: boolean;

  @ApiPropertyOptional({ type: Boolean, description: 'Contacts not assigned to anyone.' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  unassigned?: boolean;

  @ApiPropertyOptional({ type: Boolean, description: 'Contacts with (true) or without (false) a user account.' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  hasAccount?: boolean;

  @ApiPropertyOptional({ type: String, example: '2026-01-31', description: `Contacts created on or after this: ${DATE_BOUND_DESCRIPTION}` })
  @IsOptional()
  @IsDateTime(DATE_OR_DATE_TIME_MESSAGE, { date: true, localTime: true })
  createdFrom?: string;

  @ApiPropertyOptional({ type: String, example: '2026-01-31', description: `Contacts created on or before this: ${DATE_BOUND_DESCRIPTION}` })
  @IsOptional()
  @IsDateTime(DATE_OR_DATE_TIME_MESSAGE, { date: true, localTime: true })
  createdTo?: string;

  @ApiPropertyOptional({ type: String, example: '2026-01-31', description: `Contacts last contacted on or after this: ${DATE_BOUND_DESCRIPTION}` })
  @IsOptional()
  @IsDateTime(DATE_OR_DATE_TIME_MESSAGE, { date: true, localTime: true })
  lastContactedFrom?: string;

  @ApiPropertyOptional({ type: String, example: '2026-01-31', description: `Contacts last contacted on or before this: ${DATE_BOUND_DESCRIPTION}` })
  @IsOptional()
  @IsDateTime(DATE_OR_DATE_TIME_MESSAGE, { date: true, localTime: true })
  lastContactedTo?: string;

  @ApiPropertyOptional({ type: 'integer', description: 'Contacts not contacted in the last N days (never contacted included).', minimum: 0, maximum: 36500 })
  @IsOptional()
  @Transform(queryInteger)
  @IsInt()
  @Min(0)
  @Max(36500)
  notContactedForDays?: number;

  @ApiPropertyOptional({ ...CONTACT_FILTER_NODE, description: `${FILTER_DESCRIPTION} Sent as JSON in the query string.` })
  // Omittable: `filter=null` parses to null, which is no rule tree (IsOptional would take it as no filter).
  @Omittable()
  @Transform(parseJson)
  @IsObject({ message: 'must be a JSON object' })
  filter?: FilterNode;

  @ApiPropertyOptional({ description: CURSOR_DESCRIPTION })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

export class ContactSearchDto {
  @ApiPropertyOptional({ ...CONTACT_FILTER_NODE, description: FILTER_DESCRIPTION, example: { and: [{ field: 'stage', op: 'is', value: 'customer' }, { field: 'tags', op: 'empty' }] } })
  @Omittable()
  @Transform(asSent)
  @IsObject()
  filter?: FilterNode;

  @ApiPropertyOptional({ description: CONTACT_SEARCH_DESCRIPTION, maxLength: 200 })
  @Omittable()
  @IsString()
  @MaxLength(200)
  q?: string;

  @ApiPropertyOptional({ description: CONTACT_SORT_DESCRIPTION, example: '-createdAt' })
  @Omittable()
  @IsString()
  @MaxLength(200)
  @Matches(/^-?[A-Za-z][A-Za-z0-9_.]*(,-?[A-Za-z][A-Za-z0-9_.]*)*$/, { message: 'must be a comma-separated list of field names' })
  sort?: string;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100000, default: 1 })
  @Omittable()
  @IsInt()
  @Min(1)
  @Max(100000)
  page?: number;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 25, description: 'Page size; the server caps it at PAGE_SIZE_MAX (100 unless configured).' })
  @Omittable()
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit?: number;

  @ApiPropertyOptional({ description: CURSOR_DESCRIPTION })
  @Omittable()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

export class ContactRefDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  name: string;
}

export class ContactStatusRefDto extends ContactRefDto {
  @ApiProperty({ enum: CONTACT_STAGES, enumName: 'ContactStage' })
  stage: string;
}

export class ContactTagRefDto extends ContactRefDto {
  @ApiProperty({ nullable: true, type: String, example: '#3366ff' })
  color: string | null;
}

export class PersonRefDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;
}

export class ContactListItemDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;

  @ApiProperty({ nullable: true, type: String })
  email: string | null;

  @ApiProperty({ nullable: true, type: String })
  phone: string | null;

  @ApiProperty({ nullable: true, type: String })
  company: string | null;

  @ApiProperty({ nullable: true, type: String })
  jobTitle: string | null;

  @ApiProperty({ nullable: true, type: String })
  city: string | null;

  @ApiProperty({ nullable: true, type: String })
  country: string | null;

  @ApiProperty({ type: ContactStatusRefDto, nullable: true })
  status: ContactStatusRefDto | null;

  @ApiProperty({ type: [ContactTagRefDto] })
  tags: ContactTagRefDto[];

  @ApiProperty({ type: PersonRefDto, nullable: true })
  assignedTo: PersonRefDto | null;

  @ApiProperty({ type: ContactRefDto, nullable: true })
  trafficSource: ContactRefDto | null;

  @ApiProperty({ type: 'object', additionalProperties: true })
  customFields: Record<string, unknown>;

  @ApiProperty({ description: 'Whether the contact has a user account.' })
  hasAccount: boolean;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'The latest logged activity.' })
  lastContactedAt: Date | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'Set for contacts in the trash.' })
  deletedAt: Date | null;

  @ApiProperty({ type: 'integer', description: 'Send it back with an update.' })
  version: number;
}

export class ContactPageMetaDto {
  @ApiProperty({ type: 'integer' })
  page: number;

  @ApiProperty({ type: 'integer' })
  limit: number;

  @ApiProperty({ type: 'integer' })
  total: number;

  @ApiPropertyOptional({
    nullable: true,
    type: String,
    description: 'Pass as `cursor`, with the same sort, for the next page (keyset paging); null after the last page. Absent when the sort is not one a cursor works with.',
  })
  nextCursor?: string | null;

  @ApiPropertyOptional({ type: [String], description: 'Notes about the filter, e.g. clauses on deleted custom fields.' })
  warnings?: string[];
}

export class ContactPageDto {
  @ApiProperty({ type: [ContactListItemDto] })
  data: ContactListItemDto[];

  @ApiProperty({ type: ContactPageMetaDto })
  meta: ContactPageMetaDto;
}

export class AccountSummaryDto {
  @ApiProperty({ format: 'uuid' })
  userId: string;

  @ApiProperty({ format: 'email' })
  email: string;

  @ApiProperty()
  isActive: boolean;

  @ApiProperty({ enum: ['staff', 'client'], enumName: 'AccountType' })
  accountType: 'staff' | 'client';
}

/** A status as a change recorded it: its stage at the time; a deleted status keeps its name, without an id. */
export class HistoryStatusRefDto {
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'Null once the status was deleted.' })
  id: string | null;

  @ApiProperty()
  name: string;

  @ApiProperty({ enum: CONTACT_STAGES, enumName: 'ContactStage', description: 'The stage the status had when the change was made.' })
  stage: string;
}

export class StatusChangeDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ type: HistoryStatusRefDto, nullable: true, description: 'Null when the contact had no status.' })
  from: HistoryStatusRefDto | null;

  @ApiProperty({ type: HistoryStatusRefDto, nullable: true, description: 'Null when the status was cleared.' })
  to: HistoryStatusRefDto | null;

  @ApiProperty({ format: 'date-time' })
  changedAt: Date;

  @ApiProperty({ type: PersonRefDto, nullable: true })
  changedBy: PersonRefDto | null;

  @ApiProperty({ enum: CHANGE_SOURCES, enumName: 'ChangeSource', example: 'api', description: 'Through what the status changed; revert is an import undone.' })
  source: ChangeSource;
}

export class RecentActivityDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ enum: ACTIVITY_TYPES, enumName: 'ActivityType' })
  type: ActivityType;

  @ApiProperty()
  subject: string;

  @ApiProperty({ format: 'date-time' })
  occurredAt: Date;

  @ApiProperty({ type: PersonRefDto, nullable: true })
  author: PersonRefDto | null;
}

export class ContactDto extends ContactListItemDto {
  @ApiProperty({ nullable: true, type: String })
  addressLine1: string | null;

  @ApiProperty({ nullable: true, type: String })
  addressLine2: string | null;

  @ApiProperty({ nullable: true, type: String })
  region: string | null;

  @ApiProperty({ nullable: true, type: String })
  postalCode: string | null;

  @ApiProperty({ type: [ContactRefDto] })
  services: ContactRefDto[];

  @ApiProperty({ type: AccountSummaryDto, nullable: true })
  account: AccountSummaryDto | null;

  @ApiProperty({ type: ContactPreferencesDto })
  preferences: ContactPreferencesDto;

  @ApiProperty({ type: [RecentActivityDto], description: 'The ten latest activities.' })
  recentActivities: RecentActivityDto[];

  @ApiProperty({ type: [StatusChangeDto], description: 'The twenty latest status changes.' })
  statusHistory: StatusChangeDto[];
}

export const BULK_ACTIONS = ['assign', 'unassign', 'addTags', 'removeTags', 'setStatus', 'delete'] as const;

export class BulkSelectionDto {
  @ApiPropertyOptional({ type: [String], format: 'uuid', maxItems: 10000, description: 'Exactly these contacts.' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(10000)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  ids?: string[];

  @ApiPropertyOptional({ ...CONTACT_FILTER_NODE, description: `Every contact matching this rule tree right now. ${FILTER_DESCRIPTION}` })
  @Omittable()
  @Transform(asSent)
  @IsObject()
  filter?: FilterNode;
}

export class BulkActionDto {
  @ApiProperty({ type: BulkSelectionDto, description: 'Give `ids` or `filter` (an empty filter `{"and":[...]}` is required to mean everything).' })
  @IsObject()
  @ValidateNested()
  @Type(() => BulkSelectionDto)
  selection: BulkSelectionDto;

  @ApiProperty({ enum: BULK_ACTIONS })
  @IsIn(BULK_ACTIONS)
  action: (typeof BULK_ACTIONS)[number];

  @ApiPropertyOptional({ format: 'uuid', description: 'For assign (refused with the other actions).' })
  @Omittable()
  @IsUUID('all', { message: 'must be a UUID' })
  assignedToId?: string;

  @ApiPropertyOptional({ nullable: true, format: 'uuid', description: 'For setStatus (refused with the other actions).' })
  @IsOptional()
  @IsUUID('all', { message: 'must be a UUID' })
  statusId?: string;

  @ApiPropertyOptional({ type: [String], format: 'uuid', maxItems: 100, description: 'For addTags and removeTags (refused with the other actions; removeTags needs at least one).' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(100)
  @IsUUID('all', { each: true, message: 'must be a list of UUIDs' })
  tagIds?: string[];

  @ApiPropertyOptional({ type: [String], maxItems: 50, description: 'For addTags (refused with the other actions): names of tags to add, created if missing; none may be blank.' })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(50)
  @IsString({ each: true })
  @MinLength(1, { each: true })
  @MaxLength(100, { each: true })
  @Matches(TAG_NAME, { each: true, message: TAG_NAME_MESSAGE })
  newTags?: string[];
}

export class BulkResultDto {
  @ApiProperty({ type: 'integer', description: 'Contacts the selection matched that you may change.' })
  matched: number;

  @ApiProperty({ type: 'integer', description: 'Contacts actually changed.' })
  updated: number;
}

export class CreateAccountDto {
  @ApiProperty({ enum: ['client', 'staff'], description: 'A client account opens the portal; a staff account the back office (admins only).' })
  @IsIn(['client', 'staff'])
  accountType: 'client' | 'staff';

  @ApiPropertyOptional({ default: true, description: 'Mail the person a link to choose a password.' })
  @Omittable()
  @IsBoolean()
  sendInvite?: boolean;
}

export class TrashQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ description: 'As the contact list sorts (see `GET /contacts`), and by deletedAt; the default is `-deletedAt`, most recently deleted first.' })
  declare sort?: string;

  @ApiPropertyOptional({ description: 'As the contact list searches: every word must start a word of the name, email, phone or company.', maxLength: 200 })
  declare q?: string;
}
