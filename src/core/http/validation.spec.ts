import type { ArgumentMetadata } from '@nestjs/common';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Max, MaxLength, Min, MinLength, ValidateNested } from 'class-validator';
import { createValidationPipe, RequestValidationError, uuidParam } from './validation';

class ListQuery {
  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value))
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number = 25;

  @IsOptional()
  @Transform(({ value }) => (typeof value === 'string' ? value.split(',') : value))
  @IsString({ each: true })
  tags?: string[];
}

class OtherQuery {
  @IsOptional()
  @IsIn(['a', 'b'])
  limit?: string;
}

class CursorQuery {
  @IsOptional()
  @IsString()
  cursor?: string;
}

class Body {
  @IsString()
  name!: string;
}

const query = (metatype: ArgumentMetadata['metatype']): ArgumentMetadata => ({ type: 'query', metatype });

describe('request validation pipe: kept query objects', () => {
  it('answers a repeated query from what it kept, as a fresh instance with the same values', async () => {
    const pipe = createValidationPipe();
    const validate = jest.spyOn(pipe as unknown as { validate: () => unknown }, 'validate');
    const first = (await pipe.transform({ limit: '10', tags: 'x,y' }, query(ListQuery))) as ListQuery;
    const second = (await pipe.transform({ limit: '10', tags: 'x,y' }, query(ListQuery))) as ListQuery;
    expect(validate).toHaveBeenCalledTimes(1);
    expect(second).toBeInstanceOf(ListQuery);
    expect(second).toEqual(first);
    expect(second).not.toBe(first);
    expect(second.tags).not.toBe(first.tags);
    const empty = (await pipe.transform({}, query(ListQuery))) as ListQuery;
    expect(empty.limit).toBe(25);
  });

  it('keeps parsed query strings, whose objects come from an empty null prototype', async () => {
    // How fastify's query string parser builds them.
    const Parsed = function (this: Record<string, unknown>) {} as unknown as { new (): Record<string, unknown>; prototype: object };
    Parsed.prototype = Object.create(null) as object;
    const parsed = () => Object.assign(new Parsed(), { limit: '10' });
    const pipe = createValidationPipe();
    const validate = jest.spyOn(pipe as unknown as { validate: () => unknown }, 'validate');
    await pipe.transform(parsed(), query(ListQuery));
    await expect(pipe.transform(parsed(), query(ListQuery))).resolves.toMatchObject({ limit: 10 });
    expect(validate).toHaveBeenCalledTimes(1);
  });

  it('keeps nothing a handler changes on its object', async () => {
    const pipe = createValidationPipe();
    const first = (await pipe.transform({ tags: 'x' }, query(ListQuery))) as ListQuery;
    first.tags!.push('changed');
    first.limit = 99;
    const again = (await pipe.transform({ tags: 'x' }, query(ListQuery))) as ListQuery;
    expect(again).toMatchObject({ tags: ['x'], limit: 25 });
  });

  it('rejects an invalid query every time, and tells classes with the same values apart', async () => {
    const pipe = createValidationPipe();
    for (let i = 0; i < 2; i += 1) await expect(pipe.transform({ limit: '500' }, query(ListQuery))).rejects.toBeInstanceOf(RequestValidationError);
    await expect(pipe.transform({ limit: 'a' }, query(OtherQuery))).resolves.toEqual(Object.assign(new OtherQuery(), { limit: 'a' }));
    await expect(pipe.transform({ limit: 'a' }, query(ListQuery))).rejects.toBeInstanceOf(RequestValidationError);
    await expect(pipe.transform({ unknown: '1' }, query(ListQuery))).rejects.toMatchObject({ details: [{ field: 'unknown', message: 'is not an accepted field' }] });
  });

  it('validates queries with a keyset cursor every time: scrolling asks for each position once', async () => {
    const pipe = createValidationPipe();
    const validate = jest.spyOn(pipe as unknown as { validate: () => unknown }, 'validate');
    await pipe.transform({ cursor: 'abc' }, query(CursorQuery));
    await pipe.transform({ cursor: 'abc' }, query(CursorQuery));
    expect(validate).toHaveBeenCalledTimes(2);
  });

  it('validates bodies every time', async () => {
    const pipe = createValidationPipe();
    const validate = jest.spyOn(pipe as unknown as { validate: () => unknown }, 'validate');
    await pipe.transform({ name: 'a' }, { type: 'body', metatype: Body });
    await pipe.transform({ name: 'a' }, { type: 'body', metatype: Body });
    expect(validate).toHaveBeenCalledTimes(2);
  });
});

