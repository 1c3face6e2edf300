import { ArgumentMetadata, BadRequestException, Param, ParseUUIDPipe, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiParam } from '@nestjs/swagger';
import { getMetadataStorage } from 'class-validator';
import { LRUCache } from 'lru-cache';
import type { FieldErrorDto } from './error-response.dto';

/** Flattens class-validator errors to `{ field, message }` pairs with dotted paths. */
/** Constraints on a value's type; when one fails, the others say nothing useful. */
const TYPE_CONSTRAINTS = new Set(['isString', 'isInt', 'isNumber', 'isBoolean', 'isArray', 'isObject']);

export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldErrorDto[] {
  const result: FieldErrorDto[] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    // A required field left out: saying so beats listing every rule its value would have to meet.
    if (error.value === undefined && error.constraints && !error.constraints.whitelistValidation) {
      result.push({ field, message: 'is required' });
      continue;
    }
    // A value of the wrong type is told so, not also every rule a value of the right type must meet.
    const constraints = Object.entries(error.constraints ?? {});
    const wrongType = constraints.filter(([constraint]) => TYPE_CONSTRAINTS.has(constraint));
    for (const [constraint, message] of wrongType.length ? wrongType : constraints) {
      if (constraint === 'whitelistValidation') result.push({ field, message: 'is not an accepted field' });
      else result.push({ field, message: message.startsWith(`${error.property} `) ? message.slice(error.property.length + 1) : message });
    }
    if (error.children?.length) result.push(...flattenValidationErrors(error.children, field));
  }
  return result;
}

export class RequestValidationError extends BadRequestException {
  constructor(readonly details: FieldErrorDto[]) {
    super({ message: 'Validation failed', code: 'validation_failed', details });
  }
}

/** How many validated query strings are kept; each is a few hundred bytes. */
const KEPT_QUERIES = 1000;
/** Longer query strings (a large filter) are validated every time. */
const KEPT_QUERY_MAX_LENGTH = 2048;
/** Queries with these are validated every time: a keyset cursor names one position, which a scrolling client asks for once. */
const UNREPEATED_PARAMS = ['cursor'];

/**
 * A request body must be a JSON object; a missing, null or array body is not an empty update.
 *
 * Query strings repeat (every list's first page, a front end polling the same filter), and a
 * query object's validation is a pure function of its class and its values, so valid ones are
 * kept and handed out as copies: class-validator walks every registered class's rules for each
 * object it validates, a sixth of the CPU of a small list request.
 */
class RequestValidationPipe extends ValidationPipe {
  private readonly validQueries = new LRUCache<string, object>({ max: KEPT_QUERIES });
  private readonly classIds = new WeakMap<object, number>();
  private lastClassId = 0;

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'custom') {
      // Request data may not nest deeper than MAX_NESTING either, nor use reserved names as keys.
      const problem = firstProblem(value, metadata.type === 'body' ? '' : (metadata.data ?? ''), MAX_NESTING, true);
      if (problem) throw new RequestValidationError([{ field: problem.field || metadata.type, message: problem.message }]);
    }
    if (metadata.type === 'body' && metadata.metatype && metadata.metatype !== Object) {
      if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
        throw new RequestValidationError([{ field: 'body', message: 'must be a JSON object' }]);
      }
    }
    const key = this.queryKey(value, metadata);
    if (key === undefined) return this.checkedParsedQuery(lowerCaseUuids(await super.transform(value, metadata)), metadata);
    const kept = this.validQueries.get(key);
    if (kept) return copyOfQuery(kept);
    const validated = this.checkedParsedQuery(lowerCaseUuids(await super.transform(value, metadata)), metadata);
    // Kept as a copy of its own, so whatever a handler does to its object stays out of the next request's.
    if (isCopyableQuery(validated)) this.validQueries.set(key, copyOfQuery(validated));
    return validated;
  }

  /** A query parameter sent as JSON (a filter) holds strings and keys only once parsed: they are checked as a body's are. */
  private checkedParsedQuery<T>(validated: T, metadata: ArgumentMetadata): T {
    if (metadata.type !== 'query') return validated;
    const problem = firstProblem(validated, '', MAX_NESTING, true);
    if (problem) throw new RequestValidationError([{ field: problem.field || 'query', message: problem.message }]);
    return validated;
  }

  private queryKey(value: unknown, metadata: ArgumentMetadata): string | undefined {
    const metatype = metadata.metatype;
    if (metadata.type !== 'query' || !metatype || BUILT_IN_TYPES.has(metatype) || !isPlainObject(value)) return undefined;
    if (UNREPEATED_PARAMS.some((name) => Object.hasOwn(value, name))) return undefined;
    const values = JSON.stringify(value);
    if (values.length > KEPT_QUERY_MAX_LENGTH) return undefined;
    let id = this.classIds.get(metatype);
    if (id === undefined) this.classIds.set(metatype, (id = ++this.lastClassId));
    return `${id}\u0000${values}`;
  }
}

