import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthUser } from '../identity/auth-user';
import { AbilityFactory } from './ability.factory';
import type { AppAbility } from './app-ability';
import { AUDIENCE_METADATA, AUTHORIZE_METADATA, PUBLIC_METADATA, RequiredPermission } from './authorize.decorator';

export interface AuthorizedRequest {
  user?: AuthUser;
  ability?: AppAbility;
}

/** Runs after authentication: builds the request's ability and checks the route's requirement. */
@Injectable()
export class PoliciesGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly abilities: AbilityFactory,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const request = context.switchToHttp().getRequest<AuthorizedRequest>();
    request.ability = await this.abilities.forUser(request.user);
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_METADATA, targets)) return true;

    const audience = this.reflector.getAllAndOverride<'staff' | 'client' | undefined>(AUDIENCE_METADATA, targets);
    if (audience && request.user && request.user.accountType !== audience) {
      throw new ForbiddenException({
        message:
          audience === 'client'
            ? 'The client portal is for client accounts; staff use the back office'
            : 'This is part of the back office; client accounts use the client portal',
        code: 'wrong_audience',
      });
    }

    const required = this.reflector.getAllAndOverride<RequiredPermission | undefined>(AUTHORIZE_METADATA, targets);
    if (required && !request.ability.can(required.action, required.subject)) {
      throw new ForbiddenException({ message: `You may not ${required.action} ${required.subject}`, code: 'forbidden' });
    }
    return true;
  }
}
