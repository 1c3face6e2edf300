import { HttpException } from '@nestjs/common';
import { RequestValidationError } from '../core/http/validation';
import { isStartupRefusal } from '../startup-errors';

/** Exit codes: scripts can tell a refused input from a failed run. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** A problem with what the user typed or gave; printed as is, with no stack. */
export class UsageError extends Error {
  readonly exitCode: number = EXIT.usage;
}

/** A problem the user can act on that is not about the arguments (a failed import, no admin…). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/** Renames a service field (e.g. `columns.3.target`) to what the user knows it by. */
export type FieldNamer = (field: string) => string;

/**
 * The lines to print for an error and the exit code. Errors the user caused (bad input,
 * missing records, conflicts) give one line each; anything else is a fault and keeps its stack.
 */
export function describeError(error: unknown, nameField: FieldNamer = (field) => field): { lines: string[]; exitCode: number; fault: boolean } {
  if (error instanceof UsageError || error instanceof CliError) return { lines: [error.message], exitCode: error.exitCode, fault: false };
  if (isStartupRefusal(error)) return { lines: [error.message], exitCode: EXIT.failed, fault: false };
  if (error instanceof RequestValidationError) {
    return { lines: error.details.map((detail) => `${nameField(detail.field)}: ${detail.message}`), exitCode: EXIT.usage, fault: false };
  }
  if (error instanceof HttpException && error.getStatus() < 500) {
    const body = error.getResponse() as string | { message?: string | string[]; details?: Array<{ field: string; message: string }> };
    if (typeof body === 'string') return { lines: [body], exitCode: EXIT.usage, fault: false };
    const details = body.details?.map((detail) => `${nameField(detail.field)}: ${detail.message}`) ?? [];
    const message = Array.isArray(body.message) ? body.message.join('; ') : (body.message ?? error.message);
    return { lines: details.length ? details : [message], exitCode: EXIT.usage, fault: false };
  }
  const code = (error as { code?: string } | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === '3D000' || code === '28P01') {
    return { lines: [`cannot reach the database: ${(error as Error).message} (check DATABASE_URL)`], exitCode: EXIT.failed, fault: false };
  }
  return { lines: [error instanceof Error ? (error.stack ?? error.message) : String(error)], exitCode: EXIT.failed, fault: true };
}
