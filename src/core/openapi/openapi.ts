import type { INestApplication } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { READS_ONLY_EXTENSION } from './reads-only.decorator';
import { FEATURE_EXTENSION } from '../features/feature.decorator';
import { ErrorResponseDto, FieldErrorDto } from '../http/error-response.dto';
import { PageMetaDto } from '../http/pagination';
import { schemaComponents } from './schema-components';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'] as const;

/** The whole API, every module included. */
export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Maestro CRM API')
    .setDescription(
      'Modular CRM backend. Routes of a module that is switched off answer 404 and are left out of the served document. ' +
        'Errors share one body: `{ statusCode, error, message, code?, details?, feature? }`.',
    )
    .setVersion('1.0.0')
    .addBearerAuth({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
    .build();
  const document = SwaggerModule.createDocument(app, config, {
    extraModels: [ErrorResponseDto, FieldErrorDto, PageMetaDto],
    operationIdFactory: (controllerKey, methodKey) => `${controllerKey}_${methodKey}`,
  });
  document.components = { ...document.components, schemas: { ...document.components?.schemas, ...schemaComponents() } };
  documentBodyErrors(document);
  documentConcurrentWrites(document);
  describeBareResponses(document);
  documentJsonQueryParameters(document);
  return sortDocument(document);
}

/**
 * Every body can be refused before a route sees it: too large (413) or of another type than
 * the route takes (415). Documented once here rather than on every route.
 */
function documentBodyErrors(document: OpenAPIObject): void {
  const errorBody = { content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponseDto' } } } };
  for (const item of Object.values(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      const body = operation?.requestBody as { content?: Record<string, unknown> } | undefined;
      const type = ['application/json', 'multipart/form-data'].find((candidate) => body?.content?.[candidate]);
      if (!operation || !type) continue;
      operation.responses['413'] ??= { description: 'The request body is too large.', ...errorBody };
      operation.responses['415'] ??= { description: `The body is of another type: send \`content-type: ${type}\`.`, ...errorBody };
    }
  }
}

/**
 * Any write can meet another one on the same rows (a deadlock broken by PostgreSQL, a
 * serialization failure): 409 `concurrent_update`, to be retried. Documented once here.
 */
function documentConcurrentWrites(document: OpenAPIObject): void {
  const errorBody = { content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorResponseDto' } } } };
  const concurrent = 'changed at the same time by another request (`concurrent_update`): retry.';
  for (const item of Object.values(document.paths)) {
    for (const method of ['post', 'put', 'patch', 'delete'] as const) {
      const operation = item[method] as (NonNullable<(typeof item)['post']> & Record<string, unknown>) | undefined;
      if (!operation) continue;
      const readsOnly = operation[READS_ONLY_EXTENSION] === true;
      delete operation[READS_ONLY_EXTENSION];
      if (readsOnly) continue;
      const conflict = operation.responses['409'] as { description?: string } | undefined;
      if (!conflict) operation.responses['409'] = { description: `${concurrent[0]!.toUpperCase()}${concurrent.slice(1)}`, ...errorBody };
      else if (!conflict.description?.includes('concurrent_update')) conflict.description = `${(conflict.description ?? 'Conflict').replace(/\.$/, '')}; or ${concurrent}`;
    }
  }
}

/** A response declared without words gets its status's meaning: generators show descriptions as doc comments. */
function describeBareResponses(document: OpenAPIObject): void {
  for (const item of Object.values(document.paths)) {
    for (const method of HTTP_METHODS) {
      for (const [status, response] of Object.entries(item[method]?.responses ?? {}) as Array<[string, { description?: string }]>) {
        if (!response.description) response.description = STATUS_CODES[Number(status)] ?? 'Answer';
      }
    }
  }
}

/**
 * A structured query value (a filter tree) is read as JSON text. OpenAPI says so with `content`
 * instead of `schema`, which clients generate as a typed value they serialise themselves.
 */
function documentJsonQueryParameters(document: OpenAPIObject): void {
  const components = (document.components?.schemas ?? {}) as Record<string, Record<string, unknown>>;
  const describesObject = (schema: Record<string, unknown>): boolean => {
    // A named enum is a reference too: what it names decides.
    if (typeof schema.$ref === 'string') return describesObject(components[schema.$ref.replace('#/components/schemas/', '')] ?? {});
    const branches = (schema.oneOf ?? schema.anyOf) as Array<Record<string, unknown>> | undefined;
    return schema.type === 'object' || (branches?.some(describesObject) ?? false);
  };
  for (const item of Object.values(document.paths)) {
    for (const method of HTTP_METHODS) {
      for (const parameter of (item[method]?.parameters ?? []) as unknown as Array<Record<string, unknown>>) {
        // A wrapped reference (a property's allOf) is left beside a query parameter's schema; it is the schema.
        if (Array.isArray(parameter.allOf)) {
          parameter.schema = parameter.allOf.length === 1 ? parameter.allOf[0] : { allOf: parameter.allOf };
          delete parameter.allOf;
        }
        const schema = parameter.schema as Record<string, unknown> | undefined;
        if (parameter.in !== 'query' || !schema || !describesObject(schema)) continue;
        delete parameter.schema;
        parameter.content = { 'application/json': { schema } };
      }
    }
  }
}


/** A copy of the document without the operations of switched-off features. */
export function documentForFeatures(document: OpenAPIObject, isEnabled: (key: string) => boolean): OpenAPIObject {
  const copy = structuredClone(document);
  for (const [path, item] of Object.entries(copy.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as (Record<string, unknown> & { tags?: string[] }) | undefined;
      const feature = operation?.[FEATURE_EXTENSION];
      if (typeof feature === 'string' && !isEnabled(feature)) delete item[method];
    }
    if (!HTTP_METHODS.some((method) => item[method])) delete copy.paths[path];
  }
  const usedTags = new Set(Object.values(copy.paths).flatMap((item) => HTTP_METHODS.flatMap((m) => (item[m] as { tags?: string[] } | undefined)?.tags ?? [])));
  if (copy.tags) copy.tags = copy.tags.filter((tag) => usedTags.has(tag.name));
  pruneUnusedSchemas(copy);
  return copy;
}

/** Drops component schemas no remaining operation reaches, so hidden modules leave no trace. */
function pruneUnusedSchemas(document: OpenAPIObject): void {
  const schemas = document.components?.schemas;
  if (!schemas) return;
  const reached = new Set<string>();
  const visit = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')) {
        const name = value.slice('#/components/schemas/'.length);
        if (!reached.has(name)) {
          reached.add(name);
          visit(schemas[name]);
        }
      } else visit(value);
    }
  };
  visit(document.paths);
  const { schemas: _schemas, ...otherComponents } = document.components ?? {};
  visit(otherComponents);
  for (const name of Object.keys(schemas)) if (!reached.has(name)) delete schemas[name];
}

/** Stable key order, so the committed document only changes when the API does. */
function sortDocument(document: OpenAPIObject): OpenAPIObject {
  const sorted = <T extends Record<string, unknown>>(object: T | undefined): T | undefined =>
    object ? (Object.fromEntries(Object.entries(object).sort(([a], [b]) => a.localeCompare(b))) as T) : object;
  document.paths = sorted(document.paths)!;
  if (document.components?.schemas) document.components.schemas = sorted(document.components.schemas);
  if (document.tags) document.tags = [...document.tags].sort((a, b) => a.name.localeCompare(b.name));
  return document;
}
