import type { INestApplication, LoggerService } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { DiscoveryService } from '@nestjs/core';
import { RouteSchema } from '@nestjs/platform-fastify';
import { DECORATORS, OpenAPIObject } from '@nestjs/swagger';
import type { FastifyInstance } from 'fastify';
import fastJsonStringify, { Schema } from 'fast-json-stringify';

type JsonNode = Record<string, unknown>;

/** What an answer that does not match its documented schema does. */
export type ResponseContractCheck = 'off' | 'log' | 'throw';

/**
 * Every JSON answer a route documents (its 2xx response in the OpenAPI document) is written by a
 * serializer compiled from that schema, as Fastify does for routes that declare one, instead of
 * `JSON.stringify`:
 *
 * - it is about three times faster on a contacts page (`JSON.stringify` spends two thirds of a
 *   page's time turning dates into strings through their `toJSON`);
 * - a property the document does not name never leaves the server, so the document is the
 *   whole contract that generated front ends rely on.
 *
 * Outside production each answer is also checked against what `JSON.stringify` would have sent
 * (`check`): a value the schema would drop, retype or reformat is a bug in the document or in
 * the route, reported with the route and the path of the first difference.
 *
 * Call before `app.init()`: routes take their schema when they are registered. A route's own
 * `@RouteSchema()` is replaced. Returns the operations given a schema, and those documented
 * with a JSON answer that no handler was found for.
 */
export function attachResponseSchemas(app: INestApplication, document: OpenAPIObject): { attached: string[]; unmatched: string[] } {
  const components = (document.components?.schemas ?? {}) as Record<string, JsonNode>;
  /** Operation id → its documented 2xx JSON answers. */
  const operations = new Map<string, Record<string, JsonNode>>();
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item) as JsonNode[]) {
      if (!operation || typeof operation !== 'object' || typeof operation.operationId !== 'string') continue;
      const responses = successResponseSchemas(operation, components);
      if (responses) operations.set(operation.operationId, responses);
    }
  }
  const attached: string[] = [];
  for (const wrapper of app.get(DiscoveryService).getControllers()) {
    const controller = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
    if (!controller?.prototype) continue;
    for (const methodName of Object.getOwnPropertyNames(controller.prototype)) {
      const handler = (controller.prototype as Record<string, unknown>)[methodName];
      if (typeof handler !== 'function' || Reflect.getMetadata(METHOD_METADATA, handler) === undefined || Reflect.getMetadata(PATH_METADATA, handler) === undefined) continue;
      // The document names an operation by its `@ApiOperation` id, or else as its factory does (`openapi.ts`).
      const operationId = (Reflect.getMetadata(DECORATORS.API_OPERATION, handler) as { operationId?: string } | undefined)?.operationId ?? `${controller.name}_${methodName}`;
      const response = operations.get(operationId);
      if (!response) continue;
      RouteSchema({ response })(controller.prototype, methodName, Object.getOwnPropertyDescriptor(controller.prototype, methodName)!);
      attached.push(operationId);
    }
  }
  // Documented answers no handler was found for (they would go out through JSON.stringify).
  const unmatched = [...operations.keys()].filter((id) => !attached.includes(id));
  return { attached, unmatched };
}

/** The operation's 2xx JSON responses, each made self-contained (the components it reaches as `definitions`). */
function successResponseSchemas(operation: JsonNode, components: Record<string, JsonNode>): Record<string, JsonNode> | undefined {
  const result: Record<string, JsonNode> = {};
  for (const [status, response] of Object.entries((operation.responses ?? {}) as Record<string, JsonNode>)) {
    if (!/^2\d\d$/.test(status)) continue;
    const schema = ((response.content as Record<string, JsonNode> | undefined)?.['application/json'] as JsonNode | undefined)?.schema as JsonNode | undefined;
    if (schema) result[status] = selfContained(schema, components);
  }
  return Object.keys(result).length ? result : undefined;
}

