import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { EmbeddedDatabaseInUseError } from './pglite/data-dir-lock';
import { PooledSql } from './pooled-sql';
import { runPendingMigrations } from './run-migrations';

export const DATABASE_MIGRATIONS = Symbol('DATABASE_MIGRATIONS');

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      // A directory in use stays in use: say so at once rather than after the retries meant for a server starting up.
      useFactory: (config: AppConfig) => ({ ...dataSourceOptions(config), toRetry: (error: unknown) => !(error instanceof EmbeddedDatabaseInUseError) }),
      dataSourceFactory: async (options) => new DataSource(options!).initialize(),
    }),
  ],
  providers: [
    PooledSql,
    {
      // Resolved before any lifecycle hook runs, so seeders in onModuleInit see the final schema.
      provide: DATABASE_MIGRATIONS,
      inject: [DataSource, AppConfig],
      useFactory: async (dataSource: DataSource, config: AppConfig) => {
        if (config.database.runMigrations) await runPendingMigrations(dataSource, config.database.kind === 'postgres');
        return true;
      },
    },
  ],
  exports: [DATABASE_MIGRATIONS, PooledSql],
})
export class DatabaseModule {}