/** Per DTO class: its properties validated as UUIDs, and those validated as nested DTOs. */
const uuidProperties = new WeakMap<object, { uuids: string[]; nested: string[] }>();

function uuidPropertiesOf(type: object): { uuids: string[]; nested: string[] } {
  let found = uuidProperties.get(type);
  if (!found) {
    const metadata = getMetadataStorage().getTargetValidationMetadatas(type as new () => object, '', true, false);
    found = {
      uuids: [...new Set(metadata.filter((m) => m.name === 'isUuid').map((m) => m.propertyName))],
      nested: [...new Set(metadata.filter((m) => m.type === 'nestedValidation').map((m) => m.propertyName))],
    };
    uuidProperties.set(type, found);
  }
  return found;
}

/**
 * Writes validated UUIDs in lower case, as PostgreSQL returns them: a UUID sent in capitals
 * names the same row, and ids compared in the application (unchanged values, rule
 * conditions, references found) must agree with the database's.
 */
function lowerCaseUuids<T>(validated: T): T {
  if (validated === null || typeof validated !== 'object') return validated;
  if (Array.isArray(validated)) {
    validated.forEach(lowerCaseUuids);
    return validated;
  }
  const type = Object.getPrototypeOf(validated)?.constructor;
  if (!type || type === Object) return validated;
  const { uuids, nested } = uuidPropertiesOf(type);
  const record = validated as Record<string, unknown>;
  for (const property of uuids) {
    const value = record[property];
    if (typeof value === 'string') record[property] = value.toLowerCase();
    else if (Array.isArray(value)) record[property] = value.map((item) => (typeof item === 'string' ? item.toLowerCase() : item));
  }
  for (const property of nested) lowerCaseUuids(record[property]);
  return validated;
}

/** Text PostgreSQL cannot store: U+0000 (not in text nor jsonb) and unpaired UTF-16 surrogates (no UTF-8 for them). */
const UNSTORABLE = /[\u0000\uD800-\uDFFF]/u;

/**
 * How deeply request data may nest. Filter trees need a few levels; every walk of the data
 * (validation, copies, filter compiling) recurses, and a body nested thousands deep would
 * exhaust the stack.
 */
export const MAX_NESTING = 32;

interface DataProblem {
  field: string;
  message: string;
}

/**
 * Names every JavaScript object has (`constructor`, `toString`…), and `prototype`. Request data
 * may not use them as keys: the class conversion skips them and Nest's pipe deletes
 * `constructor` and `prototype`, so such a key would vanish unseen, an unknown field accepted or a
 * custom value not stored, instead of being refused.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);

/**
 * The first string (or key) PostgreSQL could not store, the first nesting deeper than
 * `maxNesting`, or (with `reservedKeys`) the first key of RESERVED_KEYS, as a dotted path with
 * the reason. Walked depth first in document order, without recursion.
 */
