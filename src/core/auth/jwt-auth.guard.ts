import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { PUBLIC_METADATA } from '../access/authorize.decorator';
import type { AuthUser } from '../identity/auth-user';
import { IdentityService } from '../identity/identity.service';
import { AccessTokenVerifier, bearerToken } from './access-token.verifier';

/**
 * Every route needs a valid access token unless it is marked @Public(). The account is
 * re-checked on every request (active, token version), so deactivation, password changes and
 * sign-out everywhere apply at once.
 */
@Injectable()
export class JwtAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: AccessTokenVerifier,
    private readonly identity: IdentityService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_METADATA, [context.getHandler(), context.getClass()]);
    if (isPublic) return true;
    const request = context.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined>; user?: AuthUser }>();
    const token = bearerToken(request.headers.authorization);
    const payload = token ? this.tokens.verify(token) : null;
    const user = payload ? await this.identity.loadAuthUser(payload.sub, payload.tv) : null;
    if (!user) {
      throw new UnauthorizedException({ message: 'Sign in first: the access token is missing, invalid or expired', code: 'unauthenticated' });
    }
    request.user = user;
    return true;
  }
}
