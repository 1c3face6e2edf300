import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsEnum,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  validateSync,
} from 'class-validator';

const toBoolean = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  if (typeof value === 'boolean') return value;
  const normalised = String(value).trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(normalised)) return true;
  if (['false', '0', 'no', 'off'].includes(normalised)) return false;
  return value;
};

const toInteger = ({ value }: { value: unknown }) => {
  if (value === undefined || value === '') return undefined;
  return /^-?\d+$/.test(String(value).trim()) ? Number(value) : value;
};

const emptyToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);

export enum NodeEnvironment {
  Development = 'development',
  Production = 'production',
  Test = 'test',
}

/**
 * Every environment variable the service reads. `.env.example` documents the same list;
 * keep both in step.
 */
export class Environment {
  @IsOptional()
  @IsEnum(NodeEnvironment, { message: 'must be one of development, production, test' })
  NODE_ENV: NodeEnvironment = NodeEnvironment.Development;

  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number between 1 and 65535' })
  @Min(1, { message: 'must be a whole number between 1 and 65535' })
  @Max(65535, { message: 'must be a whole number between 1 and 65535' })
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^postgres(ql)?:\/\/.+/, { message: 'must be a postgres:// or postgresql:// connection URL' })
  DATABASE_URL?: string;

  /** At least two: starting holds one session for the migration lock while the migrations run on another. */
  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number between 2 and 200' })
  @Min(2, { message: 'must be a whole number between 2 and 200' })
  @Max(200, { message: 'must be a whole number between 2 and 200' })
  DATABASE_POOL_SIZE = 20;

  /** Off behind a connection pooler that does not carry named statements (PgBouncer before 1.21, or without max_prepared_statements). */
  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  DATABASE_PREPARED_STATEMENTS = true;

  @IsString()
  @MinLength(1, { message: 'must not be empty' })
  DATA_DIR = './data';

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  MIGRATIONS_RUN = true;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^rediss?:\/\/.+/, { message: 'must be a redis:// or rediss:// URL' })
  REDIS_URL?: string;

  @IsOptional()
  @Transform(emptyToUndefined)
  @IsString()
  @MinLength(32, { message: 'must be at least 32 characters long' })
  JWT_SECRET?: string;

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of seconds between 60 and 86400' })
  @Min(60, { message: 'must be a number of seconds between 60 and 86400' })
  @Max(86400, { message: 'must be a number of seconds between 60 and 86400' })
  JWT_ACCESS_TTL_SECONDS = 900;

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of seconds between 300 and 31536000' })
  @Min(300, { message: 'must be a number of seconds between 300 and 31536000' })
  @Max(31536000, { message: 'must be a number of seconds between 300 and 31536000' })
  REFRESH_TOKEN_TTL_SECONDS = 30 * 24 * 3600;

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of seconds between 300 and 604800' })
  @Min(300, { message: 'must be a number of seconds between 300 and 604800' })
  @Max(604800, { message: 'must be a number of seconds between 300 and 604800' })
  PASSWORD_RESET_TTL_SECONDS = 3600;

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of seconds between 3600 and 2592000' })
  @Min(3600, { message: 'must be a number of seconds between 3600 and 2592000' })
  @Max(2592000, { message: 'must be a number of seconds between 3600 and 2592000' })
  INVITE_TTL_SECONDS = 7 * 24 * 3600;

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of seconds between 300 and 604800' })
  @Min(300, { message: 'must be a number of seconds between 300 and 604800' })
  @Max(604800, { message: 'must be a number of seconds between 300 and 604800' })
  SIGN_UP_TTL_SECONDS = 24 * 3600;

  @IsString()
  @Matches(/^https?:\/\/[^\s]+$/, { message: 'must be an http:// or https:// URL' })
  PUBLIC_URL = 'http://localhost:3000';

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^smtps?:\/\/.+/, { message: 'must be an smtp:// or smtps:// URL' })
  SMTP_URL?: string;

  @IsString()
  @Matches(/^.+@.+$|^.+<.+@.+>$/, { message: 'must be an email address, optionally as "Name <address>"' })
  MAIL_FROM = 'Maestro CRM <no-reply@localhost>';

  @IsString()
  CORS_ORIGINS = '';

  @IsString()
  @Matches(/^(true|false|\d+|[0-9a-fA-F.:/]+(\s*,\s*[0-9a-fA-F.:/]+)*)$/, {
    message: 'must be false, true, a number of proxy hops, or a comma-separated list of proxy addresses/CIDRs',
  })
  TRUST_PROXY = 'false';

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of bytes between 1024 and 104857600' })
  @Min(1024, { message: 'must be a number of bytes between 1024 and 104857600' })
  @Max(104857600, { message: 'must be a number of bytes between 1024 and 104857600' })
  BODY_LIMIT_BYTES = 1024 * 1024;

  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number between 10 and 1000' })
  @Min(10, { message: 'must be a whole number between 10 and 1000' })
  @Max(1000, { message: 'must be a whole number between 10 and 1000' })
  PAGE_SIZE_MAX = 100;

  @IsOptional()
  @Transform(emptyToUndefined)
  @Matches(/^\s*-?[a-z-]+(\s*,\s*-?[a-z-]+)*\s*$/, {
    message: 'must be a comma-separated list of feature keys, each optionally prefixed with - to disable it',
  })
  FEATURES?: string;

  @IsString()
  FEATURES_FILE = 'config/features.json';

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  JOBS_PROCESS = true;

  @IsString()
  @Matches(/^[a-zA-Z0-9_-]{1,50}$/, { message: 'must be 1 to 50 letters, digits, - or _' })
  JOBS_PREFIX = 'maestro';

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of bytes between 1024 and 2147483648' })
  @Min(1024, { message: 'must be a number of bytes between 1024 and 2147483648' })
  @Max(2147483648, { message: 'must be a number of bytes between 1024 and 2147483648' })
  IMPORT_MAX_BYTES = 512 * 1024 * 1024;

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of milliseconds between 1000 and 600000' })
  @Min(1000, { message: 'must be a number of milliseconds between 1000 and 600000' })
  @Max(600000, { message: 'must be a number of milliseconds between 1000 and 600000' })
  FEATURES_POLL_MS = 30000;

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  SWAGGER_ENABLED = true;

  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    message: 'must be one of fatal, error, warn, info, debug, trace, silent',
  })
  LOG_LEVEL = 'info';

  @Transform(toBoolean)
  @IsBoolean({ message: 'must be true or false' })
  LOG_PRETTY = false;

  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number between 1 and 10000' })
  @Min(1, { message: 'must be a whole number between 1 and 10000' })
  @Max(10000, { message: 'must be a whole number between 1 and 10000' })
  THROTTLE_LOGIN_LIMIT = 10;

  @Transform(toInteger)
  @IsInt({ message: 'must be a whole number between 1 and 10000' })
  @Min(1, { message: 'must be a whole number between 1 and 10000' })
  @Max(10000, { message: 'must be a whole number between 1 and 10000' })
  THROTTLE_FORGOT_PASSWORD_LIMIT = 5;

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of seconds between 1 and 86400' })
  @Min(1, { message: 'must be a number of seconds between 1 and 86400' })
  @Max(86400, { message: 'must be a number of seconds between 1 and 86400' })
  THROTTLE_WINDOW_SECONDS = 60;

  @IsString()
  @MaxLength(500)
  PORTAL_WELCOME_TEXT = 'Welcome to your client portal.';

  @Transform(toInteger)
  @IsInt({ message: 'must be a number of milliseconds between 1000 and 86400000' })
  @Min(1000, { message: 'must be a number of milliseconds between 1000 and 86400000' })
  @Max(86400000, { message: 'must be a number of milliseconds between 1000 and 86400000' })
  DASHBOARD_REFRESH_MS = 300000;
}

