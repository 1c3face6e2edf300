import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { FeaturesService } from '../../core/features/features.service';
import { JobsService } from '../../core/jobs/jobs.service';
import { DASHBOARD_REFRESH_QUEUE, DASHBOARD_SCHEDULE_ID, DashboardRefreshPayload } from './jobs/dashboard-refresh.job';

/**
 * Keeps the periodic refresh in step with the `dashboard` feature: scheduled while it is on,
 * removed while it is off (every process sees the toggle and applies it; both are idempotent).
 * A job queued before the switch is held back by the queue layer anyway.
 */
@Injectable()
export class DashboardScheduleService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Dashboard');
  private applying: Promise<void> = Promise.resolve();

  constructor(
    private readonly jobs: JobsService,
    private readonly features: FeaturesService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): Promise<void> {
    this.features.onChange((key) => {
      if (key === 'dashboard') void this.sync();
    });
    return this.sync();
  }

  /**
   * Applies the feature's current state. Calls run one after another and each reads the state
   * afresh, so quick on/off/on toggles end in the state the table holds, not in the order
   * their events happened to finish.
   */
  sync(): Promise<void> {
    this.applying = this.applying.then(() =>
      this.apply().catch((error: Error) => this.logger.error(`Could not update the dashboard refresh schedule: ${error.message}`)),
    );
    return this.applying;
  }

  private async apply(): Promise<void> {
    if (this.features.isEnabled('dashboard')) {
      await this.jobs.schedule(DASHBOARD_REFRESH_QUEUE, DASHBOARD_SCHEDULE_ID, this.config.dashboard.refreshMs, { trigger: 'schedule' } satisfies DashboardRefreshPayload);
    } else {
      await this.jobs.unschedule(DASHBOARD_REFRESH_QUEUE, DASHBOARD_SCHEDULE_ID);
    }
  }
}
