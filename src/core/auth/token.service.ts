import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
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

/** What claiming a refresh token found: a live token (now spent), a spent one presented again, or nothing usable. */
export type RefreshClaim = { status: 'claimed'; userId: string; familyId: string } | { status: 'replayed' } | { status: 'invalid' };

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

  /**
   * Claims a refresh token inside the caller's transaction, which then issues its successor.
   * The account's row is locked first, as every change to an account's sessions does (a
   * password change, ending sessions, deactivation, sign-out): a revocation either runs
   * before the claim, which then fails, or waits until the successor exists and ends it too.
   */
  async claim(manager: EntityManager, refreshToken: string): Promise<RefreshClaim> {
    const hash = hashSecretToken(refreshToken);
    const owner: Array<{ id: string }> = await manager.query(
      'SELECT u.id FROM users u WHERE u.id = (SELECT t.user_id FROM refresh_tokens t WHERE t.token_hash = $1) FOR NO KEY UPDATE OF u',
      [hash],
    );
    if (!owner[0]) return { status: 'invalid' };
    const [claimed] = (await manager.query(
      `UPDATE refresh_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
        RETURNING user_id, family_id`,
      [hash],
    )) as [Array<{ user_id: string; family_id: string }>, number];
    const row = claimed[0];
    if (row) return { status: 'claimed', userId: row.user_id, familyId: row.family_id };

    const [known]: Array<{ family_id: string; live: boolean }> = await manager.query(
      'SELECT family_id, expires_at > now() AS live FROM refresh_tokens WHERE token_hash = $1',
      [hash],
    );
    if (!known?.live) return { status: 'invalid' };
    // Replay of a spent token: assume theft and end every session of that chain.
    await this.revokeFamily(manager, known.family_id);
    return { status: 'replayed' };
  }

  /** Ends the sign-in the token belongs to (every token of its family). */
  async revokeFamilyOf(refreshToken: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const [family]: Array<{ family_id: string }> = await manager.query(
        `SELECT t.family_id FROM refresh_tokens t JOIN users u ON u.id = t.user_id
          WHERE t.token_hash = $1 FOR NO KEY UPDATE OF u`,
        [hashSecretToken(refreshToken)],
      );
      if (family) await this.revokeFamily(manager, family.family_id);
    });
  }

  private async revokeFamily(manager: EntityManager, familyId: string): Promise<void> {
    await manager.query('UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL', [familyId]);
  }
}
