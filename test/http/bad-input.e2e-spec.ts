/**
 * Bad input, everywhere: every operation of the served OpenAPI document is sent invalid input
 * (broken bodies, wrong query parameters, malformed path parameters) and must answer with a 4xx
 * in the shared error shape, naming the offending field, without leaking internals.
 *
 * Jest needs its tests declared synchronously, so the cases are generated from a document the
 * real application serves at collection time: a short-lived child process boots the app with the
 * same harness and saves `GET /docs-json`. The tests then run against an in-process app (booted
 * with a small body limit) and first check that it serves the very same operations, so a route
 * added later gets its cases without touching this file.
 */
import type { Response } from 'supertest';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MAX_NESTING } from '../../src/core/http/validation';
import { register, Session } from '../support/actors';
import { startTestApp, TestApp } from '../support/test-app';

// ---------------------------------------------------------------------------------------------
// The OpenAPI document, as far as this file needs it
// ---------------------------------------------------------------------------------------------

interface Schema {
  $ref?: string;
  type?: string;
  format?: string;
  enum?: unknown[];
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  items?: Schema;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
}

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, unknown>;
  'x-feature'?: string;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
type Method = (typeof HTTP_METHODS)[number];

/** Boots the real application in a child process and returns the document it serves. */
function fetchServedDocument(): OpenApiDocument {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-openapi-'));
  const out = join(dir, 'openapi.json');
  // A TypeScript require hook (the same compiler ts-jest uses) so the child runs the sources as they are.
  const script = `
    const ts = require('typescript');
    const fs = require('node:fs');
    require.extensions['.ts'] = (module, filename) => {
      const { outputText } = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
        fileName: filename,
        compilerOptions: {
          module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true,
          experimentalDecorators: true, emitDecoratorMetadata: true,
        },
      });
      module._compile(outputText, filename);
    };
    const { startTestApp } = require(${JSON.stringify(resolve(__dirname, '../support/test-app.ts'))});
    (async () => {
      const t = await startTestApp();
      try {
        const response = await t.http.get('/docs-json');
        if (response.status !== 200) throw new Error('GET /docs-json answered ' + response.status);
        fs.writeFileSync(${JSON.stringify(out)}, JSON.stringify(response.body));
      } finally {
        await t.close();
      }
    })().then(() => process.exit(0), (error) => { console.error(error); process.exit(1); });
  `;
  try {
    execFileSync(process.execPath, ['-e', script], {
      cwd: resolve(__dirname, '../..'),
      env: { ...process.env, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 120_000,
    });
    return JSON.parse(readFileSync(out, 'utf8')) as OpenApiDocument;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`Could not read the served OpenAPI document: ${(error as Error).message}\n${stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const DOCUMENT = fetchServedDocument();

function deref(schema: Schema | undefined): Schema {
  let current = schema ?? {};
  for (let depth = 0; depth < 20; depth += 1) {
    if (current.$ref) {
      const name = current.$ref.replace('#/components/schemas/', '');
      current = { ...DOCUMENT.components?.schemas?.[name], ...withoutKey(current, '$ref') };
    } else if (current.allOf?.length === 1) {
      current = { ...deref(current.allOf[0]), ...withoutKey(current, 'allOf') };
    } else return current;
  }
  throw new Error('Schema reference loop');
}

function withoutKey<T extends object>(object: T, key: keyof T): Partial<T> {
  const copy = { ...object };
  delete copy[key];
  return copy;
}

/** The JSON types a schema accepts. */
function typesOf(schema: Schema): Set<string> {
  const resolved = deref(schema);
  const variants = resolved.oneOf ?? resolved.anyOf;
  const types = variants
    ? new Set([...variants].flatMap((variant) => [...typesOf(variant)]))
    : resolved.type === 'integer'
      ? new Set(['number'])
      : resolved.type
        ? new Set([resolved.type])
        : resolved.properties
          ? new Set(['object'])
          : resolved.enum
            ? new Set(resolved.enum.map((value) => (value === null ? 'null' : typeof value)))
            : new Set<string>();
  if (types.size && (resolved.nullable || schema.nullable)) types.add('null');
  return types;
}

function jsonSchemaOf(operation: Operation): Schema | undefined {
  const schema = operation.requestBody?.content?.['application/json']?.schema;
  return schema ? deref(schema) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

interface Expectation {
  /** The exact status (or one of them); otherwise any 4xx. */
  status?: number | number[];
  /** `details` must be a non-empty list naming each of these fields (or a part of it, e.g. `rules.0`). */
  fields?: string[];
  /** The operation has nothing to break: a 2xx is fine, a 5xx or a leak is not. */
  baseline?: boolean;
}

interface BadRequest {
  name: string;
  /** Values for path parameters that replace the real ones. */
  pathParams?: Record<string, string>;
  query?: string;
  /** A JSON body, sent as application/json. */
  body?: unknown;
  /** A raw body with its content type. */
  raw?: { contentType: string; text: string };
  expect: Expectation;
}

interface OperationUnderTest {
  method: Method;
  path: string;
  operation: Operation;
  title: string;
  cases: BadRequest[];
}

const UNKNOWN = 'notARealField';
const LONG_UNDECLARED = 3000; // well over any sensible limit, well under BODY_LIMIT_BYTES
const BODY_LIMIT_BYTES = 4096;

/** Values of a JSON type other than the ones a field accepts. */
function wrongTypeValues(schema: Schema): Array<{ label: string; value: unknown }> {
  const accepted = typesOf(schema);
  if (!accepted.size) return [];
  const candidates: Array<{ type: string; label: string; value: unknown }> = [
    { type: 'number', label: 'a number', value: 12345 },
    { type: 'string', label: 'a string', value: 'not-the-right-type' },
    { type: 'boolean', label: 'a boolean', value: true },
    { type: 'object', label: 'an object', value: { unexpected: 'object' } },
    { type: 'array', label: 'an array', value: [12345] },
    // Leaving a field out and sending null differ: null is only for fields the document calls nullable.
    { type: 'null', label: 'null', value: null },
  ];
  return candidates
    .filter((candidate) => !accepted.has(candidate.type))
    .map(({ label, value }) => ({ label, value }));
}

/** Invalid values for one body field, each wrapped into a whole body by `wrap`. */
function fieldCases(name: string, rawSchema: Schema, wrap: (value: unknown) => unknown, depth: number): BadRequest[] {
  const schema = deref(rawSchema);
  const field = name;
  const cases: BadRequest[] = [];
  const invalid = (label: string, value: unknown, exact = true): BadRequest => ({
    name: `body field "${field}" ${label}`,
    body: wrap(value),
    expect: exact ? { status: 400, fields: [field] } : {},
  });

  for (const { label, value } of wrongTypeValues(schema)) cases.push(invalid(`is ${label}`, value));

  const accepted = typesOf(schema);
  // Text PostgreSQL cannot keep (NUL; no UTF-8 for a lone surrogate): named as the field's fault, not failed in the statement.
  if (accepted.has('string')) {
    cases.push(invalid('holds the NUL character', 'a\u0000b'));
    cases.push(invalid('holds an unpaired surrogate', 'a\ud800b'));
  }
  if (accepted.has('string') && accepted.size === 1) {
    if (schema.enum) cases.push(invalid('is not one of its allowed values', 'not-a-valid-value'));
    if (schema.format === 'email') cases.push(invalid('is not an email address', 'not-an-email'));
    if (schema.format === 'uuid') cases.push(invalid('is not a UUID', 'not-a-uuid'));
    if (schema.format === 'date-time' || schema.format === 'date') cases.push(invalid('is not a date', 'not-a-date'));
    if (schema.minLength && schema.minLength > 1) cases.push(invalid(`is shorter than minLength ${schema.minLength}`, 'x'.repeat(schema.minLength - 1)));
    if (schema.maxLength !== undefined && schema.maxLength + 100 > BODY_LIMIT_BYTES) {
      // Longer than the body limit this suite runs with: the body limit answers first.
      cases.push({ name: `body field "${field}" is longer than maxLength ${schema.maxLength} (over the body limit)`, body: wrap('x'.repeat(schema.maxLength + 1)), expect: { status: 413 } });
    } else if (schema.maxLength !== undefined) {
      cases.push(invalid(`is longer than maxLength ${schema.maxLength}`, 'x'.repeat(schema.maxLength + 1)));
    } else if (!schema.enum && !schema.format) {
      // No declared limit: a very long value must still be a client error, never a crash.
      cases.push(invalid(`is ${LONG_UNDECLARED} characters long (no declared maxLength)`, 'x'.repeat(LONG_UNDECLARED), false));
    }
  }
  if (accepted.has('number') && accepted.size === 1) {
    if (schema.minimum !== undefined) cases.push(invalid(`is below minimum ${schema.minimum}`, schema.minimum - 1));
    if (schema.maximum !== undefined) cases.push(invalid(`is above maximum ${schema.maximum}`, schema.maximum + 1));
  }
  if (accepted.has('array') && accepted.size === 1 && schema.items) {
    const items = deref(schema.items);
    const itemTypes = typesOf(items);
    if (itemTypes.has('string') && itemTypes.size === 1) {
      if (items.format === 'uuid') cases.push(invalid('holds a value that is not a UUID', ['not-a-uuid']));
      if (items.enum) cases.push(invalid('holds a value outside its allowed values', ['not-a-valid-value']));
      cases.push(invalid('holds a number instead of a string', [12345]));
    }
    if (itemTypes.has('object') && itemTypes.size === 1 && items.properties && depth < 2) {
      const element = (value: unknown) => wrap([value]);
      cases.push(invalid('holds a string instead of an object', ['not-an-object']));
      if (items.required?.length) {
        cases.push({
          name: `body field "${field}" holds an empty object (missing required ${items.required.join(', ')})`,
          body: element({}),
          expect: { status: 400, fields: items.required.map((required) => `${field}.0.${required}`) },
        });
      }
      cases.push({
        name: `body field "${field}" holds an object with an unknown field`,
        body: element({ [UNKNOWN]: 'x' }),
        expect: { status: 400, fields: [`${field}.0.${UNKNOWN}`] },
      });
      for (const [nested, nestedSchema] of Object.entries(items.properties)) {
        cases.push(...fieldCases(`${field}.0.${nested}`, nestedSchema, (value) => element({ [nested]: value }), depth + 1));
      }
    }
  }
  return cases;
}

function bodyCases(schema: Schema, bodyRequired: boolean): BadRequest[] {
  const cases: BadRequest[] = [];
  const required = schema.required ?? [];
  const properties = schema.properties ?? {};
  const firstString = Object.entries(properties).find(([, property]) => typesOf(property).has('string'))?.[0] ?? 'padding';

  if (required.length) {
    cases.push({ name: 'empty object (every required field missing)', body: {}, expect: { status: 400, fields: required } });
  }
  if (bodyRequired || required.length) {
    // The document declares the body required: leaving it out is not an empty update.
    cases.push({ name: 'no body at all (the requestBody is required)', expect: { status: 400, fields: ['body'] } });
  }
  for (const [name, property] of Object.entries(properties)) {
    cases.push(...fieldCases(name, property, (value) => ({ [name]: value }), 0));
  }
  cases.push({ name: `unknown extra field "${UNKNOWN}"`, body: { [UNKNOWN]: 'x' }, expect: { status: 400, fields: [UNKNOWN] } });
  cases.push({
    name: `oversized body (10 KB string in "${firstString}", limit ${BODY_LIMIT_BYTES} bytes)`,
    body: { [firstString]: 'x'.repeat(10 * 1024) },
    expect: { status: 413 },
  });
  // Nested deeper than any body needs: named where the nesting goes too deep, not a stack overflow.
  const deep = (levels: number): unknown => (levels === 0 ? {} : { n: deep(levels - 1) });
  cases.push({
    name: `a value nested ${MAX_NESTING + 8} levels deep in "${firstString}"`,
    body: { [firstString]: deep(MAX_NESTING + 8) },
    expect: { status: 400, fields: [[firstString, ...Array<string>(MAX_NESTING - 1).fill('n')].join('.')] },
  });
  cases.push({ name: 'malformed JSON', raw: { contentType: 'application/json', text: '{"a":' }, expect: { status: 400 } });
  cases.push({ name: 'a JSON array instead of an object', raw: { contentType: 'application/json', text: '[{}]' }, expect: { status: 400, fields: ['body'] } });
  cases.push({ name: 'an empty JSON array instead of an object', raw: { contentType: 'application/json', text: '[]' }, expect: { status: 400, fields: ['body'] } });
  cases.push({ name: 'a JSON string instead of an object', raw: { contentType: 'application/json', text: '"just a string"' }, expect: { status: 400 } });
  cases.push({ name: 'a JSON number instead of an object', raw: { contentType: 'application/json', text: '42' }, expect: { status: 400 } });
  cases.push({ name: 'JSON null instead of an object', raw: { contentType: 'application/json', text: 'null' }, expect: { status: 400, fields: ['body'] } });
  cases.push({ name: 'an empty body sent as application/json', raw: { contentType: 'application/json', text: '' }, expect: { status: 400 } });
  cases.push({
    name: 'a __proto__ key (prototype pollution attempt)',
    raw: { contentType: 'application/json', text: '{"__proto__":{"isAdmin":true}}' },
    expect: { status: 400, fields: ['__proto__'] },
  });
  // Bodies are JSON only: anything else is refused before it is read.
  cases.push({ name: 'a text/plain body', raw: { contentType: 'text/plain', text: 'not json' }, expect: { status: 415 } });
  cases.push({ name: 'a form-urlencoded body', raw: { contentType: 'application/x-www-form-urlencoded', text: `${firstString}=x` }, expect: { status: 415 } });
  cases.push({ name: 'an XML body', raw: { contentType: 'application/xml', text: '<a/>' }, expect: { status: 415 } });
  return cases;
}

function queryCases(parameters: Parameter[]): BadRequest[] {
  const cases: BadRequest[] = [];
  const invalid = (name: string, value: string, label: string): BadRequest => ({
    name: `query ${name}=${value.length > 40 ? `<${value.length} characters>` : value.replaceAll('\u0000', '\\u0000')} (${label})`,
    query: `${encodeURIComponent(name)}=${encodeURIComponent(value)}`,
    expect: { status: 400, fields: [name] },
  });
  for (const parameter of parameters) {
    const schema = deref(parameter.schema);
    const types = typesOf(schema);
    const { name } = parameter;
    if (types.has('number')) {
      cases.push(invalid(name, 'abc', 'not a number'));
      cases.push(invalid(name, '-1', 'negative'));
      // Only plain decimal digits are a number: what Number() would also read is refused.
      for (const [value, label] of [['', 'empty'], ['0x2', 'hexadecimal'], ['1e1', 'exponent'], ['1.5', 'a fraction'], [' 1', 'padded']]) {
        if (schema.type !== 'integer' && label === 'a fraction') continue;
        cases.push(invalid(name, value, label));
      }
      if (schema.minimum !== undefined && schema.minimum > 0) cases.push(invalid(name, String(schema.minimum - 1), `below minimum ${schema.minimum}`));
      cases.push(invalid(name, String(Math.max(100_000, (schema.maximum ?? 0) * 10)), 'far above any maximum'));
    }
    if (types.has('boolean')) cases.push(invalid(name, 'maybe', 'not a boolean'));
    if (types.has('string')) {
      cases.push(invalid(name, 'a\u0000b', 'holds the NUL character'));
      if (schema.enum) cases.push(invalid(name, 'not-a-valid-value', 'not one of its allowed values'));
      if (schema.format === 'uuid') cases.push(invalid(name, 'not-a-uuid', 'not a UUID'));
      if (schema.format === 'email') cases.push(invalid(name, 'not-an-email', 'not an email address'));
      if (schema.maxLength !== undefined) cases.push(invalid(name, 'x'.repeat(schema.maxLength + 1), `longer than maxLength ${schema.maxLength}`));
      if (name === 'q' || schema.maxLength !== undefined) cases.push(invalid(name, 'x'.repeat(10_000), 'very long'));
      if (name === 'sort') {
        cases.push(invalid(name, UNKNOWN, 'unknown sort field'));
        cases.push(invalid(name, `-${UNKNOWN}`, 'unknown sort field, descending'));
        cases.push(invalid(name, 'name; DROP TABLE users', 'not a list of field names'));
      }
    }
    const valid = types.has('number') ? '1' : types.has('boolean') ? 'true' : schema.enum ? String(schema.enum[0]) : schema.format === 'uuid' ? randomUUID() : schema.format === 'email' ? 'a@example.com' : 'a';
    cases.push({
      name: `query ${name} given twice`,
      query: `${encodeURIComponent(name)}=${encodeURIComponent(valid)}&${encodeURIComponent(name)}=${encodeURIComponent(valid)}`,
      expect: { status: 400, fields: [name] },
    });
  }
  cases.push({ name: `unknown query parameter "${UNKNOWN}"`, query: `${UNKNOWN}=1`, expect: { status: 400, fields: [UNKNOWN] } });
  return cases;
}

function isIdParameter(parameter: Parameter): boolean {
  return parameter.name === 'id' || /Id$/.test(parameter.name) || deref(parameter.schema).format === 'uuid';
}

function pathCases(method: Method, parameters: Parameter[], hasBody: boolean): BadRequest[] {
  const cases: BadRequest[] = [];
  for (const parameter of parameters) {
    const schema = deref(parameter.schema);
    // With a body, send the empty object: it is either invalid or a no-op, never a real change.
    const body = hasBody ? {} : undefined;
    cases.push({ name: `path ${parameter.name} holds the NUL character`, pathParams: { [parameter.name]: 'a\u0000b' }, body, expect: { status: 400, fields: [parameter.name] } });
    if (isIdParameter(parameter)) {
      cases.push({ name: `path ${parameter.name}=not-a-uuid`, pathParams: { [parameter.name]: 'not-a-uuid' }, body, expect: { status: 400, fields: [parameter.name] } });
      cases.push({ name: `path ${parameter.name}=' OR 1=1 --`, pathParams: { [parameter.name]: "' OR 1=1 --" }, body, expect: { status: 400, fields: [parameter.name] } });
      if (method === 'get') {
        cases.push({ name: `path ${parameter.name} is a UUID of nothing`, pathParams: { [parameter.name]: randomUUID() }, expect: { status: 404 } });
      }
    } else if (schema.enum) {
      cases.push({ name: `path ${parameter.name}=not-a-valid-value (outside its enum)`, pathParams: { [parameter.name]: 'not-a-valid-value' }, body, expect: {} });
    }
  }
  return cases;
}

