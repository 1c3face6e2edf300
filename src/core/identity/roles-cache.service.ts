import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { Role, SystemRoleKey } from './entities/role.entity';

export const ROLES_CHANGED = 'roles.changed';

/** Roles are few and read on every request: kept in memory, dropped on any change in any process. */
@Injectable()
export class RolesCache implements OnModuleInit {
  private roles?: Promise<Map<string, Role>>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly cluster: ClusterEventsService,
  ) {}

  onModuleInit(): void {
    this.cluster.on(ROLES_CHANGED, () => this.invalidate());
    this.cluster.on('cluster.reconnected', () => this.invalidate());
  }

  invalidate(): void {
    this.roles = undefined;
  }

  async changed(): Promise<void> {
    this.invalidate();
    await this.cluster.publish(ROLES_CHANGED, null);
  }

  async byId(id: string): Promise<Role | undefined> {
    return (await this.load()).get(id);
  }

  async bySystemKey(key: SystemRoleKey): Promise<Role | undefined> {
    for (const role of (await this.load()).values()) if (role.systemKey === key) return role;
    return undefined;
  }

  private load(): Promise<Map<string, Role>> {
    if (!this.roles) {
      const loading = this.dataSource
        .getRepository(Role)
        .find()
        .then((rows) => new Map(rows.map((role) => [role.id, role])));
      loading.catch(() => {
        if (this.roles === loading) this.roles = undefined;
      });
      this.roles = loading;
    }
    return this.roles;
  }
}
