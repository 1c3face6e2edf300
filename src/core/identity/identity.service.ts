import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { DataSource, EntityManager } from 'typeorm';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { AuthUser, accountTypeOf } from './auth-user';
import { Role, SystemRoleKey } from './entities/role.entity';
import { User } from './entities/user.entity';
import { RolesCache } from './roles-cache.service';
import { SYSTEM_ROLES } from './system-roles';

export interface NewAccount {
  contactId: string;
  email: string;
  firstName: string;
  lastName: string;
  passwordHash: string | null;
  roleIds: string[];
}

interface AccountRow {
  id: string;
  contact_id: string;
  email: string;
  first_name: string;
  last_name: string;
  token_version: number;
  is_active: boolean;
  role_ids: string[] | null;
}

/** Told to every process after an account changed in a way that matters for access, or was deleted: `{ userId }`. */
export const IDENTITY_CHANGED = 'identity.changed';

/** Accounts and their roles: the parts of users that authentication and authorisation need. */
@Injectable()
export class IdentityService implements OnModuleInit {
  /**
   * The account row every request reads, kept briefly. Every change that matters for
   * access (password, deactivation, roles, deletion) drops it here at once and in the other
   * processes through a cluster event; the TTL bounds anything missed.
   */
  private readonly accounts = new LRUCache<string, AccountRow>({ max: 10_000, ttl: 5_000 });
  /** Account reads under way: requests that arrive together (every few seconds, as the kept row expires) share one. */
  private readonly loading = new Map<string, Promise<AccountRow | undefined>>();
  /** Moves on every forget, so a read that started before a change is not kept after it. */
  private generation = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly rolesCache: RolesCache,
    private readonly cluster: ClusterEventsService,
  ) {}

  onModuleInit(): void {
    this.cluster.on(IDENTITY_CHANGED, (payload) => this.forget(((payload ?? {}) as { userId?: string }).userId));
    this.cluster.on('cluster.reconnected', () => this.forget());
  }

  /** Drops the cached account everywhere; call after any change to an account's access. */
  async changed(userId: string): Promise<void> {
    this.forget(userId);
    await this.cluster.publish(IDENTITY_CHANGED, { userId });
  }

  /** Drops every cached account everywhere: after a write that may have changed many (an import). */
  async changedAll(): Promise<void> {
    this.forget();
    await this.cluster.publish(IDENTITY_CHANGED, {});
  }

  /** Forgets one kept account (or all), and any read of it under way. */
  private forget(userId?: string): void {
    this.generation += 1;
    if (userId) {
      this.accounts.delete(userId);
      this.loading.delete(userId);
    } else {
      this.accounts.clear();
      this.loading.clear();
    }
  }

  async findByEmailWithSecret(email: string): Promise<(User & { passwordHash: string | null }) | null> {
    return this.dataSource
      .getRepository(User)
      .createQueryBuilder('u')
      .addSelect('u.passwordHash')
      .where('u.email_key = lower(:email)', { email })
      .getOne();
  }

  async findById(id: string, manager: EntityManager = this.dataSource.manager): Promise<User | null> {
    return manager.findOne(User, { where: { id }, relations: { roles: true } });
  }

  async passwordHashOf(id: string): Promise<string | null> {
    const row = await this.dataSource.getRepository(User).createQueryBuilder('u').select('u.passwordHash').addSelect('u.id').where('u.id = :id', { id }).getOne();
    return row?.passwordHash ?? null;
  }

  /** The request's user, or null when the account is gone, inactive or its tokens were revoked. */
  async loadAuthUser(id: string, tokenVersion: number): Promise<AuthUser | null> {
    const row = this.accounts.get(id) ?? (await this.readAccount(id));
    if (!row || !row.is_active || row.token_version !== tokenVersion) return null;
    const roles = (await Promise.all((row.role_ids ?? []).map((roleId) => this.rolesCache.byId(roleId)))).filter((r): r is Role => Boolean(r));
    return this.toAuthUser(
      { id: row.id, contactId: row.contact_id, email: row.email, firstName: row.first_name, lastName: row.last_name, tokenVersion: row.token_version },
      roles,
    );
  }

  private readAccount(id: string): Promise<AccountRow | undefined> {
    const under = this.loading.get(id);
    if (under) return under;
    const generation = this.generation;
    const reading = (
      this.dataSource.query(
        `SELECT u.id, u.contact_id, u.email, u.first_name, u.last_name, u.token_version, u.is_active,
                array_agg(ur.role_id) FILTER (WHERE ur.role_id IS NOT NULL) AS role_ids
           FROM users u LEFT JOIN user_roles ur ON ur.user_id = u.id
          WHERE u.id = $1
          GROUP BY u.id`,
        [id],
      ) as Promise<AccountRow[]>
    )
      .then(([row]) => {
        if (row && generation === this.generation) this.accounts.set(id, row);
        return row;
      })
      .finally(() => {
        if (this.loading.get(id) === reading) this.loading.delete(id);
      });
    this.loading.set(id, reading);
    return reading;
  }

  toAuthUser(user: Pick<User, 'id' | 'contactId' | 'email' | 'firstName' | 'lastName' | 'tokenVersion'>, roles: Role[]): AuthUser {
    return {
      id: user.id,
      contactId: user.contactId,
      email: user.email,
      firstName: user.firstName,
      lastName: user.lastName,
      tokenVersion: user.tokenVersion,
      roles: roles.map((role) => ({ id: role.id, name: role.name, systemKey: role.systemKey, audience: role.audience })),
      accountType: accountTypeOf(roles),
      isAdmin: roles.some((role) => role.systemKey === 'admin'),
    };
  }

  async createAccount(manager: EntityManager, account: NewAccount): Promise<User> {
    const inserted = await manager.insert(User, {
      contactId: account.contactId,
      email: account.email.trim(),
      firstName: account.firstName,
      lastName: account.lastName,
      passwordHash: account.passwordHash,
    });
    const id = (inserted.identifiers[0] as { id: string }).id;
    if (account.roleIds.length) {
      await manager.createQueryBuilder().relation(User, 'roles').of(id).add(account.roleIds);
    }
    return (await this.findById(id, manager))!;
  }

  /** Creates the three system roles if they are missing. Idempotent and safe to run concurrently. */
  async ensureSystemRoles(manager: EntityManager): Promise<void> {
    for (const [key, role] of Object.entries(SYSTEM_ROLES) as Array<[SystemRoleKey, (typeof SYSTEM_ROLES)[SystemRoleKey]]>) {
      await manager.query(
        `INSERT INTO roles (system_key, name, description, audience) VALUES ($1, $2, $3, $4)
         ON CONFLICT (system_key) DO NOTHING`,
        [key, role.name, role.description, role.audience],
      );
    }
    this.rolesCache.invalidate();
  }

  async systemRoleId(manager: EntityManager, key: SystemRoleKey): Promise<string> {
    const rows: Array<{ id: string }> = await manager.query('SELECT id FROM roles WHERE system_key = $1', [key]);
    if (!rows[0]) throw new Error(`System role "${key}" is missing`);
    return rows[0].id;
  }

  async setPassword(manager: EntityManager, userId: string, passwordHash: string): Promise<void> {
    // Changing the password ends every session: access tokens by version, refresh tokens by revocation.
    await manager.query('UPDATE users SET password_hash = $2, token_version = token_version + 1, updated_at = now() WHERE id = $1', [userId, passwordHash]);
    await manager.query('UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
  }

  async revokeSessions(manager: EntityManager, userId: string): Promise<void> {
    await manager.query('UPDATE users SET token_version = token_version + 1, updated_at = now() WHERE id = $1', [userId]);
    await manager.query('UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId]);
  }
}