function operationsOf(document: OpenApiDocument): OperationUnderTest[] {
  const result: OperationUnderTest[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const parameters = operation.parameters ?? [];
      const bodySchema = jsonSchemaOf(operation);
      const cases = [
        ...pathCases(method, parameters.filter((p) => p.in === 'path'), Boolean(bodySchema)),
        ...(parameters.some((p) => p.in === 'query') ? queryCases(parameters.filter((p) => p.in === 'query')) : []),
        ...(bodySchema ? bodyCases(bodySchema, operation.requestBody?.required === true) : []),
      ];
      if (!cases.length) {
        // Nothing declared to break: it must still shrug off junk without a 5xx or a leak.
        cases.push({ name: 'undeclared query parameter (nothing to break)', query: `${UNKNOWN}=1`, expect: { baseline: true } });
      }
      result.push({ method, path, operation, cases, title: `${method.toUpperCase()} ${path}${operation.operationId ? ` (${operation.operationId})` : ''}` });
    }
  }
  return result;
}

const OPERATIONS = operationsOf(DOCUMENT);

// ---------------------------------------------------------------------------------------------
// Running them
// ---------------------------------------------------------------------------------------------

const LEAKS = ['    at ', 'passwordHash', 'password_hash', 'tokenHash', 'token_hash', '$argon2'];

