import { ApiExtraModels, ApiProperty, ApiPropertyOptional, type ApiPropertyOptions, getSchemaPath } from '@nestjs/swagger';
import { schemaComponent } from '../../../core/openapi/schema-components';
import { FILTER_OPERATORS } from '../filters/contact-filter.types';

/**
 * The contacts rule language as schemas, so generated clients type a filter as the tree it is.
 * Validation stays with the filter compiler, which names the bad clause; these only document.
 * Named by string: the groups refer to each other before all of them are defined.
 */
const NODE_NAMES = ['ContactFilterAllDto', 'ContactFilterAnyDto', 'ContactFilterNotDto', 'ContactFilterConditionDto'] as const;

/** Any node of the tree: a group, a negation or a condition; named once in the document. */
const CONTACT_FILTER = schemaComponent('ContactFilter', {
  oneOf: NODE_NAMES.map((name) => ({ $ref: getSchemaPath(name) })),
  description: 'A node of the contacts rule language: a group of nodes (`and`, `or`), a negation (`not`) or a condition on one field.',
});
/**
 * A property holding a filter tree. Wrapped, so the property's own description stays beside the
 * reference; the explicit object type keeps the property's reflected type (an interface, so
 * `Object`) from being documented instead.
 */
export const CONTACT_FILTER_NODE = { type: 'object', allOf: [CONTACT_FILTER] } as ApiPropertyOptions;

export class ContactFilterConditionDto {
  @ApiProperty({ example: 'stage', description: 'A contact field (see the filter’s description) or `custom.<key>` for a custom field.' })
  field: string;

  @ApiProperty({ enum: FILTER_OPERATORS, example: 'is', description: 'Which operators a field takes depends on its type.' })
  op: (typeof FILTER_OPERATORS)[number];

  @ApiPropertyOptional({
    oneOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'array', items: { oneOf: [{ type: 'string' }, { type: 'number' }] } }],
    example: 'customer',
    description: 'What the field is compared with: a list for in, notIn, hasAny, hasAll and hasNone, a number of days for inLastDays and notInLastDays, none for empty and notEmpty.',
  })
  value?: unknown;
}

export class ContactFilterAllDto {
  @ApiProperty({ type: 'array', items: CONTACT_FILTER, description: 'Contacts matching every node; an empty list matches every contact.' })
  and: unknown[];
}

export class ContactFilterAnyDto {
  @ApiProperty({ type: 'array', items: CONTACT_FILTER, minItems: 1, description: 'Contacts matching at least one of these nodes; the list may not be empty.' })
  or: unknown[];
}

export class ContactFilterNotDto {
  @ApiProperty({ ...CONTACT_FILTER_NODE, description: 'Contacts not matching this node.' })
  not: unknown;
}

/** Puts the tree's schemas in the document of any controller that takes or returns a filter. */
export const ApiContactFilterModels = () => ApiExtraModels(ContactFilterAllDto, ContactFilterAnyDto, ContactFilterNotDto, ContactFilterConditionDto);
