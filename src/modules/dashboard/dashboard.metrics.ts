import { METRICS, MetricKey, MY_METRICS, MyMetricKey } from './dashboard.definitions';
import type { BreakdownSeriesRow, ContactCountsRow, LastContactedRow, MyCountsRow, SeriesRow } from './dashboard.queries';
import type {
  BreakdownSeriesMetricDto,
  CountMetricDto,
  DashboardMetricsDto,
  LastContactedMetricDto,
  MyDashboardDto,
  SeriesInterval,
  SeriesMetricDto,
  StageBreakdownMetricDto,
  StatusBreakdownMetricDto,
} from './dto/dashboard.dto';

/**
 * Shapes the one-row results of the dashboard statements into metrics with their label and
 * definition. The rows are already aggregated: nothing here grows with the data.
 */

const described = (key: MetricKey) => ({ key, ...METRICS[key] });
const describedMine = (key: MyMetricKey) => ({ key, ...MY_METRICS[key] });
const fullName = (first: string | null, last: string | null) => [first, last].filter(Boolean).join(' ');

const series = (base: { key: string; label: string; definition: string }, interval: SeriesInterval, row: SeriesRow): SeriesMetricDto => ({
  ...base,
  interval,
  periods: row.periods,
  values: row.values,
  total: row.total,
});

export interface SnapshotRows {
  counts: ContactCountsRow;
  lastContacted: LastContactedRow | undefined;
  conversions: SeriesRow;
  newContacts: BreakdownSeriesRow;
  activities: BreakdownSeriesRow;
}

export function snapshotMetrics(rows: SnapshotRows): DashboardMetricsDto {
  const { counts, lastContacted: last } = rows;
  const count = (key: MetricKey, value: number): CountMetricDto => ({ ...described(key), value });
  const lastContacted: LastContactedMetricDto = {
    ...described('lastContacted'),
    value: last
      ? {
          at: new Date(last.last_contacted_at).toISOString(),
          contactId: last.contact_id,
          contactName: fullName(last.first_name, last.last_name),
          activityId: last.activity_id,
          activityType: last.activity_type,
          activitySubject: last.activity_subject,
          authorId: last.author_id,
          authorName: last.author_id ? fullName(last.author_first_name, last.author_last_name) : null,
        }
      : null,
  };
  const newContacts: BreakdownSeriesMetricDto = { ...described('newContactsPerMonthBySource'), interval: 'month', ...rows.newContacts };
  const activities: BreakdownSeriesMetricDto = { ...described('activitiesPerStaffPerWeek'), interval: 'week', ...rows.activities };
  const perStatus: StatusBreakdownMetricDto = { ...described('contactsPerStatus'), items: counts.per_status };
  const perStage: StageBreakdownMetricDto = { ...described('contactsPerStage'), items: counts.per_stage };
  return {
    contacts: count('contacts', counts.contacts),
    customers: count('customers', counts.customers),
    leads: count('leads', counts.leads),
    customersNotContacted1Week: count('customersNotContacted1Week', counts.customers_quiet_week),
    customersNotContacted2Weeks: count('customersNotContacted2Weeks', counts.customers_quiet_two_weeks),
    customersNotContacted1Month: count('customersNotContacted1Month', counts.customers_quiet_month),
    lastContacted,
    customersUnassigned: count('customersUnassigned', counts.customers_unassigned),
    conversionsPerMonth: series(described('conversionsPerMonth'), 'month', rows.conversions),
    newContactsPerMonthBySource: newContacts,
    contactsPerStatus: perStatus,
    contactsPerStage: perStage,
    activitiesPerStaffPerWeek: activities,
  };
}

export function myMetrics(computedAt: Date, userId: string, counts: MyCountsRow, activities: SeriesRow): MyDashboardDto {
  const count = (key: MyMetricKey, value: number): CountMetricDto => ({ ...describedMine(key), value });
  return {
    computedAt: computedAt.toISOString(),
    userId,
    contacts: count('contacts', counts.contacts),
    contactsPerStage: { ...describedMine('contactsPerStage'), items: counts.per_stage },
    customersNotContacted1Week: count('customersNotContacted1Week', counts.customers_quiet_week),
    customersNotContacted2Weeks: count('customersNotContacted2Weeks', counts.customers_quiet_two_weeks),
    customersNotContacted1Month: count('customersNotContacted1Month', counts.customers_quiet_month),
    activitiesPerWeek: series(describedMine('activitiesPerWeek'), 'week', activities),
  };
}
