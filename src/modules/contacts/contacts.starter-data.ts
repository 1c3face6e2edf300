import type { ContactStage } from './entities/contact-status.entity';

/** What the first sign-up puts in place (the seeds: Lead, Prospect, Customer, basic services and sources). */
export const STARTER_STATUSES: Array<{ name: string; stage: ContactStage }> = [
  { name: 'Lead', stage: 'lead' },
  { name: 'Prospect', stage: 'prospect' },
  { name: 'Customer', stage: 'customer' },
];

/**
 * Which lead-stage status a new contact gets when none is given ("Lead" first), as an ORDER BY
 * over `contact_statuses` rows.
 */
export const DEFAULT_STATUS_ORDER = "(name_key = 'lead') DESC, position, created_at";

export const STARTER_SERVICES = ['Consulting', 'Support', 'Training'];

export const STARTER_TRAFFIC_SOURCES = ['Website', 'Referral', 'Social Media', 'Advertising', 'Event', 'Other'];
