import { Injectable, UnauthorizedException } from '@nestjs/common';
import { createSecretKey } from 'node:crypto';
import { PassportStrategy } from '@nestjs/passport';
import { ExtractJwt, Strategy } from 'passport-jwt';
import { AppConfig } from '../../config/app-config';
import type { AuthUser } from '../identity/auth-user';
import { IdentityService } from '../identity/identity.service';
import type { AccessTokenPayload } from './token.service';

@Injectable()
export class JwtStrategy extends PassportStrategy(Strategy, 'jwt') {
  constructor(
    config: AppConfig,
    private readonly identity: IdentityService,
  ) {
    super({
      jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
      ignoreExpiration: false,
      // A KeyObject, not the raw string: jsonwebtoken otherwise tries to read the string as a
      // public key on every request, a quarter of a signed-in request's CPU.
      secretOrKey: createSecretKey(Buffer.from(config.auth.jwtSecret)) as unknown as string,
      algorithms: ['HS256'],
    });
  }

  /** The account is re-read on every request, so deactivation and password changes apply at once. */
  async validate(payload: AccessTokenPayload): Promise<AuthUser> {
    if (typeof payload?.sub !== 'string' || typeof payload.tv !== 'number') throw new UnauthorizedException();
    const user = await this.identity.loadAuthUser(payload.sub, payload.tv);
    if (!user) throw new UnauthorizedException();
    return user;
  }
}
