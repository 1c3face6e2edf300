import type { JobDefinition } from '../../../core/jobs/job.types';
import type { SnapshotTrigger } from '../dto/dashboard.dto';
import type { DashboardService } from '../dashboard.service';

export const DASHBOARD_REFRESH_QUEUE = 'dashboard.refresh';
/** The periodic refresh's scheduler id (one per deployment with BullMQ). */
export const DASHBOARD_SCHEDULE_ID = 'dashboard-refresh';

export interface DashboardRefreshPayload {
  trigger: SnapshotTrigger;
}

/** Computes every metric and stores a snapshot; held back by the queue layer while `dashboard` is off. */
export function dashboardRefreshJob(dashboard: DashboardService): JobDefinition<DashboardRefreshPayload> {
  return {
    queue: DASHBOARD_REFRESH_QUEUE,
    feature: 'dashboard',
    concurrency: 1,
    attempts: 3,
    backoffMs: 5000,
    handle: (payload) => dashboard.refresh(payload?.trigger === 'manual' ? 'manual' : 'schedule'),
  };
}
