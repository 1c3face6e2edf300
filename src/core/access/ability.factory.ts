import { Injectable } from '@nestjs/common';
import { LRUCache } from 'lru-cache';
import type { AuthUser } from '../identity/auth-user';
import type { Role } from '../identity/entities/role.entity';
import { RolesCache } from '../identity/roles-cache.service';
import { AppAbility, buildAbility } from './app-ability';
import { grantsAdministration } from './record-access';
import { interpolateRules, lowerCaseUuids } from './rule-interpolation';
import type { StoredRule } from './rule.types';
import { SubjectRegistry } from './subject-registry';

const ANONYMOUS: StoredRule[] = [];

/**
 * Builds the ability of one request from the user's roles: built-in rules plus stored ones.
 * Abilities are immutable, so one built for a user is reused by their next requests for as
 * long as their roles are the very role objects it was built from (the roles cache hands out
 * new ones after any change, in any process).
 */
@Injectable()
export class AbilityFactory {
  private readonly built = new LRUCache<string, { roles: Array<Role | undefined>; ability: AppAbility }>({ max: 5000 });
  private readonly anonymous = buildAbility(ANONYMOUS);

  constructor(
    private readonly subjects: SubjectRegistry,
    private readonly roles: RolesCache,
  ) {}

  async forUser(user: AuthUser | undefined): Promise<AppAbility> {
    if (!user) return this.anonymous;
    const roles = await Promise.all(user.roles.map(({ id }) => this.roles.byId(id)));
    // Everything the rules may interpolate is part of the key.
    const key = `${user.id}|${user.contactId}|${user.email}|${user.roles.map((role) => role.id).join(',')}`;
    const cached = this.built.get(key);
    if (cached && cached.roles.length === roles.length && cached.roles.every((role, i) => role === roles[i])) return cached.ability;
    const rules = this.rulesOf(roles);
    const ability = buildAbility(lowerCaseUuids(interpolateRules(rules, user), (subject, field) => this.subjects.get(subject)?.fields[field]?.type));
    this.built.set(key, { roles, ability });
    return ability;
  }

  /**
   * Whether an account holding these roles is an administrator, whoever asks: only
   * administrators may change such an account, since its email or password makes one.
   */
  async isAdministratorAccount(roleIds: readonly string[]): Promise<boolean> {
    const roles = await Promise.all(roleIds.map((id) => this.roles.byId(id)));
    return grantsAdministration(this.rulesOf(roles));
  }

  private rulesOf(roles: ReadonlyArray<Role | undefined>): StoredRule[] {
    // Built-in rules go last: in CASL a later rule wins, so no stored rule (an inverted one
    // added to a system role) can take away what a system role always has.
    const stored: StoredRule[] = [];
    const builtIn: StoredRule[] = [];
    for (const role of roles) {
      if (!role) continue;
      if (role.systemKey) builtIn.push(...this.systemRules(role.systemKey));
      stored.push(...role.rules);
    }
    return [...stored, ...builtIn];
  }

  /** The rules a system role always has, whatever admins add to it. */
  systemRules(key: 'admin' | 'staff' | 'client'): StoredRule[] {
    if (key === 'admin') return [{ action: 'manage', subject: 'all' }];
    return this.subjects.all().flatMap((subject) => subject.systemRules?.[key] ?? []);
  }
}
