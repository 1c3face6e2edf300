import { join } from 'node:path';
import type { DataSourceOptions } from 'typeorm';
import type { AppConfig } from '../config/app-config';
import { pgliteDriver } from './pglite/pglite-pool';
import { SnakeNamingStrategy } from './snake-naming.strategy';

/** One place that says how the service reaches its database, for the app, the CLI and tests. */
export function dataSourceOptions(config: Pick<AppConfig, 'database'>): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities: [join(__dirname, '..', '**', '*.entity.{ts,js}')],
    migrations: [join(__dirname, 'migrations', '*.{ts,js}')],
    migrationsTableName: 'schema_migrations',
    migrationsTransactionMode: 'each' as const,
    namingStrategy: new SnakeNamingStrategy(),
    synchronize: false,
    migrationsRun: false,
    logging: ['error' as const, 'warn' as const, 'migration' as const],
  };
  if (config.database.kind === 'postgres') {
    return {
      ...common,
      url: config.database.url,
      poolSize: config.database.poolSize,
      applicationName: 'maestro-crm',
      // int8 counts come back as numbers, as they do from the embedded database.
      parseInt8: true,
      // Date-only filters and ranges mean UTC days whatever the server's own zone is.
      extra: { options: '-c TimeZone=UTC' },
    };
  }
  return {
    ...common,
    driver: pgliteDriver(config.database.dataDir),
    poolSize: 1,
    installExtensions: false,
  };
}
