import { Injectable } from '@nestjs/common';
import type { AuthUser } from '../identity/auth-user';
import { RolesCache } from '../identity/roles-cache.service';
import { AppAbility, buildAbility } from './app-ability';
import { interpolateRules } from './rule-interpolation';
import type { StoredRule } from './rule.types';
import { SubjectRegistry } from './subject-registry';

const ANONYMOUS: StoredRule[] = [];

/** Builds the ability of one request from the user's roles: built-in rules plus stored ones. */
@Injectable()
export class AbilityFactory {
  constructor(
    private readonly subjects: SubjectRegistry,
    private readonly roles: RolesCache,
  ) {}

  async forUser(user: AuthUser | undefined): Promise<AppAbility> {
    if (!user) return buildAbility(ANONYMOUS);
    const rules: StoredRule[] = [];
    for (const { id } of user.roles) {
      const role = await this.roles.byId(id);
      if (!role) continue;
      if (role.systemKey) rules.push(...this.systemRules(role.systemKey));
      rules.push(...role.rules);
    }
    return buildAbility(interpolateRules(rules, user));
  }

  /** The rules a system role always has, whatever admins add to it. */
  systemRules(key: 'admin' | 'staff' | 'client'): StoredRule[] {
    if (key === 'admin') return [{ action: 'manage', subject: 'all' }];
    return this.subjects.all().flatMap((subject) => subject.systemRules?.[key] ?? []);
  }
}
