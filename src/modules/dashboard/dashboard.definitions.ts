/**
 * What each dashboard metric is called and what it counts, from which fields: shown as the
 * metric's tooltip, so a number on the screen can always be traced back to the data.
 */

/** "Not contacted for" buckets, in days before the moment the snapshot describes. */
export const QUIET_DAYS = { week: 7, twoWeeks: 14, month: 30 } as const;
/** Months in the monthly series (this month included) and weeks in the weekly ones (this week included). */
export const SERIES_MONTHS = 12;
export const SERIES_WEEKS = 8;

const LIVE = 'Trashed contacts (deleted_at set) are never counted.';
const CUSTOMER = 'customers (contacts whose status is at the customer stage, contact_statuses.stage = customer)';
const quiet = (days: number, who = CUSTOMER) =>
  `Number of ${who} not contacted in the last ${days} days: contacts.last_contacted_at (the time of their latest activity that is not in the future) ` +
  `is more than ${days} days before the computation time, or is empty because no activity was ever logged (never contacted is included). ${LIVE}`;

export interface MetricText {
  label: string;
  definition: string;
}

export const METRICS = {
  contacts: { label: 'Contacts', definition: `Number of contacts, whatever their status (rows of contacts). ${LIVE}` },
  customers: { label: 'Customers', definition: `Number of ${CUSTOMER}. ${LIVE}` },
  leads: { label: 'Leads', definition: `Number of leads: contacts whose status is at the lead stage (contact_statuses.stage = lead). ${LIVE}` },
  customersNotContacted1Week: { label: 'Customers not contacted for 1 week', definition: quiet(QUIET_DAYS.week) },
  customersNotContacted2Weeks: { label: 'Customers not contacted for 2 weeks', definition: quiet(QUIET_DAYS.twoWeeks) },
  customersNotContacted1Month: { label: 'Customers not contacted for 1 month', definition: quiet(QUIET_DAYS.month) },
  lastContacted: {
    label: 'Last contacted',
    definition:
      'The contact with the most recent contacts.last_contacted_at (their latest activity that is not in the future), with that activity: ' +
      `its type and subject (activities.type, activities.subject) and who logged it (activities.author_id). Empty when no activity was ever logged. ${LIVE}`,
  },
  customersUnassigned: {
    label: 'Customers not assigned',
    definition: `Number of ${CUSTOMER} with no staff member assigned (contacts.assigned_to_id is empty). ${LIVE}`,
  },
  conversionsPerMonth: {
    label: 'Conversions per month',
    definition:
      'Leads that became customers, per calendar month (UTC) over the last 12 months, this month included: status changes in contact_status_history ' +
      'whose previous status is at the lead stage and whose new status is at the customer stage, counted in the month of changed_at. ' +
      `A contact that went through another stage first (lead → prospect → customer) is not counted, nor are contacts moved by deleting their status in favour of another, or by an import's revert. Each status counts with the stage it had when the change was made, even if its stage changed or it was deleted since. ${LIVE}`,
  },
  newContactsPerMonthBySource: {
    label: 'New contacts per month by traffic source',
    definition:
      'Contacts created per calendar month (UTC, by contacts.created_at) over the last 12 months, this month included, split by traffic source ' +
      `(contacts.traffic_source_id); every traffic source is listed, plus contacts without one. ${LIVE}`,
  },
  contactsPerStatus: {
    label: 'Contacts per status',
    definition: `Number of contacts in each status (contacts.status_id), every status listed, plus contacts without a status. ${LIVE}`,
  },
  contactsPerStage: {
    label: 'Contacts per stage',
    definition: `Number of contacts per stage of their status (contact_statuses.stage: lead, prospect, customer, other), plus contacts without a status. ${LIVE}`,
  },
  activitiesPerStaffPerWeek: {
    label: 'Activities per staff member per week',
    definition:
      'Activities logged per week (weeks start on Monday, UTC, by activities.occurred_at) over the last 8 weeks, this week included and up to the ' +
      'computation time (future-dated tasks are left out), per author (activities.author_id): every staff member who logged at least one in that time, ' +
      `and authors whose account was deleted under one "Deleted account" entry. Activities on trashed contacts are not counted.`,
  },
} as const satisfies Record<string, MetricText>;

export type MetricKey = keyof typeof METRICS;

/** The same measures over the contacts assigned to one staff member. */
const MINE = 'contacts assigned to you (contacts.assigned_to_id)';
const MY_CUSTOMERS = `customers among the ${MINE}`;

export const MY_METRICS = {
  contacts: { label: 'Your contacts', definition: `Number of ${MINE}, whatever their status. ${LIVE}` },
  contactsPerStage: {
    label: 'Your contacts per stage',
    definition: `Number of ${MINE} per stage of their status (contact_statuses.stage: lead, prospect, customer, other), plus those without a status. ${LIVE}`,
  },
  customersNotContacted1Week: { label: 'Your customers not contacted for 1 week', definition: quiet(QUIET_DAYS.week, MY_CUSTOMERS) },
  customersNotContacted2Weeks: { label: 'Your customers not contacted for 2 weeks', definition: quiet(QUIET_DAYS.twoWeeks, MY_CUSTOMERS) },
  customersNotContacted1Month: { label: 'Your customers not contacted for 1 month', definition: quiet(QUIET_DAYS.month, MY_CUSTOMERS) },
  activitiesPerWeek: {
    label: 'Your activities per week',
    definition:
      'Activities you logged (activities.author_id) per week (weeks start on Monday, UTC, by activities.occurred_at) over the last 8 weeks, this week included ' +
      'and up to now (future-dated tasks are left out), on any contact. Activities on trashed contacts are not counted.',
  },
} as const satisfies Record<string, MetricText>;

export type MyMetricKey = keyof typeof MY_METRICS;

/** Display names of the stages, and of contacts without a status. */
export const STAGE_NAMES = { lead: 'Lead', prospect: 'Prospect', customer: 'Customer', other: 'Other' } as const;
export const NO_STATUS = 'No status';
export const NO_TRAFFIC_SOURCE = 'No traffic source';
export const DELETED_AUTHOR = 'Deleted account';
