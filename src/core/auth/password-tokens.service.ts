import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { MailService } from '../mail/mail.service';
import { PasswordToken, PasswordTokenPurpose } from './entities/password-token.entity';
import { hashSecretToken, newSecretToken } from './secret-token';

/** Reset and invitation links: random, stored hashed, single-use, expiring. */
@Injectable()
export class PasswordTokensService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly mail: MailService,
  ) {}

  /**
   * Issues a link and mails it. Earlier unused links of the same purpose stop working.
   * The mail goes to the account's email as it is when the link is stored, not as the caller
   * read it. When the caller saw the account active (`isActive: true`), nothing is issued if
   * it has been deactivated since.
   */
  async issueAndSend(user: { id: string; email: string; firstName: string; isActive?: boolean }, purpose: PasswordTokenPurpose): Promise<void> {
    const { token, hash } = newSecretToken();
    const ttl = purpose === 'invite' ? this.config.auth.inviteTtlSeconds : this.config.auth.passwordResetTtlSeconds;
    const to = await this.dataSource.transaction(async (manager) => {
      // The users_end_password_tokens trigger ends links when the email, activity or password
      // changes. The share lock orders this link with such a change: one under way commits first
      // (and its new email is read here), a later one waits for this link and ends it too.
      const [account] = (await manager.query('SELECT email, is_active FROM users WHERE id = $1 FOR SHARE', [user.id])) as Array<{ email: string; is_active: boolean }>;
      if (!account || (user.isActive && !account.is_active)) return null;
      await manager.query('UPDATE password_tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL', [user.id, purpose]);
      await manager.insert(PasswordToken, { userId: user.id, purpose, tokenHash: hash, expiresAt: new Date(Date.now() + ttl * 1000) });
      return account.email;
    });
    if (to === null) return;
    const link = `${this.config.http.publicUrl}/reset-password?token=${encodeURIComponent(token)}`;
    const hours = Math.round(ttl / 3600);
    await this.mail.send(
      purpose === 'invite'
        ? {
            to,
            template: 'invite',
            subject: 'Your Maestro CRM account',
            text: `Hello ${user.firstName},\n\nAn account has been created for you. Choose your password here (valid ${hours} hours):\n${link}\n\nToken: ${token}\n`,
          }
        : {
            to,
            template: 'password-reset',
            subject: 'Reset your Maestro CRM password',
            text: `Hello ${user.firstName},\n\nUse this link to choose a new password (valid ${hours} hours):\n${link}\n\nToken: ${token}\n\nIf you did not ask for this, ignore this message.\n`,
          },
    );
  }

  /** Marks the token used and returns its account, or null when it is unknown, used or expired. */
  async consume(manager: EntityManager, token: string): Promise<string | null> {
    const [rows] = (await manager.query(
      `UPDATE password_tokens SET used_at = now()
        WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
        RETURNING user_id`,
      [hashSecretToken(token)],
    )) as [Array<{ user_id: string }>, number];
    return rows[0]?.user_id ?? null;
  }
}
