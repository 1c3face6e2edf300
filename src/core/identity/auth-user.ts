import type { RoleAudience, SystemRoleKey } from './entities/role.entity';

export type AccountType = 'staff' | 'client';

/** The signed-in user as the request carries it. */
export interface AuthUser {
  id: string;
  contactId: string;
  email: string;
  firstName: string;
  lastName: string;
  tokenVersion: number;
  roles: Array<{ id: string; name: string; systemKey: SystemRoleKey | null; audience: RoleAudience }>;
  accountType: AccountType;
  isAdmin: boolean;
}

/** An account is a client account only when none of its roles opens the back office. */
export function accountTypeOf(roles: Array<{ audience: RoleAudience }>): AccountType {
  return roles.some((role) => role.audience === 'staff') ? 'staff' : 'client';
}