describe('request validation pipe: text PostgreSQL cannot store', () => {
  const rejection = async (promise: Promise<unknown>) => {
    const error = (await promise.then(
      () => undefined,
      (caught: unknown) => caught,
    )) as RequestValidationError | undefined;
    expect(error).toBeInstanceOf(RequestValidationError);
    return error!.details;
  };

  it('names the body field that holds it, however deep', async () => {
    const pipe = createValidationPipe();
    expect(await rejection(pipe.transform({ name: 'a\u0000b' }, { type: 'body', metatype: Body }))).toEqual([
      { field: 'name', message: 'must not contain the NUL character (\\u0000)' },
    ]);
    expect(await rejection(pipe.transform({ name: 'a', extra: { notes: ['ok', '\u0000'] } }, { type: 'body', metatype: Body }))).toEqual([
      { field: 'extra.notes.1', message: 'must not contain the NUL character (\\u0000)' },
    ]);
    expect(await rejection(pipe.transform({ name: 'a', ['k\u0000']: 1 }, { type: 'body', metatype: Body }))).toEqual([
      { field: 'k\u0000', message: 'must not contain the NUL character (\\u0000)' },
    ]);
  });

  it('names the query parameter or route parameter', async () => {
    const pipe = createValidationPipe();
    expect(await rejection(pipe.transform({ tags: 'x,\u0000' }, query(ListQuery)))).toEqual([
      { field: 'tags', message: 'must not contain the NUL character (\\u0000)' },
    ]);
    expect(await rejection(pipe.transform('\u0000', { type: 'param', data: 'key', metatype: String }))).toEqual([
      { field: 'key', message: 'must not contain the NUL character (\\u0000)' },
    ]);
  });

  it('names a field holding an unpaired surrogate, which has no UTF-8 form', async () => {
    const pipe = createValidationPipe();
    expect(await rejection(pipe.transform({ name: 'a\ud800b' }, { type: 'body', metatype: Body }))).toEqual([
      { field: 'name', message: 'must be well-formed Unicode (it holds an unpaired surrogate)' },
    ]);
    expect(await rejection(pipe.transform({ name: 'ok', notes: ['\udc00'] }, { type: 'body', metatype: Body }))).toEqual([
      { field: 'notes.0', message: 'must be well-formed Unicode (it holds an unpaired surrogate)' },
    ]);
  });

  it('lets every other character through', async () => {
    const pipe = createValidationPipe();
    await expect(pipe.transform({ name: 'tab\tline\nemoji 💥 \u0001' }, { type: 'body', metatype: Body })).resolves.toEqual({ name: 'tab\tline\nemoji 💥 \u0001' });
  });
});

class Selection {
  @IsUUID('all', { each: true })
  ids: string[];
}

class Reference {
  @IsUUID('all')
  statusId: string;

  @IsOptional()
  @IsString()
  note?: string;

  @ValidateNested()
  @Type(() => Selection)
  selection: Selection;
}

describe('request validation pipe: UUIDs', () => {
  const UPPER = 'D61A5190-7C1E-4A4B-9E0F-0A1B2C3D4E5F';

  it('writes UUIDs in lower case, in lists and nested objects too, and leaves other text as sent', async () => {
    const pipe = createValidationPipe();
    const validated = (await pipe.transform({ statusId: UPPER, note: UPPER, selection: { ids: [UPPER] } }, { type: 'body', metatype: Reference })) as Reference;
    expect(validated.statusId).toBe(UPPER.toLowerCase());
    expect(validated.selection.ids).toEqual([UPPER.toLowerCase()]);
    expect(validated.note).toBe(UPPER);
  });

  it('writes a UUID route parameter in lower case', async () => {
    await expect(uuidParam().transform(UPPER, { type: 'param', data: 'id' })).resolves.toBe(UPPER.toLowerCase());
  });
});

class Named {
  @IsString()
  @MinLength(2)
  @MaxLength(5)
  name!: string;
}

describe('request validation pipe: field errors', () => {
  const details = async (body: unknown) => {
    try {
      await createValidationPipe().transform(body, { type: 'body', metatype: Named });
    } catch (error) {
      return (error as RequestValidationError).details;
    }
    throw new Error('accepted');
  };

  it('tells a value of the wrong type only that', async () => {
    expect(await details({ name: 12345678 })).toEqual([{ field: 'name', message: 'must be a string' }]);
  });

  it('lists every rule a value of the right type breaks', async () => {
    expect(await details({ name: 'x' })).toEqual([{ field: 'name', message: 'must be longer than or equal to 2 characters' }]);
  });

  it('tells a field left out that it is required', async () => {
    expect(await details({})).toEqual([{ field: 'name', message: 'is required' }]);
  });
});
