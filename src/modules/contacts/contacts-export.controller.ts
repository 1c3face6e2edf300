import { Controller, Get, Query, StreamableFile } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../../core/access/app-ability';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import type { AuthUser } from '../../core/identity/auth-user';
import { ContactsExportService } from './contacts-export.service';
import { ContactQueryDto } from './dto/contact.dto';
import { queryToFilter } from './filters/query-to-filter';
import { ApiContactFilterModels } from './dto/contact-filter.dto';

/**
 * CSV export of contacts. Its own controller so the static `contacts/export` path sits
 * beside `contacts/:id`; Fastify matches static segments before parameters.
 */
@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@ApiContactFilterModels()
@Controller('contacts')
export class ContactsExportController {
  constructor(private readonly exports: ContactsExportService) {}

  @Get('export')
  @Authorize('export', 'Contact')
  @ApiOperation({
    summary: 'Export contacts as CSV',
    description:
      'The contacts you may both read and export, with the filters and sort of `GET /contacts` (`page`, `limit` and `cursor` are accepted and ignored: ' +
      'the whole selection is exported). Columns: the core fields, then `custom.<key>` for each active custom field. Lists are joined with "; ", ' +
      'references are given by name (status, tags, services, traffic source) or email (assignee; its name for roles that may not read users), and cells a spreadsheet would run as a formula ' +
      "start with `'`. The file is the import format, so it re-imports unchanged. Streamed, UTF-8 without BOM.",
    operationId: 'exportContacts',
  })
  // The CSV media type is set on this response alone: @ApiProduces would label the JSON error bodies text/csv too.
  @ApiOkResponse({ description: 'The CSV file, as an attachment named contacts-<date>.csv.', content: { 'text/csv': { schema: { type: 'string' } } } })
  @ApiErrors(400, 401, 403, 404)
  async export(@RequestAbility() ability: AppAbility, @CurrentUser() user: AuthUser, @Query() query: ContactQueryDto): Promise<StreamableFile> {
    const stream = await this.exports.export(ability, { filter: queryToFilter(query, user.id), sort: query.sort });
    const date = new Date().toISOString().slice(0, 10);
    return new StreamableFile(stream, { type: 'text/csv; charset=utf-8', disposition: `attachment; filename="contacts-${date}.csv"` });
  }
}
