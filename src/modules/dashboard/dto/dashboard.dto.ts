import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ACTIVITY_TYPES, type ActivityType } from '../../contacts/entities/activity.entity';
import { CONTACT_STAGES, type ContactStage } from '../../contacts/entities/contact-status.entity';

export const SNAPSHOT_TRIGGERS = ['schedule', 'manual'] as const;
export type SnapshotTrigger = (typeof SNAPSHOT_TRIGGERS)[number];

export const SERIES_INTERVALS = ['month', 'week'] as const;
export type SeriesInterval = (typeof SERIES_INTERVALS)[number];

// ---------------------------------------------------------------------------------------------
// Metric shapes
// ---------------------------------------------------------------------------------------------

/** What every metric carries besides its value, so a front end can label it and explain it in a tooltip. */
export class DashboardMetricDto {
  @ApiProperty({ example: 'customers', description: 'Stable identifier of the metric.' })
  key: string;

  @ApiProperty({ example: 'Customers', description: 'Short display name.' })
  label: string;

  @ApiProperty({ description: 'What the metric counts and from which fields (for a tooltip).' })
  definition: string;
}

export class CountMetricDto extends DashboardMetricDto {
  @ApiProperty({ type: 'integer', minimum: 0, example: 42 })
  value: number;
}

export class LastContactDto {
  @ApiProperty({ format: 'date-time', description: "The contact's last_contacted_at: when the activity happened." })
  at: string;

  @ApiProperty({ format: 'uuid' })
  contactId: string;

  @ApiProperty({ example: 'Ada Lovelace' })
  contactName: string;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'The activity that set the time; null if it has since been removed.' })
  activityId: string | null;

  @ApiProperty({ enum: ACTIVITY_TYPES, enumName: 'ActivityType', nullable: true })
  activityType: ActivityType | null;

  @ApiProperty({ nullable: true, type: String, example: 'Quarterly review' })
  activitySubject: string | null;

  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'Who logged the activity; null when unknown or the account was deleted.' })
  authorId: string | null;

  @ApiProperty({ nullable: true, type: String, example: 'Grace Hopper' })
  authorName: string | null;
}

export class LastContactedMetricDto extends DashboardMetricDto {
  @ApiProperty({ type: LastContactDto, nullable: true, description: 'Null when no activity was ever logged on a live contact, or when it is withheld from you (see `withheld`).' })
  value: LastContactDto | null;

  @ApiPropertyOptional({
    enum: [true],
    description: 'Present, and true, when you may not read that contact or that activity: `value` is then null. The other metrics count every contact.',
  })
  withheld?: true;
}

/** A count per period; `values[i]` belongs to `periods[i]`. */
export class SeriesMetricDto extends DashboardMetricDto {
  @ApiProperty({ enum: SERIES_INTERVALS, enumName: 'SeriesInterval', description: 'month: calendar months (UTC); week: weeks starting on Monday (UTC).' })
  interval: SeriesInterval;

  @ApiProperty({ type: [String], format: 'date', description: 'First day of each period, oldest first; the last one is the current period.', example: ['2025-12-01', '2026-01-01'] })
  periods: string[];

  @ApiProperty({ type: 'integer', isArray: true, description: 'One count per period, in the order of `periods`.', example: [3, 5] })
  values: number[];

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Sum of `values`.' })
  total: number;
}

export class BreakdownSeriesDto {
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'The traffic source or staff member; null for "none" (no traffic source, deleted account).' })
  id: string | null;

  @ApiProperty({ example: 'Website' })
  name: string;

  @ApiProperty({ type: 'integer', isArray: true, description: 'One count per period, in the order of the metric’s `periods`.' })
  values: number[];

  @ApiProperty({ type: 'integer', minimum: 0, description: 'Sum of `values`.' })
  total: number;
}

/** Several series over the same periods, one per traffic source or staff member. */
export class BreakdownSeriesMetricDto extends DashboardMetricDto {
  @ApiProperty({ enum: SERIES_INTERVALS, enumName: 'SeriesInterval' })
  interval: SeriesInterval;

  @ApiProperty({ type: [String], format: 'date', description: 'First day of each period, oldest first; the last one is the current period.' })
  periods: string[];

  @ApiProperty({ type: [BreakdownSeriesDto] })
  series: BreakdownSeriesDto[];
}

export class StatusCountDto {
  @ApiProperty({ format: 'uuid', nullable: true, type: String, description: 'Null for contacts without a status.' })
  statusId: string | null;

  @ApiProperty({ example: 'Customer' })
  name: string;

  @ApiProperty({ enum: CONTACT_STAGES, enumName: 'ContactStage', nullable: true })
  stage: ContactStage | null;

