import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/app.factory';

/** Where the suite finds its services; CI and the README point these at local PostgreSQL and Redis. */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-signing';

export interface TestApp {
  app: NestFastifyApplication;
  http: ReturnType<typeof request>;
  databaseUrl: string;
  db: DataSource;
  close(): Promise<void>;
}

function databaseUrl(name: string): string {
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

async function admin<T>(run: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database for one spec file; it is dropped again by {@link dropDatabase}. */
export async function createDatabase(): Promise<string> {
  const name = `maestro_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  return name;
}

export async function dropDatabase(name: string): Promise<void> {
  await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** Removes a test database's queue keys from the shared Redis. */
export async function clearQueues(prefix: string): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Two API processes on one fresh database, as a deployment runs them; both closed and the database dropped after `work`. */
export async function withTwoApps(work: (first: TestApp, second: TestApp) => Promise<void>): Promise<void> {
  const name = await createDatabase();
  try {
    const first = await startTestApp({}, name);
    try {
      const second = await startTestApp({}, name);
      try {
        await work(first, second);
      } finally {
        await second.close();
      }
    } finally {
      await first.close();
    }
  } finally {
    await dropDatabase(name);
  }
}

/**
 * Boots the real application (the same factory `main.ts` uses) against a fresh PostgreSQL
 * database and the local Redis. Extra environment variables override the defaults.
 */
export async function startTestApp(env: Record<string, string> = {}, existingDatabase?: string): Promise<TestApp> {
  const name = existingDatabase ?? (await createDatabase());
  const url = databaseUrl(name);
  const settings: Record<string, string> = {
    NODE_ENV: 'test',
    DATABASE_URL: url,
    REDIS_URL: TEST_REDIS_URL,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'error',
    THROTTLE_LOGIN_LIMIT: '1000',
    THROTTLE_FORGOT_PASSWORD_LIMIT: '1000',
    FEATURES_POLL_MS: '60000',
    DATA_DIR: `./data/test-${name}`,
    // Each database gets its own queues: test apps share one Redis.
    JOBS_PREFIX: name,
    ...env,
  };
  const previous = { ...process.env };
  Object.assign(process.env, settings);
  try {
    const app = await createApp();
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    const db = app.get(DataSource);
    return {
      app,
      http: request(app.getHttpServer()),
      databaseUrl: url,
      db,
      close: async () => {
        await app.close();
        if (!existingDatabase) {
          await dropDatabase(name);
          await clearQueues(name);
        }
      },
    };
  } finally {
    process.env = previous;
  }
}
