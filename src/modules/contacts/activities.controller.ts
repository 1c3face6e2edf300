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
import { ActivitiesService } from './activities.service';
import { ActivityDto, ActivityQueryDto, CreateActivityDto, UpdateActivityDto } from './dto/activity.dto';

@ApiTags('contacts')
@RequiresFeature('contacts')
@Audience('staff')
@Controller()
export class ActivitiesController {
  constructor(private readonly activities: ActivitiesService) {}

  @Get('contacts/:contactId/activities')
  @Authorize('read', 'Activity')
  @ApiOperation({
    summary: "A contact's activity log",
    description: 'Newest `occurredAt` first. `type` filters; `q` searches subject and body; `sort` takes occurredAt, createdAt and type. 404 when the contact is in the trash or not visible to you.',
    operationId: 'listContactActivities',
  })
  @ApiPageResponse(ActivityDto)
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @UuidParam('contactId') contactId: string, @Query() query: ActivityQueryDto): Promise<Page<ActivityDto>> {
    return this.activities.list(ability, contactId, query);
  }

  @Post('contacts/:contactId/activities')
  @Authorize('create', 'Activity')
  @ApiOperation({
    summary: 'Log a call, email, meeting, note, SMS or task on a contact',
    description: "You are its author. The contact's last-contacted time follows the newest activity that is not in the future.",
    operationId: 'createActivity',
  })
  @ApiCreatedResponse({ type: ActivityDto })
  @ApiErrors(400, 401, 403, 404)
  create(
    @RequestAbility() ability: AppAbility,
    @CurrentUser() actor: AuthUser,
    @UuidParam('contactId') contactId: string,
    @Body() body: CreateActivityDto,
  ): Promise<ActivityDto> {
    return this.activities.create(actor, ability, contactId, body);
  }

  @Get('activities/:id')
  @Authorize('read', 'Activity')
  @ApiOperation({ summary: 'Get an activity', operationId: 'getActivity' })
  @ApiOkResponse({ type: ActivityDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<ActivityDto> {
    return this.activities.get(ability, id);
  }

  @Patch('activities/:id')
  @Authorize('update', 'Activity')
  @ApiOperation({ summary: 'Edit an activity', description: 'Staff edit their own activities; admins any.', operationId: 'updateActivity' })
  @ApiOkResponse({ type: ActivityDto })
  @ApiErrors(400, 401, 403, 404)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateActivityDto): Promise<ActivityDto> {
    return this.activities.update(actor, ability, id, body);
  }

  @Delete('activities/:id')
  @Authorize('delete', 'Activity')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete an activity', description: 'Staff delete their own activities; admins any.', operationId: 'deleteActivity' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.activities.remove(actor, ability, id);
  }
}
