import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { Negotiator } from '@fastify/accept-negotiator';
import { LRUCache } from 'lru-cache';
import { performance } from 'node:perf_hooks';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { DataSource } from 'typeorm';
import type { AppAbility } from '../../core/access/app-ability';
import { hasWholeRight } from '../../core/access/record-access';
import { ClusterEventsService } from '../../core/cluster/cluster-events.service';
import { JobsService } from '../../core/jobs/jobs.service';
import type { AuthUser } from '../../core/identity/auth-user';
import { ActivitiesService } from '../contacts/activities.service';
import { myMetrics, snapshotMetrics } from './dashboard.metrics';
import {
  BreakdownSeriesRow,
  ContactCountsRow,
  INSERT_SNAPSHOT_SQL,
  LastContactedRow,
  LATEST_SNAPSHOT_SQL,
  myActivitiesStatement,
  MyCountsRow,
  myCountsStatement,
  PRUNE_SNAPSHOTS_SQL,
  SeriesRow,
  snapshotStatements,
  Statement,
  WITHOUT_JIT_SQL,
} from './dashboard.queries';
import type { DashboardDto, DashboardMetricsDto, DashboardRefreshDto, MyDashboardDto, SnapshotTrigger } from './dto/dashboard.dto';
import { DASHBOARD_REFRESH_QUEUE, DashboardRefreshPayload } from './jobs/dashboard-refresh.job';

/** Snapshots kept; older ones are deleted whenever a new one is written. */
export const SNAPSHOTS_KEPT = 100;
/** Refreshes asked for within the same window while one waits or runs are that job (same job id), so repeated clicks queue nothing more. */
export const REFRESH_WINDOW_MS = 5000;
/** Told to every process when a snapshot has been written, so they drop the one they keep. */
export const SNAPSHOT_WRITTEN = 'dashboard.snapshot-written';

/** How a body may be sent: as is, or compressed for clients that accept it (browsers do). */
export type BodyEncoding = 'br' | 'gzip' | 'identity';

export interface EncodedBody {
  bytes: Buffer;
  encoding: BodyEncoding;
}

/** The latest snapshot, serialised and encoded once (as is, brotli, gzip) for every request that reads it. */
interface LatestSnapshot {
  computedAt: string;
  bodies: Record<BodyEncoding, Buffer>;
  /** The activity the "last contacted" metric names, if any: only callers who may read it (and its contact) see it. */
  lastContactedActivityId: string | null;
  /** The same snapshot without that activity and contact, encoded once on first need. */
  withheld: () => Record<BodyEncoding, Buffer>;
}

function encodings(json: string): Record<BodyEncoding, Buffer> {
  const identity = Buffer.from(json);
  return {
    identity,
    br: brotliCompressSync(identity, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: identity.length } }),
    gzip: gzipSync(identity, { level: 9 }),
  };
}

interface SnapshotRow {
  id: string;
  computed_at: Date | string;
  duration_ms: number;
  trigger: SnapshotTrigger;
  metrics: DashboardMetricsDto;
}

/**
 * The dashboard: snapshots computed by a job, read as one row; a staff member's own numbers, live.
 *
 * The latest snapshot is read by every back-office screen and changes only when a refresh
 * writes a new one, so each process keeps it in memory (already serialised) until it hears
 * that a snapshot was written, in any process, or loses the channel that would tell it.
 */
