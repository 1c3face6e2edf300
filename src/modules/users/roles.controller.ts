import { Body, Controller, Delete, Get, HttpCode, HttpStatus, Patch, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Authorize } from '../../core/access/authorize.decorator';
import type { AppAbility } from '../../core/access/app-ability';
import { CurrentUser, RequestAbility } from '../../core/access/request-ability.decorator';
import { RequiresFeature } from '../../core/features/feature.decorator';
import { ApiErrors } from '../../core/http/api-errors.decorator';
import { UuidParam } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { CreateRoleDto, PermissionSubjectDto, RoleDto, UpdateRoleDto } from './dto/role.dto';
import { RolesService } from './roles.service';

@ApiTags('roles')
@RequiresFeature('users')
@Controller('roles')
export class RolesController {
  constructor(private readonly roles: RolesService) {}

  @Get()
  @Authorize('read', 'Role')
  @ApiOperation({ summary: 'List roles with their rules and how many users hold each', operationId: 'listRoles' })
  @ApiOkResponse({ type: [RoleDto] })
  @ApiErrors(401, 403, 404)
  list(): Promise<RoleDto[]> {
    return this.roles.list();
  }

  @Get('subjects')
  @Authorize('read', 'Role')
  @ApiOperation({ summary: 'What rules can name: subjects, their actions and fields', operationId: 'listPermissionSubjects' })
  @ApiOkResponse({ type: [PermissionSubjectDto] })
  @ApiErrors(401, 403, 404)
  subjects(): PermissionSubjectDto[] {
    return this.roles.subjectCatalog();
  }

  @Post()
  @Authorize('create', 'Role')
  @ApiOperation({ summary: 'Create a role', description: 'Rules are validated: known actions, subjects and fields, supported operators, resolvable placeholders.', operationId: 'createRole' })
  @ApiCreatedResponse({ type: RoleDto })
  @ApiErrors(400, 401, 403, 404, 409)
  create(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @Body() body: CreateRoleDto): Promise<RoleDto> {
    return this.roles.create(ability, actor, body);
  }

  @Get(':id')
  @Authorize('read', 'Role')
  @ApiOperation({ summary: 'Get a role', operationId: 'getRole' })
  @ApiOkResponse({ type: RoleDto })
  @ApiErrors(400, 401, 403, 404)
  get(@UuidParam() id: string): Promise<RoleDto> {
    return this.roles.get(id);
  }

  @Patch(':id')
  @Authorize('update', 'Role')
  @ApiOperation({ summary: 'Edit a role', description: 'System roles keep their name and built-in rules.', operationId: 'updateRole' })
  @ApiOkResponse({ type: RoleDto })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  update(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string, @Body() body: UpdateRoleDto): Promise<RoleDto> {
    return this.roles.update(ability, actor, id, body);
  }

  @Delete(':id')
  @Authorize('delete', 'Role')
  @HttpCode(HttpStatus.NO_CONTENT)
  @ApiOperation({ summary: 'Delete a role', description: 'Refused for system roles and for roles still held by users.', operationId: 'deleteRole' })
  @ApiNoContentResponse({ description: 'Deleted.' })
  @ApiErrors(400, 401, 403, 404, 409, 422)
  async remove(@RequestAbility() ability: AppAbility, @CurrentUser() actor: AuthUser, @UuidParam() id: string): Promise<void> {
    await this.roles.remove(ability, actor, id);
  }
}