function selfContained(schema: JsonNode, components: Record<string, JsonNode>): JsonNode {
  const definitions: Record<string, unknown> = {};
  const rewrite = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (!node || typeof node !== 'object') return node;
    // A union of objects (a filter tree) is written as it is: telling its branches apart needs
    // their required properties, which answers outside tests are not held to.
    if (unitesObjects(node as JsonNode)) return (node as JsonNode).description === undefined ? {} : { description: (node as JsonNode).description };
    const copy: JsonNode = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/schemas/')) {
        const name = value.slice('#/components/schemas/'.length);
        if (!(name in definitions)) {
          definitions[name] = {};
          definitions[name] = rewrite(components[name] ?? {});
        }
        copy.$ref = `#/definitions/${name}`;
      } else copy[key] = rewrite(value);
    }
    // OpenAPI 3.0's `nullable` means nothing without a `type` in JSON Schema: say "this or null".
    if (copy.nullable === true && copy.type === undefined) {
      const { nullable: _nullable, description, ...rest } = copy;
      return { ...(description === undefined ? {} : { description }), anyOf: [rest, { type: 'null' }] };
    }
    return copy;
  };
  const root = rewrite(schema) as JsonNode;
  return Object.keys(definitions).length ? { ...root, definitions } : root;
}

function unitesObjects(node: JsonNode): boolean {
  const branches = (node.oneOf ?? node.anyOf) as JsonNode[] | undefined;
  return Array.isArray(branches) && branches.some((branch) => typeof branch?.$ref === 'string');
}

/**
 * Compiles response schemas with fast-json-stringify; with `check` on, each answer is compared
 * with what `JSON.stringify` would have written. A documented property missing from an answer
 * fails it only under `throw` (tests): elsewhere it is left out, as `JSON.stringify` would,
 * rather than turning a served answer into a 500.
 */
export function useResponseSerializers(fastify: FastifyInstance, check: ResponseContractCheck, logger: LoggerService): void {
  const reported = new Set<string>();
  fastify.setSerializerCompiler(({ schema, method, url, httpStatus }) => {
    const serialize = fastJsonStringify(withoutRequired(schema) as Schema);
    if (check === 'off') return serialize;
    // Tests write every answer as production does, and also hold it to the required properties.
    const strict = check === 'throw' ? fastJsonStringify(schema as Schema) : undefined;
    return (data: unknown) => {
      strict?.(data);
      const written = serialize(data);
      const difference = firstDifference(JSON.parse(written) as unknown, JSON.parse(JSON.stringify(data) ?? 'null') as unknown, '');
      if (difference !== undefined) {
        const message = `The ${httpStatus} answer of ${method} ${url} does not match its documented schema at ${difference || 'the top'}`;
        if (check === 'throw' || !reported.has(message)) logger.error(message);
        reported.add(message);
        // The client sees a plain 500; the log says why.
        if (check === 'throw') throw new Error(message);
      }
      return written;
    };
  });
}

function withoutRequired(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutRequired);
  if (!node || typeof node !== 'object') return node;
  const copy: JsonNode = {};
  for (const [key, value] of Object.entries(node)) if (!(key === 'required' && Array.isArray(value))) copy[key] = withoutRequired(value);
  return copy;
}

/** The path of the first place where the documented answer differs from the plain one, or undefined when they are the same. */
export function firstDifference(documented: unknown, plain: unknown, path: string): string | undefined {
  if (documented === plain) return undefined;
  if (Array.isArray(plain)) {
    if (!Array.isArray(documented) || documented.length !== plain.length) return path;
    for (let i = 0; i < plain.length; i += 1) {
      const found = firstDifference(documented[i], plain[i], `${path}[${i}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (plain && typeof plain === 'object') {
    if (!documented || typeof documented !== 'object' || Array.isArray(documented)) return path;
    const keys = new Set([...Object.keys(plain), ...Object.keys(documented)]);
    for (const key of keys) {
      const found = firstDifference((documented as JsonNode)[key], (plain as JsonNode)[key], path ? `${path}.${key}` : key);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  return path;
}
