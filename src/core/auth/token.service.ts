import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { InvalidRefreshTokenError } from './auth.errors';
import { RefreshToken } from './entities/refresh-token.entity';
import { hashSecretToken, newSecretToken } from './secret-token';

export interface AccessTokenPayload {
  sub: string;
  /** The account's token version when the token was issued. */
  tv: number;
}

export interface IssuedTokens {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export interface ClientInfo {
  userAgent?: string | null;
  ip?: string | null;
}

/**
 * Short-lived JWT access tokens; opaque refresh tokens stored as hashes, each usable once.
 * Presenting a used token again means it was stolen or replayed: the whole family dies.
 */
@Injectable()
export class TokenService {
  constructor(
    private readonly jwt: JwtService,
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  async issue(manager: EntityManager, user: { id: string; tokenVersion: number }, client: ClientInfo, familyId: string = randomUUID()): Promise<IssuedTokens> {
    const payload: AccessTokenPayload = { sub: user.id, tv: user.tokenVersion };
    const accessToken = await this.jwt.signAsync(payload, { expiresIn: this.config.auth.accessTtlSeconds });
    const { token, hash } = newSecretToken();
    await manager.insert(RefreshToken, {
      familyId,
      userId: user.id,
      tokenHash: hash,
      expiresAt: new Date(Date.now() + this.config.auth.refreshTtlSeconds * 1000),
      userAgent: client.userAgent?.slice(0, 500) ?? null,
      ip: client.ip ?? null,
    });
    return { accessToken, refreshToken: token, expiresIn: this.config.auth.accessTtlSeconds };
  }

  /** Consumes a refresh token; returns the account it belongs to and its family. */
  async consume(refreshToken: string): Promise<{ userId: string; familyId: string }> {
    const hash = hashSecretToken(refreshToken);
    // One atomic statement claims the token, so two concurrent refreshes cannot both win.
    const [claimed] = (await this.dataSource.query(
      `UPDATE refresh_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
        RETURNING user_id, family_id`,
      [hash],
    )) as [Array<{ user_id: string; family_id: string }>, number];
    const row = claimed[0];
    if (row) return { userId: row.user_id, familyId: row.family_id };

    const known = await this.dataSource.getRepository(RefreshToken).findOne({ where: { tokenHash: hash } });
    if (known && (known.usedAt || known.revokedAt) && known.expiresAt > new Date()) {
      // Replay of a spent token: assume theft and end every session of that chain.
      await this.revokeFamily(known.familyId);
      throw new InvalidRefreshTokenError('The refresh token was already used; every session of this sign-in has been ended');
    }
    throw new InvalidRefreshTokenError();
  }

  async revokeFamilyOf(refreshToken: string): Promise<void> {
    const rows: Array<{ family_id: string }> = await this.dataSource.query('SELECT family_id FROM refresh_tokens WHERE token_hash = $1', [hashSecretToken(refreshToken)]);
    if (rows[0]) await this.revokeFamily(rows[0].family_id);
  }

  private async revokeFamily(familyId: string): Promise<void> {
    await this.dataSource.query('UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL', [familyId]);
  }
}
