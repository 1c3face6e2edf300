import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { Authorize } from '../access/authorize.decorator';
import { ApiErrors } from '../http/api-errors.decorator';
import { ApiPageResponse, Page, pageWindow, parseSort, toPage } from '../http/pagination';
import { OutboxMessageDto, OutboxQueryDto } from './dto/outbox.dto';
import { MailOutboxMessage } from './mail-outbox.entity';

@ApiTags('mail')
@Controller('mail/outbox')
export class OutboxController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {}

  @Get()
  @Authorize('read', 'MailOutbox')
  @ApiOperation({ summary: 'List outgoing mail, newest first', operationId: 'listOutbox' })
  @ApiPageResponse(OutboxMessageDto)
  @ApiErrors(400, 401, 403)
  async list(@Query() query: OutboxQueryDto): Promise<Page<MailOutboxMessage>> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, { createdAt: 'm.createdAt', toAddress: 'm.toAddress', subject: 'm.subject' }, [['m.createdAt', 'DESC']]);
    const builder = this.dataSource.getRepository(MailOutboxMessage).createQueryBuilder('m');
    if (query.to) builder.andWhere('lower(m.to_address) = lower(:to)', { to: query.to });
    if (query.status) builder.andWhere('m.status = :status', { status: query.status });
    if (query.q) builder.andWhere('(m.subject ILIKE :q OR m.to_address ILIKE :q)', { q: `%${query.q.replace(/[\\%_]/g, '\\$&')}%` });
    for (const [expression, direction] of sort) builder.addOrderBy(expression, direction);
    const [rows, total] = await builder.addOrderBy('m.id').skip(window.offset).take(window.limit).getManyAndCount();
    return toPage(rows, total, window);
  }
}
