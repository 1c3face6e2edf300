import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class FieldErrorDto {
  @ApiProperty({ example: 'email', description: 'Path of the offending field; nested fields are dotted (`address.city`).' })
  field: string;

  @ApiProperty({ example: 'must be an email address' })
  message: string;
}

export class ErrorResponseDto {
  @ApiProperty({ type: 'integer', example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request', description: 'The HTTP reason phrase.' })
  error: string;

  @ApiProperty({ example: 'Validation failed' })
  message: string;

  @ApiPropertyOptional({ example: 'validation_failed', description: 'A stable machine-readable error code.' })
  code?: string;

  @ApiPropertyOptional({ type: [FieldErrorDto], description: 'What is wrong, field by field: on 400s, and on other refusals that name a field (a stale `version`, an email taken, a reference that does not exist).' })
  details?: FieldErrorDto[];

  @ApiPropertyOptional({ example: 'users', description: 'The feature a 404 or 409 is about, when it is about one.' })
  feature?: string;
}
