import type { FileHandle } from 'node:fs/promises';
import { open, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { flag, listOption, OptionSpec, ParsedArguments, stringOption } from './args';
import { UsageError } from './cli-errors';
import type { CliCommand, CliIo } from './command';
import type * as ImportRun from './import-run';
import { ImportOptions, MODE_WORDS } from './import-options';

const OPTIONS: OptionSpec[] = [
  { name: 'mode', short: 'm', value: '<create|upsert|update>', description: 'create: new contacts only; upsert: create or update (matched by email);\nupdate: existing contacts only. Required for a new import.' },
  { name: 'mapping', value: '<name or id>', description: 'start from a saved column mapping instead of the proposed one' },
  { name: 'map', value: '"Header=target"', repeatable: true, description: 'map one column (repeatable; "#3=target" for the third column); target is\nignore, a contact field (firstName, email, tags, status…) or custom.<key>' },
  { name: 'dry-run', description: 'report what would be created, updated, skipped and rejected; write nothing' },
  { name: 'as', value: '<admin email>', description: 'the admin recorded as the author (default: the first active admin)' },
  { name: 'rejected', value: '<out.csv>', description: 'write the rejected rows, with the reason for each, to this file' },
  { name: 'yes', short: 'y', description: 'run without asking to confirm the mapping (needed without a terminal)' },
  { name: 'resume', value: '<import id>', description: 'follow an import again, and restart it from its checkpoint if nothing runs it' },
  { name: 'progress-every', value: '<seconds>', description: 'seconds between progress lines when the output is not a terminal (default 5)' },
  { name: 'help', short: 'h', description: 'show this help' },
];

const DETAILS = `The file is streamed into the database (never read whole) and imported by the same job as
the API's imports. Without REDIS_URL the job runs in this process; with REDIS_URL worker
processes run it (npm run start:worker) and this command follows its progress.

Exit codes: 0 completed (rejected rows are reported, not an error), 1 the import failed or
was not run, 2 bad arguments or input, 130 interrupted (Ctrl-C).

Examples:
  npm run cli -- import contacts.csv --mode upsert
  npm run cli -- import leads.csv --mode create --map "E-mail address=email" --map "Notes=ignore" --dry-run
  npm run cli -- import leads.csv --mode create --mapping "Trade show leads" --yes --rejected rejected.csv
  npm run cli -- import --resume 6f1c…`;

export const importCommand: CliCommand = {
  name: 'import',
  summary: 'Import contacts from a CSV file, with the API\'s mapping, dry run and rejected-rows report',
  usage: 'import <file.csv> --mode create|upsert|update [options]\n       import --resume <import id> [--rejected <out.csv>]',
  options: OPTIONS,
  details: DETAILS,
  async run(args: ParsedArguments, io: CliIo): Promise<number> {
    const options = await readOptions(args, io);
    const handle = options.file ? await openFile(options.file) : undefined;
    try {
      // Loaded only now: argument mistakes and --help answer without loading the application.
      const { runImport } = require('./import-run') as typeof ImportRun;
      return await runImport(options, handle, io);
    } finally {
      await handle?.close().catch(() => undefined);
    }
  },
};

async function readOptions(args: ParsedArguments, io: CliIo): Promise<ImportOptions> {
  if (args.positionals.length > 1) throw new UsageError(`import takes one file (got ${args.positionals.length}: ${args.positionals.join(', ')})`);
  const file = args.positionals[0];
  const resume = stringOption(args, 'resume');
  const rawMode = stringOption(args, 'mode');
  const overrides = listOption(args, 'map').map((raw) => {
    const at = raw.lastIndexOf('=');
    const header = at > 0 ? raw.slice(0, at).trim() : '';
    const target = at > 0 ? raw.slice(at + 1).trim() : '';
    if (!header || !target) throw new UsageError(`--map "${raw}" must look like "Column header=target", e.g. --map "E-mail=email"`);
    return { header, target, raw };
  });
  const every = stringOption(args, 'progress-every');
  const progressEvery = every === undefined ? 5 : Number(every);
  if (!Number.isFinite(progressEvery) || progressEvery <= 0 || progressEvery > 3600) throw new UsageError(`--progress-every must be a number of seconds between 0 and 3600 (got "${every}")`);
  const options: ImportOptions = {
    file,
    resume,
    mapping: stringOption(args, 'mapping'),
    overrides,
    dryRun: flag(args, 'dry-run'),
    as: stringOption(args, 'as'),
    rejected: stringOption(args, 'rejected'),
    yes: flag(args, 'yes'),
    progressEveryMs: progressEvery * 1000,
  };

  if (resume !== undefined) {
    if (file) throw new UsageError('give either a file to import or --resume <import id>, not both');
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(resume)) throw new UsageError(`--resume needs an import id (a UUID), got "${resume}"`);
    for (const name of ['mode', 'mapping', 'map', 'dry-run']) if (args.options.has(name)) throw new UsageError(`--${name} does not apply to --resume: the import keeps its settings`);
  } else {
    if (!file) throw new UsageError('which file? usage: import <file.csv> --mode create|upsert|update');
    if (rawMode === undefined) throw new UsageError('--mode is required: create (new contacts only), upsert (create or update, matched by email) or update (existing contacts only)');
    const mode = Object.hasOwn(MODE_WORDS, rawMode.toLowerCase()) ? MODE_WORDS[rawMode.toLowerCase()] : undefined;
    if (!mode) throw new UsageError(`--mode must be one of create, upsert, update (got "${rawMode}")`);
    options.mode = mode;
    if (options.dryRun && options.rejected !== undefined) throw new UsageError('--rejected applies to a real run; a dry run prints sample reasons instead');
    if (!options.yes && !options.dryRun && !io.stdin.isTTY) {
      throw new UsageError('there is no terminal to confirm the mapping on: check it with --dry-run, then run again with --yes');
    }
  }
  if (options.rejected !== undefined) {
    options.rejected = resolve(callerDirectory(), options.rejected);
    const folder = await stat(dirname(options.rejected)).catch(() => undefined);
    if (!folder?.isDirectory()) throw new UsageError(`--rejected ${options.rejected}: the folder ${dirname(options.rejected)} does not exist`);
    const existing = await stat(options.rejected).catch(() => undefined);
    if (existing?.isDirectory()) throw new UsageError(`--rejected ${options.rejected}: is a folder; give a file name`);
  }
  return options;
}

/**
 * Where relative paths start: `npm run` moves to the project folder, so under `npm run cli`
 * the folder the command was typed in is INIT_CWD.
 */
function callerDirectory(): string {
  return process.env.npm_lifecycle_event === 'cli' && process.env.INIT_CWD ? process.env.INIT_CWD : process.cwd();
}

async function openFile(file: string): Promise<FileHandle> {
  try {
    const info = await stat(resolve(callerDirectory(), file));
    if (info.isDirectory()) throw new UsageError(`cannot read ${file}: it is a folder, not a CSV file`);
    return await open(resolve(callerDirectory(), file), 'r');
  } catch (error) {
    if (error instanceof UsageError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new UsageError(`cannot read ${file}: ${reason}`);
  }
}

