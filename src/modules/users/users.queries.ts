/** The user row as the API shows it, with its roles and contact phone, for one or many users. */
export const USER_VIEW_SELECT = `
  SELECT u.id, u.contact_id, u.email, u.first_name, u.last_name, c.phone, u.is_active,
         (u.password_hash IS NOT NULL) AS has_password, u.last_login_at, u.created_at, u.updated_at,
         COALESCE(
           (SELECT json_agg(json_build_object('id', r.id, 'name', r.name, 'systemKey', r.system_key, 'audience', r.audience) ORDER BY r.name)
              FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id),
           '[]'::json) AS roles
    FROM users u JOIN contacts c ON c.id = u.contact_id`;

export interface UserViewRow {
  id: string;
  contact_id: string;
  email: string;
  first_name: string;
  last_name: string;
  phone: string | null;
  is_active: boolean;
  has_password: boolean;
  last_login_at: Date | null;
  created_at: Date;
  updated_at: Date;
  roles: Array<{ id: string; name: string; systemKey: 'admin' | 'staff' | 'client' | null; audience: 'staff' | 'client' }>;
}

export const USER_SORTS: Record<string, string> = {
  email: 'u.email_key',
  // Names ignore case, as contact lists sort them; no last name ('') comes last, as empty values do.
  firstName: 'lower(u.first_name)',
  lastName: "lower(nullif(u.last_name, ''))",
  createdAt: 'u.created_at',
  lastLoginAt: 'u.last_login_at',
};
