import { Global, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { dataSourceOptions } from './data-source-options';
import { PooledSql } from './pooled-sql';
import { runPendingMigrations } from './run-migrations';

export const DATABASE_MIGRATIONS = Symbol('DATABASE_MIGRATIONS');

@Global()
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => dataSourceOptions(config),
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
