import { Body, Controller, Get, Param, Patch } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../access/app-ability';
import { Authenticated, Authorize } from '../access/authorize.decorator';
import { CurrentUser, RequestAbility } from '../access/request-ability.decorator';
import { ApiErrors } from '../http/api-errors.decorator';
import type { AuthUser } from '../identity/auth-user';
import { FEATURE_CATALOG, FEATURE_KEYS } from './feature-catalog';
import { FeatureDto, UpdateFeatureDto } from './dto/feature.dto';
import { FeatureState, FeaturesService } from './features.service';

const toDto = (state: FeatureState): FeatureDto => ({
  key: state.key,
  enabled: state.enabled,
  title: FEATURE_CATALOG[state.key].title,
  description: FEATURE_CATALOG[state.key].description,
  requires: FEATURE_CATALOG[state.key].requires,
  updatedAt: state.updatedAt,
});

@ApiTags('features')
@Controller('features')
export class FeaturesController {
  constructor(private readonly features: FeaturesService) {}

  @Get()
  @Authenticated()
  @ApiOperation({ summary: 'List the modules of this deployment and whether each is on', operationId: 'listFeatures' })
  @ApiOkResponse({ type: [FeatureDto] })
  @ApiErrors(401)
  list(): FeatureDto[] {
    return this.features.list().map(toDto);
  }

  @Patch(':key')
  @Authorize('update', 'Feature')
  @ApiOperation({
    summary: 'Switch a module on or off',
    description: 'Refused (409) when enabling a module whose dependency is off, or disabling one another enabled module needs.',
    operationId: 'updateFeature',
  })
  @ApiParam({ name: 'key', enum: FEATURE_KEYS, enumName: 'FeatureKey' })
  @ApiOkResponse({ type: FeatureDto })
  @ApiErrors(400, 401, 403, 404, 409)
  async update(@RequestAbility() ability: AppAbility, @Param('key') key: string, @Body() body: UpdateFeatureDto, @CurrentUser() user: AuthUser): Promise<FeatureDto> {
    return toDto(await this.features.setEnabled(ability, key, body.enabled, user.id));
  }
}
