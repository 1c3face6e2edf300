import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsIn, IsOptional, IsString, MaxLength } from 'class-validator';
import { PageQueryDto } from '../../../core/http/pagination';
import { ACTIVITY_TYPES, type ActivityType } from '../entities/activity.entity';
import { Omittable } from '../../../core/http/dto-helpers';
import { IsDateTime } from '../../../core/http/date-time';

/** A full date and time with an offset or `Z` (no bare dates, no local times), as JSON carries dates. */
const DATE_TIME_MESSAGE = 'must be an ISO 8601 date-time with a time zone, e.g. 2025-03-01T14:30:00Z';

export const ACTIVITY_SUBJECT_MAX = 200;
export const ACTIVITY_BODY_MAX = 20000;

/** `q` searches subject and body; `sort` takes occurredAt, createdAt and type (default: newest `occurredAt` first). */
export class ActivityQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: ACTIVITY_TYPES, enumName: 'ActivityType', description: 'Only activities of this type.' })
  @IsOptional()
  @IsIn(ACTIVITY_TYPES)
  type?: ActivityType;
}

export class CreateActivityDto {
  @ApiProperty({ enum: ACTIVITY_TYPES, enumName: 'ActivityType' })
  @IsIn(ACTIVITY_TYPES)
  type: ActivityType;

  @ApiPropertyOptional({ maxLength: ACTIVITY_SUBJECT_MAX, default: '', example: 'Intro call' })
  @Omittable()
  @IsString()
  @MaxLength(ACTIVITY_SUBJECT_MAX)
  subject?: string;

  @ApiPropertyOptional({ maxLength: ACTIVITY_BODY_MAX, default: '', description: 'Notes, the email text, the minutes.' })
  @Omittable()
  @IsString()
  @MaxLength(ACTIVITY_BODY_MAX)
  body?: string;

  @ApiPropertyOptional({
    format: 'date-time',
    example: '2025-03-01T14:30:00Z',
    description:
      'When it happened (or, for a task, is due); defaults to now. Future-dated activities do not count as the last contact. ' +
      'In UTC it must fall in the years 0001 to 9999; it is stored and given back in UTC.',
  })
  @Omittable()
  @IsDateTime(DATE_TIME_MESSAGE)
  occurredAt?: string;

  @ApiPropertyOptional({ default: false, description: "Shown on the client's own timeline in the portal." })
  @Omittable()
  @IsBoolean()
  visibleToClient?: boolean;
}

export class UpdateActivityDto {
  @ApiPropertyOptional({ enum: ACTIVITY_TYPES, enumName: 'ActivityType' })
  @Omittable()
  @IsIn(ACTIVITY_TYPES)
  type?: ActivityType;

  @ApiPropertyOptional({ maxLength: ACTIVITY_SUBJECT_MAX })
  @Omittable()
  @IsString()
  @MaxLength(ACTIVITY_SUBJECT_MAX)
  subject?: string;

  @ApiPropertyOptional({ maxLength: ACTIVITY_BODY_MAX })
  @Omittable()
  @IsString()
  @MaxLength(ACTIVITY_BODY_MAX)
  body?: string;

  @ApiPropertyOptional({ format: 'date-time', example: '2025-03-01T14:30:00Z', description: 'In UTC it must fall in the years 0001 to 9999.' })
  @Omittable()
  @IsDateTime(DATE_TIME_MESSAGE)
  occurredAt?: string;

  @ApiPropertyOptional()
  @Omittable()
  @IsBoolean()
  visibleToClient?: boolean;
}

export class ActivityAuthorDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  firstName: string;

  @ApiProperty()
  lastName: string;
}

export class ActivityDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty({ format: 'uuid' })
  contactId: string;

  @ApiProperty({ enum: ACTIVITY_TYPES, enumName: 'ActivityType' })
  type: ActivityType;

  @ApiProperty()
  subject: string;

  @ApiProperty()
  body: string;

  @ApiProperty({ format: 'date-time' })
  occurredAt: Date;

  @ApiProperty()
  visibleToClient: boolean;

  @ApiProperty({ type: ActivityAuthorDto, nullable: true, description: "Who logged it; null once the author's account is deleted." })
  author: ActivityAuthorDto | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}
