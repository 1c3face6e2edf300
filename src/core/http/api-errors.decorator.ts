import { applyDecorators } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { ErrorResponseDto } from './error-response.dto';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid input: `details` lists each field and what is wrong with it.',
  401: 'Not signed in, or the access token is invalid or expired.',
  403: 'Signed in, but not allowed to do this.',
  404: 'Not found, not visible to you, or the feature is switched off.',
  409: 'Conflict with the current state (duplicate, stale version, dependency).',
  413: 'The request body is too large.',
  422: 'The request is well-formed but breaks a business rule.',
  429: 'Too many attempts; retry later.',
};

/** Documents the error responses of a route with the shared error body. */
export function ApiErrors(...statuses: number[]) {
  return applyDecorators(
    ...statuses.map((status) => ApiResponse({ status, description: DESCRIPTIONS[status] ?? 'Error', type: ErrorResponseDto })),
  );
}
