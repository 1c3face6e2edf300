import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Post, Put, Query, Req, Res, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiConsumes, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppConfig } from '../../config/app-config';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import { CurrentUser } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { ApiPageResponse, Page, pageWindow, toPage } from '../../core/http/pagination';
import { RequestValidationError, UuidParam } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { ContactsImportService } from './contacts-import.service';
import { DryRunDto, ImportDto, ImportQueryDto, ImportSettingsDto, SavedMappingDto, SaveMappingDto, UploadDto } from './dto/import.dto';
import type { ColumnMapping } from './import-mapping';
import { WholeContactDeleteGuard, WholeContactRightsGuard } from './contacts-import.guard';
import { ReadsOnly } from '../../core/openapi/reads-only.decorator';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@Controller('contacts')
@UseGuards(WholeContactRightsGuard)
export class ContactsImportController {
  constructor(
    private readonly imports: ContactsImportService,
    private readonly config: AppConfig,
  ) {}

  @Post('imports')
  @Authorize('import', 'Contact')
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: UploadDto })
  @ApiOperation({
    summary: 'Upload a CSV file to import',
    description: 'The file is streamed into the database. The answer holds the headers, a sample and a proposed mapping; nothing is imported yet.',
    operationId: 'uploadContactImport',
  })
  @ApiCreatedResponse({ type: ImportDto })
  @ApiErrors(400, 401, 403, 404, 413, 422)
  async upload(@Req() request: FastifyRequest, @CurrentUser() actor: AuthUser): Promise<ImportDto> {
    if (!request.isMultipart()) throw new RequestValidationError([{ field: 'file', message: 'send multipart/form-data with a CSV file in the "file" field' }]);
    let mappingId: string | undefined;
    let uploaded: ImportDto | undefined;
    try {
      for await (const part of request.parts()) {
        // The file is read as it arrives, so what comes after it cannot change the upload: refused, not ignored.
        if (uploaded) {
          const message = part.fieldname === 'mappingId' ? 'must come before the file' : 'is not an accepted field';
          throw new RequestValidationError([{ field: part.fieldname, message }]);
        }
        if (part.type === 'field') {
          if (part.fieldname !== 'mappingId') throw new RequestValidationError([{ field: part.fieldname, message: 'is not an accepted field' }]);
          if (typeof part.value !== 'string' || !UUID.test(part.value)) throw new RequestValidationError([{ field: 'mappingId', message: 'must be a UUID' }]);
          mappingId = part.value;
          continue;
        }
        if (part.fieldname !== 'file') throw new RequestValidationError([{ field: part.fieldname, message: 'is not an accepted field; send the CSV as "file"' }]);
        // Awaited here: leaving the loop ends the multipart iteration, which would cut the file off.
        uploaded = await this.imports.upload(actor, part.filename || 'contacts.csv', part.file, mappingId);
      }
    } catch (error) {
      // A refused request keeps nothing of what it sent.
      if (uploaded) await this.imports.discardUploaded(uploaded.id);
      if ((error as { code?: string }).code === 'FST_FILES_LIMIT') throw new RequestValidationError([{ field: 'file', message: 'is given twice: send one file' }]);
      throw error;
    }
    if (!uploaded) throw new RequestValidationError([{ field: 'file', message: 'is required' }]);
    return uploaded;
  }

  @Get('imports')
  @Authorize('import', 'Contact')
  @ApiOperation({ summary: 'List imports, newest first', operationId: 'listContactImports' })
  @ApiPageResponse(ImportDto)
  @ApiErrors(400, 401, 403, 404)
  async list(@Query() query: ImportQueryDto): Promise<Page<ImportDto>> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const { data, total } = await this.imports.list(window.page, window.limit);
    return toPage(data, total, window);
  }

  @Get('imports/:id')
  @Authorize('import', 'Contact')
  @ApiOperation({ summary: 'An import: mapping, progress and counts', operationId: 'getContactImport' })
  @ApiOkResponse({ type: ImportDto })
  @ApiErrors(400, 401, 403, 404)
  get(@UuidParam() id: string): Promise<ImportDto> {
    return this.imports.get(id);
  }

  @Put('imports/:id/settings')
  @Authorize('import', 'Contact')
  @ApiOperation({ summary: 'Set the column mapping and the mode', operationId: 'configureContactImport' })
  @ApiOkResponse({ type: ImportDto })
  @ApiErrors(400, 401, 403, 404, 409)
  configure(@CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: ImportSettingsDto): Promise<ImportDto> {
    return this.imports.configure(actor, id, body);
  }

  @Post('imports/:id/dry-run')
  @Authorize('import', 'Contact')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'What the import would create, update, skip and reject, with sample reasons; writes nothing', operationId: 'dryRunContactImport' })
  @ReadsOnly()
  @ApiOkResponse({ type: DryRunDto })
  @ApiErrors(400, 401, 403, 404, 409)
  dryRun(@CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<DryRunDto> {
    return this.imports.dryRun(actor, id);
  }

  @Post('imports/:id/run')
  @Authorize('import', 'Contact')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary: 'Run the import as a background job; follow it with GET /contacts/imports/{id}',
    description: 'The import is queued at once; if the job queue (Redis) does not answer, it stays queued and starts once the queue is back.',
    operationId: 'runContactImport',
  })
  @ApiAcceptedResponse({ type: ImportDto })
  @ApiErrors(400, 401, 403, 404, 409)
  run(@CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<ImportDto> {
    return this.imports.start(actor, id);
  }

  @Get('imports/:id/rejected')
  @Authorize('import', 'Contact')
  @ApiOperation({ summary: 'The rejected rows as CSV: the original cells and the reason', operationId: 'downloadRejectedRows' })
  // The CSV media type is set on this response alone: @ApiProduces would label the JSON error bodies text/csv too.
  @ApiOkResponse({ description: 'The rejected rows as CSV, as an attachment.', content: { 'text/csv': { schema: { type: 'string' } } } })
  @ApiErrors(400, 401, 403, 404)
  async rejected(@UuidParam() id: string, @Res() reply: FastifyReply): Promise<void> {
    const stream = await this.imports.rejectedCsv(id);
    await reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="rejected-${id}.csv"`).send(stream);
  }

  @Post('imports/:id/cancel')
  @Authorize('import', 'Contact')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Stop an import for good',
    description:
      'For an import that is uploaded, queued, running or failed (retrying or not). A running import stops after the chunk it is writing: ' +
      'the rows written so far stay (processedRows and the counts say how many) and POST /revert undoes them. A cancelled import never runs again.',
    operationId: 'cancelContactImport',
  })
  @ApiOkResponse({ type: ImportDto })
  @ApiErrors(400, 401, 403, 404, 409)
  cancel(@CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<ImportDto> {
    return this.imports.cancel(actor, id);
  }

  @Post('imports/:id/revert')
  @Authorize('import', 'Contact')
  @UseGuards(WholeContactDeleteGuard)
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Undo an import: remove the contacts it created, restore the ones it updated',
    description:
      'Only what is still as the import left it: a contact changed since keeps its changes, and a created contact that was edited, ' +
      'given activities or an account since, or put in a static segment, stays. Where the status, traffic source, assignee, a tag or a service it had before was deleted since, ' +
      'the contact keeps what it has now for that field (never left without one). Needs the delete right on every contact (created contacts ' +
      "are removed for good); the contact of an administrator's account is restored only by an administrator.",
    operationId: 'revertContactImport',
  })
  @ApiOkResponse({ type: ImportDto })
  @ApiErrors(400, 401, 403, 404, 409)
  revert(@CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<ImportDto> {
    return this.imports.revert(actor, id);
  }

  @Get('import-mappings')
  @Authorize('import', 'Contact')
  @ApiOperation({ summary: 'Saved column mappings', operationId: 'listImportMappings' })
  @ApiOkResponse({ type: [SavedMappingDto] })
  @ApiErrors(401, 403, 404)
  mappings(): Promise<SavedMappingDto[]> {
    return this.imports.savedMappings();
  }

  @Post('import-mappings')
  @Authorize('import', 'Contact')
  @ApiOperation({ summary: 'Save a column mapping for later files', operationId: 'saveImportMapping' })
  @ApiCreatedResponse({ type: SavedMappingDto })
  @ApiErrors(400, 401, 403, 404, 409)
  saveMapping(@CurrentUser() actor: AuthUser, @Body() body: SaveMappingDto): Promise<SavedMappingDto> {
    return this.imports.saveMapping(actor, body.name, body.columns as ColumnMapping[]);
  }

  @Delete('import-mappings/:id')
  @Authorize('import', 'Contact')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a saved mapping', operationId: 'deleteImportMapping' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404)
  async deleteMapping(@UuidParam() id: string): Promise<void> {
    await this.imports.deleteMapping(id);
  }
}
