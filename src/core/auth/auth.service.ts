import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AbilityFactory } from '../access/ability.factory';
import { AuditService } from '../audit/audit.service';
import type { AuthUser } from '../identity/auth-user';
import { ContactDirectory } from '../identity/contact-directory';
import { IdentityService } from '../identity/identity.service';
import { RolesCache } from '../identity/roles-cache.service';
import { EmailTakenError, emailTakenOnConflict, InvalidCredentialsError, InvalidPasswordTokenError, InvalidRefreshTokenError, WrongCurrentPasswordError } from './auth.errors';
import type { ChangePasswordDto, MeDto, RegisterDto, TokensDto } from './dto/auth.dto';
import { PasswordService } from './password.service';
import { PasswordTokensService } from './password-tokens.service';
import { ClientInfo, TokenService } from './token.service';

/** Serialises sign-ups so exactly one of two simultaneous first registrations becomes admin. */
const REGISTRATION_LOCK_KEY = 7_316_482_114;

@Injectable()
export class AuthService {
  private readonly logger = new Logger('Auth');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly identity: IdentityService,
    private readonly contacts: ContactDirectory,
    private readonly passwords: PasswordService,
    private readonly tokens: TokenService,
    private readonly passwordTokens: PasswordTokensService,
    private readonly abilities: AbilityFactory,
    private readonly rolesCache: RolesCache,
    private readonly audit: AuditService,
  ) {}

  /**
   * Public sign-up: a client account with a Lead contact. The very first account instead
   * becomes admin, and at that moment the roles and starter lists are put in place.
   */
  async register(input: RegisterDto, client: ClientInfo): Promise<TokensDto> {
    const passwordHash = await this.passwords.hash(input.password);
    const { user, tokens, first } = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [REGISTRATION_LOCK_KEY]);
      const [{ count }] = (await manager.query('SELECT count(*)::int AS count FROM users')) as Array<{ count: number }>;
      const first = count === 0;
      await this.identity.ensureSystemRoles(manager);
      if (first) await this.contacts.ensureStarterData(manager);
      const taken: unknown[] = await manager.query(
        'SELECT 1 FROM users WHERE email_key = lower($1) UNION ALL SELECT 1 FROM contacts WHERE email_key = lower($1) LIMIT 1',
        [input.email],
      );
      if (taken.length) throw new EmailTakenError();
      const contact = await this.contacts.createForAccount(
        manager,
        { firstName: input.firstName, lastName: input.lastName, email: input.email, phone: input.phone ?? null, accountType: first ? 'staff' : 'client' },
        null,
      );
      const roleId = await this.identity.systemRoleId(manager, first ? 'admin' : 'client');
      const user = await this.identity.createAccount(manager, {
        contactId: contact.id,
        email: input.email,
        firstName: input.firstName,
        lastName: input.lastName,
        passwordHash,
        roleIds: [roleId],
      });
      await this.audit.record({ actorId: user.id, action: first ? 'user.bootstrap-admin' : 'user.register', subjectType: 'User', subjectId: user.id }, manager);
      const tokens = await this.tokens.issue(manager, user, client);
      return { user, tokens, first };
    }).catch(emailTakenOnConflict);
    this.rolesCache.invalidate();
    this.contacts.changed();
    if (first) this.logger.log(`First account ${user.email} registered and made admin`);
    return { ...tokens, tokenType: 'Bearer', user: await this.me(this.identity.toAuthUser(user, user.roles)) };
  }

  async login(email: string, password: string, client: ClientInfo): Promise<TokensDto> {
    const account = await this.identity.findByEmailWithSecret(email);
    const valid = await this.passwords.verify(account?.passwordHash, password);
    if (!account || !valid || !account.isActive) throw new InvalidCredentialsError();
    const signedIn = await this.dataSource.transaction(async (manager) => {
      // The password was checked against this version of the account: if it changed since
      // (new password, sessions ended, deactivated), the sign-in fails instead of outliving it.
      const [current] = (await manager.query('UPDATE users SET last_login_at = now() WHERE id = $1 AND token_version = $2 AND is_active RETURNING id', [
        account.id,
        account.tokenVersion,
      ])) as [Array<{ id: string }>, number];
      if (!current[0]) return null;
      const user = (await this.identity.findById(account.id, manager))!;
      return { user, tokens: await this.tokens.issue(manager, user, client) };
    });
    if (!signedIn) throw new InvalidCredentialsError();
    return { ...signedIn.tokens, tokenType: 'Bearer', user: await this.me(this.identity.toAuthUser(signedIn.user, signedIn.user.roles)) };
  }

  async refresh(refreshToken: string, client: ClientInfo): Promise<TokensDto> {
    // Claim and successor share one transaction (see TokenService.claim); a replay's
    // revocation commits before it is reported.
    const outcome = await this.dataSource.transaction(async (manager) => {
      const claim = await this.tokens.claim(manager, refreshToken);
      if (claim.status !== 'claimed') return claim;
      const user = await this.identity.findById(claim.userId, manager);
      if (!user || !user.isActive) return { status: 'inactive' as const };
      return { status: 'issued' as const, user, tokens: await this.tokens.issue(manager, user, client, claim.familyId) };
    });
    if (outcome.status === 'replayed') throw new InvalidRefreshTokenError('The refresh token was already used; every session of this sign-in has been ended');
    if (outcome.status === 'invalid') throw new InvalidRefreshTokenError();
    if (outcome.status === 'inactive') throw new InvalidCredentialsError();
    return { ...outcome.tokens, tokenType: 'Bearer', user: await this.me(this.identity.toAuthUser(outcome.user, outcome.user.roles)) };
  }

  async logout(refreshToken: string): Promise<void> {
    await this.tokens.revokeFamilyOf(refreshToken);
  }

  async me(user: AuthUser): Promise<MeDto> {
    const ability = await this.abilities.forUser(user);
    return {
      id: user.id,
      contactId: user.contactId,
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      accountType: user.accountType,
      roles: user.roles,
      rules: ability.rules.map((rule) => ({
        action: rule.action,
        subject: rule.subject as string | string[],
        ...(rule.conditions ? { conditions: rule.conditions as Record<string, unknown> } : {}),
        ...(rule.fields ? { fields: rule.fields as string[] } : {}),
        ...(rule.inverted ? { inverted: true } : {}),
      })),
    };
  }

  /**
   * Always resolves the same way; the mail (if any) is sent after the response so the
   * timing does not tell whether the account exists either.
   */
  forgotPassword(email: string): void {
    setImmediate(() => {
      void (async () => {
        const user = await this.identity.findByEmailWithSecret(email);
        if (!user || !user.isActive) return;
        await this.passwordTokens.issueAndSend(user, 'reset');
      })().catch((error: Error) => this.logger.error(`Password reset mail failed: ${error.message}`));
    });
  }

  async resetPassword(token: string, password: string): Promise<void> {
    const passwordHash = await this.passwords.hash(password);
    const userId = await this.dataSource.transaction(async (manager) => {
      const owner = await this.passwordTokens.consume(manager, token);
      if (!owner) throw new InvalidPasswordTokenError();
      await this.identity.setPassword(manager, owner, passwordHash);
      await this.audit.record({ actorId: owner, action: 'user.password-reset', subjectType: 'User', subjectId: owner }, manager);
      return owner;
    });
    await this.identity.changed(userId);
  }

  async changePassword(user: AuthUser, input: ChangePasswordDto): Promise<void> {
    const current = await this.identity.passwordHashOf(user.id);
    if (!(await this.passwords.verify(current, input.currentPassword))) {
      throw new WrongCurrentPasswordError();
    }
    const passwordHash = await this.passwords.hash(input.password);
    await this.dataSource.transaction(async (manager) => {
      await this.identity.setPassword(manager, user.id, passwordHash);
      await this.audit.record({ actorId: user.id, action: 'user.password-change', subjectType: 'User', subjectId: user.id }, manager);
    });
    await this.identity.changed(user.id);
  }
}