describe('bad input on every operation of the served OpenAPI document', () => {
  let t: TestApp;
  let admin: Session;
  /** The portal is for client accounts only: its operations are sent as a client. */
  let client: Session;
  let roleId: string;
  const pathValues = new Map<string, string>();
  let before: { user: unknown; role: unknown; features: unknown };

  beforeAll(async () => {
    t = await startTestApp({ BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES) });
    admin = await register(t, 'badinput');
    client = await register(t, 'badinputclient');
    const role = await t.http.post('/api/v1/roles').set(admin.auth).send({ name: 'Bad input target', rules: [] }).expect(201);
    roleId = role.body.id;
    for (const path of Object.keys(DOCUMENT.paths)) {
      for (const match of path.matchAll(/\{([^}]+)\}/g)) pathValues.set(`${path}#${match[1]}`, await realValue(path, match[1]!));
    }
    before = await snapshot();
  });
  afterAll(() => t?.close());

  /** A real value for a path parameter: our own records for known resources, else the first listed one. */
  async function realValue(path: string, name: string): Promise<string> {
    const collection = path.slice(0, path.indexOf(`/{${name}}`));
    const resource = collection.split('/').pop();
    if (resource === 'users' && name === 'id') return admin.userId;
    if (resource === 'roles' && name === 'id') return roleId;
    if (resource === 'features' && name === 'key') return 'visitors';
    const listed = await t.http.get(collection).set(admin.auth);
    const items: Array<Record<string, unknown>> = Array.isArray(listed.body) ? listed.body : Array.isArray(listed.body?.data) ? listed.body.data : [];
    const value = items.map((item) => item[name] ?? item.id ?? item.key).find((v) => typeof v === 'string');
    return (value as string | undefined) ?? randomUUID();
  }

  /** The records the bad input was aimed at, without timestamps. */
  async function snapshot(): Promise<{ user: unknown; role: unknown; features: unknown }> {
    const strip = (record: Record<string, unknown>) => {
      const { updatedAt: _updatedAt, lastLoginAt: _lastLoginAt, ...rest } = record;
      return rest;
    };
    const user = await t.http.get(`/api/v1/users/${admin.userId}`).set(admin.auth).expect(200);
    const role = await t.http.get(`/api/v1/roles/${roleId}`).set(admin.auth).expect(200);
    const features = await t.http.get('/api/v1/features').set(admin.auth).expect(200);
    return { user: strip(user.body), role: strip(role.body), features: (features.body as Array<Record<string, unknown>>).map(strip) };
  }

  async function send(target: OperationUnderTest, badRequest: BadRequest): Promise<Response> {
    const path = target.path.replace(/\{([^}]+)\}/g, (_, name: string) =>
      encodeURIComponent(badRequest.pathParams?.[name] ?? pathValues.get(`${target.path}#${name}`) ?? randomUUID()),
    );
    const url = badRequest.query ? `${path}?${badRequest.query}` : path;
    let request = t.http[target.method](url);
    const session = target.operation['x-feature'] === 'client-portal' ? client : admin;
    if (target.operation.security?.some((scheme) => 'bearer' in scheme)) request = request.set(session.auth);
    if (badRequest.raw) return request.set('content-type', badRequest.raw.contentType).send(badRequest.raw.text);
    if (badRequest.body !== undefined) return request.send(badRequest.body as object);
    return request;
  }

  it('serves the same operations the cases were generated from', async () => {
    const served = await t.http.get('/docs-json').expect(200);
    const list = (document: OpenApiDocument) =>
      Object.entries(document.paths).flatMap(([path, item]) => HTTP_METHODS.filter((m) => item[m]).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    expect(list(served.body)).toEqual(list(DOCUMENT));
    expect(OPERATIONS.length).toBeGreaterThan(0);
  });

  describe.each(OPERATIONS.map((target) => [target.title, target] as const))('%s', (_title, target) => {
    it.each(target.cases.map((badRequest) => [badRequest.name, badRequest] as const))('%s', async (_name, badRequest) => {
      const response = await send(target, badRequest);
      const text = response.text ?? '';
      const summary = `${target.method.toUpperCase()} ${target.path} [${badRequest.name}] answered ${response.status}: ${text.slice(0, 600)}`;

      for (const leak of LEAKS) expect({ summary, leaks: text.includes(leak) ? leak : null }).toEqual({ summary, leaks: null });
      expect({ summary, serverError: response.status >= 500 }).toEqual({ summary, serverError: false });

      if (badRequest.expect.baseline && response.status < 400) return;
      const allowed = badRequest.expect.status === undefined ? undefined : ([] as number[]).concat(badRequest.expect.status);
      if (allowed) expect({ summary, status: allowed.includes(response.status) ? allowed : response.status }).toEqual({ summary, status: allowed });
      else expect({ summary, clientError: response.status >= 400 && response.status < 500 }).toEqual({ summary, clientError: true });

      // Generated clients know every answer: the status is one the operation documents.
      const documented = Object.keys(target.operation.responses ?? {});
      expect({ summary, documented: documented.includes(String(response.status)) }).toEqual({ summary, documented: true });

      // The shared error body.
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(text) as Record<string, unknown>;
      expect({ summary, statusCode: body.statusCode }).toEqual({ summary, statusCode: response.status });
      expect(typeof body.error === 'string' && body.error.length > 0).toBe(true);
      expect(typeof body.message === 'string' && body.message.length > 0).toBe(true);
      expect({ summary, code: typeof body.code }).toEqual({ summary, code: 'string' });
      if (body.details !== undefined) {
        expect(Array.isArray(body.details)).toBe(true);
        for (const detail of body.details as unknown[]) {
          expect(detail).toEqual({ field: expect.any(String), message: expect.any(String) });
          expect((detail as { message: string }).message.length).toBeGreaterThan(0);
        }
      }
      if (body.code === 'validation_failed') expect((body.details as unknown[] | undefined)?.length ?? 0).toBeGreaterThan(0);

      // Field errors name the offending field.
      if (badRequest.expect.fields) {
        const named = Array.isArray(body.details) ? (body.details as Array<{ field: string }>).map((detail) => detail.field) : [];
        const missing = badRequest.expect.fields.filter((field) => !named.some((name) => name === field || name.startsWith(`${field}.`)));
        expect({ summary, missing }).toEqual({ summary, missing: [] });
      }
    });
  });

  // Declared last, so it runs after every case above.
  it('left the admin, the target role and the features exactly as they were, and the admin and the client signed in', async () => {
    await t.http.get('/api/v1/auth/me').set(admin.auth).expect(200);
    await t.http.get('/api/v1/auth/me').set(client.auth).expect(200);
    expect(await snapshot()).toEqual(before);
  });
});
