import { EmbeddedDatabaseInUseError } from './database/pglite/data-dir-lock';
import { ConfigurationError } from './config/environment';

/** Whether a failed start is something the operator fixes (a bad setting, a database in use), not a fault. */
export function isStartupRefusal(error: unknown): error is Error {
  return error instanceof ConfigurationError || error instanceof EmbeddedDatabaseInUseError;
}

/** What a process prints when it cannot start: the operator's message alone, or a fault's stack. */
export function describeStartupError(error: unknown): string {
  if (isStartupRefusal(error)) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
