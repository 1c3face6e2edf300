import { ConfigurationError, Environment, NodeEnvironment, validateEnvironment } from './environment';

const SECRET = 'a-perfectly-long-secret-of-more-than-32-chars';

/** The problem lines of the ConfigurationError thrown for `raw`. */
function problemsOf(raw: Record<string, unknown>): string[] {
  let thrown: unknown;
  try {
    validateEnvironment(raw);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigurationError);
  return (thrown as ConfigurationError).problems;
}

function messageOf(raw: Record<string, unknown>): string {
  try {
    validateEnvironment(raw);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected validateEnvironment to throw');
}

describe('validateEnvironment', () => {
  it('applies the defaults to an empty environment', () => {
    const env = validateEnvironment({});
    expect(env).toBeInstanceOf(Environment);
    expect(env).toMatchObject({
      NODE_ENV: NodeEnvironment.Development,
      PORT: 3000,
      HOST: '0.0.0.0',
      DATABASE_POOL_SIZE: 20,
      DATA_DIR: './data',
      MIGRATIONS_RUN: true,
      JWT_ACCESS_TTL_SECONDS: 900,
      REFRESH_TOKEN_TTL_SECONDS: 30 * 24 * 3600,
      PUBLIC_URL: 'http://localhost:3000',
      MAIL_FROM: 'Maestro CRM <no-reply@localhost>',
      PAGE_SIZE_MAX: 100,
      FEATURES_FILE: 'config/features.json',
      FEATURES_POLL_MS: 30000,
      SWAGGER_ENABLED: true,
      LOG_LEVEL: 'info',
      LOG_PRETTY: false,
    });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.JWT_SECRET).toBeUndefined();
    expect(env.FEATURES).toBeUndefined();
  });

  it('ignores variables it does not know, as a real process environment has many', () => {
    const env = validateEnvironment({ PATH: '/usr/bin', HOME: '/root', npm_config_cache: 'x', PORT: '8080' });
    expect(env.PORT).toBe(8080);
    expect(env).not.toHaveProperty('PATH');
  });

  it('converts numbers', () => {
    const env = validateEnvironment({ PORT: ' 4000 ', DATABASE_POOL_SIZE: '5', FEATURES_POLL_MS: '1000' });
    expect(env.PORT).toBe(4000);
    expect(env.DATABASE_POOL_SIZE).toBe(5);
    expect(env.FEATURES_POLL_MS).toBe(1000);
  });

  it('treats an empty URL or secret as unset', () => {
    const env = validateEnvironment({ DATABASE_URL: '', REDIS_URL: '', SMTP_URL: '', JWT_SECRET: '', FEATURES: '' });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.SMTP_URL).toBeUndefined();
    expect(env.JWT_SECRET).toBeUndefined();
    expect(env.FEATURES).toBeUndefined();
  });

  it('an empty number or boolean falls back to its default, as toInteger/toBoolean map "" to unset', () => {
    // `.env.example` says every variable is optional; `PAGE_SIZE_MAX=` should mean "not set".
    const env = validateEnvironment({ PAGE_SIZE_MAX: '', PORT: '', MIGRATIONS_RUN: '', LOG_PRETTY: '' });
    expect(env.PAGE_SIZE_MAX).toBe(100);
    expect(env.PORT).toBe(3000);
    expect(env.MIGRATIONS_RUN).toBe(true);
    expect(env.LOG_PRETTY).toBe(false);
  });

  it('PORT=abc gives one line naming the variable and the value', () => {
    const problems = problemsOf({ PORT: 'abc' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^PORT /);
    expect(problems[0]).toContain('"abc"');
    expect(problems[0]).toContain('between 1 and 65535');
  });

  it('rejects numbers out of range or not whole', () => {
    expect(problemsOf({ PORT: '70000' })[0]).toMatch(/^PORT .*"70000"/);
    expect(problemsOf({ PORT: '0' })[0]).toMatch(/^PORT /);
    expect(problemsOf({ PORT: '80.5' })[0]).toMatch(/^PORT .*"80\.5"/);
    expect(problemsOf({ JWT_ACCESS_TTL_SECONDS: '59' })[0]).toMatch(/^JWT_ACCESS_TTL_SECONDS /);
  });

  it('needs a pool of two sessions at least, one holding the migration lock while the other migrates', () => {
    expect(problemsOf({ DATABASE_POOL_SIZE: '1' })[0]).toMatch(/^DATABASE_POOL_SIZE .*between 2 and 200/);
    expect(validateEnvironment({ DATABASE_POOL_SIZE: '2' }).DATABASE_POOL_SIZE).toBe(2);
  });

  it('prepares hot statements unless told not to', () => {
    expect(validateEnvironment({}).DATABASE_PREPARED_STATEMENTS).toBe(true);
    expect(validateEnvironment({ DATABASE_PREPARED_STATEMENTS: 'false' }).DATABASE_PREPARED_STATEMENTS).toBe(false);
    expect(problemsOf({ DATABASE_PREPARED_STATEMENTS: 'sometimes' })[0]).toMatch(/^DATABASE_PREPARED_STATEMENTS /);
  });

  it('gives one line per bad variable, however many constraints each breaks', () => {
    const problems = problemsOf({
      PORT: 'abc',
      DATABASE_POOL_SIZE: '0',
      LOG_LEVEL: 'loud',
      MIGRATIONS_RUN: 'maybe',
      PUBLIC_URL: 'ftp://example.test',
      NODE_ENV: 'staging',
      HOST: 'localhost',
    });
    expect(problems).toHaveLength(6);
    for (const name of ['PORT', 'DATABASE_POOL_SIZE', 'LOG_LEVEL', 'MIGRATIONS_RUN', 'PUBLIC_URL', 'NODE_ENV']) {
      expect(problems.filter((line) => line.startsWith(`${name} `))).toHaveLength(1);
    }
    expect(problems.find((line) => line.startsWith('LOG_LEVEL '))).toContain('"loud"');
  });

  it('the error message lists every problem on its own line', () => {
    const message = messageOf({ PORT: 'abc', LOG_LEVEL: 'loud' });
    expect(message).toMatch(/^Invalid configuration:\n/);
    expect(message.split('\n').filter((line) => line.startsWith('  - '))).toHaveLength(2);
  });

  it('accepts postgres:// and postgresql:// database URLs', () => {
    expect(validateEnvironment({ DATABASE_URL: 'postgres://u:p@db:5432/crm' }).DATABASE_URL).toBe('postgres://u:p@db:5432/crm');
    expect(validateEnvironment({ DATABASE_URL: 'postgresql://db/crm' }).DATABASE_URL).toBe('postgresql://db/crm');
  });

  it('rejects a DATABASE_URL that is not postgres without echoing it', () => {
    const raw = { DATABASE_URL: 'mysql://root:hunter2@db/crm' };
    const problems = problemsOf(raw);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DATABASE_URL /);
    expect(problems[0]).toContain('postgres://');
    expect(problems[0]).not.toContain('hunter2');
    expect(messageOf(raw)).not.toContain('hunter2');
    expect(messageOf(raw)).not.toContain('mysql://');
  });

  it('does not echo the other URLs either, as they can hold passwords', () => {
    const message = messageOf({ REDIS_URL: 'http://:s3cr3t@redis', SMTP_URL: 'mail://user:pa55@smtp' });
    expect(message).toMatch(/REDIS_URL /);
    expect(message).toMatch(/SMTP_URL /);
    expect(message).not.toContain('s3cr3t');
    expect(message).not.toContain('pa55');
  });

  it.each([
    ['yes', true],
    ['0', false],
    ['1', true],
    ['no', false],
    ['ON', true],
    [' off ', false],
    ['true', true],
    ['false', false],
  ])('reads the boolean %j as %s', (raw, expected) => {
    const env = validateEnvironment({ MIGRATIONS_RUN: raw, SWAGGER_ENABLED: raw, LOG_PRETTY: raw });
    expect(env.MIGRATIONS_RUN).toBe(expected);
    expect(env.SWAGGER_ENABLED).toBe(expected);
    expect(env.LOG_PRETTY).toBe(expected);
  });

  it('rejects a boolean it cannot read', () => {
    const problems = problemsOf({ SWAGGER_ENABLED: 'sometimes' });
    expect(problems).toEqual(['SWAGGER_ENABLED must be true or false (got "sometimes")']);
  });

  it('requires JWT_SECRET in production', () => {
    const problems = problemsOf({ NODE_ENV: 'production' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^JWT_SECRET /);
    expect(problems[0]).toContain('production');
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: '' })).toHaveLength(1);
  });

  it('accepts production with a long enough JWT_SECRET', () => {
    const env = validateEnvironment({ NODE_ENV: 'production', JWT_SECRET: SECRET });
    expect(env.NODE_ENV).toBe(NodeEnvironment.Production);
    expect(env.JWT_SECRET).toBe(SECRET);
  });

  it('does not require JWT_SECRET outside production', () => {
    expect(validateEnvironment({ NODE_ENV: 'test' }).JWT_SECRET).toBeUndefined();
  });

  it('rejects a short JWT_SECRET without echoing it', () => {
    const raw = { JWT_SECRET: 'short-secret-value' };
    const problems = problemsOf(raw);
    expect(problems).toEqual(['JWT_SECRET must be at least 32 characters long']);
    expect(messageOf(raw)).not.toContain('short-secret-value');
    expect(problemsOf({ NODE_ENV: 'production', ...raw }).join('\n')).not.toContain('short-secret-value');
  });

  it('checks the FEATURES list format', () => {
    expect(validateEnvironment({ FEATURES: 'contacts, -inventory,client-portal' }).FEATURES).toBe('contacts, -inventory,client-portal');
    expect(problemsOf({ FEATURES: 'contacts;inventory' })[0]).toMatch(/^FEATURES /);
  });
});
