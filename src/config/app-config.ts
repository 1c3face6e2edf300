import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Environment, NodeEnvironment } from './environment';

export type DatabaseSettings =
  | { kind: 'postgres'; url: string; poolSize: number; preparedStatements: boolean; runMigrations: boolean }
  | { kind: 'pglite'; dataDir: string; runMigrations: boolean };

/** The validated configuration, shaped for the code that reads it. */
export class AppConfig {
  readonly env: NodeEnvironment;
  readonly http: { host: string; port: number; bodyLimit: number; corsOrigins: string[] | true; publicUrl: string; trustProxy: boolean | number | string[] };
  readonly database: DatabaseSettings;
  readonly redisUrl?: string;
  readonly auth: {
    jwtSecret: string;
    accessTtlSeconds: number;
    refreshTtlSeconds: number;
    passwordResetTtlSeconds: number;
    inviteTtlSeconds: number;
    signUpTtlSeconds: number;
  };
  readonly throttle: { loginLimit: number; forgotPasswordLimit: number; windowSeconds: number };
  readonly mail: { smtpUrl?: string; from: string };
  readonly features: { envList?: string; file: string; pollMs: number };
  readonly pagination: { maxLimit: number };
  readonly jobs: { process: boolean; prefix: string };
  readonly imports: { maxBytes: number };
  readonly swaggerEnabled: boolean;
  readonly log: { level: string; pretty: boolean };
  readonly portal: { welcomeText: string };
  readonly dashboard: { refreshMs: number };
  readonly dataDir: string;

  constructor(e: Environment) {
    this.env = e.NODE_ENV;
    this.dataDir = resolve(e.DATA_DIR);
    const origins = e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean);
    this.http = {
      host: e.HOST,
      port: e.PORT,
      bodyLimit: e.BODY_LIMIT_BYTES,
      corsOrigins: origins.includes('*') ? true : origins,
      publicUrl: e.PUBLIC_URL.replace(/\/$/, ''),
      // Client addresses (throttling, sessions) come from X-Forwarded-For only behind proxies named here.
      trustProxy:
        e.TRUST_PROXY === 'true' ? true : e.TRUST_PROXY === 'false' ? false : /^\d+$/.test(e.TRUST_PROXY) ? Number(e.TRUST_PROXY) : e.TRUST_PROXY.split(',').map((p) => p.trim()),
    };
    this.database = e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, preparedStatements: e.DATABASE_PREPARED_STATEMENTS, runMigrations: e.MIGRATIONS_RUN }
      : { kind: 'pglite', dataDir: join(this.dataDir, 'pglite'), runMigrations: e.MIGRATIONS_RUN };
    this.redisUrl = e.REDIS_URL;
    this.auth = {
      jwtSecret: e.JWT_SECRET ?? this.localSecret(),
      accessTtlSeconds: e.JWT_ACCESS_TTL_SECONDS,
      refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS,
      passwordResetTtlSeconds: e.PASSWORD_RESET_TTL_SECONDS,
      inviteTtlSeconds: e.INVITE_TTL_SECONDS,
      signUpTtlSeconds: e.SIGN_UP_TTL_SECONDS,
    };
    this.throttle = {
      loginLimit: e.THROTTLE_LOGIN_LIMIT,
      forgotPasswordLimit: e.THROTTLE_FORGOT_PASSWORD_LIMIT,
      windowSeconds: e.THROTTLE_WINDOW_SECONDS,
    };
    this.mail = { smtpUrl: e.SMTP_URL, from: e.MAIL_FROM };
    this.features = { envList: e.FEATURES, file: e.FEATURES_FILE, pollMs: e.FEATURES_POLL_MS };
    this.pagination = { maxLimit: e.PAGE_SIZE_MAX };
    this.jobs = { process: e.JOBS_PROCESS, prefix: e.JOBS_PREFIX };
    this.imports = { maxBytes: e.IMPORT_MAX_BYTES };
    this.swaggerEnabled = e.SWAGGER_ENABLED;
    this.log = { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY };
    this.portal = { welcomeText: e.PORTAL_WELCOME_TEXT };
    this.dashboard = { refreshMs: e.DASHBOARD_REFRESH_MS };
  }

  get isProduction(): boolean {
    return this.env === NodeEnvironment.Production;
  }

  /**
   * Outside production a missing JWT_SECRET is replaced by a random one kept in the data
   * directory, so a laptop install works at once and sessions survive restarts.
   */
  private localSecret(): string {
    const file = join(this.dataDir, 'jwt-secret');
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    mkdirSync(this.dataDir, { recursive: true });
    const secret = randomBytes(48).toString('base64url');
    writeFileSync(file, secret, { mode: 0o600 });
    return secret;
  }
}
