import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../../core/access/app-ability';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { UuidParam } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { ContactsService } from './contacts.service';
import {
  BulkActionDto,
  BulkResultDto,
  ContactDto,
  ContactPageDto,
  ContactQueryDto,
  ContactSearchDto,
  CreateAccountDto,
  CreateContactDto,
  TrashQueryDto,
  UpdateContactDto,
} from './dto/contact.dto';
import { queryToFilter } from './filters/query-to-filter';
import { ApiContactFilterModels } from './dto/contact-filter.dto';
import { ReadsOnly } from '../../core/openapi/reads-only.decorator';

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@ApiContactFilterModels()
@Controller('contacts')
export class ContactsController {
  constructor(private readonly contacts: ContactsService) {}

  @Get()
  @Authorize('read', 'Contact')
  @ApiOperation({
    summary: 'List and search contacts',
    description: 'Filters combine with AND; `filter` takes the full rule language. Restricted roles only ever see the contacts their rules allow.',
    operationId: 'listContacts',
  })
  @ApiOkResponse({ type: ContactPageDto })
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @CurrentUser() user: AuthUser, @Query() query: ContactQueryDto): Promise<ContactPageDto> {
    return this.contacts.page(ability, { filter: queryToFilter(query, user.id), sort: query.sort, page: query.page, limit: query.limit, cursor: query.cursor });
  }

  @Post('search')
  @Authorize('read', 'Contact')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Search contacts with a rule tree in the body', operationId: 'searchContacts' })
  @ReadsOnly()
  @ApiOkResponse({ type: ContactPageDto })
  @ApiErrors(400, 401, 403, 404)
  search(@RequestAbility() ability: AppAbility, @CurrentUser() user: AuthUser, @Body() body: ContactSearchDto): Promise<ContactPageDto> {
    // The body's free text and rule tree compile like the list's parameters of the same names.
    return this.contacts.page(ability, { filter: queryToFilter({ q: body.q, filter: body.filter }, user.id), sort: body.sort, page: body.page, limit: body.limit, cursor: body.cursor });
  }

  @Get('trash')
  @Authorize('delete', 'Contact')
  @ApiOperation({
    summary: 'List contacts in the trash, most recently deleted first',
    description: 'The trashed contacts you may restore: those your rules let you both read and delete. `q` searches as in the contact list.',
    operationId: 'listTrashedContacts',
  })
  @ApiOkResponse({ type: ContactPageDto })
  @ApiErrors(400, 401, 403, 404)
  trashList(@RequestAbility() ability: AppAbility, @Query() query: TrashQueryDto): Promise<ContactPageDto> {
    const filter = query.q?.trim() ? { field: 'q', op: 'matches' as const, value: query.q.trim() } : undefined;
    return this.contacts.page(ability, { filter, sort: query.sort, page: query.page, limit: query.limit, scope: 'trash' });
  }

  @Post('bulk')
  @Authorize('update', 'Contact')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: 'Assign, tag, change status or delete many contacts at once',
    description: 'The selection is ids or a filter; only contacts you may change are touched. Status changes are recorded in the history.',
    operationId: 'bulkContacts',
  })
  @ApiOkResponse({ type: BulkResultDto })
  @ApiErrors(400, 401, 403, 404, 422)
  bulk(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: BulkActionDto): Promise<BulkResultDto> {
    return this.contacts.bulk(ability, actor, body);
  }

  @Post()
  @Authorize('create', 'Contact')
  @ApiOperation({ summary: 'Create a contact (no account needed)', operationId: 'createContact' })
  @ApiCreatedResponse({ type: ContactDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateContactDto): Promise<ContactDto> {
    return this.contacts.create(ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'Contact')
  @ApiOperation({ summary: 'A contact profile: details, lists, account, latest activities and status history', operationId: 'getContact' })
  @ApiOkResponse({ type: ContactDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<ContactDto> {
    return this.contacts.get(ability, id);
  }

  @Patch(':id')
  @Authorize('update', 'Contact')
  @ApiOperation({
    summary: 'Edit a contact',
    description: 'Send the `version` you read: a stale one gets 409. Name and email changes reach the linked account in the same transaction.',
    operationId: 'updateContact',
  })
  @ApiOkResponse({ type: ContactDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateContactDto): Promise<ContactDto> {
    return this.contacts.update(ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'Contact')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Move a contact to the trash', description: 'Refused (409) while the contact has a user account.', operationId: 'trashContact' })
  @ApiNoContentResponse({ description: 'In the trash.' })
  @ApiErrors(400, 401, 403, 404, 409)
  async trash(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.contacts.trash(ability, actor, id);
  }

  @Post(':id/restore')
  @Authorize('delete', 'Contact')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Bring a contact back from the trash', operationId: 'restoreContact' })
  @ApiOkResponse({ type: ContactDto })
  @ApiErrors(400, 401, 403, 404)
  restore(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<ContactDto> {
    return this.contacts.restore(ability, actor, id);
  }

  @Delete(':id/purge')
  @Authorize('purge', 'Contact')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a trashed contact for good', description: 'Admins only; refused (409) while the contact has a user account.', operationId: 'purgeContact' })
  @ApiNoContentResponse({ description: 'Deleted for good.' })
  @ApiErrors(400, 401, 403, 404, 409)
  async purge(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.contacts.purge(ability, actor, id);
  }

  @Post(':id/account')
  @Authorize('update', 'Contact')
  @ApiOperation({
    summary: 'Open a user account for this contact',
    description: 'The person is mailed a link to choose a password. Staff accounts need the right to grant roles (admins).',
    operationId: 'createContactAccount',
  })
  @ApiCreatedResponse({ type: ContactDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  createAccount(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: CreateAccountDto): Promise<ContactDto> {
    return this.contacts.createAccount(ability, actor, id, body);
  }
}
