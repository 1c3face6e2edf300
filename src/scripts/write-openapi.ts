import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createApp } from '../app.factory';
import { buildOpenApiDocument } from '../core/openapi/openapi';
import { PGlitePool } from '../database/pglite/pglite-pool';

/**
 * Writes the complete OpenAPI document (every module included) to openapi.json, the file
 * reviewed with every API change. Runs on a throwaway embedded database.
 */
async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'maestro-openapi-'));
  Object.assign(process.env, { DATABASE_URL: '', REDIS_URL: '', DATA_DIR: scratch, LOG_LEVEL: 'error', SWAGGER_ENABLED: 'true' });
  const app = await createApp();
  try {
    const target = resolve(process.argv[2] ?? 'openapi.json');
    writeFileSync(target, `${JSON.stringify(buildOpenApiDocument(app), null, 2)}\n`);
    console.log(`Wrote ${target}`);
  } finally {
    await app.close();
    await PGlitePool.closeAll();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
