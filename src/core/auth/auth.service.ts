import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { AbilityFactory } from '../access/ability.factory';
import { AuditService } from '../audit/audit.service';
import type { AuthUser } from '../identity/auth-user';
import { ContactDirectory } from '../identity/contact-directory';
import { IdentityService } from '../identity/identity.service';
import { RolesCache } from '../identity/roles-cache.service';
import { MailService } from '../mail/mail.service';
import {
  EmailTakenError,
  emailTakenOnConflict,
  InvalidCredentialsError,
  InvalidPasswordTokenError,
  InvalidRefreshTokenError,
  SignUpPasswordMismatchError,
  WrongCurrentPasswordError,
} from './auth.errors';
import type { ChangePasswordDto, MeDto, RegisterDto, TokensDto } from './dto/auth.dto';
import { PasswordService } from './password.service';
import { PasswordTokensService } from './password-tokens.service';
import { hashSecretToken, newSecretToken } from './secret-token';
import { ClientInfo, TokenService } from './token.service';

/** Serialises sign-ups so exactly one of two simultaneous first registrations becomes admin, and confirmations with them. */
const REGISTRATION_LOCK_KEY = 7_316_482_114;

/** A sign-up kept until its link is followed, or the address of the account that already has its email. */
type SignUp = { token: string } | { existingAccount: string };

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
    private readonly mail: MailService,
    private readonly config: AppConfig,
  ) {}

  /**
   * Public sign-up. The very first account becomes admin at once, and at that moment the
   * roles and starter lists are put in place. Every later one is a client account, made when
   * its address is confirmed through a mailed link (see confirmSignUp): until then nothing
   * tells the caller whether the address is in use, and nobody signs up with an address they
   * do not read. An address that already has an account is mailed a note saying so instead.
   */
  async register(input: RegisterDto, client: ClientInfo): Promise<TokensDto | null> {
    const passwordHash = await this.passwords.hash(input.password);
    const outcome = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [REGISTRATION_LOCK_KEY]);
      const [{ count }] = (await manager.query('SELECT count(*)::int AS count FROM users')) as Array<{ count: number }>;
      if (count > 0) return { kind: 'sign-up' as const, signUp: await this.requestSignUp(manager, input, passwordHash) };
      await this.identity.ensureSystemRoles(manager);
      await this.contacts.ensureStarterData(manager);
      const contact = await this.contacts.createForAccount(
        manager,
        { firstName: input.firstName, lastName: input.lastName, email: input.email, phone: input.phone ?? null, accountType: 'staff' },
        null,
      );
      const user = await this.identity.createAccount(manager, {
        contactId: contact.id,
        email: input.email,
        firstName: input.firstName,
        lastName: input.lastName,
        passwordHash,
        roleIds: [await this.identity.systemRoleId(manager, 'admin')],
      });
      await this.audit.record({ actorId: user.id, action: 'user.bootstrap-admin', subjectType: 'User', subjectId: user.id }, manager);
      return { kind: 'first' as const, user, tokens: await this.tokens.issue(manager, user, client) };
    }).catch(emailTakenOnConflict);
    if (outcome.kind === 'sign-up') {
      const { signUp } = outcome;
      // After the answer, as for password resets: the time taken does not tell which mail goes out.
      setImmediate(() => void this.sendSignUpMail(input, signUp).catch((error: Error) => this.logger.error(`Sign-up mail failed: ${error.message}`)));
      return null;
    }
    this.rolesCache.invalidate();
    this.contacts.changed();
    this.logger.log(`First account ${outcome.user.email} registered and made admin`);
    return { ...outcome.tokens, tokenType: 'Bearer', user: await this.me(this.identity.toAuthUser(outcome.user, outcome.user.roles)) };
  }

  /** Keeps a sign-up until its link is followed; none for an address an account already has. */
  private async requestSignUp(manager: EntityManager, input: RegisterDto, passwordHash: string): Promise<SignUp> {
    await manager.query('DELETE FROM sign_up_requests WHERE expires_at <= now()');
    const [account] = (await manager.query('SELECT email FROM users WHERE email_key = lower($1)', [input.email])) as Array<{ email: string }>;
    if (account) return { existingAccount: account.email };
    const { token, hash } = newSecretToken();
    await manager.query(
      `INSERT INTO sign_up_requests (email, first_name, last_name, phone, password_hash, token_hash, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))`,
      [input.email, input.firstName, input.lastName, input.phone ?? null, passwordHash, hash, this.config.auth.signUpTtlSeconds],
    );
    return { token };
  }

  private async sendSignUpMail(input: RegisterDto, signUp: SignUp): Promise<void> {
    if ('existingAccount' in signUp) {
      await this.mail.send({
        to: signUp.existingAccount,
        template: 'sign-up-existing-account',
        subject: 'You already have a Maestro CRM account',
        text:
          `Hello,\n\nSomeone asked to create a Maestro CRM account with this address, which already has one. ` +
          `Sign in with it, or ask for a new password if you have forgotten it:\n${this.config.http.publicUrl}/forgot-password\n\n` +
          `If you did not ask for this, ignore this message: nothing has changed.\n`,
      });
      return;
    }
    const hours = Math.round(this.config.auth.signUpTtlSeconds / 3600);
    const link = `${this.config.http.publicUrl}/confirm-sign-up?token=${encodeURIComponent(signUp.token)}`;
    await this.mail.send({
      to: input.email,
      template: 'sign-up-confirm',
      subject: 'Confirm your Maestro CRM account',
      text:
        `Hello ${input.firstName},\n\nConfirm this address to open your account (valid ${hours} hours):\n${link}\n\nToken: ${signUp.token}\n\n` +
        `If you did not ask for this, ignore this message: no account is made.\n`,
    });
  }

  /**
   * Opens the account a sign-up asked for, once its link is followed with the password chosen
   * for it, and signs it in. Anyone may sign up with any address, so a link alone proves only
   * that the mailbox's owner followed it: asking for the sign-up's password as well keeps a
   * stranger's sign-up (whose password the stranger knows) from being confirmed by that owner.
   * An address a contact already has (entered by staff, without an account) becomes that
   * contact's account, which keeps its names and details. The link works once; other sign-ups
   * with the same address end with it.
   */
  async confirmSignUp(token: string, password: string, client: ClientInfo): Promise<TokensDto> {
    const [pending] = (await this.dataSource.query('SELECT password_hash FROM sign_up_requests WHERE token_hash = $1 AND expires_at > now()', [hashSecretToken(token)])) as Array<{
      password_hash: string;
    }>;
    if (!pending) throw new InvalidPasswordTokenError();
    if (!(await this.passwords.verify(pending.password_hash, password))) throw new SignUpPasswordMismatchError();
    const { user, linked } = await this.dataSource
      .transaction(async (manager) => {
        await manager.query('SELECT pg_advisory_xact_lock($1)', [REGISTRATION_LOCK_KEY]);
        const [request] = (
          (await manager.query('DELETE FROM sign_up_requests WHERE token_hash = $1 AND expires_at > now() RETURNING *', [hashSecretToken(token)])) as [
            Array<{ email: string; first_name: string; last_name: string; phone: string | null; password_hash: string }>,
            number,
          ]
        )[0];
        if (!request) throw new InvalidPasswordTokenError();
        await manager.query('DELETE FROM sign_up_requests WHERE lower(email) = lower($1)', [request.email]);
        const taken: unknown[] = await manager.query('SELECT 1 FROM users WHERE email_key = lower($1)', [request.email]);
        if (taken.length) throw new EmailTakenError();
        const existing = await this.contacts.claimForSignUp(manager, request.email);
        if (existing === 'taken') throw new EmailTakenError();
        const contact =
          existing ??
          (await this.contacts.createForAccount(
            manager,
            { firstName: request.first_name, lastName: request.last_name, email: request.email, phone: request.phone, accountType: 'client' },
            null,
          ));
        const user = await this.identity.createAccount(manager, {
          contactId: contact.id,
          email: contact.email ?? request.email,
          firstName: contact.firstName,
          lastName: contact.lastName,
          passwordHash: request.password_hash,
          roleIds: [await this.identity.systemRoleId(manager, 'client')],
        });
        if (existing) await this.contacts.accountChanged(manager, contact.id);
        await this.audit.record(
          { actorId: user.id, action: 'user.register', subjectType: 'User', subjectId: user.id, after: { contactId: contact.id, existingContact: Boolean(existing) } },
          manager,
        );
        return { user: { ...user, tokens: await this.tokens.issue(manager, user, client) }, linked: Boolean(existing) };
      })
      .catch(emailTakenOnConflict);
    this.rolesCache.invalidate();
    this.contacts.changed();
    if (linked) this.logger.log(`Sign-up confirmed for an existing contact (${user.contactId})`);
    return { ...user.tokens, tokenType: 'Bearer', user: await this.me(this.identity.toAuthUser(user, user.roles)) };
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
