import { formatOptions, listOption, OptionSpec, parseArguments, stringOption } from './args';
import { UsageError } from './cli-errors';

const SPECS: OptionSpec[] = [
  { name: 'mode', short: 'm', value: '<mode>', description: 'the mode' },
  { name: 'map', value: '"H=t"', repeatable: true, description: 'one column' },
  { name: 'dry-run', description: 'write nothing' },
  { name: 'yes', short: 'y', description: 'no questions' },
];

const usageError = (argv: string[]): string => {
  try {
    parseArguments(argv, SPECS);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`expected ${argv.join(' ')} to be refused`);
};

describe('parseArguments', () => {
  it('reads positionals, flags, --name value, --name=value and short names in any order', () => {
    const parsed = parseArguments(['--dry-run', 'a.csv', '-m', 'upsert', '--map=E-mail=email', '-y', '--map', 'Notes=ignore'], SPECS);
    expect(parsed.positionals).toEqual(['a.csv']);
    expect(stringOption(parsed, 'mode')).toBe('upsert');
    expect(listOption(parsed, 'map')).toEqual(['E-mail=email', 'Notes=ignore']);
    expect(parsed.options.get('dry-run')).toBe(true);
    expect(parsed.options.get('yes')).toBe(true);
  });

  it('takes everything after -- as positionals, and a lone - as one', () => {
    expect(parseArguments(['-', '--', '--mode', 'x'], SPECS).positionals).toEqual(['-', '--mode', 'x']);
  });

  it('refuses unknown options, missing values, values on flags and a single-valued option given twice', () => {
    expect(usageError(['--force'])).toBe('unknown option "--force"');
    expect(usageError(['-x'])).toBe('unknown option "-x"');
    expect(usageError(['--mode'])).toBe('--mode needs a value (<mode>)');
    expect(usageError(['--mode', '--yes'])).toBe('--mode needs a value (<mode>)');
    expect(usageError(['--yes=no'])).toBe('--yes takes no value');
    expect(usageError(['--mode', 'create', '--mode=update'])).toBe('--mode is given twice');
  });

  it('keeps an empty --name= value, for the command to judge', () => {
    expect(stringOption(parseArguments(['--mode='], SPECS), 'mode')).toBe('');
  });
});

describe('formatOptions', () => {
  it('aligns descriptions, continuation lines included', () => {
    const text = formatOptions([{ name: 'mode', short: 'm', value: '<mode>', description: 'first line\nsecond line' }, { name: 'yes', description: 'short' }]);
    expect(text.split('\n')).toEqual(['  -m, --mode <mode>  first line', '                     second line', '      --yes          short']);
  });
});