function firstProblem(value: unknown, path: string, maxNesting: number, reservedKeys = false): DataProblem | undefined {
  const pending: Array<{ value: unknown; path: string; depth: number; key?: boolean }> = [{ value, path, depth: 0 }];
  while (pending.length) {
    const current = pending.pop()!;
    if (typeof current.value === 'string') {
      const found = unstorableString(current.value, current.path);
      if (found) return found;
      if (current.key && reservedKeys && RESERVED_KEYS.has(current.value)) return { field: current.path, message: 'is not an accepted field (a reserved name)' };
      continue;
    }
    if (current.value === null || typeof current.value !== 'object' || current.value instanceof Date) continue;
    if (current.depth >= maxNesting) return { field: current.path, message: `nests deeper than ${maxNesting} levels` };
    const entries = Object.entries(current.value);
    for (let i = entries.length - 1; i >= 0; i -= 1) {
      const [key, item] = entries[i]!;
      const field = current.path ? `${current.path}.${key}` : key;
      pending.push({ value: item, path: field, depth: current.depth + 1 }, { value: key, path: field, depth: current.depth + 1, key: true });
    }
  }
  return undefined;
}

function unstorableString(text: string, field: string): DataProblem | undefined {
  const found = UNSTORABLE.exec(text);
  if (!found) return undefined;
  return { field, message: found[0] === '\u0000' ? 'must not contain the NUL character (\\u0000)' : 'must be well-formed Unicode (it holds an unpaired surrogate)' };
}

/**
 * The first string (or key) PostgreSQL could not store, as a dotted path with the reason:
 * the statement would fail (or the text be mangled) instead of the field being named.
 */
export function unstorableText(value: unknown, path = ''): DataProblem | undefined {
  return firstProblem(value, path, Number.POSITIVE_INFINITY);
}

const BUILT_IN_TYPES = new Set<unknown>([String, Number, Boolean, Array, Object]);

/** A plain object, or a parsed query string: fastify's parser makes those from an empty prototype without one of its own. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype === Object.prototype || prototype === null) return true;
  return Object.getPrototypeOf(prototype) === null && Reflect.ownKeys(prototype).length === 0;
}

/** A validated query object whose values are data (strings, numbers, dates, arrays and plain objects of them). */
function isCopyableQuery(value: unknown): value is object {
  if (value === null || typeof value !== 'object') return false;
  const isData = (item: unknown): boolean =>
    item === null || typeof item !== 'object' || item instanceof Date || (Array.isArray(item) ? item.every(isData) : isPlainObject(item) && Object.values(item).every(isData));
  return Object.values(value).every(isData);
}

/** A copy with the same class, its data values copied deeply (by hand: `structuredClone` costs several times more on these small values). */
function copyOfQuery<T>(item: T): T {
  if (item === null || typeof item !== 'object') return item;
  if (item instanceof Date) return new Date(item.getTime()) as T;
  if (Array.isArray(item)) return item.map(copyOfQuery) as T;
  const copy = Object.create(Object.getPrototypeOf(item) as object | null) as Record<string, unknown>;
  for (const key of Object.keys(item)) copy[key] = copyOfQuery((item as Record<string, unknown>)[key]);
  return copy as T;
}

/** Unknown fields are rejected, values are converted to their declared types. */
export function createValidationPipe(): ValidationPipe {
  return new RequestValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    // Values are kept on the errors only to tell a field left out from a wrong one.
    validationError: { target: false, value: true },
    exceptionFactory: (errors) => new RequestValidationError(flattenValidationErrors(errors)),
  });
}

/** A route parameter that is a UUID: checked as `uuidParam` does, and documented with its format. */
export function UuidParam(name = 'id'): ParameterDecorator {
  const pipe = uuidParam(name);
  return (target, method, index) => {
    Param(name, pipe)(target, method, index);
    ApiParam({ name, type: String, format: 'uuid' })(target, method!, Object.getOwnPropertyDescriptor(target, method!)!);
  };
}

/** Route parameters that must be UUIDs answer 400 with the parameter named, like any field. */
export function uuidParam(name = 'id'): ParseUUIDPipe {
  return new LowerCaseUuidPipe({ exceptionFactory: () => new RequestValidationError([{ field: name, message: 'must be a UUID' }]) });
}

class LowerCaseUuidPipe extends ParseUUIDPipe {
  override async transform(value: string, metadata: ArgumentMetadata): Promise<string> {
    return ((await super.transform(value, metadata)) as string).toLowerCase();
  }
}
