import type { OptionSpec, ParsedArguments } from './args';

/** Where a command reads and writes; the entry passes the process's streams. */
export interface CliIo {
  out: NodeJS.WriteStream;
  err: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

/** One command of `npm run cli -- <command>`; add one by listing it in the registry in main.ts. */
export interface CliCommand {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec[];
  /** Text after the options in `<command> --help`. */
  details?: string;
  /** Returns the exit code; throws UsageError or CliError for problems the user can fix. */
  run(args: ParsedArguments, io: CliIo): Promise<number>;
}
