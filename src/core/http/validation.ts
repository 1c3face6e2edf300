import { ArgumentMetadata, BadRequestException, ParseUUIDPipe, ValidationError, ValidationPipe } from '@nestjs/common';
import type { FieldErrorDto } from './error-response.dto';

/** Flattens class-validator errors to `{ field, message }` pairs with dotted paths. */
export function flattenValidationErrors(errors: ValidationError[], parent = ''): FieldErrorDto[] {
  const result: FieldErrorDto[] = [];
  for (const error of errors) {
    const field = parent ? `${parent}.${error.property}` : error.property;
    for (const [constraint, message] of Object.entries(error.constraints ?? {})) {
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

/** A request body must be a JSON object; a missing, null or array body is not an empty update. */
class BodyValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && metadata.metatype && metadata.metatype !== Object) {
      if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
        throw new RequestValidationError([{ field: 'body', message: 'must be a JSON object' }]);
      }
    }
    return super.transform(value, metadata);
  }
}

/** Unknown fields are rejected, values are converted to their declared types. */
export function createValidationPipe(): ValidationPipe {
  return new BodyValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new RequestValidationError(flattenValidationErrors(errors)),
  });
}

/** Route parameters that must be UUIDs answer 400 with the parameter named, like any field. */
export function uuidParam(name = 'id'): ParseUUIDPipe {
  return new ParseUUIDPipe({ exceptionFactory: () => new RequestValidationError([{ field: name, message: 'must be a UUID' }]) });
}
