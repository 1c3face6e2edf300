import { UsageError } from './cli-errors';

/** One option a command accepts: `--name value`, `--name=value`, or a bare flag. */
export interface OptionSpec {
  name: string;
  short?: string;
  /** Placeholder shown in help; an option with one takes a value. */
  value?: string;
  repeatable?: boolean;
  description: string;
}

export interface ParsedArguments {
  positionals: string[];
  /** Flags are `true`; valued options hold their last value, repeatable ones every value. */
  options: Map<string, string | true | string[]>;
}

/** Reads argv against the options a command declares; anything unknown is a usage error. */
export function parseArguments(argv: string[], specs: OptionSpec[]): ParsedArguments {
  const byName = new Map(specs.map((spec) => [spec.name, spec]));
  const byShort = new Map(specs.filter((spec) => spec.short).map((spec) => [spec.short!, spec]));
  const positionals: string[] = [];
  const options = new Map<string, string | true | string[]>();
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    if (argument === '--') {
      positionals.push(...argv.slice(index + 1));
      break;
    }
    if (!argument.startsWith('-') || argument === '-') {
      positionals.push(argument);
      continue;
    }
    const long = /^--([a-z][a-z0-9-]*)(?:=([\s\S]*))?$/.exec(argument);
    const short = /^-([a-zA-Z])$/.exec(argument);
    const spec = long ? byName.get(long[1]!) : short ? byShort.get(short[1]!) : undefined;
    if (!spec) throw new UsageError(`unknown option "${argument}"`);
    if (!spec.value) {
      if (long?.[2] !== undefined) throw new UsageError(`--${spec.name} takes no value`);
      options.set(spec.name, true);
      continue;
    }
    let value = long?.[2];
    if (value === undefined) {
      index += 1;
      value = argv[index];
      if (value === undefined || (value.startsWith('--') && value.length > 2)) throw new UsageError(`--${spec.name} needs a value (${spec.value})`);
    }
    if (spec.repeatable) {
      const list = options.get(spec.name);
      options.set(spec.name, [...(Array.isArray(list) ? list : []), value]);
    } else {
      if (options.has(spec.name)) throw new UsageError(`--${spec.name} is given twice`);
      options.set(spec.name, value);
    }
  }
  return { positionals, options };
}

export function stringOption(parsed: ParsedArguments, name: string): string | undefined {
  const value = parsed.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

export function listOption(parsed: ParsedArguments, name: string): string[] {
  const value = parsed.options.get(name);
  return Array.isArray(value) ? value : [];
}

export function flag(parsed: ParsedArguments, name: string): boolean {
  return parsed.options.get(name) === true;
}

/** The options block of a help text, aligned. */
export function formatOptions(specs: OptionSpec[]): string {
  const left = specs.map((spec) => `${spec.short ? `-${spec.short}, ` : '    '}--${spec.name}${spec.value ? ` ${spec.value}` : ''}`);
  const width = Math.max(...left.map((text) => text.length)) + 2;
  return specs.map((spec, i) => `  ${left[i]!.padEnd(width)}${spec.description.replace(/\n/g, `\n  ${' '.repeat(width)}`)}`).join('\n');
}
