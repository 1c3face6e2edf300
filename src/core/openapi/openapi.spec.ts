import type { OpenAPIObject } from '@nestjs/swagger';
import { documentForFeatures } from './openapi';

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });

/**
 * contacts and invoicing are features; /health and /auth belong to no feature.
 * ContactDto is shared by contacts and invoices; InvoiceDto -> InvoiceLineDto -> MoneyDto
 * and the self-referencing InvoiceNoteDto are reachable from invoice operations only.
 */
function sampleDocument(): OpenAPIObject {
  return {
    openapi: '3.0.0',
    info: { title: 'Maestro CRM API', version: '1.0.0' },
    tags: [{ name: 'Auth' }, { name: 'Contacts' }, { name: 'Health' }, { name: 'Invoices' }, { name: 'Never used' }],
    paths: {
      '/auth/login': {
        post: {
          tags: ['Auth'],
          operationId: 'AuthController_login',
          requestBody: json(ref('LoginDto')),
          responses: { '200': { description: 'ok', ...json(ref('TokenDto')) }, '400': { $ref: '#/components/responses/BadRequest' } },
        },
      },
      '/contacts': {
        get: {
          tags: ['Contacts'],
          'x-feature': 'contacts',
          operationId: 'ContactsController_list',
          responses: {
            '200': {
              description: 'ok',
              ...json({ type: 'object', properties: { data: { type: 'array', items: ref('ContactDto') }, meta: ref('PageMetaDto') } }),
            },
          },
        },
        post: {
          tags: ['Contacts'],
          'x-feature': 'contacts',
          operationId: 'ContactsController_create',
          requestBody: json(ref('CreateContactDto')),
          responses: { '201': { description: 'created', ...json(ref('ContactDto')) } },
        },
      },
      '/invoices': {
        get: {
          tags: ['Invoices'],
          'x-feature': 'invoicing',
          operationId: 'InvoicesController_list',
          responses: {
            '200': {
              description: 'ok',
              ...json({ type: 'object', properties: { data: { type: 'array', items: ref('InvoiceDto') }, meta: ref('PageMetaDto') } }),
            },
          },
        },
      },
      '/invoices/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: ref('InvoiceIdDto') }],
        get: {
          tags: ['Invoices'],
          'x-feature': 'invoicing',
          operationId: 'InvoicesController_get',
          responses: { '200': { description: 'ok', ...json(ref('InvoiceDto')) } },
        },
        delete: {
          tags: ['Invoices'],
          'x-feature': 'invoicing',
          operationId: 'InvoicesController_remove',
          responses: { '204': { description: 'deleted' } },
        },
      },
      '/contacts/{id}/invoices': {
        get: {
          tags: ['Contacts', 'Invoices'],
          'x-feature': 'invoicing',
          operationId: 'ContactInvoicesController_list',
          responses: { '200': { description: 'ok', ...json({ type: 'array', items: ref('InvoiceDto') }) } },
        },
        post: {
          tags: ['Contacts'],
          'x-feature': 'contacts',
          operationId: 'ContactInvoicesController_touch',
          responses: { '204': { description: 'ok' } },
        },
      },
      '/health': {
        get: { tags: ['Health'], operationId: 'HealthController_check', responses: { '200': { description: 'ok', ...json(ref('HealthDto')) } } },
      },
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      responses: { BadRequest: { description: 'Bad request', ...json(ref('ErrorResponseDto')) } },
      schemas: {
        LoginDto: { type: 'object', properties: { email: { type: 'string' } } },
        TokenDto: { type: 'object', properties: { accessToken: { type: 'string' } } },
        ErrorResponseDto: { type: 'object', properties: { details: { type: 'array', items: ref('FieldErrorDto') } } },
        FieldErrorDto: { type: 'object', properties: { field: { type: 'string' } } },
        PageMetaDto: { type: 'object', properties: { total: { type: 'integer' } } },
        ContactDto: { type: 'object', properties: { address: ref('AddressDto'), status: { allOf: [ref('StatusDto')] } } },
        AddressDto: { type: 'object', properties: { city: { type: 'string' } } },
        StatusDto: { type: 'object', properties: { name: { type: 'string' } } },
        CreateContactDto: { type: 'object', properties: { email: { type: 'string' } } },
        InvoiceDto: {
          type: 'object',
          properties: { contact: ref('ContactDto'), lines: { type: 'array', items: ref('InvoiceLineDto') }, notes: { type: 'array', items: ref('InvoiceNoteDto') } },
        },
        InvoiceLineDto: { type: 'object', properties: { amount: ref('MoneyDto') } },
        MoneyDto: { type: 'object', properties: { cents: { type: 'integer' } } },
        InvoiceNoteDto: { type: 'object', properties: { replies: { type: 'array', items: ref('InvoiceNoteDto') } } },
        InvoiceIdDto: { type: 'string', format: 'uuid' },
        HealthDto: { type: 'object', properties: { status: { type: 'string' } } },
      },
    },
  } as unknown as OpenAPIObject;
}

const withoutInvoicing = (key: string) => key !== 'invoicing';

