import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { buildAbility } from './app-ability';
import type { AuthorizedRequest } from './policies.guard';

/** The ability the policies guard built for this request. */
export const RequestAbility = createParamDecorator((_: unknown, context: ExecutionContext) => {
  return context.switchToHttp().getRequest<AuthorizedRequest>().ability ?? buildAbility([]);
});

/** The signed-in user (undefined on public routes). */
export const CurrentUser = createParamDecorator((_: unknown, context: ExecutionContext) => {
  return context.switchToHttp().getRequest<AuthorizedRequest>().user;
});
