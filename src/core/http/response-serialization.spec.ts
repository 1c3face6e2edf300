import 'reflect-metadata';
import { Controller, Get, Module, Post } from '@nestjs/common';
import { DiscoveryModule, NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApiCreatedResponse, ApiExtraModels, ApiOkResponse, ApiOperation, ApiProperty, DocumentBuilder, getSchemaPath, SwaggerModule } from '@nestjs/swagger';
import { attachResponseSchemas, firstDifference, ResponseContractCheck, useResponseSerializers } from './response-serialization';

class OwnerDto {
  @ApiProperty() name!: string;
}

enum Kind {
  Small = 'small',
  Large = 'large',
}

// A tree whose nodes are one of two objects, told apart by their required properties.
const RULE_NODE = { oneOf: [{ $ref: getSchemaPath('GroupDto') }, { $ref: getSchemaPath('LeafDto') }] };

class LeafDto {
  @ApiProperty() field!: string;
  @ApiProperty({ type: 'number', required: false }) value?: number;
}

class GroupDto {
  @ApiProperty({ type: 'array', items: RULE_NODE }) all!: unknown[];
}

class ItemDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  // Nullable without a type of its own: an enum by reference, and a choice of types.
  @ApiProperty({ enum: Kind, enumName: 'Kind', nullable: true, required: false }) kind?: Kind | null;
  @ApiProperty({ nullable: true, required: false, oneOf: [{ type: 'string' }, { type: 'number' }] }) value?: string | number | null;
  @ApiProperty({ type: String, format: 'date-time' }) createdAt!: Date;
  @ApiProperty({ type: OwnerDto, nullable: true }) owner!: OwnerDto | null;
  @ApiProperty({ type: 'object', additionalProperties: true }) extra!: Record<string, unknown>;
  @ApiProperty({ ...RULE_NODE, nullable: true, required: false }) rule?: unknown;
}

const created = new Date('2026-11-21T10:11:12.345Z');
let answer: Record<string, unknown> = {};

@ApiExtraModels(GroupDto, LeafDto)
@Controller('items')
class ItemsController {
  @Get()
  @ApiOperation({ operationId: 'listItems' })
  @ApiOkResponse({ type: ItemDto, isArray: true })
  list(): unknown {
    return [answer];
  }

  @Post()
  @ApiCreatedResponse({ type: ItemDto })
  create(): unknown {
    return answer;
  }

  @Get('plain')
  plain(): unknown {
    return { anything: created, secret: 'kept' };
  }
}

@Module({ imports: [DiscoveryModule], controllers: [ItemsController] })
class ItemsModule {}

const logged: string[] = [];
const logger = { error: (message: string) => logged.push(message), log() {}, warn() {} };

async function boot(check: ResponseContractCheck): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter();
  const app = await NestFactory.create<NestFastifyApplication>(ItemsModule, adapter, { logger: false });
  const document = SwaggerModule.createDocument(app, new DocumentBuilder().build());
  useResponseSerializers(adapter.getInstance(), check, logger);
  expect(attachResponseSchemas(app, document)).toEqual({ attached: ['listItems', 'ItemsController_create'], unmatched: [] });
  await app.init();
  await adapter.getInstance().ready();
  return app;
}