  @ApiProperty({ type: 'integer', minimum: 0 })
  value: number;
}

export class StatusBreakdownMetricDto extends DashboardMetricDto {
  @ApiProperty({ type: [StatusCountDto], description: 'Every status in its list order, then contacts without a status.' })
  items: StatusCountDto[];
}

export class StageCountDto {
  @ApiProperty({ enum: CONTACT_STAGES, enumName: 'ContactStage', nullable: true, description: 'Null for contacts without a status.' })
  stage: ContactStage | null;

  @ApiProperty({ example: 'Customer' })
  name: string;

  @ApiProperty({ type: 'integer', minimum: 0 })
  value: number;
}

export class StageBreakdownMetricDto extends DashboardMetricDto {
  @ApiProperty({ type: [StageCountDto], description: 'lead, prospect, customer, other, then contacts without a status.' })
  items: StageCountDto[];
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

export class DashboardMetricsDto {
  @ApiProperty({ type: CountMetricDto })
  contacts: CountMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customers: CountMetricDto;

  @ApiProperty({ type: CountMetricDto })
  leads: CountMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customersNotContacted1Week: CountMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customersNotContacted2Weeks: CountMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customersNotContacted1Month: CountMetricDto;

  @ApiProperty({ type: LastContactedMetricDto })
  lastContacted: LastContactedMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customersUnassigned: CountMetricDto;

  @ApiProperty({ type: SeriesMetricDto, description: 'Monthly, last 12 months.' })
  conversionsPerMonth: SeriesMetricDto;

  @ApiProperty({ type: BreakdownSeriesMetricDto, description: 'Monthly, last 12 months, one series per traffic source.' })
  newContactsPerMonthBySource: BreakdownSeriesMetricDto;

  @ApiProperty({ type: StatusBreakdownMetricDto })
  contactsPerStatus: StatusBreakdownMetricDto;

  @ApiProperty({ type: StageBreakdownMetricDto })
  contactsPerStage: StageBreakdownMetricDto;

  @ApiProperty({ type: BreakdownSeriesMetricDto, description: 'Weekly, last 8 weeks, one series per staff member.' })
  activitiesPerStaffPerWeek: BreakdownSeriesMetricDto;
}

export class DashboardDto {
  @ApiProperty({ enum: ['ready', 'pending'], description: 'pending: no snapshot has been computed yet; one is being computed (see `refreshJobId`).' })
  status: 'ready' | 'pending';

  @ApiProperty({ format: 'date-time', nullable: true, type: String, description: 'The moment the metrics describe; null while pending.' })
  computedAt: string | null;

  @ApiProperty({ type: 'integer', nullable: true, description: 'How long computing the snapshot took, in milliseconds.' })
  durationMs: number | null;

  @ApiProperty({ enum: SNAPSHOT_TRIGGERS, enumName: 'SnapshotTrigger', nullable: true, description: 'schedule: the periodic refresh; manual: asked for.' })
  trigger: SnapshotTrigger | null;

  @ApiProperty({ nullable: true, type: String, description: 'While pending, the job computing the first snapshot.' })
  refreshJobId: string | null;

  @ApiProperty({ type: DashboardMetricsDto, nullable: true, description: 'Null while pending.' })
  metrics: DashboardMetricsDto | null;
}

export class DashboardRefreshDto {
  @ApiProperty({ example: 'dashboard-manual-352816001', description: 'Asking again while this job waits or runs returns it instead of queueing another; once it finished, asking again runs it again.' })
  jobId: string;

  @ApiProperty({ format: 'date-time', description: 'The snapshot the dashboard shows now (null if none yet); a newer `computedAt` on `GET /dashboard` means the refresh is done.', nullable: true, type: String })
  currentComputedAt: string | null;
}

export class MyDashboardDto {
  @ApiProperty({ format: 'date-time', description: 'Computed live, at this moment.' })
  computedAt: string;

  @ApiProperty({ format: 'uuid', description: 'The signed-in staff member the numbers are about.' })
  userId: string;

  @ApiProperty({ type: CountMetricDto })
  contacts: CountMetricDto;

  @ApiProperty({ type: StageBreakdownMetricDto })
  contactsPerStage: StageBreakdownMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customersNotContacted1Week: CountMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customersNotContacted2Weeks: CountMetricDto;

  @ApiProperty({ type: CountMetricDto })
  customersNotContacted1Month: CountMetricDto;

  @ApiProperty({ type: SeriesMetricDto, description: 'Weekly, last 8 weeks.' })
  activitiesPerWeek: SeriesMetricDto;
}
