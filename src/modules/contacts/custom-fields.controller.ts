import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import type { AppAbility } from '../../core/access/app-ability';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { UuidParam } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { CustomFieldsService } from './custom-fields.service';
import { CreateCustomFieldDto, CustomFieldDto, CustomFieldQueryDto, UpdateCustomFieldDto } from './dto/custom-field.dto';

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@Controller('custom-fields')
export class CustomFieldsController {
  constructor(private readonly fields: CustomFieldsService) {}

  @Get()
  @Authorize('read', 'CustomField')
  @ApiOperation({ summary: 'List the custom contact fields', operationId: 'listCustomFields' })
  @ApiOkResponse({ type: [CustomFieldDto] })
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @Query() query: CustomFieldQueryDto): Promise<CustomFieldDto[]> {
    return this.fields.list(ability, query.includeDeleted ?? false);
  }

  @Post()
  @Authorize('create', 'CustomField')
  @ApiOperation({ summary: 'Define a custom contact field', operationId: 'createCustomField' })
  @ApiCreatedResponse({ type: CustomFieldDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateCustomFieldDto): Promise<CustomFieldDto> {
    return this.fields.create(ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'CustomField')
  @ApiOperation({ summary: 'Get a custom field', operationId: 'getCustomField' })
  @ApiOkResponse({ type: CustomFieldDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<CustomFieldDto> {
    return this.fields.get(ability, id);
  }

  @Patch(':id')
  @Authorize('update', 'CustomField')
  @ApiOperation({
    summary: 'Edit a custom field (its key and type cannot change)',
    description:
      'Options can be added, removed (see `dropRemovedValues`) and renamed (`renameOptions`): a rename keeps every value, rewriting contacts and dynamic segment rules ' +
      'in the same transaction. With both, renames apply first and `options` lists the new names, e.g. `{"renameOptions": [{"from": "Gold", "to": "Gold tier"}], "options": ["Silver", "Gold tier", "Platinum"]}` ' +
      'renames Gold and adds Platinum.',
    operationId: 'updateCustomField',
  })
  @ApiOkResponse({ type: CustomFieldDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateCustomFieldDto): Promise<CustomFieldDto> {
    return this.fields.update(ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'CustomField')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Remove a custom field', description: 'Its values stay on the contacts until the field is purged, and it can be restored.', operationId: 'removeCustomField' })
  @ApiNoContentResponse({ description: 'Removed.' })
  @ApiErrors(400, 401, 403, 404)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.fields.remove(ability, actor, id);
  }

  @Post(':id/restore')
  @Authorize('delete', 'CustomField')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({ summary: 'Restore a removed custom field with its values', operationId: 'restoreCustomField' })
  @ApiOkResponse({ type: CustomFieldDto })
  @ApiErrors(400, 401, 403, 404)
  restore(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<CustomFieldDto> {
    return this.fields.restore(ability, actor, id);
  }

  @Delete(':id/purge')
  @Authorize('delete', 'CustomField')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a removed custom field and its values for good', operationId: 'purgeCustomField' })
  @ApiNoContentResponse({ description: 'Purged.' })
  @ApiErrors(400, 401, 403, 404, 409)
  async purge(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.fields.purge(ability, actor, id);
  }
}
