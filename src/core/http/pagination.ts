import { applyDecorators, Type } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { queryInteger } from './dto-helpers';
import { RequestValidationError } from './validation';

/** The hard cap on `limit`; AppConfig.pagination.maxLimit may only lower it. */
export const MAX_PAGE_SIZE = 1000;

export class PageQueryDto {
  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: 100000, default: 1 })
  @IsOptional()
  @Transform(queryInteger)
  @IsInt()
  @Min(1)
  @Max(100000)
  page: number = 1;

  @ApiPropertyOptional({ type: 'integer', minimum: 1, maximum: MAX_PAGE_SIZE, default: 25, description: 'Page size; the server caps it at PAGE_SIZE_MAX (100 unless configured).' })
  @IsOptional()
  @Transform(queryInteger)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  limit: number = 25;

  @ApiPropertyOptional({ description: 'Comma-separated fields; prefix with `-` for descending, e.g. `-createdAt,lastName`.' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^-?[A-Za-z][A-Za-z0-9_.]*(,-?[A-Za-z][A-Za-z0-9_.]*)*$/, { message: 'must be a comma-separated list of field names' })
  sort?: string;

  @ApiPropertyOptional({ description: 'Free-text search.', maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  q?: string;
}

export class PageMetaDto {
  @ApiProperty({ type: 'integer', example: 1 })
  page: number;

  @ApiProperty({ type: 'integer', example: 25 })
  limit: number;

  @ApiProperty({ type: 'integer', example: 120 })
  total: number;
}

export interface Page<T> {
  data: T[];
  meta: PageMetaDto;
}

export type SortDirection = 'ASC' | 'DESC';

/**
 * Parses `sort` against a whitelist of sortable fields (API name → SQL expression).
 * An unknown field is a 400, never a silently ignored sort.
 */
export function parseSort(
  sort: string | undefined,
  allowed: Record<string, string>,
  fallback: Array<[string, SortDirection]>,
): Array<[string, SortDirection]> {
  if (!sort) return fallback;
  return sort.split(',').map((part) => {
    const descending = part.startsWith('-');
    const field = descending ? part.slice(1) : part;
    const expression = Object.hasOwn(allowed, field) ? allowed[field] : undefined;
    if (!expression) {
      throw new SortFieldError(field, Object.keys(allowed));
    }
    return [expression, descending ? 'DESC' : 'ASC'];
  });
}


export class SortFieldError extends RequestValidationError {
  constructor(field: string, allowed: string[]) {
    super([{ field: 'sort', message: `cannot sort by "${field}"; sortable fields: ${allowed.join(', ')}` }]);
  }
}

/** Clamps the page size to the deployment's cap and returns offset/limit. */
export function pageWindow(query: PageQueryDto, maxLimit: number): { page: number; limit: number; offset: number } {
  const limit = Math.min(query.limit ?? 25, maxLimit);
  const page = query.page ?? 1;
  return { page, limit, offset: (page - 1) * limit };
}

export function toPage<T>(data: T[], total: number, window: { page: number; limit: number }): Page<T> {
  return { data, meta: { page: window.page, limit: window.limit, total } };
}

/** Documents a `{ data, meta }` list response of the given item type. */
export function ApiPageResponse(item: Type<unknown>) {
  return applyDecorators(ApiExtraModels(PageMetaDto, item), ApiOkResponse({ type: pageOf(item) }));
}

const pages = new Map<Type<unknown>, Type<unknown>>();

/**
 * A named page schema per item (`TagDto` → `TagPageDto`): generators in typed languages make
 * one class of it, where an inline object would give one per operation.
 */
function pageOf(item: Type<unknown>): Type<unknown> {
  let page = pages.get(item);
  if (!page) {
    class Page {
      data!: unknown[];
      meta!: PageMetaDto;
    }
    ApiProperty({ type: [item] })(Page.prototype, 'data');
    ApiProperty({ type: PageMetaDto })(Page.prototype, 'meta');
    Object.defineProperty(Page, 'name', { value: `${item.name.replace(/Dto$/, '')}PageDto` });
    pages.set(item, (page = Page));
  }
  return page;
}

/** `%q%` for ILIKE, with the user's own `%`, `_` and `\` taken literally. */
export function containsPattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, '\\$&')}%`;
}
