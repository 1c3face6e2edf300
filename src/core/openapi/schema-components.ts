import { getSchemaPath, type SchemaObject } from '@nestjs/swagger';

const components = new Map<string, SchemaObject>();

/**
 * Names a schema that no class can describe (a union of classes), so the document holds it once
 * under that name and generated clients get one type instead of a copy at every property.
 * Returns the reference to use in property schemas.
 */
export function schemaComponent(name: string, schema: SchemaObject): { $ref: string } {
  components.set(name, schema);
  return { $ref: getSchemaPath(name) };
}

/** The named schemas, for the document builder. */
export function schemaComponents(): Record<string, SchemaObject> {
  return Object.fromEntries(components);
}
