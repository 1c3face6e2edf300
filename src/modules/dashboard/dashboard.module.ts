import { Module, OnModuleInit } from '@nestjs/common';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { JobsService } from '../../core/jobs/jobs.service';
import { DashboardScheduleService } from './dashboard-schedule.service';
import { DashboardController } from './dashboard.controller';
import { DashboardService } from './dashboard.service';
import { DASHBOARD_SUBJECTS } from './dashboard.subjects';
import { dashboardRefreshJob } from './jobs/dashboard-refresh.job';

/** Dashboard (feature `dashboard`, needs `contacts`): analytics snapshots computed by a job, and each staff member's own numbers. */
@Module({ controllers: [DashboardController], providers: [DashboardService, DashboardScheduleService], exports: [DashboardService] })
export class DashboardModule implements OnModuleInit {
  constructor(
    private readonly subjects: SubjectRegistry,
    private readonly jobs: JobsService,
    private readonly dashboard: DashboardService,
  ) {}

  onModuleInit(): void {
    this.subjects.register(...DASHBOARD_SUBJECTS);
    this.jobs.define(dashboardRefreshJob(this.dashboard));
  }
}
