import { ApiProperty } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';
import { FEATURE_KEYS } from '../feature-catalog';

export class FeatureDto {
  @ApiProperty({ enum: FEATURE_KEYS, enumName: 'FeatureKey' })
  key: string;

  @ApiProperty()
  enabled: boolean;

  @ApiProperty({ example: 'Contacts' })
  title: string;

  @ApiProperty()
  description: string;

  @ApiProperty({ enum: FEATURE_KEYS, enumName: 'FeatureKey', isArray: true, description: 'Features that must be on for this one to be on.' })
  requires: string[];

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}

export class UpdateFeatureDto {
  @ApiProperty()
  @IsBoolean()
  enabled: boolean;
}
