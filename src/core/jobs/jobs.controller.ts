import { Controller, Get, HttpCode, HttpStatus, Param, Post, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { AppConfig } from '../../config/app-config';
import type { AppAbility } from '../access/app-ability';
import { Authorize } from '../access/authorize.decorator';
import { RequestAbility } from '../access/request-ability.decorator';
import { ApiErrors } from '../http/api-errors.decorator';
import { ErrorResponseDto } from '../http/error-response.dto';
import { pageWindow } from '../http/pagination';
import { FailedJobDto, FailedJobsQueryDto, JobsOverviewDto } from './dto/jobs.dto';
import { JobsService } from './jobs.service';

/** Rules on `Job` may name a `queue`: callers see, and retry, the jobs of those queues only. */
@ApiTags('jobs')
@ApiServiceUnavailableResponse({ description: 'The job queue (Redis) does not answer; retry later.', type: ErrorResponseDto })
@Controller('jobs')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Authorize('read', 'Job')
  @ApiOperation({ summary: 'Queues the caller may read, and how many jobs each holds per state', operationId: 'listQueues' })
  @ApiOkResponse({ type: JobsOverviewDto })
  @ApiErrors(401, 403)
  async overview(@RequestAbility() ability: AppAbility): Promise<JobsOverviewDto> {
    return { driver: this.jobs.driver.name, queues: await this.jobs.counts(ability) };
  }

  @Get(':queue/failed')
  @Authorize('read', 'Job')
  @ApiOperation({ summary: 'Failed jobs of a queue, newest first, with their errors', operationId: 'listFailedJobs' })
  @ApiParam({ name: 'queue', example: 'contacts.import' })
  @ApiOkResponse({ type: [FailedJobDto] })
  @ApiErrors(400, 401, 403, 404)
  failed(@RequestAbility() ability: AppAbility, @Param('queue') queue: string, @Query() query: FailedJobsQueryDto): Promise<FailedJobDto[]> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    return this.jobs.failedFor(ability, queue, window.page, window.limit);
  }

  @Post(':queue/:job/retry')
  @Authorize('update', 'Job')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Run a failed job again', operationId: 'retryJob' })
  @ApiParam({ name: 'queue', example: 'contacts.import' })
  @ApiParam({ name: 'job', description: 'The job id shown in the failed list.' })
  @ApiNoContentResponse({ description: 'Queued again.' })
  @ApiErrors(400, 401, 403, 404)
  async retry(@RequestAbility() ability: AppAbility, @Param('queue') queue: string, @Param('job') job: string): Promise<void> {
    await this.jobs.retryFor(ability, queue, job);
  }
}
