import type { RoleAudience, SystemRoleKey } from './entities/role.entity';

export const SYSTEM_ROLES: Record<SystemRoleKey, { name: string; description: string; audience: RoleAudience }> = {
  admin: { name: 'Admin', description: 'Manages everything, including users, roles and features.', audience: 'staff' },
  staff: { name: 'Staff', description: 'Works the CRM back office: contacts, activities, segments, dashboard.', audience: 'staff' },
  client: { name: 'Client', description: 'A customer with access to the client portal and their own data only.', audience: 'client' },
};
