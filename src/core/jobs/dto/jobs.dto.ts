import { ApiProperty, PickType } from '@nestjs/swagger';
import { PageQueryDto } from '../../http/pagination';

export class JobCountsDto {
  @ApiProperty({ type: 'integer' })
  waiting: number;

  @ApiProperty({ type: 'integer' })
  active: number;

  @ApiProperty({ type: 'integer', description: 'Waiting for a retry or a scheduled time, or held back while their feature is off.' })
  delayed: number;

  @ApiProperty({ type: 'integer' })
  completed: number;

  @ApiProperty({ type: 'integer' })
  failed: number;
}

export class QueueStateDto {
  @ApiProperty({ example: 'contacts.import' })
  queue: string;

  @ApiProperty({ type: JobCountsDto })
  counts: JobCountsDto;
}

export class JobsOverviewDto {
  @ApiProperty({ enum: ['bullmq', 'in-process'], description: 'Where jobs are kept: Redis (BullMQ) or the API process itself (embedded mode).' })
  driver: 'bullmq' | 'in-process';

  @ApiProperty({ type: [QueueStateDto] })
  queues: QueueStateDto[];
}

export class FailedJobDto {
  @ApiProperty()
  id: string;

  @ApiProperty()
  queue: string;

  @ApiProperty({ type: 'object', additionalProperties: true })
  payload: unknown;

  @ApiProperty({ description: 'The error of the last attempt.' })
  error: string;

  @ApiProperty({ type: 'integer' })
  attempts: number;

  @ApiProperty({ format: 'date-time', nullable: true, type: String })
  failedAt: Date | null;
}

export class FailedJobsQueryDto extends PickType(PageQueryDto, ['page', 'limit'] as const) {}
