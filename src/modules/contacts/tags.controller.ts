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
import { CreateTagDto, DeleteLookupQueryDto, LookupContactDto, LookupContactsQueryDto, LookupQueryDto, TagDto, UpdateTagDto } from './dto/lookup.dto';
import { LookupsService } from './lookups.service';

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@Controller('tags')
export class TagsController {
  constructor(private readonly lookups: LookupsService) {}

  @Get()
  @Authorize('read', 'Tag')
  @ApiOperation({
    summary: 'List tags with how many contacts carry each',
    description: '`q` searches the name; `sort` takes name (the default), createdAt and contactCount.',
    operationId: 'listTags',
  })
  @ApiPageResponse(TagDto)
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @Query() query: LookupQueryDto): Promise<Page<TagDto>> {
    return this.lookups.list('tag', ability, query);
  }

  @Post()
  @Authorize('create', 'Tag')
  @ApiOperation({ summary: 'Create a tag', description: 'The name is stored Title Cased and must be unique regardless of case.', operationId: 'createTag' })
  @ApiCreatedResponse({ type: TagDto })
  @ApiErrors(400, 401, 403, 404, 409)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateTagDto): Promise<TagDto> {
    return this.lookups.createTag(ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'Tag')
  @ApiOperation({ summary: 'Get a tag', operationId: 'getTag' })
  @ApiOkResponse({ type: TagDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<TagDto> {
    return this.lookups.get('tag', ability, id);
  }

  @Get(':id/contacts')
  @Authorize('read', 'Tag')
  @ApiOperation({
    summary: 'List the contacts with a tag',
    description: 'Contacts not in the trash, limited to those you may read. `q` searches name, email and company; `sort` takes firstName, lastName (the default), email, company and createdAt.',
    operationId: 'listTagContacts',
  })
  @ApiPageResponse(LookupContactDto)
  @ApiErrors(400, 401, 403, 404)
  contacts(@RequestAbility() ability: AppAbility, @UuidParam() id: string, @Query() query: LookupContactsQueryDto): Promise<Page<LookupContactDto>> {
    return this.lookups.contactsOf('tag', ability, id, query);
  }

  @Patch(':id')
  @Authorize('update', 'Tag')
  @ApiOperation({ summary: 'Rename or recolour a tag', operationId: 'updateTag' })
  @ApiOkResponse({ type: TagDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateTagDto): Promise<TagDto> {
    return this.lookups.updateTag(ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'Tag')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Delete a tag',
    description: 'A tag that contacts carry (in the trash too) needs `replaceWith` (they get that tag instead) or `detach=true` (they lose it); otherwise 409 `in_use`.',
    operationId: 'deleteTag',
  })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Query() query: DeleteLookupQueryDto): Promise<void> {
    await this.lookups.remove('tag', ability, actor, id, query);
  }
}
