import { ApiProperty, ApiPropertyOptional, PickType } from '@nestjs/swagger';
import { IsVisibleText } from '../../../core/http/dto-helpers';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsInt, IsString, Matches, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { PageQueryDto } from '../../../core/http/pagination';

export const IMPORT_MODES = ['create', 'upsert', 'update'] as const;
/** The columns a file may have and a mapping name, and the longest header either takes. */
export const IMPORT_COLUMNS_MAX = 500;
export const IMPORT_HEADER_MAX = 10_000;
export type ImportMode = (typeof IMPORT_MODES)[number];

const TARGET_PATTERN = /^(ignore|firstName|lastName|email|phone|company|jobTitle|addressLine1|addressLine2|city|region|postalCode|country|status|tags|services|trafficSource|assignedTo|custom\.[a-z][a-z0-9_]{0,49})$/;

export class ColumnMappingDto {
  @ApiProperty({ type: 'integer', minimum: 0, description: 'Zero-based column position in the file.' })
  @IsInt()
  @Min(0)
  index: number;

  @ApiProperty({ description: 'The header of that column, as uploaded.', maxLength: IMPORT_HEADER_MAX })
  @IsString()
  @MaxLength(IMPORT_HEADER_MAX)
  header: string;

  @ApiProperty({
    description: 'ignore, a contact field (firstName, lastName, email, phone, company, jobTitle, addressLine1, addressLine2, city, region, postalCode, country, status, tags, services, trafficSource, assignedTo) or custom.<key>.',
    example: 'email',
  })
  @IsString()
  @Matches(TARGET_PATTERN, { message: 'must be ignore, a contact field or custom.<key>' })
  target: string;
}

export class ImportSettingsDto {
  @ApiProperty({ type: [ColumnMappingDto], maxItems: IMPORT_COLUMNS_MAX })
  @IsArray()
  @ArrayMaxSize(IMPORT_COLUMNS_MAX)
  @ValidateNested({ each: true })
  @Type(() => ColumnMappingDto)
  columns: ColumnMappingDto[];

  @ApiProperty({ enum: IMPORT_MODES, enumName: 'ImportMode', description: 'create: new contacts only (existing emails are skipped); upsert: create or update matched by email; update: existing contacts only.' })
  @IsIn(IMPORT_MODES)
  mode: ImportMode;
}

export class SaveMappingDto {
  @ApiProperty({ maxLength: 100, example: 'Trade show leads' })
  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value))
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @IsVisibleText()
  name: string;

  @ApiProperty({ type: [ColumnMappingDto], maxItems: IMPORT_COLUMNS_MAX })
  @IsArray()
  @ArrayMaxSize(IMPORT_COLUMNS_MAX)
  @ValidateNested({ each: true })
  @Type(() => ColumnMappingDto)
  columns: ColumnMappingDto[];
}

export class SavedMappingDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  name: string;

  @ApiProperty({ type: [ColumnMappingDto], maxItems: IMPORT_COLUMNS_MAX })
  columns: ColumnMappingDto[];

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;
}

export class ImportCountsDto {
  @ApiProperty({ type: 'integer' })
  created: number;

  @ApiProperty({ type: 'integer' })
  updated: number;

  @ApiProperty({ type: 'integer' })
  skipped: number;

  @ApiProperty({ type: 'integer', description: 'Rejected rows; download them with their reasons from /rejected.' })
  failed: number;
}

export class ImportDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  fileName: string;

  @ApiProperty({
    enum: ['uploading', 'uploaded', 'queued', 'running', 'completed', 'failed', 'cancelled', 'reverting', 'reverted'],
    description:
      'uploading: the file is still being staged (settings and runs wait for uploaded). failed: an attempt failed; it is retried unless its retries ran out. ' +
      'cancelled: stopped for good; what it wrote before stays until reverted.',
  })
  status: string;

  @ApiProperty({ type: [String] })
  headers: string[];

  @ApiProperty({ type: [ColumnMappingDto], description: 'The mapping in force, or the proposed one until it is set.' })
  columns: ColumnMappingDto[];

  @ApiProperty({ enum: IMPORT_MODES, enumName: 'ImportMode', nullable: true })
  mode: ImportMode | null;

  @ApiProperty({ type: 'integer', description: 'Data rows in the file.' })
  totalRows: number;

  @ApiProperty({ type: 'integer', description: 'Rows handled so far.' })
  processedRows: number;

  @ApiProperty({ type: ImportCountsDto })
  counts: ImportCountsDto;

  @ApiProperty({ type: 'array', items: { type: 'array', items: { type: 'string' } }, description: 'The first rows of the file (left empty in lists: read the import itself for them).' })
  sample: string[][];

  @ApiProperty({ nullable: true, type: String })
  error: string | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  finishedAt: Date | null;
}

export class RowReasonDto {
  @ApiProperty({ type: 'integer', description: 'Row number in the file (the header is row 1).' })
  row: number;

  @ApiProperty()
  reason: string;
}

export class DryRunDto {
  @ApiProperty({ type: ImportCountsDto, description: 'What the import would do now; `failed` counts rejected rows.' })
  counts: ImportCountsDto;

  @ApiProperty({ type: 'integer', description: 'Rows whose email appeared earlier in the file; the first one wins and the later ones are rejected.' })
  duplicates: number;

  @ApiProperty({ type: [RowReasonDto], description: 'The first rejected and skipped rows with their reasons.' })
  samples: RowReasonDto[];
}

export class ImportQueryDto extends PickType(PageQueryDto, ['page', 'limit'] as const) {}

export class UploadDto {
  // Listed first: multipart clients send the parts in this order, and the file is read as it arrives.
  @ApiPropertyOptional({ format: 'uuid', description: 'Apply this saved mapping instead of the proposed one. Sent before the file.' })
  mappingId?: string;

  @ApiProperty({ type: 'string', format: 'binary', description: 'A UTF-8 CSV file with a header row, its cells separated by commas, semicolons or tabs (as the header line is); the last part of the form (it is read as it arrives).' })
  file: unknown;
}
