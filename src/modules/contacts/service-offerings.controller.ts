import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import type { AppAbility } from '../../core/access/app-ability';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { ApiPageResponse, Page } from '../../core/http/pagination';
import { UuidParam } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { CreateServiceOfferingDto, DeleteLookupQueryDto, LookupQueryDto, ServiceOfferingDto, UpdateServiceOfferingDto } from './dto/lookup.dto';
import { LookupsService } from './lookups.service';

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@Controller('services')
export class ServiceOfferingsController {
  constructor(private readonly lookups: LookupsService) {}

  @Get()
  @Authorize('read', 'Service')
  @ApiOperation({
    summary: 'List services with how many contacts are interested in each',
    description: '`q` searches the name; `sort` takes name (the default), createdAt and contactCount.',
    operationId: 'listServices',
  })
  @ApiPageResponse(ServiceOfferingDto)
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @Query() query: LookupQueryDto): Promise<Page<ServiceOfferingDto>> {
    return this.lookups.list('service', ability, query);
  }

  @Post()
  @Authorize('create', 'Service')
  @ApiOperation({ summary: 'Create a service', description: 'The name is stored Title Cased and must be unique regardless of case.', operationId: 'createService' })
  @ApiCreatedResponse({ type: ServiceOfferingDto })
  @ApiErrors(400, 401, 403, 404, 409)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateServiceOfferingDto): Promise<ServiceOfferingDto> {
    return this.lookups.createNamed('service', ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'Service')
  @ApiOperation({ summary: 'Get a service', operationId: 'getService' })
  @ApiOkResponse({ type: ServiceOfferingDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<ServiceOfferingDto> {
    return this.lookups.get('service', ability, id);
  }

  @Patch(':id')
  @Authorize('update', 'Service')
  @ApiOperation({ summary: 'Rename a service', operationId: 'updateService' })
  @ApiOkResponse({ type: ServiceOfferingDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateServiceOfferingDto): Promise<ServiceOfferingDto> {
    return this.lookups.updateNamed('service', ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'Service')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Delete a service',
    description: 'A service that contacts use (in the trash too) needs `replaceWith` (they move to that one) or `detach=true` (they lose it); otherwise 409 `in_use`.',
    operationId: 'deleteService',
  })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Query() query: DeleteLookupQueryDto): Promise<void> {
    await this.lookups.remove('service', ability, actor, id, query);
  }
}
