import type { ContactStage } from './entities/contact-status.entity';

/** What the first sign-up puts in place (the seeds: Lead, Prospect, Customer, basic services and sources). */
export const STARTER_STATUSES: Array<{ name: string; stage: ContactStage }> = [
  { name: 'Lead', stage: 'lead' },
  { name: 'Prospect', stage: 'prospect' },
  { name: 'Customer', stage: 'customer' },
];

export const STARTER_SERVICES = ['Consulting', 'Support', 'Training'];

export const STARTER_TRAFFIC_SOURCES = ['Website', 'Referral', 'Social Media', 'Advertising', 'Event', 'Other'];
