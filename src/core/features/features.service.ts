import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import type { AppAbility } from '../access/app-ability';
import { assertCanOnRecord } from '../access/record-access';
import { AuditService } from '../audit/audit.service';
import { ClusterEventsService } from '../cluster/cluster-events.service';
import { dependentsOf, FEATURE_CATALOG, FEATURE_KEYS, FeatureKey, isFeatureKey } from './feature-catalog';
import { resolveFeatureDefaults } from './feature-defaults';
import { Feature } from './feature.entity';
import { FeatureDependencyError, UnknownFeatureError } from './features.errors';

const TOPIC = 'features.changed';

/** The Feature rule fields of a feature, which rule conditions are checked against. */
const featureRecord = (feature: { key: string; enabled: boolean }) => ({ key: feature.key, enabled: feature.enabled });

export interface FeatureState {
  key: FeatureKey;
  enabled: boolean;
  updatedAt: Date;
}

/**
 * The Feature table is the truth; each process keeps a copy in memory, refreshed on every
 * toggle through cluster events and by a slow poll in case an event was missed.
 */
@Injectable()
export class FeaturesService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Features');
  private state = new Map<FeatureKey, FeatureState>();
  private poll?: NodeJS.Timeout;
  private readonly listeners: Array<(key: FeatureKey, enabled: boolean) => void> = [];

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly cluster: ClusterEventsService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.seedMissing();
    await this.reload();
    this.cluster.on(TOPIC, () => void this.reload().catch((e: Error) => this.logger.warn(`Reload failed: ${e.message}`)));
    this.cluster.on('cluster.reconnected', () => void this.reload().catch(() => undefined));
    this.poll = setInterval(() => void this.reload().catch(() => undefined), this.config.features.pollMs);
    this.poll.unref();
  }

  onApplicationShutdown(): void {
    if (this.poll) clearInterval(this.poll);
  }

  isEnabled(key: FeatureKey): boolean {
    return this.state.get(key)?.enabled ?? false;
  }

  /** Every feature: which modules are on is what any signed-in front end needs to draw itself. */
  list(): FeatureState[] {
    return FEATURE_KEYS.map((key) => this.state.get(key)!).filter(Boolean);
  }

  /** Called with (key, enabled) whenever this process sees a feature change state. */
  onChange(listener: (key: FeatureKey, enabled: boolean) => void): void {
    this.listeners.push(listener);
  }

  /**
   * Switches a feature, within the caller's rules: 404 when they may not read it, 403 when
   * they may read but not update it (e.g. a role limited to `key: 'dashboard'`).
   */
  async setEnabled(ability: AppAbility, rawKey: string, enabled: boolean, actorId: string | null): Promise<FeatureState> {
    if (!isFeatureKey(rawKey)) throw new UnknownFeatureError(rawKey);
    const key = rawKey;
    const result = await this.dataSource.transaction(async (manager) => {
      // Serialises toggles so two admins cannot break a dependency between them.
      const rows = await manager
        .createQueryBuilder(Feature, 'f')
        .setLock('pessimistic_write')
        .orderBy('f.key')
        .getMany();
      // Checked on the locked row, before the dependency checks, so a rule naming `enabled`
      // sees the state being changed and a refused caller learns nothing about the others.
      const target = rows.find((row) => row.key === key);
      assertCanOnRecord(ability, 'update', 'Feature', target && featureRecord(target), `There is no feature "${key}"`);
      const current = new Map(rows.map((row) => [row.key, row.enabled]));
      if (enabled) {
        const missing = FEATURE_CATALOG[key].requires.find((required) => !current.get(required));
        if (missing) throw new FeatureDependencyError(key, missing, 'requires');
      } else {
        const dependent = dependentsOf(key).find((other) => current.get(other));
        if (dependent) throw new FeatureDependencyError(key, dependent, 'required-by');
      }
      const before = current.get(key) ?? false;
      await manager.update(Feature, { key }, { enabled, updatedById: actorId });
      await this.audit.record(
        { actorId, action: 'feature.toggle', subjectType: 'Feature', subjectId: key, before: { enabled: before }, after: { enabled } },
        manager,
      );
      return manager.findOneByOrFail(Feature, { key });
    });
    const state: FeatureState = { key, enabled: result.enabled, updatedAt: result.updatedAt };
    // The switch is stored and audited: a failed refresh or notice after that is logged, not
    // answered as an error. This process applies what it committed; the others catch up
    // through their poll, or their reload when their listener reconnects.
    await this.reload().catch((error: Error) => {
      this.logger.warn(`Feature "${key}" was switched but reloading features failed: ${error.message}`);
      this.apply(new Map(this.state).set(key, state));
    });
    await this.cluster.publish(TOPIC, { key, enabled }).catch((error: Error) => this.logger.warn(`Could not tell other processes that feature "${key}" changed: ${error.message}`));
    return state;
  }

  async reload(): Promise<void> {
    const rows = await this.dataSource.getRepository(Feature).find();
    const next = new Map<FeatureKey, FeatureState>();
    for (const row of rows) {
      if (isFeatureKey(row.key)) next.set(row.key, { key: row.key, enabled: row.enabled, updatedAt: row.updatedAt });
    }
    this.apply(next);
  }

  private apply(next: Map<FeatureKey, FeatureState>): void {
    const previous = this.state;
    this.state = next;
    for (const [key, value] of next) {
      const before = previous.get(key);
      if (before && before.enabled !== value.enabled) {
        this.logger.log(`Feature "${key}" is now ${value.enabled ? 'on' : 'off'}`);
        for (const listener of this.listeners) listener(key, value.enabled);
      }
    }
  }

  /** Deployment defaults only fill in rows that do not exist; after that the table is the truth. */
  private async seedMissing(): Promise<void> {
    const defaults = resolveFeatureDefaults(this.config.features.file, this.config.features.envList);
    // A default that breaks a dependency (e.g. segments on, contacts off) is corrected, loudly.
    for (const key of FEATURE_KEYS) {
      if (defaults[key] && FEATURE_CATALOG[key].requires.some((required) => !defaults[required])) {
        this.logger.warn(`Default for "${key}" is on but a module it needs is off; starting it off`);
        defaults[key] = false;
      }
    }
    const values = FEATURE_KEYS.map((key) => ({ key, enabled: defaults[key] }));
    await this.dataSource
      .createQueryBuilder()
      .insert()
      .into(Feature)
      .values(values)
      .orIgnore()
      .execute();
  }
}
