import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';

export const AUTHORIZE_METADATA = 'maestro:authorize';
export const PUBLIC_METADATA = 'maestro:public';
export const AUDIENCE_METADATA = 'maestro:audience';

export interface RequiredPermission {
  action: string;
  subject: string;
}

/**
 * The route needs `action` on some `subject` records. This is only the type-level gate:
 * services still check the loaded record, and lists filter by the ability's conditions.
 */
export function Authorize(action: string, subject: string) {
  return applyDecorators(SetMetadata(AUTHORIZE_METADATA, { action, subject } satisfies RequiredPermission), ApiBearerAuth());
}

/** The route needs a signed-in user and nothing more. */
export function Authenticated() {
  return ApiBearerAuth();
}

/** Open to anyone, signed in or not. */
export function Public() {
  return SetMetadata(PUBLIC_METADATA, true);
}

/** Limits a route to one kind of account: the back office is for staff, the portal for clients. */
export function Audience(audience: 'staff' | 'client') {
  return SetMetadata(AUDIENCE_METADATA, audience);
}
