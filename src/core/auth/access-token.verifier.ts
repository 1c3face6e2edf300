import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { LRUCache } from 'lru-cache';
import { createSecretKey, KeyObject } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import type { AccessTokenPayload } from './token.service';

/** Reads `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 7235). */
export function bearerToken(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const match = /^bearer[ \t]+([^\s]+)[ \t]*$/i.exec(header);
  return match ? match[1]! : null;
}

/**
 * Checks access tokens (HS256 signature, expiry, claims). A client sends the same token with
 * every request for its whole lifetime, so a verified token is remembered until it expires:
 * the signature is checked once per token, not once per request. Revocation does not depend on
 * this: the account's token version is compared on every request.
 */
@Injectable()
export class AccessTokenVerifier {
  private readonly verified = new LRUCache<string, { claims: AccessTokenPayload; expiresAt: number }>({ max: 20_000 });
  // A KeyObject, not the raw string: jsonwebtoken otherwise tries to read the string as a public key each time.
  private readonly key: KeyObject;

  constructor(
    private readonly jwt: JwtService,
    config: AppConfig,
  ) {
    this.key = createSecretKey(Buffer.from(config.auth.jwtSecret));
  }

  /** The token's payload when it is valid and unexpired; null otherwise. */
  verify(token: string): AccessTokenPayload | null {
    const known = this.verified.get(token);
    if (known && Date.now() < known.expiresAt) return known.claims;
    let payload: Partial<AccessTokenPayload> & { exp?: unknown };
    try {
      payload = this.jwt.verify(token, { secret: this.key as unknown as string, algorithms: ['HS256'] });
    } catch {
      return null;
    }
    if (typeof payload.sub !== 'string' || typeof payload.tv !== 'number' || typeof payload.exp !== 'number') return null;
    const claims: AccessTokenPayload = { sub: payload.sub, tv: payload.tv };
    this.verified.set(token, { claims, expiresAt: payload.exp * 1000 });
    return claims;
  }
}
