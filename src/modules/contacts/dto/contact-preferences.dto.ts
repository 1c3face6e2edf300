import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsBoolean, IsIn, IsObject, IsOptional, IsString, Matches, MaxLength, ValidateNested } from 'class-validator';
import { Omittable } from '../../../core/http/dto-helpers';

/** A BCP 47 tag as browsers send it: a 2–3 letter language, then subtags (script, region, variants). */
const LANGUAGE_TAG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;

export const PREFERRED_CHANNELS = ['email', 'phone', 'sms'] as const;
export type PreferredChannel = (typeof PREFERRED_CHANNELS)[number];

/** How a person wants to be dealt with: set by clients in the portal, or by staff on their behalf. */
export class ContactPreferencesDto {
  @ApiProperty({ type: String, nullable: true, example: 'en-GB', description: 'BCP 47 language tag.' })
  language: string | null;

  @ApiProperty({ enum: PREFERRED_CHANNELS, enumName: 'PreferredChannel', nullable: true, description: 'How the person prefers to be reached.' })
  preferredChannel: PreferredChannel | null;

  @ApiProperty({ type: Boolean, nullable: true, description: 'Whether the person wants the newsletter; null when they never said.' })
  newsletter: boolean | null;
}

/** Only the keys sent change; null clears one. Unknown keys are refused. */
export class UpdateContactPreferencesDto {
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 20, example: 'en-GB', description: 'BCP 47 language tag; null clears it.' })
  @IsOptional()
  @IsString()
  @MaxLength(20)
  @Matches(LANGUAGE_TAG, { message: 'must be a BCP 47 language tag, e.g. en, en-GB or pt-BR' })
  language?: string | null;

  @ApiPropertyOptional({ enum: PREFERRED_CHANNELS, enumName: 'PreferredChannel', nullable: true })
  @IsOptional()
  @IsIn(PREFERRED_CHANNELS)
  preferredChannel?: PreferredChannel | null;

  @ApiPropertyOptional({ type: Boolean, nullable: true })
  @IsOptional()
  @IsBoolean()
  newsletter?: boolean | null;
}

/** A body's `preferences`: an object of the keys to change, each checked. */
export const PreferencesChange = (description: string) =>
  applyDecorators(
    ApiPropertyOptional({ type: UpdateContactPreferencesDto, description }),
    Omittable(),
    IsObject({ message: 'must be an object' }),
    ValidateNested(),
    Type(() => UpdateContactPreferencesDto),
  );
