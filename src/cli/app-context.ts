import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from '../app.module';
import { AppConfig } from '../config/app-config';
import { ConfigurationError, validateEnvironment } from '../config/environment';
import { CliError } from './cli-errors';
import { CliLogger } from './cli-logger';

export interface CliApplication {
  app: INestApplicationContext;
  config: AppConfig;
  /** With Redis, jobs go to the queue and worker processes run them; without, this process runs them. */
  jobsRunHere: boolean;
}

/**
 * The application's modules with the API's and the worker's configuration (DATABASE_URL or
 * the embedded database in DATA_DIR, REDIS_URL optional), without HTTP.
 */
export async function bootApplication(): Promise<CliApplication> {
  // With Redis this process only enqueues: it must not pick up other queues' jobs and then hold them when it exits.
  if (process.env.REDIS_URL) process.env.JOBS_PROCESS = 'false';
  let config: AppConfig;
  try {
    config = new AppConfig(validateEnvironment(process.env));
  } catch (error) {
    if (error instanceof ConfigurationError) throw new CliError(error.message);
    throw error;
  }
  const app = await NestFactory.createApplicationContext(AppModule, { logger: new CliLogger(config.log.level), abortOnError: false });
  return { app, config, jobsRunHere: !config.redisUrl };
}