export class ConfigurationError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigurationError';
  }
}

/** Validates the raw environment; throws one line per bad variable, naming it and its value. */
export function validateEnvironment(raw: Record<string, unknown>): Environment {
  const known = new Set(Object.keys(new Environment()).concat(['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET', 'SMTP_URL', 'FEATURES']));
  const relevant: Record<string, unknown> = {};
  // An empty value means "not set": the default applies, as .env.example promises.
  for (const [key, value] of Object.entries(raw)) if (known.has(key) && value !== '') relevant[key] = value;

  const env = plainToInstance(Environment, relevant, { exposeDefaultValues: true });
  const errors = validateSync(env, { skipMissingProperties: false, forbidUnknownValues: false });
  const problems = errors.map((error) => {
    const message = Object.values(error.constraints ?? {})[0] ?? 'is invalid';
    const secret = /SECRET|PASSWORD|_URL$/.test(error.property);
    const shown = secret ? '' : ` (got ${JSON.stringify(relevant[error.property])})`;
    return `${error.property} ${message}${shown}`;
  });
  if (env.NODE_ENV === NodeEnvironment.Production && !env.JWT_SECRET) {
    problems.push('JWT_SECRET must be set in production (at least 32 random characters)');
  }
  if (problems.length) throw new ConfigurationError(problems);
  return env;
}