describe('response serialization from the documented schemas', () => {
  let app: NestFastifyApplication | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  const request = (method: 'GET' | 'POST', url: string) => app!.getHttpAdapter().getInstance().inject({ method, url });

  it('writes what JSON.stringify writes for an answer that matches its schema', async () => {
    app = await boot('throw');
    answer = { id: '0b9d7c1e-0000-4000-8000-000000000001', createdAt: created, owner: { name: 'Ann' }, extra: { a: [1, { b: null }] } };
    const listed = await request('GET', '/items');
    expect(listed.statusCode).toBe(200);
    expect(JSON.parse(listed.body)).toEqual(JSON.parse(JSON.stringify([answer])));
    expect(listed.body).toContain('"createdAt":"2026-11-21T10:11:12.345Z"');
    answer = { ...answer, owner: null, kind: Kind.Large, value: 3 };
    expect(JSON.parse((await request('GET', '/items')).body)).toEqual(JSON.parse(JSON.stringify([answer])));
    answer = { ...answer, kind: null, value: 'three' };
    expect(JSON.parse((await request('GET', '/items')).body)).toEqual(JSON.parse(JSON.stringify([answer])));
    answer = { ...answer, value: null };
    const posted = await request('POST', '/items');
    expect(posted.statusCode).toBe(201);
    expect(JSON.parse(posted.body)).toEqual({ ...JSON.parse(JSON.stringify(answer)), owner: null });
  });

  it('never sends a property the document does not name', async () => {
    app = await boot('off');
    answer = { id: 'x', createdAt: created, owner: { name: 'Ann', passwordHash: 'h' }, extra: {}, internal: 42 };
    const listed = await request('GET', '/items');
    expect(listed.statusCode).toBe(200);
    expect(JSON.parse(listed.body)).toEqual([{ id: 'x', createdAt: created.toISOString(), owner: { name: 'Ann' }, extra: {} }]);
  });

  it('outside production, an answer that differs from its schema fails with the route and the place', async () => {
    app = await boot('throw');
    logged.length = 0;
    answer = { id: 'x', createdAt: created, owner: { name: 'Ann', passwordHash: 'h' }, extra: {} };
    const failing = await request('GET', '/items');
    expect(failing.statusCode).toBe(500);
    expect(logged).toContain('The 200 answer of GET /items does not match its documented schema at [0].owner.passwordHash');
  });

  it('a documented property missing from an answer fails it in tests, and is left out elsewhere', async () => {
    answer = { id: 'x', createdAt: created, extra: {} };
    app = await boot('throw');
    expect((await request('GET', '/items')).statusCode).toBe(500);
    await app.close();
    for (const check of ['off', 'log'] as const) {
      app = await boot(check);
      const listed = await request('GET', '/items');
      expect(listed.statusCode).toBe(200);
      expect(JSON.parse(listed.body)).toEqual([{ id: 'x', createdAt: created.toISOString(), extra: {} }]);
      await app.close();
    }
    app = undefined;
  });

  it('writes a union of objects (a rule tree) as it is, in tests and in production alike', async () => {
    answer = { id: 'x', createdAt: created, owner: null, extra: {}, rule: { all: [{ field: 'a', value: 1 }, { all: [{ field: 'b' }] }] } };
    for (const check of ['throw', 'log', 'off'] as const) {
      app = await boot(check);
      const listed = await request('GET', '/items');
      expect({ check, status: listed.statusCode }).toEqual({ check, status: 200 });
      expect(JSON.parse(listed.body)).toEqual(JSON.parse(JSON.stringify([answer])));
      await app.close();
    }
    app = undefined;
  });

  it('leaves routes without a documented answer to JSON.stringify', async () => {
    app = await boot('throw');
    const plain = await request('GET', '/items/plain');
    expect(JSON.parse(plain.body)).toEqual({ anything: created.toISOString(), secret: 'kept' });
  });
});

describe('firstDifference', () => {
  it('names the first differing path, or nothing when equal', () => {
    expect(firstDifference({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }, '')).toBeUndefined();
    expect(firstDifference({ a: [1, { b: 2 }] }, { a: [1, { b: 3 }] }, '')).toBe('a[1].b');
    expect(firstDifference({ a: 1 }, { a: 1, b: 2 }, '')).toBe('b');
    expect(firstDifference({ a: '1' }, { a: 1 }, '')).toBe('a');
    expect(firstDifference([1], [1, 2], '')).toBe('');
    expect(firstDifference({ a: null }, { a: {} }, '')).toBe('a');
  });
});
