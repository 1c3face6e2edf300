import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { AppConfig } from './config/app-config';
import { describeStartupError } from './startup-errors';

async function main(): Promise<void> {
  const app = await createApp();
  const config = app.get(AppConfig);
  await app.listen({ port: config.http.port, host: config.http.host });
  const database = config.database.kind === 'postgres' ? 'PostgreSQL' : `embedded PostgreSQL in ${config.database.dataDir}`;
  const logger = new Logger('Main');
  logger.log(`Maestro CRM listening on http://${config.http.host}:${config.http.port} (database: ${database}; docs at /docs)`);

  // Graceful shutdown: stop accepting requests, let in-flight ones finish, close connections.
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      logger.log(`${signal} received; shutting down`);
      const force = setTimeout(() => {
        logger.error('Shutdown took longer than 25 s; exiting');
        process.exit(1);
      }, 25_000);
      force.unref();
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
