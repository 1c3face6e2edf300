import { Body, Controller, Get, HttpCode, HttpStatus, Patch, Post, Query } from '@nestjs/common';
import { ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../../core/access/app-ability';
import { Audience, Authorize } from '../../core/access/authorize.decorator';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { ChangePasswordDto, RefreshDto } from '../../core/auth/dto/auth.dto';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { ApiPageResponse, Page } from '../../core/http/pagination';
import type { AuthUser } from '../../core/identity/auth-user';
import { PortalDashboardDto, PortalProfileDto, PortalTimelineItemDto, PortalTimelineQueryDto, UpdatePortalProfileDto } from './dto/portal.dto';
import { PortalService } from './portal.service';

@ApiTags('portal')
@RequiresFeature('client-portal')
@Audience('client')
@Authorize('read', 'Portal')
@Controller('portal')
export class PortalController {
  constructor(private readonly portal: PortalService) {}

  @Get('dashboard')
  @ApiOperation({
    summary: "The client's welcome page",
    description: 'Welcome text, your contact person, counts of what is waiting on you, and a section per business module that is on (invoices, visits).',
    operationId: 'getPortalDashboard',
  })
  @ApiOkResponse({ type: PortalDashboardDto })
  @ApiErrors(401, 403, 404)
  dashboard(@RequestAbility() ability: AppAbility, @CurrentUser() user: AuthUser): Promise<PortalDashboardDto> {
    return this.portal.dashboard(ability, user);
  }

  @Get('me')
  @ApiOperation({ summary: 'Your details', description: '`editableFields` lists what you may change with PATCH.', operationId: 'getPortalProfile' })
  @ApiOkResponse({ type: PortalProfileDto })
  @ApiErrors(401, 403, 404)
  profile(@RequestAbility() ability: AppAbility, @CurrentUser() user: AuthUser): Promise<PortalProfileDto> {
    return this.portal.profile(ability, user);
  }

  @Patch('me')
  @ApiOperation({
    summary: 'Change your details',
    description:
      'Names, phone, address, preferences and the custom fields in `editableFields`. Send the `version` you read: a stale one gets 409. ' +
      'A different email is refused with 422 (it is your login and needs verification). Name changes reach your account as well.',
    operationId: 'updatePortalProfile',
  })
  @ApiOkResponse({ type: PortalProfileDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  updateProfile(@RequestAbility() ability: AppAbility, @CurrentUser() user: AuthUser, @Body() body: UpdatePortalProfileDto): Promise<PortalProfileDto> {
    return this.portal.updateProfile(ability, user, body);
  }

  @Post('change-password')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Change your password', description: 'Ends every session, including this one: sign in again.', operationId: 'changePortalPassword' })
  @ApiNoContentResponse({ description: 'Password changed.' })
  @ApiErrors(400, 401, 403, 404)
  async changePassword(@CurrentUser() user: AuthUser, @Body() body: ChangePasswordDto): Promise<void> {
    await this.portal.changePassword(user, body);
  }

  @Post('logout')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Sign out', description: 'Ends the session the refresh token belongs to.', operationId: 'portalLogout' })
  @ApiNoContentResponse({ description: 'Signed out (also when the token was already invalid).' })
  @ApiErrors(400, 401, 403, 404)
  async logout(@Body() body: RefreshDto): Promise<void> {
    await this.portal.logout(body.refreshToken);
  }

  @Get('timeline')
  @ApiOperation({
    summary: 'What your contact people shared with you',
    description: 'Activities staff marked visible to you, newest first. `type` filters; `q` searches subject and body; `sort` takes occurredAt.',
    operationId: 'listPortalTimeline',
  })
  @ApiPageResponse(PortalTimelineItemDto)
  @ApiErrors(400, 401, 403, 404)
  timeline(@RequestAbility() ability: AppAbility, @CurrentUser() user: AuthUser, @Query() query: PortalTimelineQueryDto): Promise<Page<PortalTimelineItemDto>> {
    return this.portal.timeline(ability, user, query);
  }
}
