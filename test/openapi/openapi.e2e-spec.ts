import SwaggerParser from '@apidevtools/swagger-parser';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { attachResponseSchemas } from '../../src/core/http/response-serialization';
import { buildOpenApiDocument } from '../../src/core/openapi/openapi';
import { FEATURE_KEYS } from '../../src/core/features/feature-catalog';
import { register } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

const COMMITTED = resolve(__dirname, '..', '..', 'openapi.json');

describe('the OpenAPI document', () => {
  let t: TestApp;
  let served: Record<string, unknown>;

  beforeAll(async () => {
    t = await startTestApp();
    const admin = await register(t, 'admin');
    for (const key of FEATURE_KEYS) {
      const response = await t.http.patch(`/api/v1/features/${key}`).set(admin.auth).send({ enabled: true });
      expect([200, 409]).toContain(response.status);
    }
    for (const key of FEATURE_KEYS) await t.http.patch(`/api/v1/features/${key}`).set(admin.auth).send({ enabled: true }).expect(200);
    served = (await t.http.get('/docs-json').expect(200)).body;
  });
  afterAll(() => t.close());

  it('is a valid OpenAPI 3 document', async () => {
    await expect(SwaggerParser.validate(structuredClone(served) as never)).resolves.toBeDefined();
  });

  it('matches the committed openapi.json (run `npm run openapi:write` after an API change)', () => {
    const committed = JSON.parse(readFileSync(COMMITTED, 'utf8'));
    expect(buildOpenApiDocument(t.app)).toEqual(committed);
    expect(served).toEqual(committed);
  });

  it('describes every operation: an id, a tag, responses, and bearer security where sign-in is needed', () => {
    const paths = served.paths as Record<string, Record<string, { operationId?: string; tags?: string[]; responses?: Record<string, unknown>; security?: unknown[] }>>;
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const name = `${method.toUpperCase()} ${path}`;
        expect({ name, operationId: typeof operation.operationId }).toEqual({ name, operationId: 'string' });
        expect(operationIds.has(operation.operationId!)).toBe(false);
        operationIds.add(operation.operationId!);
        expect({ name, tags: operation.tags?.length ?? 0 }).toEqual({ name, tags: 1 });
        expect(Object.keys(operation.responses ?? {}).length).toBeGreaterThan(0);
        for (const [status, response] of Object.entries(operation.responses ?? {})) expect({ name, status, described: Boolean((response as { description?: string }).description) }).toEqual({ name, status, described: true });
        const signedIn = Object.keys(operation.responses ?? {}).includes('401') && !path.startsWith('/api/v1/auth/');
        if (signedIn) expect({ name, security: operation.security }).toEqual({ name, security: [{ bearer: [] }] });
      }
    }
    expect((served.components as { securitySchemes: Record<string, unknown> }).securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('writes every documented JSON answer from its schema', () => {
    const document = buildOpenApiDocument(t.app);
    const documented = Object.values(document.paths).flatMap((item) =>
      Object.values(item as Record<string, { operationId: string; responses: Record<string, { content?: Record<string, unknown> }> }>)
        .filter((operation) => Object.entries(operation.responses).some(([status, response]) => status.startsWith('2') && response.content?.['application/json']))
        .map((operation) => operation.operationId),
    );
    const { attached, unmatched } = attachResponseSchemas(t.app, document);
    expect(unmatched).toEqual([]);
    expect([...attached].sort()).toEqual([...documented].sort());
    expect(attached.length).toBeGreaterThan(40);
  });

  it('types whole numbers as integers: the only plain numbers are values that may have decimals', () => {
    const numbers: string[] = [];
    const visit = (node: unknown, path: string) => {
      if (Array.isArray(node)) return node.forEach((item, index) => visit(item, `${path}/${index}`));
      if (!node || typeof node !== 'object') return;
      if ((node as { type?: unknown }).type === 'number') numbers.push(path);
      for (const [key, value] of Object.entries(node)) visit(value, `${path}/${key}`);
    };
    visit(served, '');
    // Custom-field and rule values (decimal fields), and the health check's timings.
    expect(numbers.filter((path) => !/\/(value|items|responseTime)\//.test(`${path}/`) && !/\/oneOf\/\d+$/.test(path))).toEqual([]);
    const schemas = (served.components as { schemas: Record<string, { properties: Record<string, { type?: string }> }> }).schemas;
    expect(schemas.ContactDto.properties.version.type).toBe('integer');
    expect(schemas.PageMetaDto.properties.total.type).toBe('integer');
  });

  it('documents that a write may meet another (409 concurrent_update), and not for posts that only read', () => {
    const paths = served.paths as Record<string, Record<string, { operationId: string; responses: Record<string, { description: string }> }>>;
    const writes = Object.values(paths).flatMap((item) => Object.entries(item).filter(([method]) => ['post', 'put', 'patch', 'delete'].includes(method)).map(([, operation]) => operation));
    const readsOnly = ['searchContacts', 'previewSegment', 'dryRunContactImport'];
    for (const operation of writes) {
      const documented = operation.responses['409']?.description.includes('concurrent_update') ?? false;
      expect({ operation: operation.operationId, documented }).toEqual({ operation: operation.operationId, documented: !readsOnly.includes(operation.operationId) });
    }
    expect(JSON.stringify(served)).not.toContain('x-reads-only');
  });

  it('names every paged answer, so typed generators make one class of it', () => {
    const paths = served.paths as Record<string, Record<string, { operationId: string; responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }> }>>;
    const inline = Object.values(paths).flatMap((item) =>
      Object.values(item)
        .filter((operation) => (operation.responses['200']?.content?.['application/json']?.schema?.properties as Record<string, unknown> | undefined)?.meta)
        .map((operation) => operation.operationId),
    );
    expect(inline).toEqual([]);
    expect((served.components as { schemas: Record<string, unknown> }).schemas.TagPageDto).toMatchObject({ required: ['data', 'meta'] });
  });

  it('documents record ids in paths as UUIDs', () => {
    const paths = served.paths as Record<string, Record<string, { parameters?: Array<{ in: string; name: string; schema?: { format?: string } }> }>>;
    const ids = Object.entries(paths).flatMap(([path, item]) =>
      Object.entries(item).flatMap(([method, operation]) =>
        (operation.parameters ?? []).filter((parameter) => parameter.in === 'path' && /^(id|\w+Id)$/.test(parameter.name)).map((parameter) => ({ at: `${method} ${path} ${parameter.name}`, format: parameter.schema?.format })),
      ),
    );
    expect(ids.length).toBeGreaterThan(40);
    expect(ids.filter((id) => id.format !== 'uuid')).toEqual([]);
  });

  it('documents the filter tree once, as JSON in the query string and as a body', () => {
    const paths = served.paths as Record<string, Record<string, { parameters?: Array<Record<string, unknown>>; requestBody?: unknown }>>;
    for (const path of ['/api/v1/contacts', '/api/v1/contacts/export']) {
      const filter = paths[path].get.parameters!.find((parameter) => parameter.name === 'filter')!;
      expect(filter).not.toHaveProperty('schema');
      expect(filter.content).toEqual({ 'application/json': { schema: { $ref: '#/components/schemas/ContactFilter' } } });
    }
    // Every other query parameter is a plain value, named enums included.
    const asJson = Object.entries(paths).flatMap(([path, item]) =>
      Object.entries(item).flatMap(([method, operation]) => (operation.parameters ?? []).filter((parameter) => 'content' in parameter).map((parameter) => `${method} ${path} ${String(parameter.name)}`)),
    );
    expect(asJson.sort()).toEqual(['get /api/v1/contacts filter', 'get /api/v1/contacts/export filter']);
    const schemas = (served.components as { schemas: Record<string, unknown> }).schemas;
    expect(schemas.ContactFilterConditionDto).toMatchObject({ required: ['field', 'op'], properties: { op: { enum: expect.arrayContaining(['is', 'hasAny']) } } });
    expect(schemas.ContactFilterAllDto).toMatchObject({ properties: { and: { type: 'array', items: { $ref: '#/components/schemas/ContactFilter' } } } });
    expect(schemas.ContactFilter).toMatchObject({
      oneOf: ['All', 'Any', 'Not', 'Condition'].map((node) => ({ $ref: `#/components/schemas/ContactFilter${node}Dto` })),
    });
    // Named once: generators make one type of it, not one per property that holds a filter.
    const unions: string[] = [];
    const visit = (node: unknown, at: string): void => {
      if (Array.isArray(node)) return node.forEach((item, index) => visit(item, `${at}/${index}`));
      if (!node || typeof node !== 'object') return;
      const branches = (node as { oneOf?: Array<{ $ref?: string }> }).oneOf;
      if (branches?.some((branch) => branch.$ref === '#/components/schemas/ContactFilterAllDto')) unions.push(at);
      for (const [key, value] of Object.entries(node)) visit(value, `${at}/${key}`);
    };
    visit(served, '');
    expect(unions).toEqual(['/components/schemas/ContactFilter']);
  });

  it('generates a typed client that type-checks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'maestro-client-'));
    try {
      // The generator's own command line, as the README tells a front-end project to run it.
      writeFileSync(join(dir, 'openapi.json'), JSON.stringify(served));
      const generator = resolve(__dirname, '..', '..', 'node_modules', '.bin', 'openapi-typescript');
      execFileSync(generator, [join(dir, 'openapi.json'), '--default-non-nullable', 'false', '--output', join(dir, 'api.d.ts')], { stdio: 'pipe' });
      // A front end's view: request and response types come straight from the document.
      writeFileSync(
        join(dir, 'usage.ts'),
        [
          `import type { paths, components } from './api';`,
          `type Login = paths['/api/v1/auth/login']['post'];`,
          `type LoginBody = Login['requestBody'] extends { content: { 'application/json': infer B } } ? B : never;`,
          `const body: LoginBody = { email: 'a@example.com', password: 'secret-password' };`,
          `type Tokens = components['schemas']['TokensDto'];`,
          `const kind: Tokens['user']['accountType'] = 'client';`,
          `type UserPage = paths['/api/v1/users']['get']['responses']['200']['content']['application/json'];`,
          `const total: UserPage['meta']['total'] = 3;`,
          `const feature: components['schemas']['FeatureDto']['key'] = 'contacts';`,
          `type Filter = NonNullable<components['schemas']['ContactSearchDto']['filter']>;`,
          `const filter: Filter = { and: [{ field: 'stage', op: 'is', value: 'customer' }, { not: { field: 'tags', op: 'empty' } }] };`,
          `// The list takes the same tree as JSON text in its query string.`,
          `const query: NonNullable<paths['/api/v1/contacts']['get']['parameters']['query']> = { filter: JSON.stringify(filter), page: 2 };`,
          `// @ts-expect-error an unknown operator is rejected by the generated types`,
          `const badFilter: Filter = { field: 'stage', op: 'equals', value: 'customer' };`,
          `// @ts-expect-error an unknown account type is rejected by the generated types`,
          `const wrong: Tokens['user']['accountType'] = 'robot';`,
          `// Fields with a default may be left out.`,
          `const account: components['schemas']['CreateAccountDto'] = { accountType: 'client' };`,
          `export { body, kind, total, feature, wrong, filter, query, badFilter, account };`,
        ].join('\n'),
      );
      const tsc = require.resolve('typescript/bin/tsc');
      const args = [tsc, '--ignoreConfig', '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--moduleResolution', 'bundler', '--module', 'esnext', join(dir, 'usage.ts')];
      try {
        execFileSync(process.execPath, args, { stdio: 'pipe', encoding: 'utf8' });
      } catch (error) {
        throw new Error(`The generated client does not type-check:\n${(error as { stdout?: string }).stdout ?? ''}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
