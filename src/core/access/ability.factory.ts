import { Injectable, Logger } from '@nestjs/common';
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
  private readonly enforceable = new WeakMap<Role, StoredRule[]>();
  private readonly logger = new Logger('AbilityFactory');

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
      stored.push(...this.enforceableRules(role));
    }
    return [...stored, ...builtIn];
  }

  /**
   * A role's rules as they can be enforced, worked out once per role object. A rule whose
   * conditions were saved before a check they now fail (an operator the SQL translation refuses,
   * say) would fail every request of its holders: until an administrator edits the role, such a
   * rule grants nothing, and a denying one denies its actions on its subjects outright. (Rules
   * failing other checks, such as actions reserved to administrators, are enforced by the
   * services that those checks guard.)
   */
  private enforceableRules(role: Role): StoredRule[] {
    let rules = this.enforceable.get(role);
    if (!rules) {
      rules = enforceable(role.rules, this.subjects, (errors) =>
        this.logger.warn(`Role "${role.name}" (${role.id}) holds rules that are no longer valid, enforced in their strictest form until it is edited: ${errors.join('; ')}`),
      );
      this.enforceable.set(role, rules);
    }
    return rules;
  }

  /** The rules a system role always has, whatever admins add to it. */
  systemRules(key: 'admin' | 'staff' | 'client'): StoredRule[] {
    if (key === 'admin') return [{ action: 'manage', subject: 'all' }];
    return this.subjects.all().flatMap((subject) => subject.systemRules?.[key] ?? []);
  }
}

/** `rules` with each one whose conditions are invalid left out (granting) or made unconditional (denying); `report` hears of any. */
export function enforceable(rules: StoredRule[], subjects: SubjectRegistry, report: (errors: string[]) => void): StoredRule[] {
  const errors = subjects.check(rules).filter((error) => /^rules\.\d+\.conditions(\.|$)/.test(error.field));
  if (!errors.length) return rules;
  report(errors.map((error) => `${error.field}: ${error.message}`));
  const invalid = new Set(errors.map((error) => Number(/^rules\.(\d+)/.exec(error.field)![1])));
  return rules.flatMap((rule, index): StoredRule[] => {
    if (!invalid.has(index)) return [rule];
    return rule.inverted ? [{ action: rule.action, subject: rule.subject, inverted: true, ...(rule.reason ? { reason: rule.reason } : {}) }] : [];
  });
}
