import 'reflect-metadata';
import { formatOptions, parseArguments } from './args';
import { describeError, EXIT, UsageError } from './cli-errors';
import type { CliCommand, CliIo } from './command';
import { importCommand } from './import.command';

/** Every command of the admin command line; a new one is a file exporting a CliCommand, listed here. */
const COMMANDS: CliCommand[] = [importCommand];

const PROGRAM = 'npm run cli --';

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length)) + 2;
  return [
    `Maestro CRM admin command line`,
    ``,
    `Usage: ${PROGRAM} <command> [options]`,
    ``,
    `Commands:`,
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}${command.summary}`),
    ``,
    `Run "${PROGRAM} <command> --help" for a command's options.`,
    `The commands use the application's configuration: DATABASE_URL (or the embedded database`,
    `in DATA_DIR), REDIS_URL when workers run the jobs, and the rest of .env.`,
    ``,
  ].join('\n');
}

function commandHelp(command: CliCommand): string {
  const usage = command.usage.split('\n').map((line, i) => (i === 0 ? `Usage: ${PROGRAM} ${line}` : line.replace(/^(\s*)/, `$1${PROGRAM} `)));
  return [command.summary, '', ...usage, '', 'Options:', formatOptions(command.options), '', ...(command.details ? [command.details, ''] : [])].join('\n');
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((command) => command.name === rest[0]) : undefined;
    io.out.write(topic ? commandHelp(topic) : mainHelp());
    return EXIT.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  try {
    if (!command) throw new UsageError(`unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')} (see ${PROGRAM} --help)`);
    const args = parseArguments(rest, command.options);
    if (args.options.has('help')) {
      io.out.write(commandHelp(command));
      return EXIT.ok;
    }
    return await command.run(args, io);
  } catch (error) {
    const described = describeError(error);
    for (const line of described.lines.join('\n').split('\n')) io.err.write(`error: ${line}\n`);
    if (error instanceof UsageError && command) io.err.write(`(see ${PROGRAM} ${command.name} --help)\n`);
    return described.exitCode;
  }
}

if (require.main === module) {
  // The embedded database and in-process jobs hold no handle of their own: without this, a wait
  // that can never end would let the process exit quietly with 0 instead of timing out with an error.
  const keepAlive = setInterval(() => undefined, 60_000);
  runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr, stdin: process.stdin })
    .finally(() => clearInterval(keepAlive))
    // exit() rather than waiting for the event loop: an import left running in this process (Ctrl-C) must not hold it.
    .then((code) => process.exit(code))
    .catch((error: unknown) => {
      process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(EXIT.failed);
    });
}
