import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../../core/access/app-ability';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { ApiPageResponse, Page } from '../../core/http/pagination';
import { UuidParam } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import {
  ContactStatusDto,
  CreateContactStatusDto,
  DeleteLookupQueryDto,
  LookupContactDto,
  LookupContactsQueryDto,
  LookupQueryDto,
  UpdateContactStatusDto,
} from './dto/lookup.dto';
import { LookupsService } from './lookups.service';

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@Controller('contact-statuses')
export class StatusesController {
  constructor(private readonly lookups: LookupsService) {}

  @Get()
  @Authorize('read', 'ContactStatus')
  @ApiOperation({
    summary: 'List contact statuses with how many contacts are in each',
    description: '`q` searches the name; `sort` takes position (the default), name, stage, createdAt and contactCount.',
    operationId: 'listContactStatuses',
  })
  @ApiPageResponse(ContactStatusDto)
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @Query() query: LookupQueryDto): Promise<Page<ContactStatusDto>> {
    return this.lookups.list('status', ability, query);
  }

  @Post()
  @Authorize('create', 'ContactStatus')
  @ApiOperation({ summary: 'Create a contact status', description: 'The name is stored Title Cased and must be unique regardless of case.', operationId: 'createContactStatus' })
  @ApiCreatedResponse({ type: ContactStatusDto })
  @ApiErrors(400, 401, 403, 404, 409)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateContactStatusDto): Promise<ContactStatusDto> {
    return this.lookups.createStatus(ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'ContactStatus')
  @ApiOperation({ summary: 'Get a contact status', operationId: 'getContactStatus' })
  @ApiOkResponse({ type: ContactStatusDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<ContactStatusDto> {
    return this.lookups.get('status', ability, id);
  }

  @Get(':id/contacts')
  @Authorize('read', 'ContactStatus')
  @ApiOperation({
    summary: 'List the contacts in a status',
    description: 'Contacts not in the trash, limited to those you may read. `q` searches name, email and company; `sort` takes firstName, lastName (the default), email, company and createdAt.',
    operationId: 'listContactStatusContacts',
  })
  @ApiPageResponse(LookupContactDto)
  @ApiErrors(400, 401, 403, 404)
  contacts(@RequestAbility() ability: AppAbility, @UuidParam() id: string, @Query() query: LookupContactsQueryDto): Promise<Page<LookupContactDto>> {
    return this.lookups.contactsOf('status', ability, id, query);
  }

  @Patch(':id')
  @Authorize('update', 'ContactStatus')
  @ApiOperation({ summary: 'Rename, re-stage or reorder a contact status', operationId: 'updateContactStatus' })
  @ApiOkResponse({ type: ContactStatusDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateContactStatusDto): Promise<ContactStatusDto> {
    return this.lookups.updateStatus(ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'ContactStatus')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Delete a contact status',
    description:
      'A status that contacts are in (in the trash too) needs `replaceWith` (they move to that status; the status history records the change) or `detach=true` (they are left without a status); otherwise 409 `in_use`.',
    operationId: 'deleteContactStatus',
  })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Query() query: DeleteLookupQueryDto): Promise<void> {
    await this.lookups.remove('status', ability, actor, id, query);
  }
}
