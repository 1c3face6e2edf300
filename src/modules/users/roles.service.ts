import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AbilityFactory } from '../../core/access/ability.factory';
import type { StoredRule } from '../../core/access/rule.types';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { AuditService } from '../../core/audit/audit.service';
import type { AuthUser } from '../../core/identity/auth-user';
import { Role } from '../../core/identity/entities/role.entity';
import { RolesCache } from '../../core/identity/roles-cache.service';
import { RequestValidationError } from '../../core/http/validation';
import type { CreateRoleDto, PermissionSubjectDto, RoleDto, RuleDto, UpdateRoleDto } from './dto/role.dto';
import { RoleInUseError, RoleNameTakenError, RoleNotFoundError, SystemRoleError } from './users.errors';
import type { AppAbility } from '../../core/access/app-ability';
import { assertAdministrator } from '../../core/access/record-access';

@Injectable()
export class RolesService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly subjects: SubjectRegistry,
    private readonly abilities: AbilityFactory,
    private readonly rolesCache: RolesCache,
    private readonly audit: AuditService,
  ) {}

  async list(): Promise<RoleDto[]> {
    const rows = await this.listWithCounts();
    return rows.map((role) => this.toDto(role, role.userCount));
  }

  async get(id: string): Promise<RoleDto> {
    const role = await this.dataSource.getRepository(Role).findOneBy({ id });
    if (!role) throw new RoleNotFoundError();
    return this.toDto(role, await this.userCount(this.dataSource.manager, id));
  }

  subjectCatalog(): PermissionSubjectDto[] {
    return this.subjects.all().map((subject) => ({
      name: subject.name,
      description: subject.description,
      actions: this.subjects.actionsFor(subject.name),
      fields: Object.entries(subject.fields).map(([name, field]) => ({ name, type: field.type })),
      fieldLimitedActions: subject.fieldLimitedActions ?? [],
    }));
  }

  async create(ability: AppAbility, actor: AuthUser, input: CreateRoleDto): Promise<RoleDto> {
    assertAdministrator(ability, 'write roles');
    const rules = this.validated(input.rules);
    const role = await this.dataSource.transaction(async (manager) => {
      await this.assertNameFree(manager, input.name);
      const inserted = await manager.insert(Role, { name: input.name, description: input.description ?? '', audience: input.audience ?? 'staff', rules: rules as never, systemKey: null });
      const id = (inserted.identifiers[0] as { id: string }).id;
      await this.audit.record({ actorId: actor.id, action: 'role.create', subjectType: 'Role', subjectId: id, after: { name: input.name, rules } }, manager);
      return manager.findOneByOrFail(Role, { id });
    });
    await this.rolesCache.changed();
    return this.toDto(role, 0);
  }

  async update(ability: AppAbility, actor: AuthUser, id: string, input: UpdateRoleDto): Promise<RoleDto> {
    assertAdministrator(ability, 'write roles');
    const rules = input.rules ? this.validated(input.rules) : undefined;
    const role = await this.dataSource.transaction(async (manager) => {
      const before = await manager.findOne(Role, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!before) throw new RoleNotFoundError();
      if (before.systemKey && input.name !== undefined && input.name !== before.name) throw new SystemRoleError('System roles cannot be renamed');
      if (input.name !== undefined && input.name.toLowerCase() !== before.name.toLowerCase()) await this.assertNameFree(manager, input.name);
      await manager.update(Role, { id }, { ...(input.name !== undefined ? { name: input.name } : {}), ...(input.description !== undefined ? { description: input.description } : {}), ...(rules ? { rules: rules as never } : {}) });
      await this.audit.record({ actorId: actor.id, action: 'role.update', subjectType: 'Role', subjectId: id, before: { name: before.name, rules: before.rules }, after: input }, manager);
      return manager.findOneByOrFail(Role, { id });
    });
    await this.rolesCache.changed();
    return this.toDto(role, await this.userCount(this.dataSource.manager, id));
  }

  async remove(ability: AppAbility, actor: AuthUser, id: string): Promise<void> {
    assertAdministrator(ability, 'write roles');
    await this.dataSource.transaction(async (manager) => {
      const role = await manager.findOne(Role, { where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!role) throw new RoleNotFoundError();
      if (role.systemKey) throw new SystemRoleError('System roles cannot be deleted');
      const holders = await this.userCount(manager, id);
      if (holders > 0) throw new RoleInUseError(holders);
      await manager.delete(Role, { id });
      await this.audit.record({ actorId: actor.id, action: 'role.delete', subjectType: 'Role', subjectId: id, before: { name: role.name, rules: role.rules } }, manager);
    });
    await this.rolesCache.changed();
  }

  private validated(rules: RuleDto[]): StoredRule[] {
    const stored: StoredRule[] = rules.map((rule) => ({
      action: rule.action,
      subject: rule.subject,
      ...(rule.conditions !== undefined ? { conditions: rule.conditions } : {}),
      ...(rule.fields !== undefined ? { fields: rule.fields } : {}),
      ...(rule.inverted ? { inverted: true } : {}),
      ...(rule.reason ? { reason: rule.reason } : {}),
    }));
    const errors = this.subjects.check(stored);
    if (errors.length) throw new RequestValidationError(errors);
    return stored;
  }

  private async assertNameFree(manager: EntityManager, name: string): Promise<void> {
    const taken: unknown[] = await manager.query('SELECT 1 FROM roles WHERE name_key = lower($1)', [name]);
    if (taken.length) throw new RoleNameTakenError();
  }

  private async userCount(manager: EntityManager, roleId: string): Promise<number> {
    const [{ count }] = (await manager.query('SELECT count(*)::int AS count FROM user_roles WHERE role_id = $1', [roleId])) as Array<{ count: number }>;
    return count;
  }

  private async listWithCounts(): Promise<Array<Role & { userCount: number }>> {
    const roles = await this.dataSource.getRepository(Role).find({ order: { name: 'ASC' } });
    const counts: Array<{ role_id: string; count: number }> = await this.dataSource.query('SELECT role_id, count(*)::int AS count FROM user_roles GROUP BY role_id');
    const byRole = new Map(counts.map((row) => [row.role_id, row.count]));
    return roles.map((role) => Object.assign(role, { userCount: byRole.get(role.id) ?? 0 }));
  }

  private toDto(role: Role, userCount: number): RoleDto {
    return {
      id: role.id,
      name: role.name,
      description: role.description,
      systemKey: role.systemKey,
      audience: role.audience,
      rules: role.rules,
      builtInRules: role.systemKey ? this.abilities.systemRules(role.systemKey) : [],
      userCount,
      createdAt: role.createdAt,
      updatedAt: role.updatedAt,
    };
  }
}
