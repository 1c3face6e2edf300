import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, ArrayUnique, IsArray, IsBoolean, IsIn, IsInt, IsNotIn, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { CUSTOM_FIELD_TYPES, type CustomFieldType } from '../entities/custom-field.entity';
import { IsVisibleText, Omittable, trim } from '../../../core/http/dto-helpers';
import { RESERVED_KEYS } from '../../../core/http/validation';

/** Options are told apart ignoring case, as filters compare them. */
const optionIdentity = (option: unknown) => (typeof option === 'string' ? option.toLowerCase() : option);
const OPTIONS_UNIQUE_MESSAGE = 'must not repeat an option, even in another case (filters ignore case)';

/** Options are trimmed, as import trims cells. */
const trimEach = ({ value }: { value: unknown }) => (Array.isArray(value) ? value.map((item) => (typeof item === 'string' ? item.trim() : item)) : value);

const toBoolean = ({ value }: { value: unknown }) => (value === 'true' ? true : value === 'false' ? false : value);

export class CustomFieldQueryDto {
  @ApiPropertyOptional({ type: Boolean, description: 'Also list removed definitions (their values are kept until purged).' })
  @IsOptional()
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  includeDeleted?: boolean;
}

/** Names request data may not use as keys (`constructor`, `prototype`…): a value sent under one could not be read. */
const RESERVED_FIELD_KEYS = [...RESERVED_KEYS];

export class CreateCustomFieldDto {
  @ApiProperty({ example: 'budget', description: 'Lower-case letters, digits and underscores; cannot change later.', pattern: '^[a-z][a-z0-9_]{0,49}$' })
  @IsString()
  @Matches(/^[a-z][a-z0-9_]{0,49}$/, { message: 'must start with a lower-case letter and hold only a-z, 0-9 and _ (50 at most)' })
  @IsNotIn(RESERVED_FIELD_KEYS, { message: 'is reserved: every object has a property of that name' })
  key: string;

  @ApiProperty({ example: 'Budget', maxLength: 100 })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsVisibleText()
  label: string;

  @ApiProperty({ enum: CUSTOM_FIELD_TYPES, enumName: 'CustomFieldType', description: 'Cannot change later. number takes whole numbers; decimal a double-precision number (about 15 significant digits: longer ones are rounded).' })
  @IsIn(CUSTOM_FIELD_TYPES)
  type: CustomFieldType;

  @ApiPropertyOptional({ default: false })
  @Omittable()
  @IsBoolean()
  required?: boolean;

  @ApiPropertyOptional({ type: [String], maxItems: 200, uniqueItems: true, description: 'The choices of select and multi_select fields, trimmed and different ignoring case (filters ignore case); a multi_select option holds no "," or ";" (a contact\'s values share one CSV cell).' })
  @Omittable()
  @Transform(trimEach)
  @IsArray()
  @ArrayMaxSize(200)
  @ArrayUnique(optionIdentity, { message: OPTIONS_UNIQUE_MESSAGE })
  @IsString({ each: true })
  @MinLength(1, { each: true, message: 'must not hold an empty option' })
  @MaxLength(100, { each: true })
  @IsVisibleText({ each: true })
  options?: string[];

  @ApiPropertyOptional({ default: false, description: 'Internal fields are hidden from clients in the portal.' })
  @Omittable()
  @IsBoolean()
  internal?: boolean;

  @ApiPropertyOptional({ type: 'integer', default: 0 })
  @Omittable()
  @IsInt()
  @Min(0)
  @Max(10000)
  position?: number;
}

/** One option's new name. */
export class OptionRenameDto {
  @ApiProperty({ example: 'Gold', maxLength: 100, description: 'An option of the field, as listed (compared ignoring case).' })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  from: string;

  @ApiProperty({ example: 'Gold tier', maxLength: 100, description: 'Its new name: trimmed, held by no other option ignoring case; for a multi_select, without "," or ";".' })
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsVisibleText()
  to: string;
}

const renameIdentity = (side: 'from' | 'to') => (rename: unknown) => {
  const name = (rename as Record<string, unknown> | null)?.[side];
  return typeof name === 'string' ? name.toLowerCase() : name;
};

export class UpdateCustomFieldDto {
  @ApiPropertyOptional({ maxLength: 100 })
  @Omittable()
  @Transform(trim)
  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  @MaxLength(100)
  @IsVisibleText()
  label?: string;

  @ApiPropertyOptional()
  @Omittable()
  @IsBoolean()
  required?: boolean;

  @ApiPropertyOptional({ type: [String], maxItems: 200, uniqueItems: true, description: 'The new choices, as on creation.' })
  @Omittable()
  @Transform(trimEach)
  @IsArray()
  @ArrayMaxSize(200)
  @ArrayUnique(optionIdentity, { message: OPTIONS_UNIQUE_MESSAGE })
  @IsString({ each: true })
  @MinLength(1, { each: true, message: 'must not hold an empty option' })
  @MaxLength(100, { each: true })
  @IsVisibleText({ each: true })
  options?: string[];

  @ApiPropertyOptional({
    type: [OptionRenameDto],
    maxItems: 200,
    example: [{ from: 'Gold', to: 'Gold tier' }],
    description:
      'Renames options of a select or multi_select field, keeping their values: in the same transaction every contact (trashed ones too) holding one, ' +
      "dynamic segments' rules comparing whole values of the field (is, isNot, in, notIn, hasAny, hasAll, hasNone; not contains or startsWith) " +
      "and what imports keep to revert to get the new name. Contacts keep their version and last update, as when a tag is renamed; an edit still sending an old name is refused. " +
      'Renames apply at once (two options may swap names) and before `options`, which then lists the new names; a rename onto a name another option keeps is refused ' +
      '(409 `option_name_taken`: options are not merged), as are unknown `from` names (422 `unknown_option`) and renames of fields without options (422 `options_not_allowed`).',
  })
  @Omittable()
  @IsArray()
  @ArrayMaxSize(200)
  @ArrayUnique(renameIdentity('from'), { message: 'must not rename an option twice, even in another case' })
  @ArrayUnique(renameIdentity('to'), { message: 'must not give two options one name, even in another case (filters ignore case)' })
  @ValidateNested({ each: true })
  @Type(() => OptionRenameDto)
  renameOptions?: OptionRenameDto[];

  @ApiPropertyOptional({
    default: false,
    description: 'With `options` that leave out options contacts still hold: `true` clears those values (a multi-select keeps its other ones); otherwise the edit is refused with 409 `options_in_use`.',
  })
  @Omittable()
  @IsBoolean()
  dropRemovedValues?: boolean;

  @ApiPropertyOptional()
  @Omittable()
  @IsBoolean()
  internal?: boolean;

  @ApiPropertyOptional({ type: 'integer' })
  @Omittable()
  @IsInt()
  @Min(0)
  @Max(10000)
  position?: number;
}

export class CustomFieldDto {
  @ApiProperty({ format: 'uuid' })
  id: string;

  @ApiProperty()
  key: string;

  @ApiProperty()
  label: string;

  @ApiProperty({ enum: CUSTOM_FIELD_TYPES, enumName: 'CustomFieldType' })
  type: CustomFieldType;

  @ApiProperty()
  required: boolean;

  @ApiProperty({ type: [String] })
  options: string[];

  @ApiProperty()
  internal: boolean;

  @ApiProperty({ type: 'integer' })
  position: number;

  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'Set when the definition was removed; values are kept until purged.' })
  deletedAt: Date | null;

  @ApiProperty({ format: 'date-time' })
  createdAt: Date;

  @ApiProperty({ format: 'date-time' })
  updatedAt: Date;
}
