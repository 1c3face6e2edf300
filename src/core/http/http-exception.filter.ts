import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { QueryFailedError } from 'typeorm';
import type { ErrorResponseDto } from './error-response.dto';

interface FastifyReplyLike {
  status(code: number): FastifyReplyLike;
  header(name: string, value: string): FastifyReplyLike;
  send(body: unknown): void;
  sent?: boolean;
}

/** Postgres error codes that mean the input was wrong, not that the server broke. */
const PG_CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  '23505': { status: 409, code: 'duplicate', message: 'A record with the same unique value already exists' },
  '23503': { status: 409, code: 'reference_conflict', message: 'The record is referenced by, or references, another record' },
  '23514': { status: 400, code: 'constraint_violation', message: 'A value is out of its allowed range' },
  '23502': { status: 400, code: 'missing_value', message: 'A required value is missing' },
  '22P02': { status: 400, code: 'invalid_value', message: 'A value has the wrong format' },
  '22001': { status: 400, code: 'value_too_long', message: 'A value is too long' },
  '22003': { status: 400, code: 'value_out_of_range', message: 'A number is out of range' },
  '22007': { status: 400, code: 'invalid_value', message: 'A date or time has the wrong format' },
  '22008': { status: 400, code: 'invalid_value', message: 'A date or time is out of range' },
  '22009': { status: 400, code: 'invalid_value', message: 'A time zone offset is out of range' },
  '40001': { status: 409, code: 'concurrent_update', message: 'The record was changed concurrently; retry' },
  '40P01': { status: 409, code: 'concurrent_update', message: 'The record was changed concurrently; retry' },
  '22021': { status: 400, code: 'invalid_value', message: 'A text holds a character that cannot be stored' },
  '22P05': { status: 400, code: 'invalid_value', message: 'A text holds a character that cannot be stored' },
};

/** Every error leaves the API as `{ statusCode, error, message, code?, details?, feature? }`. */
@Catch()
export class HttpExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReplyLike>();
    const body = this.toBody(exception);
    if (body.statusCode >= 500) {
      this.logger.error(exception instanceof Error ? (exception.stack ?? exception.message) : String(exception));
    }
    if (reply.sent) return;
    reply.status(body.statusCode).header('content-type', 'application/json; charset=utf-8').send(body);
  }

  toBody(exception: unknown): ErrorResponseDto {
    // Nest hands on errors of the HTTP layer (parsing, limits) wrapped: answered in the API's words.
    if (exception instanceof HttpException && isFastifyError(exception.cause)) exception = exception.cause;
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const response = exception.getResponse();
      const base: ErrorResponseDto = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: exception.message };
      if (typeof response === 'string') return { ...base, message: response };
      const { message, code, details, feature } = response as Record<string, unknown>;
      if (Array.isArray(message)) base.message = message.join('; ');
      else if (typeof message === 'string') base.message = message;
      if (typeof code === 'string') base.code = code;
      if (Array.isArray(details)) base.details = details as ErrorResponseDto['details'];
      if (typeof feature === 'string') base.feature = feature;
      return base;
    }
    if (exception instanceof QueryFailedError) {
      const pgCode = (exception.driverError as { code?: string } | undefined)?.code ?? '';
      const known = PG_CLIENT_ERRORS[pgCode];
      if (known) {
        const body: ErrorResponseDto = { statusCode: known.status, error: STATUS_CODES[known.status]!, message: known.message, code: known.code };
        // A NOT NULL column left empty names itself: its API field is its camel-cased name.
        const { column, table, constraint } = (exception.driverError ?? {}) as { column?: string; table?: string; constraint?: string };
        if (pgCode === '23502' && column) body.details = [{ field: apiField(column), message: 'must not be null' }];
        // So does a column's own CHECK, named <table>_<column>_check by PostgreSQL (a length the request's check counted otherwise).
        const checked = pgCode === '23514' && table && constraint?.startsWith(`${table}_`) && constraint.endsWith('_check') ? constraint.slice(table.length + 1, -'_check'.length) : undefined;
        if (checked) body.details = [{ field: apiField(checked), message: 'cannot be stored as given (for text: too many characters)' }];
        // A unique constraint, <table>_<column>_key, names its field too: an insert that lost a race
        // with one of the same value gets past the service's own check but not the constraint.
        const unique = pgCode === '23505' && table && constraint?.startsWith(`${table}_`) && constraint.endsWith('_key') ? constraint.slice(table.length + 1, -'_key'.length) : undefined;
        if (unique) body.details = [{ field: apiField(FOLDED_KEY_COLUMNS[unique] ?? unique), message: 'is already in use' }];
        return body;
      }
    }
    const fastifyError = exception as { statusCode?: number; code?: string; message?: string };
    if (typeof fastifyError?.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
      return { statusCode: fastifyError.statusCode, error: STATUS_CODES[fastifyError.statusCode] ?? 'Error', ...friendlyFastifyError(fastifyError) };
    }
    return { statusCode: HttpStatus.INTERNAL_SERVER_ERROR, error: 'Internal Server Error', message: 'Internal server error' };
  }
}

/** Columns that hold a field case-folded, so that it is unique regardless of case: the field is the one named. */
const FOLDED_KEY_COLUMNS: Record<string, string> = { name_key: 'name', email_key: 'email' };

/** A column's name as the API's field: camel-cased. */
function apiField(column: string): string {
  return column.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
}

/** Errors of the HTTP layer (parsing, limits) in the API's words, each with a stable code. */
function friendlyFastifyError(error: { code?: string; message?: string }): Pick<ErrorResponseDto, 'message' | 'code' | 'details'> {
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { message: 'Request body is too large', code: 'body_too_large' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { message: 'Unsupported content type: send application/json (a file upload: multipart/form-data)', code: 'unsupported_media_type' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { message: 'Body cannot be empty when content-type is set to application/json', code: 'invalid_json', details: [{ field: 'body', message: 'is empty: send a JSON object' }] };
    case 'FST_ERR_BAD_URL':
      // The URL itself is not echoed: it is what was malformed.
      return { message: 'The URL path holds a malformed percent-encoding (a % not followed by the two hex digits of valid UTF-8)', code: 'invalid_url' };
  }
  const message = error.message ?? '';
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || /JSON/i.test(message)) {
    return { message: 'Malformed JSON body', code: 'invalid_json', details: [{ field: 'body', message: 'is not valid JSON' }] };
  }
  return { message: message || 'Bad request', code: error.code ? error.code.replace(/^FST_ERR_/, '').toLowerCase() : 'bad_request' };
}

function isFastifyError(error: unknown): error is { statusCode: number; code?: string; message: string } {
  return error instanceof Error && error.name === 'FastifyError' && typeof (error as { statusCode?: unknown }).statusCode === 'number';
}