describe('documentForFeatures', () => {
  it('keeps every operation and reachable schema when every feature is on; only the unused tag goes', () => {
    const input = sampleDocument();
    const output = documentForFeatures(input, () => true);
    expect(output).not.toBe(input);
    expect(output).toEqual({ ...input, tags: input.tags!.filter((tag) => tag.name !== 'Never used') });
  });

  it('removes the operations of a disabled feature and keeps the others of the same path', () => {
    const output = documentForFeatures(sampleDocument(), withoutInvoicing);
    const mixed = output.paths['/contacts/{id}/invoices']!;
    expect(mixed.get).toBeUndefined();
    expect(mixed.post).toMatchObject({ operationId: 'ContactInvoicesController_touch' });
    expect(Object.keys(output.paths['/contacts']!).sort()).toEqual(['get', 'post']);
  });

  it('removes paths left without operations, even when they still have path-level parameters', () => {
    const output = documentForFeatures(sampleDocument(), withoutInvoicing);
    expect(Object.keys(output.paths).sort()).toEqual(['/auth/login', '/contacts', '/contacts/{id}/invoices', '/health']);
  });

  it('keeps operations without x-feature whatever is switched off', () => {
    const output = documentForFeatures(sampleDocument(), () => false);
    expect(Object.keys(output.paths).sort()).toEqual(['/auth/login', '/health']);
    expect(output.tags!.map((t) => t.name)).toEqual(['Auth', 'Health']);
  });

  it('removes tags no remaining operation uses, keeping the order of the rest', () => {
    const output = documentForFeatures(sampleDocument(), withoutInvoicing);
    expect(output.tags!.map((t) => t.name)).toEqual(['Auth', 'Contacts', 'Health']);
  });

  it('keeps a tag while any remaining operation still uses it', () => {
    const output = documentForFeatures(sampleDocument(), (key) => key !== 'contacts');
    expect(output.tags!.map((t) => t.name)).toEqual(['Auth', 'Contacts', 'Health', 'Invoices']);
    expect(output.paths['/contacts/{id}/invoices']!.get!.tags).toEqual(['Contacts', 'Invoices']);
  });

  it('prunes schemas reachable only from removed operations, keeping shared and transitively referenced ones', () => {
    const output = documentForFeatures(sampleDocument(), withoutInvoicing);
    expect(Object.keys(output.components!.schemas!).sort()).toEqual(
      [
        'AddressDto', // ContactDto -> AddressDto
        'ContactDto', // shared by contacts and invoices
        'CreateContactDto',
        'ErrorResponseDto', // through components.responses
        'FieldErrorDto', // ErrorResponseDto -> FieldErrorDto
        'HealthDto',
        'LoginDto',
        'PageMetaDto', // shared
        'StatusDto', // ContactDto -> allOf -> StatusDto
        'TokenDto',
      ].sort(),
    );
  });

  it('prunes a whole chain and a self-referencing schema of a removed feature', () => {
    const schemas = documentForFeatures(sampleDocument(), withoutInvoicing).components!.schemas!;
    for (const name of ['InvoiceDto', 'InvoiceLineDto', 'MoneyDto', 'InvoiceNoteDto', 'InvoiceIdDto']) expect(schemas).not.toHaveProperty(name);
  });

  it('with contacts off, ContactDto stays because invoices still use it', () => {
    const schemas = documentForFeatures(sampleDocument(), (key) => key !== 'contacts').components!.schemas!;
    expect(schemas).toHaveProperty('ContactDto');
    expect(schemas).toHaveProperty('AddressDto');
    expect(schemas).toHaveProperty('InvoiceNoteDto');
    expect(schemas).not.toHaveProperty('CreateContactDto');
  });

  it('leaves the other components alone', () => {
    const output = documentForFeatures(sampleDocument(), () => false);
    expect(output.components!.securitySchemes).toEqual(sampleDocument().components!.securitySchemes);
    expect(output.components!.responses).toEqual(sampleDocument().components!.responses);
    expect(output.info).toEqual(sampleDocument().info);
  });

  it('keeps schemas reached through other reusable components (requestBodies, parameters)', () => {
    const input = sampleDocument();
    input.paths['/contacts/import'] = {
      post: {
        tags: ['Contacts'],
        'x-feature': 'contacts',
        parameters: [{ $ref: '#/components/parameters/DryRun' }],
        requestBody: { $ref: '#/components/requestBodies/ImportBody' },
        responses: { '200': { description: 'ok' } },
      } as never,
    };
    input.components!.requestBodies = { ImportBody: { content: { 'text/csv': { schema: ref('ImportFileDto') } } } };
    input.components!.parameters = { DryRun: { name: 'dryRun', in: 'query', schema: ref('DryRunFlag') } };
    input.components!.schemas!.ImportFileDto = { type: 'string', format: 'binary' };
    input.components!.schemas!.DryRunFlag = { type: 'boolean' };
    const schemas = documentForFeatures(input, () => true).components!.schemas!;
    expect(schemas).toHaveProperty('ImportFileDto');
    expect(schemas).toHaveProperty('DryRunFlag');
  });

  it('does not mutate the input document', () => {
    const input = sampleDocument();
    const before = structuredClone(input);
    documentForFeatures(input, withoutInvoicing);
    documentForFeatures(input, () => false);
    expect(input).toEqual(before);
  });

  it('copes with a document without tags or components', () => {
    const input = { openapi: '3.0.0', info: { title: 't', version: '1' }, paths: { '/x': { get: { 'x-feature': 'visitors', responses: {} } }, '/y': { get: { responses: {} } } } } as unknown as OpenAPIObject;
    const output = documentForFeatures(input, () => false);
    expect(Object.keys(output.paths)).toEqual(['/y']);
    expect(output.tags).toBeUndefined();
    expect(output.components).toBeUndefined();
  });
});