@Injectable()
export class DashboardService implements OnModuleInit {
  private readonly logger = new Logger('Dashboard');
  private latestSnapshot?: Promise<LatestSnapshot | null>;
  /** Accept-Encoding headers seen, each negotiated once (the cache is bounded: clients choose these strings). */
  private readonly encodingNegotiator = new Negotiator<BodyEncoding>({ supportedValues: ['br', 'gzip', 'identity'], cache: new LRUCache<string, string>({ max: 200 }) });

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly jobs: JobsService,
    private readonly cluster: ClusterEventsService,
    private readonly activities: ActivitiesService,
  ) {}

  onModuleInit(): void {
    this.cluster.on(SNAPSHOT_WRITTEN, () => this.forgetLatest());
    this.cluster.on('cluster.reconnected', () => this.forgetLatest());
  }

  /**
   * The latest snapshot as the JSON of a {@link DashboardDto}, in the best encoding the
   * `Accept-Encoding` header allows; with none yet, a refresh is queued and the answer says so.
   */
  async latestBody(ability: AppAbility, acceptEncoding: string | undefined): Promise<EncodedBody> {
    const latest = await this.latest();
    if (latest) {
      const encoding: BodyEncoding = acceptEncoding ? (this.encodingNegotiator.negotiate(acceptEncoding) ?? 'identity') : 'identity';
      const bodies = (await this.mayReadLastContacted(ability, latest)) ? latest.bodies : latest.withheld();
      return { bytes: bodies[encoding], encoding };
    }
    const refreshJobId = await this.requestRefresh();
    const pending: DashboardDto = { status: 'pending', computedAt: null, durationMs: null, trigger: null, refreshJobId, metrics: null };
    return { bytes: Buffer.from(JSON.stringify(pending)), encoding: 'identity' };
  }

  async refreshOnDemand(): Promise<DashboardRefreshDto> {
    const [jobId, latest] = await Promise.all([this.requestRefresh(), this.latest()]);
    return { jobId, currentComputedAt: latest?.computedAt ?? null };
  }

  /** Computes every metric as of now and stores the snapshot, keeping the newest {@link SNAPSHOTS_KEPT}. */
  async refresh(trigger: SnapshotTrigger): Promise<{ id: string; computedAt: Date; durationMs: number }> {
    const computedAt = new Date();
    const started = performance.now();
    const metrics = await this.compute(computedAt);
    const durationMs = Math.round(performance.now() - started);
    const id = await this.dataSource.transaction(async (manager) => {
      const [inserted] = (await manager.query(INSERT_SNAPSHOT_SQL, [computedAt.toISOString(), durationMs, JSON.stringify(metrics), trigger])) as Array<{ id: string }>;
      await manager.query(PRUNE_SNAPSHOTS_SQL, [SNAPSHOTS_KEPT]);
      return inserted!.id;
    });
    this.forgetLatest();
    await this.cluster.publish(SNAPSHOT_WRITTEN, { id });
    this.logger.log(`Dashboard snapshot computed in ${durationMs} ms (${trigger})`);
    return { id, computedAt, durationMs };
  }

  /** Every metric as of `now`; the statements run side by side on the pool. */
  async compute(now: Date): Promise<DashboardMetricsDto> {
    const statements = snapshotStatements(now);
    const [counts, lastContacted, conversions, newContacts, activities] = await Promise.all([
      this.one<ContactCountsRow>(statements.counts),
      this.one<LastContactedRow>(statements.lastContacted),
      this.one<SeriesRow>(statements.conversions),
      this.one<BreakdownSeriesRow>(statements.newContacts),
      this.one<BreakdownSeriesRow>(statements.activities),
    ]);
    // Aggregates always answer one row; only "last contacted" may find nobody.
    return snapshotMetrics({ counts: counts!, lastContacted, conversions: conversions!, newContacts: newContacts!, activities: activities! });
  }

  /** The caller's own numbers over the contacts assigned to them, computed now. */
  async mine(user: AuthUser): Promise<MyDashboardDto> {
    const now = new Date();
    const [counts, activities] = await Promise.all([this.one<MyCountsRow>(myCountsStatement(now, user.id)), this.one<SeriesRow>(myActivitiesStatement(now, user.id))]);
    return myMetrics(now, user.id, counts!, activities!);
  }

  /**
   * The metrics count every contact, but "last contacted" names one contact and one activity:
   * callers whose rights reach only some contacts or activities see it only if those are theirs.
   */
  private async mayReadLastContacted(ability: AppAbility, latest: LatestSnapshot): Promise<boolean> {
    if (!latest.lastContactedActivityId) return true;
    if (hasWholeRight(ability, 'read', 'Contact') && hasWholeRight(ability, 'read', 'Activity')) return true;
    return this.activities.readable(ability, latest.lastContactedActivityId);
  }

  /** The newest snapshot, from memory once read; nothing is kept while there is none. */
  private latest(): Promise<LatestSnapshot | null> {
    if (!this.latestSnapshot) {
      const loading = (this.dataSource.query(LATEST_SNAPSHOT_SQL) as Promise<SnapshotRow[]>).then(([row]) => {
        if (!row) return null;
        const computedAt = new Date(row.computed_at).toISOString();
        const dto: DashboardDto = {
          status: 'ready',
          computedAt,
          durationMs: row.duration_ms,
          trigger: row.trigger,
          refreshJobId: null,
          metrics: row.metrics,
        };
        let withheld: Record<BodyEncoding, Buffer> | undefined;
        const withheldDto = (): DashboardDto => ({ ...dto, metrics: { ...row.metrics, lastContacted: { ...row.metrics.lastContacted, value: null, withheld: true } } });
        // Buffers, so no request measures, encodes or compresses 11 KB again.
        return {
          computedAt,
          bodies: encodings(JSON.stringify(dto)),
          lastContactedActivityId: row.metrics.lastContacted.value?.activityId ?? null,
          withheld: () => (withheld ??= encodings(JSON.stringify(withheldDto()))),
        };
      });
      const forgetUnlessKept = () => {
        if (this.latestSnapshot === loading) this.latestSnapshot = undefined;
      };
      loading.then((found) => !found && forgetUnlessKept(), forgetUnlessKept);
      this.latestSnapshot = loading;
    }
    return this.latestSnapshot;
  }

  private forgetLatest(): void {
    this.latestSnapshot = undefined;
  }

  /**
   * A refresh still waiting or running is shared; one of the same window that already finished
   * runs again, so a change made after it is counted. The queue keeps finished jobs, and adding
   * one under a kept id would do nothing.
   */
  private async requestRefresh(): Promise<string> {
    const jobId = `dashboard-manual-${Math.floor(Date.now() / REFRESH_WINDOW_MS)}`;
    await this.jobs.ensure<DashboardRefreshPayload>(DASHBOARD_REFRESH_QUEUE, { trigger: 'manual' }, jobId);
    return jobId;
  }

  /** Runs an aggregate statement (in a transaction of its own, for WITHOUT_JIT_SQL) and returns its row. */
  private one<T>(statement: Statement): Promise<T | undefined> {
    return this.dataSource.transaction(async (manager) => {
      await manager.query(WITHOUT_JIT_SQL);
      const rows = (await manager.query(statement.sql, statement.params)) as T[];
      return rows[0];
    });
  }
}
