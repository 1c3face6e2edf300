import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AppConfig } from '../../config/app-config';
import { Authorize } from '../access/authorize.decorator';
import { ApiErrors } from '../http/api-errors.decorator';
import { pageWindow } from '../http/pagination';
import { FailedJobDto, FailedJobsQueryDto, JobsOverviewDto } from './dto/jobs.dto';
import { JobsService } from './jobs.service';

@ApiTags('jobs')
@Controller('jobs')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Authorize('read', 'Job')
  @ApiOperation({ summary: 'Queues and how many jobs each holds per state', operationId: 'listQueues' })
  @ApiOkResponse({ type: JobsOverviewDto })
  @ApiErrors(401, 403)
  async overview(): Promise<JobsOverviewDto> {
    return { driver: this.jobs.driver.name, queues: await this.jobs.counts() };
  }

  @Get(':queue/failed')
  @Authorize('read', 'Job')
  @ApiOperation({ summary: 'Failed jobs of a queue, newest first, with their errors', operationId: 'listFailedJobs' })
  @ApiParam({ name: 'queue', example: 'contacts.import' })
  @ApiOkResponse({ type: [FailedJobDto] })
  @ApiErrors(400, 401, 403, 404)
  failed(@Param('queue') queue: string, @Query() query: FailedJobsQueryDto): Promise<FailedJobDto[]> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    return this.jobs.failed(queue, window.page, window.limit);
  }

  @Post(':queue/:job/retry')
  @Authorize('update', 'Job')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Run a failed job again', operationId: 'retryJob' })
  @ApiParam({ name: 'queue', example: 'contacts.import' })
  @ApiParam({ name: 'job', description: 'The job id shown in the failed list.' })
  @ApiNoContentResponse({ description: 'Queued again.' })
  @ApiErrors(401, 403, 404)
  async retry(@Param('queue') queue: string, @Param('job') job: string): Promise<void> {
    await this.jobs.retry(queue, job);
  }
}
