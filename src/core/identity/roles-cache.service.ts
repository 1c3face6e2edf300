import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { Role, SystemRoleKey } from './entities/role.entity';

export const ROLES_CHANGED = 'roles.changed';

/**
 * How long the roles are kept. Every change drops them at once here and in the other
 * processes through a cluster event; this bounds what a missed event can keep alive, so
 * reduced rights are enforced everywhere within a few seconds whatever happens to the listener.
 */
export const ROLES_TTL_MS = 5_000;

/** Roles are few and read on every request: kept in memory briefly, dropped on any change in any process. */
@Injectable()
export class RolesCache implements OnModuleInit {
  private readonly logger = new Logger('RolesCache');
  private roles?: { loading: Promise<Map<string, Role>>; expiresAt: number };
  /**
   * The last roles read, with their contents: a reload hands out the same object for a role
   * that did not change, so abilities built from it (kept by role identity) stay valid.
   */
  private known = new Map<string, { role: Role; content: string }>();

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

  /**
   * After a committed change. A failed notice does not fail the request that already
   * committed: the other processes' copies expire within {@link ROLES_TTL_MS}.
   */
  async changed(): Promise<void> {
    this.invalidate();
    await this.cluster.publish(ROLES_CHANGED, null).catch((error: Error) => this.logger.warn(`Could not tell other processes that roles changed: ${error.message}`));
  }

  async byId(id: string): Promise<Role | undefined> {
    return (await this.load()).get(id);
  }

  async bySystemKey(key: SystemRoleKey): Promise<Role | undefined> {
    for (const role of (await this.load()).values()) if (role.systemKey === key) return role;
    return undefined;
  }

  private load(): Promise<Map<string, Role>> {
    if (this.roles && this.roles.expiresAt > Date.now()) return this.roles.loading;
    // Counted from when the read starts, so nothing is kept longer than the TTL after it.
    const expiresAt = Date.now() + ROLES_TTL_MS;
    const loading = this.dataSource
      .getRepository(Role)
      .find()
      .then((rows) => this.keepUnchanged(rows));
    loading.catch(() => {
      if (this.roles?.loading === loading) this.roles = undefined;
    });
    this.roles = { loading, expiresAt };
    return loading;
  }

  private keepUnchanged(rows: Role[]): Map<string, Role> {
    const known = new Map<string, { role: Role; content: string }>();
    for (const row of rows) {
      const content = JSON.stringify(row);
      const before = this.known.get(row.id);
      known.set(row.id, before && before.content === content ? before : { role: row, content });
    }
    this.known = known;
    return new Map([...known].map(([id, { role }]) => [id, role]));
  }
}
