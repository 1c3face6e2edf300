import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module';
import { AppConfig } from './config/app-config';
import { ConfigurationError, validateEnvironment } from './config/environment';
import { describeStartupError } from './startup-errors';
import { JobsService } from './core/jobs/jobs.service';
import { createRootLogger, PinoNestLogger } from './core/logging/logger';

/**
 * The worker process: the same modules as the API, no HTTP, always running jobs. Scale
 * it separately from the API (N API + M worker processes on one PostgreSQL and Redis).
 */
async function main(): Promise<void> {
  process.env.JOBS_PROCESS = 'true';
  const config = new AppConfig(validateEnvironment(process.env));
  if (!config.redisUrl) {
    throw new ConfigurationError(['REDIS_URL must be set for a worker process: without Redis, the API process runs jobs itself']);
  }
  if (config.database.kind === 'pglite') {
    throw new ConfigurationError(['DATABASE_URL must be set for a worker process: the embedded database belongs to the one process that opened it (the API), which runs jobs itself']);
  }
  const rootLogger = createRootLogger(config.log.level, config.log.pretty);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: new PinoNestLogger(rootLogger), abortOnError: false });
  const logger = new Logger('Worker');
  logger.log(`Worker running queues: ${app.get(JobsService).queues().join(', ') || 'none'}`);

  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.log(`${signal} received; finishing running jobs`);
      // Running jobs finish; BullMQ hands over anything a killed worker leaves (stalled jobs).
      app
        .close()
        .then(() => process.exit(0))
        .catch((error: Error) => {
          logger.error(`Shutdown failed: ${error.message}`);
          process.exit(1);
        });
    });
  }
}

main().catch((error: unknown) => {
  console.error(describeStartupError(error));
  process.exit(1);
});
