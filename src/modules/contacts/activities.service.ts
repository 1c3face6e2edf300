import { ForbiddenException, Injectable, NotFoundException, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { abilityToSql } from '../../core/access/ability-to-sql';
import { AppAbility, subjectOf } from '../../core/access/app-ability';
import { assertCanOnRecord } from '../../core/access/record-access';
import { AuditService } from '../../core/audit/audit.service';
import { containsPattern, Page, pageWindow, parseSort, toPage } from '../../core/http/pagination';
import type { AuthUser } from '../../core/identity/auth-user';
import { JobsService } from '../../core/jobs/jobs.service';
import { ContactsService } from './contacts.service';
import { ACTIVITY_RULE_FIELDS } from './contacts.subjects';
import { holdContactWriteUsers } from './contacts.queries';
import type { ActivityDto, ActivityQueryDto, CreateActivityDto, UpdateActivityDto } from './dto/activity.dto';
import type { ActivityType } from './entities/activity.entity';
import { ContactListTotals } from './list-totals';

/** Answered alike for a missing activity and one the caller may not see: which it is stays untold. */
export class ActivityNotFoundError extends NotFoundException {
  constructor() {
    super({ message: 'Activity not found', code: 'not_found' });
  }
}

/** Counts future-dated activities once their time has come (see catch_up_last_contacted in the migrations). */
export const LAST_CONTACTED_QUEUE = 'contacts.last-contacted';
export const LAST_CONTACTED_SCHEDULE_ID = 'last-contacted-catch-up';
/** How stale last_contacted_at may be, at most, after a scheduled activity's time has passed. */
export const LAST_CONTACTED_CATCH_UP_MS = 60_000;
/** Due rows per transaction, so no pass holds many contact locks for long. */
const CATCH_UP_BATCH = 500;

const ACTIVITY_SORTS: Record<string, string> = {
  occurredAt: 'a.occurred_at',
  createdAt: 'a.created_at',
  type: 'a.type',
};

/** The activity as the API shows it, with its author's name (null once the account is gone). */
const ACTIVITY_VIEW_SELECT = `
  SELECT a.id, a.contact_id, a.type, a.subject, a.body, a.occurred_at, a.visible_to_client, a.author_id,
         au.first_name AS author_first_name, au.last_name AS author_last_name, a.created_at, a.updated_at
    FROM activities a LEFT JOIN users au ON au.id = a.author_id`;

interface ActivityViewRow {
  id: string;
  contact_id: string;
  type: ActivityType;
  subject: string;
  body: string;
  occurred_at: Date;
  visible_to_client: boolean;
  author_id: string | null;
  author_first_name: string | null;
  author_last_name: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * The activity log of contacts. An activity is reachable only through a contact the caller
 * may read and that is not in the trash. Staff log activities and edit or delete their own;
 * admins any. The database keeps `contacts.last_contacted_at` from this log; a periodic job
 * brings in future-dated activities once their time has passed.
 */
@Injectable()
export class ActivitiesService implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly jobs: JobsService,
    private readonly contacts: ContactsService,
    /** Activity writes move contacts' last_contacted_at, which lists filter and sort on. */
    private readonly listTotals: ContactListTotals,
  ) {}

  async onModuleInit(): Promise<void> {
    // Not tied to the contacts feature: like the trigger, it keeps stored data true whatever is switched on.
    this.jobs.define({ queue: LAST_CONTACTED_QUEUE, concurrency: 1, attempts: 2, backoffMs: 5000, handle: () => this.catchUpLastContacted() });
    await this.jobs.schedule(LAST_CONTACTED_QUEUE, LAST_CONTACTED_SCHEDULE_ID, LAST_CONTACTED_CATCH_UP_MS);
  }

  /**
   * Recomputes last_contacted_at for contacts with an activity whose time has come since it
   * was logged, in short transactions. Contacts being written meanwhile are left for the next
   * run. Returns how many due activity times were settled.
   */
  async catchUpLastContacted(): Promise<{ settled: number }> {
    let settled = 0;
    for (;;) {
      const [{ n }] = (await this.dataSource.query('SELECT catch_up_last_contacted($1) AS n', [CATCH_UP_BATCH])) as Array<{ n: number }>;
      settled += n;
      if (n < CATCH_UP_BATCH) break;
    }
    // A job, in whichever process runs it: the lists it changed are served by the others too.
    if (settled) await this.listTotals.changedEverywhere();
    return { settled };
  }

  async list(ability: AppAbility, contactId: string, query: ActivityQueryDto): Promise<Page<ActivityDto>> {
    // The query is checked first: a bad query is a 400 whatever the contact.
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, ACTIVITY_SORTS, [
      ['a.occurred_at', 'DESC'],
      ['a.created_at', 'DESC'],
    ]);
    await this.visibleContact(this.dataSource.manager, ability, contactId);

    const params: unknown[] = [contactId];
    const where = ['a.contact_id = $1'];
    const visible = abilityToSql(ability, 'read', 'Activity', ACTIVITY_RULE_FIELDS, 'a', params.length + 1);
    params.push(...visible.params);
    where.push(visible.sql);
    if (query.type) where.push(`a.type = $${params.push(query.type)}`);
    if (query.q) {
      const p = `$${params.push(containsPattern(query.q))}`;
      where.push(`(a.subject ILIKE ${p} OR a.body ILIKE ${p})`);
    }
    const whereSql = `WHERE ${where.join(' AND ')}`;
    const order = sort.map(([expression, direction]) => `${expression} ${direction}`).concat('a.id').join(', ');
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(`${ACTIVITY_VIEW_SELECT} ${whereSql} ORDER BY ${order} LIMIT ${window.limit} OFFSET ${window.offset}`, params) as Promise<ActivityViewRow[]>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM activities a ${whereSql}`, params) as Promise<Array<{ total: number }>>,
    ]);
    return toPage(rows.map(toActivityDto), total, window);
  }

  async get(ability: AppAbility, id: string): Promise<ActivityDto> {
    const row = await this.view(this.dataSource.manager, id);
    if (!row) throw new ActivityNotFoundError();
    await this.visibleContact(this.dataSource.manager, ability, row.contact_id, 'Activity not found');
    assertCanOnRecord(ability, 'read', 'Activity', activityRecord(row), 'Activity not found');
    return toActivityDto(row);
  }

  /** Whether the caller may read the activity and its contact: for other modules that name one. */
  async readable(ability: AppAbility, id: string): Promise<boolean> {
    try {
      await this.get(ability, id);
      return true;
    } catch (error) {
      if (error instanceof NotFoundException) return false;
      throw error;
    }
  }

  async create(actor: AuthUser, ability: AppAbility, contactId: string, input: CreateActivityDto): Promise<ActivityDto> {
    const id = await this.dataSource.transaction(async (manager) => {
      // The author the activity names is held first, as its reference would hold it (the order of core/identity/lock-order).
      await holdContactWriteUsers(manager, { actorId: actor.id });
      // Held until the activity is written: a contact removed meanwhile (a purge, an import's
      // revert) is then a missing contact, not a broken reference.
      await manager.query('SELECT id FROM contacts WHERE id = $1 FOR KEY SHARE', [contactId]);
      await this.visibleContact(manager, ability, contactId);
      const draft = { contactId, authorId: actor.id, type: input.type, visibleToClient: input.visibleToClient ?? false };
      if (!ability.can('create', subjectOf('Activity', draft))) {
        throw new ForbiddenException({ message: 'You may not log this activity on this contact', code: 'forbidden' });
      }
      const [inserted] = (await manager.query(
        `INSERT INTO activities (contact_id, type, subject, body, occurred_at, author_id, visible_to_client)
         VALUES ($1, $2, $3, $4, coalesce($5::timestamptz, now()), $6, $7) RETURNING id, occurred_at`,
        [contactId, input.type, input.subject ?? '', input.body ?? '', input.occurredAt ?? null, actor.id, draft.visibleToClient],
      )) as Array<{ id: string; occurred_at: Date }>;
      await this.audit.record(
        {
          actorId: actor.id,
          action: 'activity.create',
          subjectType: 'Activity',
          subjectId: inserted!.id,
          after: { contactId, type: input.type, subject: input.subject ?? '', occurredAt: inserted!.occurred_at, visibleToClient: draft.visibleToClient },
        },
        manager,
      );
      return inserted!.id;
    });
    this.listTotals.clear();
    return toActivityDto((await this.view(this.dataSource.manager, id))!);
  }

  async update(actor: AuthUser, ability: AppAbility, id: string, input: UpdateActivityDto): Promise<ActivityDto> {
    await this.dataSource.transaction(async (manager) => {
      const before = await this.locked(manager, ability, id, 'update', input.occurredAt !== undefined);
      const changes: Record<string, unknown> = {};
      if (input.type !== undefined && input.type !== before.type) changes.type = input.type;
      if (input.subject !== undefined && input.subject !== before.subject) changes.subject = input.subject;
      if (input.body !== undefined && input.body !== before.body) changes.body = input.body;
      if (input.visibleToClient !== undefined && input.visibleToClient !== before.visible_to_client) changes.visible_to_client = input.visibleToClient;
      if (input.occurredAt !== undefined && new Date(input.occurredAt).getTime() !== before.occurred_at.getTime()) changes.occurred_at = input.occurredAt;
      if (!Object.keys(changes).length) return;
      // The changed activity must still be one the caller may edit (a rule may hinge on type or visibility).
      const after = { ...activityRecord(before), ...(input.type !== undefined ? { type: input.type } : {}), ...(input.visibleToClient !== undefined ? { visibleToClient: input.visibleToClient } : {}) };
      if (!ability.can('update', subjectOf('Activity', after))) {
        throw new ForbiddenException({ message: 'You may not make this change to the activity', code: 'forbidden' });
      }
      const columns = Object.keys(changes);
      const assignments = columns.map((column, index) => `${column} = $${index + 2}${column === 'occurred_at' ? '::timestamptz' : ''}`).join(', ');
      await manager.query(`UPDATE activities SET ${assignments}, updated_at = now() WHERE id = $1`, [id, ...columns.map((column) => changes[column])]);
      await this.audit.record(
        {
          actorId: actor.id,
          action: 'activity.update',
          subjectType: 'Activity',
          subjectId: id,
          before: Object.fromEntries(columns.map((column) => [camelCase(column), before[column as keyof ActivityViewRow]])),
          after: Object.fromEntries(columns.map((column) => [camelCase(column), changes[column]])),
        },
        manager,
      );
    });
    this.listTotals.clear();
    return toActivityDto((await this.view(this.dataSource.manager, id))!);
  }

  async remove(actor: AuthUser, ability: AppAbility, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const before = await this.locked(manager, ability, id, 'delete', true);
      await manager.query('DELETE FROM activities WHERE id = $1', [id]);
      await this.audit.record(
        {
          actorId: actor.id,
          action: 'activity.delete',
          subjectType: 'Activity',
          subjectId: id,
          before: { contactId: before.contact_id, type: before.type, subject: before.subject, occurredAt: before.occurred_at, authorId: before.author_id },
        },
        manager,
      );
    });
    this.listTotals.clear();
  }

  /**
   * Locks the activity and checks its contact is visible and `action` is allowed on it (404 / 403).
   * A write that changes the contact's last contact (`movesLastContact`: a deletion, a new time)
   * locks the contact first, as the trigger keeping it would, and as a contact's purge and an
   * account's deletion take a contact and then its activities.
   */
  private async locked(manager: EntityManager, ability: AppAbility, id: string, action: 'update' | 'delete', movesLastContact: boolean): Promise<ActivityViewRow> {
    if (movesLastContact) {
      const [activity] = (await manager.query('SELECT contact_id FROM activities WHERE id = $1', [id])) as Array<{ contact_id: string }>;
      if (activity) await manager.query('SELECT id FROM contacts WHERE id = $1 FOR NO KEY UPDATE', [activity.contact_id]);
    }
    const locked: Array<{ contact_id: string }> = await manager.query('SELECT contact_id FROM activities WHERE id = $1 FOR UPDATE', [id]);
    if (!locked.length) throw new ActivityNotFoundError();
    await this.visibleContact(manager, ability, locked[0]!.contact_id, 'Activity not found');
    const row = (await this.view(manager, id))!;
    assertCanOnRecord(ability, action, 'Activity', activityRecord(row), 'Activity not found');
    return row;
  }

  /**
   * The contact, if it is not in the trash and the caller may read it; otherwise 404. Reached
   * through an activity, a hidden contact hides the activity as well.
   */
  private async visibleContact(manager: EntityManager, ability: AppAbility, contactId: string, notFoundMessage = 'Contact not found'): Promise<void> {
    assertCanOnRecord(ability, 'read', 'Contact', await this.contacts.record(manager, contactId), notFoundMessage);
  }

  private async view(manager: EntityManager, id: string): Promise<ActivityViewRow | undefined> {
    const rows: ActivityViewRow[] = await manager.query(`${ACTIVITY_VIEW_SELECT} WHERE a.id = $1`, [id]);
    return rows[0];
  }
}

function activityRecord(row: ActivityViewRow) {
  return { id: row.id, contactId: row.contact_id, authorId: row.author_id, type: row.type, visibleToClient: row.visible_to_client };
}

function camelCase(column: string): string {
  return column.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function toActivityDto(row: ActivityViewRow): ActivityDto {
  return {
    id: row.id,
    contactId: row.contact_id,
    type: row.type,
    subject: row.subject,
    body: row.body,
    occurredAt: row.occurred_at,
    visibleToClient: row.visible_to_client,
    author: row.author_id !== null && row.author_first_name !== null ? { id: row.author_id, firstName: row.author_first_name, lastName: row.author_last_name ?? '' } : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
