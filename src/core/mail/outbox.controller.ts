import { Controller, Get, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../access/app-ability';
import { Authorize } from '../access/authorize.decorator';
import { RequestAbility } from '../access/request-ability.decorator';
import { ApiErrors } from '../http/api-errors.decorator';
import { ApiPageResponse, Page } from '../http/pagination';
import { OutboxMessageDto, OutboxQueryDto } from './dto/outbox.dto';
import { MailService } from './mail.service';

@ApiTags('mail')
@Controller('mail/outbox')
export class OutboxController {
  constructor(private readonly mail: MailService) {}

  @Get()
  @Authorize('read', 'MailOutbox')
  @ApiOperation({ summary: 'List outgoing mail, newest first', operationId: 'listOutbox' })
  @ApiPageResponse(OutboxMessageDto)
  @ApiErrors(400, 401, 403)
  list(@RequestAbility() ability: AppAbility, @Query() query: OutboxQueryDto): Promise<Page<OutboxMessageDto>> {
    return this.mail.listOutbox(ability, query);
  }
}
