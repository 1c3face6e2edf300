import type { LoggerService } from '@nestjs/common';

const LEVELS = ['debug', 'info', 'warn', 'error', 'fatal'] as const;
type Level = (typeof LEVELS)[number];

/**
 * The application's log lines as short text on stderr: warnings and errors by default, so
 * that the terminal shows the command's own report; LOG_LEVEL=debug shows everything.
 */
export class CliLogger implements LoggerService {
  private readonly threshold: number;

  constructor(level: string) {
    const wanted = level === 'trace' ? 'debug' : level;
    // The API's default (info) would drown the report, so the command line starts at warn.
    const index = LEVELS.indexOf(wanted as Level);
    this.threshold = wanted === 'silent' ? LEVELS.length : index < 0 || wanted === 'info' ? LEVELS.indexOf('warn') : index;
  }

  log(message: unknown, context?: string): void {
    this.write('info', message, context);
  }

  error(message: unknown, trace?: string, context?: string): void {
    this.write('error', message, context);
    if (trace && this.threshold <= LEVELS.indexOf('debug')) process.stderr.write(`${trace}\n`);
  }

  warn(message: unknown, context?: string): void {
    this.write('warn', message, context);
  }

  debug(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }

  verbose(message: unknown, context?: string): void {
    this.write('debug', message, context);
  }

  fatal(message: unknown, context?: string): void {
    this.write('fatal', message, context);
  }

  private write(level: Level, message: unknown, context?: string): void {
    if (LEVELS.indexOf(level) < this.threshold) return;
    const text = typeof message === 'string' ? message : message instanceof Error ? message.message : JSON.stringify(message);
    process.stderr.write(`${level}${context ? ` [${context}]` : ''}: ${text}\n`);
  }
}
