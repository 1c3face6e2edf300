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
import { CreateNamedLookupDto, DeleteLookupQueryDto, LookupQueryDto, TrafficSourceDto, UpdateNamedLookupDto } from './dto/lookup.dto';
import { LookupsService } from './lookups.service';

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@Controller('traffic-sources')
export class TrafficSourcesController {
  constructor(private readonly lookups: LookupsService) {}

  @Get()
  @Authorize('read', 'TrafficSource')
  @ApiOperation({
    summary: 'List traffic sources with how many contacts came from each',
    description: '`q` searches the name; `sort` takes name (the default), createdAt and contactCount.',
    operationId: 'listTrafficSources',
  })
  @ApiPageResponse(TrafficSourceDto)
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @Query() query: LookupQueryDto): Promise<Page<TrafficSourceDto>> {
    return this.lookups.list('trafficSource', ability, query);
  }

  @Post()
  @Authorize('create', 'TrafficSource')
  @ApiOperation({ summary: 'Create a traffic source', description: 'The name is stored Title Cased and must be unique regardless of case.', operationId: 'createTrafficSource' })
  @ApiCreatedResponse({ type: TrafficSourceDto })
  @ApiErrors(400, 401, 403, 404, 409)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateNamedLookupDto): Promise<TrafficSourceDto> {
    return this.lookups.createNamed('trafficSource', ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'TrafficSource')
  @ApiOperation({ summary: 'Get a traffic source', operationId: 'getTrafficSource' })
  @ApiOkResponse({ type: TrafficSourceDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<TrafficSourceDto> {
    return this.lookups.get('trafficSource', ability, id);
  }

  @Patch(':id')
  @Authorize('update', 'TrafficSource')
  @ApiOperation({ summary: 'Rename a traffic source', operationId: 'updateTrafficSource' })
  @ApiOkResponse({ type: TrafficSourceDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateNamedLookupDto): Promise<TrafficSourceDto> {
    return this.lookups.updateNamed('trafficSource', ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'TrafficSource')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({
    summary: 'Delete a traffic source',
    description: 'A traffic source that contacts use (in the trash too) needs `replaceWith` (they move to that one) or `detach=true` (they lose it); otherwise 409 `in_use`.',
    operationId: 'deleteTrafficSource',
  })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Query() query: DeleteLookupQueryDto): Promise<void> {
    await this.lookups.remove('trafficSource', ability, actor, id, query);
  }
}
