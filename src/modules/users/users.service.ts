import { ConflictException, ForbiddenException, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { abilityToSql } from '../../core/access/ability-to-sql';
import { AbilityFactory } from '../../core/access/ability.factory';
import type { AppAbility } from '../../core/access/app-ability';
import { subjectOf } from '../../core/access/app-ability';
import { assertAdministrator, assertCanOnRecord, dependsOnRecord, hasWholeRight } from '../../core/access/record-access';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { AuditService } from '../../core/audit/audit.service';
import { isEmailConflict } from '../../core/auth/auth.errors';
import { PasswordTokensService } from '../../core/auth/password-tokens.service';
import { AccountReferences } from '../../core/identity/account-references';
import { accountTypeOf, AuthUser } from '../../core/identity/auth-user';
import { ContactDirectory } from '../../core/identity/contact-directory';
import { IdentityService } from '../../core/identity/identity.service';
import { containsPattern, Page, pageWindow, parseSort, toPage } from '../../core/http/pagination';
import type { CreateUserDto, UpdateUserDto, UserDto, UserQueryDto } from './dto/user.dto';
import { AccountEmailTakenError, LastAdminError, UnknownRolesError } from './users.errors';
import { USER_SORTS, USER_VIEW_SELECT, UserViewRow } from './users.queries';

/** How many times a deletion starts again when records naming the account are written meanwhile. */
const REMOVAL_ATTEMPTS = 3;

/** Held by every change that may leave one administrator fewer, for its transaction. */
export const ADMIN_REMOVAL_LOCK_KEY = 7_316_482_115;

@Injectable()
export class UsersService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly identity: IdentityService,
    private readonly contacts: ContactDirectory,
    private readonly passwordTokens: PasswordTokensService,
    private readonly subjects: SubjectRegistry,
    private readonly audit: AuditService,
    private readonly abilities: AbilityFactory,
    private readonly accountReferences: AccountReferences,
  ) {}

  async list(ability: AppAbility, query: UserQueryDto): Promise<Page<UserDto>> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, USER_SORTS, [['u.created_at', 'DESC']]);
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: (p: (v: unknown) => string) => string) => where.push(sql((value) => `$${params.push(value)}`));
    const visible = abilityToSql(ability, 'read', 'User', this.subjects.get('User')!.fields, 'u', params.length + 1);
    params.push(...visible.params);
    where.push(visible.sql);
    if (query.q) {
      const pattern = containsPattern(query.q);
      add((p) => `(u.email ILIKE ${p(pattern)} OR (u.first_name || ' ' || u.last_name) ILIKE ${p(pattern)})`);
    }
    if (query.isActive !== undefined) add((p) => `u.is_active = ${p(query.isActive)}`);
    if (query.roleId) add((p) => `EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id AND ur.role_id = ${p(query.roleId)})`);
    if (query.accountType) {
      const staff = `EXISTS (SELECT 1 FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id AND r.audience = 'staff')`;
      where.push(query.accountType === 'staff' ? staff : `NOT ${staff}`);
    }
    const whereSql = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const order = sort.map(([expression, direction]) => `${expression} ${direction} NULLS LAST`).concat('u.id').join(', ');
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(`${USER_VIEW_SELECT} ${whereSql} ORDER BY ${order} LIMIT ${window.limit} OFFSET ${window.offset}`, params) as Promise<UserViewRow[]>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM users u ${whereSql}`, params) as Promise<Array<{ total: number }>>,
    ]);
    return toPage(rows.map(toUserDto), total, window);
  }

  async get(ability: AppAbility, id: string): Promise<UserDto> {
    const row = await this.view(this.dataSource.manager, id);
    assertCanOnRecord(ability, 'read', 'User', row && userRecordOf(row), 'User not found');
    return toUserDto(row!);
  }

  /** Creates the contact and the account together; the person is invited to choose a password. */
  async create(ability: AppAbility, actor: AuthUser, input: CreateUserDto): Promise<UserDto> {
    assertMayGrantRoles(ability);
    const roleIds = distinctIds(input.roleIds);
    const user = await this.dataSource.transaction(async (manager) => {
      await this.assertRolesExist(manager, roleIds);
      await this.assertEmailFree(manager, ability, input.email, true);
      const staff = await this.grantsStaff(manager, roleIds);
      const contact = await this.contacts.createForAccount(
        manager,
        { firstName: input.firstName, lastName: input.lastName, email: input.email, phone: input.phone ?? null, accountType: staff ? 'staff' : 'client' },
        actor.id,
      );
      const created = await this.identity.createAccount(manager, {
        contactId: contact.id,
        email: input.email,
        firstName: input.firstName,
        lastName: input.lastName,
        passwordHash: null,
        roleIds,
      });
      await this.audit.record({ actorId: actor.id, action: 'user.create', subjectType: 'User', subjectId: created.id, after: { email: created.email, roleIds } }, manager);
      return created;
    }).catch((error: unknown) => this.emailTakenOnConflict(error, ability, input.email, true));
    this.contacts.changed();
    if (input.sendInvite !== false) await this.passwordTokens.issueAndSend(user, 'invite');
    return toUserDto((await this.view(this.dataSource.manager, user.id))!);
  }

  async update(ability: AppAbility, actor: AuthUser, id: string, input: UpdateUserDto): Promise<UserDto> {
    await this.dataSource.transaction(async (manager) => {
      const account = await this.lockedView(manager, id, ability, 'update');
      // Before any contact: the check waits for other changes that may take an administrator away.
      if (input.isActive === false && account.is_active && account.roles.some((r) => r.systemKey === 'admin')) await this.assertOtherAdmin(manager, id);
      await this.contacts.lockForAccountChange(manager, account.contact_id);
      // Read again now that the contact (its phone) is locked too.
      const before = (await this.view(manager, id))!;
      if (input.email && input.email.toLowerCase() !== before.email.toLowerCase()) await this.assertEmailFree(manager, ability, input.email, false);
      const changes: Record<string, unknown> = {};
      if (input.firstName !== undefined) changes.first_name = input.firstName;
      if (input.lastName !== undefined) changes.last_name = input.lastName;
      if (input.email !== undefined) changes.email = input.email;
      if (input.isActive !== undefined) changes.is_active = input.isActive;
      const columns = Object.keys(changes);
      if (columns.length) {
        // Names and email reach the contact through the users_sync_contact trigger, in this transaction.
        await manager.query(`UPDATE users SET ${columns.map((c, i) => `${c} = $${i + 2}`).join(', ')}, updated_at = now() WHERE id = $1`, [id, ...Object.values(changes)]);
      }
      if (input.phone !== undefined) await this.contacts.updatePhone(manager, before.contact_id, input.phone || null);
      if (input.isActive === false && before.is_active) await this.identity.revokeSessions(manager, id);
      if (input.isActive !== undefined && input.isActive !== before.is_active) await this.contacts.accountChanged(manager, before.contact_id);
      await this.assertStoredWithinRights(manager, ability, id);
      await this.audit.record({ actorId: actor.id, action: 'user.update', subjectType: 'User', subjectId: id, before: pick(before, input), after: input }, manager);
    }).catch((error: unknown) => this.emailTakenOnConflict(error, ability, input.email, false));
    await this.identity.changed(id);
    this.contacts.changed();
    return toUserDto((await this.view(this.dataSource.manager, id))!);
  }

  async setRoles(ability: AppAbility, actor: AuthUser, id: string, roleIds: string[]): Promise<UserDto> {
    assertMayGrantRoles(ability);
    const unique = distinctIds(roleIds);
    let unassigned = 0;
    await this.dataSource.transaction(async (manager) => {
      const before = await this.lockedView(manager, id, ability, 'update');
      await this.assertRolesExist(manager, unique);
      const adminId = await this.identity.systemRoleId(manager, 'admin');
      if (before.roles.some((r) => r.id === adminId) && !unique.includes(adminId)) await this.assertOtherAdmin(manager, id);
      // An account that is no longer staff is nobody's assignee: its contacts lose it as edits, as on deletion.
      const staff = await this.grantsStaff(manager, unique);
      const wasStaff = before.roles.some((r) => r.audience === 'staff');
      if (wasStaff && !staff) unassigned = await this.contacts.releaseFrom(manager, id, before.contact_id, { created: false });
      else await this.contacts.lockForAccountChange(manager, before.contact_id);
      await manager.query('DELETE FROM user_roles WHERE user_id = $1', [id]);
      await manager.query('INSERT INTO user_roles (user_id, role_id) SELECT $1, unnest($2::uuid[])', [id, unique]);
      if (wasStaff !== staff) await this.contacts.accountChanged(manager, before.contact_id);
      await this.audit.record(
        {
          actorId: actor.id,
          action: 'user.roles',
          subjectType: 'User',
          subjectId: id,
          before: { roleIds: before.roles.map((r) => r.id) },
          after: unassigned ? { roleIds: unique, contactsUnassigned: unassigned } : { roleIds: unique },
        },
        manager,
      );
    });
    await this.identity.changed(id);
    if (unassigned) this.contacts.changed();
    return toUserDto((await this.view(this.dataSource.manager, id))!);
  }

  /** Deletes the account only: the contact and everything the user wrote stay. */
  async remove(ability: AppAbility, actor: AuthUser, id: string): Promise<void> {
    for (let attempt = 1; !(await this.removeOnce(ability, actor, id)); attempt += 1) {
      if (attempt === REMOVAL_ATTEMPTS) throw new ConflictException({ message: 'The account kept being named by new records while it was deleted; retry', code: 'concurrent_update' });
    }
    await this.identity.changed(id);
    this.contacts.changed();
  }

  /** False, having changed nothing, when a record naming the account was written while it was being locked. */
  private async removeOnce(ability: AppAbility, actor: AuthUser, id: string): Promise<boolean> {
    return this.dataSource.transaction(async (manager) => {
      // What other modules keep naming the account (its imports, its segments) first: their
      // writers hold those rows, then users and contacts (core/identity/lock-order).
      let held = 0;
      const before = await this.lockedView(manager, id, ability, 'delete', async () => void (held = await this.accountReferences.hold(manager, id)));
      // One written since would be reached by its foreign key last, out of that order: start again.
      // (Nothing is written yet: the transaction ends, letting go of the locks.)
      if ((await this.accountReferences.count(manager, id)) !== held) return false;
      if (before.roles.some((r) => r.systemKey === 'admin')) await this.assertOtherAdmin(manager, id);
      // Contacts lose their assignee as edits do, so clients that follow versions see it, and
      // their creator before the DELETE, whose foreign key would take them in table order.
      const unassigned = await this.contacts.releaseFrom(manager, id, before.contact_id, { created: true });
      await manager.query('DELETE FROM users WHERE id = $1', [id]);
      await this.contacts.accountChanged(manager, before.contact_id);
      await this.audit.record(
        { actorId: actor.id, action: 'user.delete', subjectType: 'User', subjectId: id, before: { email: before.email, contactId: before.contact_id }, after: { contactsUnassigned: unassigned } },
        manager,
      );
      return true;
    });
  }

  async requestPasswordReset(ability: AppAbility, actor: AuthUser, id: string, mode: 'send' | 'force'): Promise<void> {
    const user = await this.dataSource.transaction(async (manager) => {
      const row = await this.lockedView(manager, id, ability, 'update');
      if (mode === 'force') {
        await manager.query('UPDATE users SET password_hash = NULL WHERE id = $1', [id]);
        await this.identity.revokeSessions(manager, id);
      }
      await this.audit.record({ actorId: actor.id, action: `user.password-reset.${mode}`, subjectType: 'User', subjectId: id }, manager);
      return row;
    });
    if (mode === 'force') await this.identity.changed(id);
    await this.passwordTokens.issueAndSend({ id: user.id, email: user.email, firstName: user.first_name }, 'reset');
  }

  private async view(manager: EntityManager, id: string): Promise<UserViewRow | undefined> {
    const rows: UserViewRow[] = await manager.query(`${USER_VIEW_SELECT} WHERE u.id = $1`, [id]);
    return rows[0];
  }

  /**
   * Locks the user and checks the caller may do `action` on this very account (404 when not even
   * visible). A change that writes its contact locks it next, with `ContactDirectory.lockForAccountChange`;
   * `holdFirst` locks what comes before the user, once the caller is known to see the account.
   */
  private async lockedView(manager: EntityManager, id: string, ability: AppAbility, action: 'update' | 'delete', holdFirst?: () => Promise<void>): Promise<UserViewRow> {
    // Seen before locked: a hidden account answers as a missing one, and holds nobody up.
    const account = await this.ruleRow(manager, id);
    assertCanOnRecord(ability, 'read', 'User', account && userRecordOf(account), 'User not found');
    await holdFirst?.();
    const locked: unknown[] = await manager.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [id]);
    const row = locked.length ? await this.view(manager, id) : undefined;
    assertCanOnRecord(ability, action, 'User', row && userRecordOf(row), 'User not found');
    // Whoever could change an administrator's email or password could become one: the admin
    // role's holders and those of any role made its equal.
    if (await this.abilities.isAdministratorAccount(row!.roles.map((role) => role.id))) assertAdministrator(ability, "change an administrator's account");
    return row!;
  }

  private async ruleRow(manager: EntityManager, id: string): Promise<UserRuleRow | undefined> {
    const rows: UserRuleRow[] = await manager.query('SELECT id, contact_id, email, is_active FROM users WHERE id = $1', [id]);
    return rows[0];
  }

  /**
   * Conditions bound what an edit makes of an account as well as the account edited: a role that
   * may update inactive accounts may not reactivate one. Refuses (the transaction rolls back) an
   * account written beyond the caller's conditional `update User` rules.
   */
  private async assertStoredWithinRights(manager: EntityManager, ability: AppAbility, id: string): Promise<void> {
    if (!dependsOnRecord(ability, 'update', 'User')) return;
    const after = await this.ruleRow(manager, id);
    if (!after || !ability.can('update', subjectOf('User', userRecordOf(after)))) {
      throw new ForbiddenException({ message: 'The change would take this account outside what you may change; nothing was changed', code: 'forbidden' });
    }
  }

  /**
   * Holds the roles until commit, as the grants' foreign keys would: a role being deleted is
   * waited for and then missing here; a deletion that comes later waits and finds it given.
   */
  private async assertRolesExist(manager: EntityManager, roleIds: string[]): Promise<void> {
    const rows: Array<{ id: string }> = await manager.query('SELECT id FROM roles WHERE id = ANY($1::uuid[]) FOR KEY SHARE', [roleIds]);
    const found = new Set(rows.map((row) => row.id));
    const missing = roleIds.filter((roleId) => !found.has(roleId));
    if (missing.length) throw new UnknownRolesError(missing);
  }

  /** Whether these roles make a staff account (one of them is for the back office). */
  private async grantsStaff(manager: EntityManager, roleIds: string[]): Promise<boolean> {
    const [{ staff }] = (await manager.query(`SELECT coalesce(bool_or(audience = 'staff'), false) AS staff FROM roles WHERE id = ANY($1::uuid[])`, [roleIds])) as Array<{ staff: boolean }>;
    return staff;
  }

  private async assertEmailFree(manager: EntityManager, ability: AppAbility, email: string, creating: boolean): Promise<void> {
    const [holder] = (await manager.query(
      `(SELECT 'account' AS kind, NULL::uuid AS contact_id, false AS in_trash FROM users WHERE email_key = lower($1))
       UNION ALL
       (SELECT 'contact', c.id, c.deleted_at IS NOT NULL FROM contacts c WHERE c.email_key = lower($1) AND NOT EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id))
       LIMIT 1`,
      [email],
    )) as Array<{ kind: 'account' | 'contact'; contact_id: string | null; in_trash: boolean }>;
    if (!holder) return;
    // Every account is a contact too: which record holds the address is for those who may read them all.
    if (!hasWholeRight(ability, 'read', 'Contact')) throw new AccountEmailTakenError({ kind: 'unseen' }, creating);
    throw new AccountEmailTakenError(holder.kind === 'account' ? { kind: 'account' } : { kind: 'contact', contactId: holder.contact_id!, inTrash: holder.in_trash }, creating);
  }

  /**
   * A write that lost a race for its email to a concurrent one: answered as the check before it
   * answers, now that the winner has committed.
   */
  private async emailTakenOnConflict(error: unknown, ability: AppAbility, email: string | undefined, creating: boolean): Promise<never> {
    if (!email || !isEmailConflict(error)) throw error;
    await this.assertEmailFree(this.dataSource.manager, ability, email, creating);
    // The winner has let the address go since: refused all the same, naming no holder.
    throw new AccountEmailTakenError({ kind: 'unseen' }, creating);
  }

  /**
   * Changes that may take an administrator away wait for one another here, so two of them cannot
   * both count the other as the administrator left. Taken after the account's own row: locking
   * the other administrators' rows instead would take users out of id order (core/identity/lock-order).
   * The count is read once the lock is held, so it sees the one before it committed.
   */
  private async assertOtherAdmin(manager: EntityManager, exceptUserId: string): Promise<void> {
    await manager.query('SELECT pg_advisory_xact_lock($1)', [ADMIN_REMOVAL_LOCK_KEY]);
    const rows: unknown[] = await manager.query(
      `SELECT u.id FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN roles r ON r.id = ur.role_id
        WHERE r.system_key = 'admin' AND u.is_active AND u.id <> $1 LIMIT 1`,
      [exceptUserId],
    );
    if (!rows.length) throw new LastAdminError();
  }
}

/** Each role once: a repeated id, or one written in other letter cases, names the same role. */
function distinctIds(ids: string[]): string[] {
  return [...new Set(ids.map((id) => id.toLowerCase()))];
}

/** Choosing roles is choosing permissions: whoever could would choose the admin role. */
function assertMayGrantRoles(ability: AppAbility): void {
  assertAdministrator(ability, 'choose the roles of users');
}

/** The columns of an account that access rules look at. */
type UserRuleRow = Pick<UserViewRow, 'id' | 'contact_id' | 'email' | 'is_active'>;

/** An account as access rules see it (the fields of the `User` subject). */
function userRecordOf(row: UserRuleRow): { id: string; contactId: string; email: string; isActive: boolean } {
  return { id: row.id, contactId: row.contact_id, email: row.email, isActive: row.is_active };
}

function toUserDto(row: UserViewRow): UserDto {
  return {
    id: row.id,
    contactId: row.contact_id,
    email: row.email,
    firstName: row.first_name,
    lastName: row.last_name,
    phone: row.phone,
    isActive: row.is_active,
    hasPassword: row.has_password,
    accountType: accountTypeOf(row.roles),
    roles: row.roles,
    lastLoginAt: row.last_login_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function pick(row: UserViewRow, input: UpdateUserDto): Record<string, unknown> {
  const map: Record<string, unknown> = { firstName: row.first_name, lastName: row.last_name, email: row.email, phone: row.phone, isActive: row.is_active };
  return Object.fromEntries(Object.keys(input).map((key) => [key, map[key]]));
}
