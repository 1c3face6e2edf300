import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post, Put, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AppAbility } from '../../core/access/app-ability';
import { Authorize } from '../../core/access/authorize.decorator';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { UuidParam } from '../../core/http/validation';
import { ApiPageResponse, Page } from '../../core/http/pagination';
import type { AuthUser } from '../../core/identity/auth-user';
import { CreateUserDto, PasswordResetRequestDto, SetUserRolesDto, UpdateUserDto, UserDto, UserQueryDto } from './dto/user.dto';
import { UsersService } from './users.service';

@ApiTags('users')
@RequiresFeature('users')
@Controller('users')
export class UsersController {
  constructor(private readonly users: UsersService) {}

  @Get()
  @Authorize('read', 'User')
  @ApiOperation({ summary: 'List users', operationId: 'listUsers' })
  @ApiPageResponse(UserDto)
  @ApiErrors(400, 401, 403, 404)
  list(@RequestAbility() ability: AppAbility, @Query() query: UserQueryDto): Promise<Page<UserDto>> {
    return this.users.list(ability, query);
  }

  @Post()
  @Authorize('create', 'User')
  @ApiOperation({ summary: 'Create a user (staff or client) with their contact details', description: 'The person is mailed a link to choose a password unless `sendInvite` is false.', operationId: 'createUser' })
  @ApiCreatedResponse({ type: UserDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateUserDto): Promise<UserDto> {
    return this.users.create(ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'User')
  @ApiOperation({ summary: 'Get a user', operationId: 'getUser' })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(400, 401, 403, 404)
  get(@RequestAbility() ability: AppAbility, @UuidParam() id: string): Promise<UserDto> {
    return this.users.get(ability, id);
  }

  @Patch(':id')
  @Authorize('update', 'User')
  @ApiOperation({ summary: 'Edit a user', description: 'Name and email changes reach the linked contact in the same transaction. `isActive: false` deactivates the account and ends its sessions.', operationId: 'updateUser' })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(400, 401, 403, 404, 409)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateUserDto): Promise<UserDto> {
    return this.users.update(ability, actor, id, body);
  }

  @Put(':id/roles')
  @Authorize('grantRoles', 'User')
  @ApiOperation({ summary: "Replace a user's roles", operationId: 'setUserRoles' })
  @ApiOkResponse({ type: UserDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  setRoles(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: SetUserRolesDto): Promise<UserDto> {
    return this.users.setRoles(ability, actor, id, body.roleIds);
  }

  @Delete(':id')
  @Authorize('delete', 'User')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a user account', description: 'The contact and everything the user wrote are kept.', operationId: 'deleteUser' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404, 409)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.users.remove(ability, actor, id);
  }

  @Post(':id/password-reset')
  @Authorize('update', 'User')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({ summary: 'Send (or force) a password reset for a user', operationId: 'resetUserPassword' })
  @ApiAcceptedResponse({ description: 'The reset link is queued for mailing to the user.' })
  @ApiErrors(400, 401, 403, 404)
  async passwordReset(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: PasswordResetRequestDto): Promise<void> {
    await this.users.requestPasswordReset(ability, actor, id, body.mode);
  }
}
