import { activeStaffSql } from '../contacts/contacts.queries';
import type { ActivityType } from '../contacts/entities/activity.entity';

/**
 * The client's read model. Every statement is keyed by the signed-in client's own contact
 * id, and activities are further limited by the client's ability (see the service).
 */

/** The client's details as the portal shows them. */
export const PROFILE_SELECT = `
  SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.company, c.job_title, c.address_line1, c.address_line2,
         c.city, c.region, c.postal_code, c.country, s.name AS status_name, c.preferences, c.custom_fields, c.version, c.updated_at
    FROM contacts c LEFT JOIN contact_statuses s ON s.id = c.status_id
   WHERE c.id = $1 AND c.deleted_at IS NULL`;

export interface ProfileRow {
  id: string;
  first_name: string;
  last_name: string;
  email: string | null;
  phone: string | null;
  company: string | null;
  job_title: string | null;
  address_line1: string | null;
  address_line2: string | null;
  city: string | null;
  region: string | null;
  postal_code: string | null;
  country: string | null;
  status_name: string | null;
  preferences: Record<string, unknown>;
  custom_fields: Record<string, unknown>;
  version: number;
  updated_at: Date;
}

/** The client's name and their contact person: an active staff account, with the phone of its own contact. */
export const DASHBOARD_SELECT = `
  SELECT c.first_name, c.last_name,
         au.id AS assignee_id, au.first_name AS assignee_first_name, au.last_name AS assignee_last_name,
         au.email AS assignee_email, ac.phone AS assignee_phone
    FROM contacts c
    -- Only ever shown as the client's contact person while an active staff account.
    LEFT JOIN users au ON au.id = c.assigned_to_id AND ${activeStaffSql('au.id')}
    LEFT JOIN contacts ac ON ac.id = au.contact_id
   WHERE c.id = $1 AND c.deleted_at IS NULL`;

export interface DashboardRow {
  first_name: string;
  last_name: string;
  assignee_id: string | null;
  assignee_first_name: string | null;
  assignee_last_name: string | null;
  assignee_email: string | null;
  assignee_phone: string | null;
}

/** Timeline entries: only the author's name leaves the database. */
export const TIMELINE_SELECT = `
  SELECT a.id, a.type, a.subject, a.body, a.occurred_at, au.first_name AS author_first_name, au.last_name AS author_last_name
    FROM activities a LEFT JOIN users au ON au.id = a.author_id`;

export interface TimelineRow {
  id: string;
  type: ActivityType;
  subject: string;
  body: string;
  occurred_at: Date;
  author_first_name: string | null;
  author_last_name: string | null;
}

export const TIMELINE_SORTS: Record<string, string> = { occurredAt: 'a.occurred_at' };

/** Body field → column of the contact details a client may change. */
export const PORTAL_SCALAR_COLUMNS = {
  firstName: 'first_name',
  lastName: 'last_name',
  phone: 'phone',
  addressLine1: 'address_line1',
  addressLine2: 'address_line2',
  city: 'city',
  region: 'region',
  postalCode: 'postal_code',
  country: 'country',
} as const;
