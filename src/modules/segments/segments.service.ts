import { ForbiddenException, Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { LRUCache } from 'lru-cache';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import type { AppAbility } from '../../core/access/app-ability';
import { subjectOf } from '../../core/access/app-ability';
import { AuditService } from '../../core/audit/audit.service';
import { ClusterEventsService } from '../../core/cluster/cluster-events.service';
import { containsPattern, Page, pageWindow, parseSort, toPage } from '../../core/http/pagination';
import { RequestValidationError } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { IDENTITY_CHANGED } from '../../core/identity/identity.service';
import { holdUsers } from '../../core/identity/lock-order';
import { PooledSql } from '../../database/pooled-sql';
import { compileSelection, contactOrder, fieldResolver, mentionsCustomFields } from '../contacts/contacts.queries';
import { ContactsService } from '../contacts/contacts.service';
import { CUSTOM_FIELDS_CHANGED, CustomFieldsService } from '../contacts/custom-fields.service';
import type { ContactPageDto } from '../contacts/dto/contact.dto';
import type { CustomField } from '../contacts/entities/custom-field.entity';
import { validateFilter } from '../contacts/filters/contact-filter.compiler';
import type { FilterNode } from '../contacts/filters/contact-filter.types';
import { LOOKUP_DELETED } from '../contacts/lookups.service';
import type {
  AddSegmentMembersDto,
  AddSegmentMembersResultDto,
  CreateSegmentDto,
  PreviewSegmentDto,
  RemoveSegmentMembersDto,
  RemoveSegmentMembersResultDto,
  SegmentContactsQueryDto,
  SegmentDto,
  SegmentExplanationDto,
  SegmentQueryDto,
  UpdateSegmentDto,
} from './dto/segment.dto';
import { KeptCounts } from './kept-counts';
import { SegmentKindError, SegmentNameTakenError, SegmentNotFoundError } from './segments.errors';
import {
  addMembersStatement,
  contactsWithIds,
  dynamicCountStatement,
  explainStatement,
  membersOf,
  missingReferencesStatement,
  missingReferenceWarnings,
  referencesOf,
  removeMembersStatement,
  SEGMENT_SELECT,
  SEGMENT_SORTS,
  segmentRecord,
  SegmentRow,
  staticCountsStatement,
  usableRule,
  visibleSegments,
} from './segments.queries';

/** Dynamic segment counts run side by side for one list of segments. */
const COUNTS_AT_ONCE = 4;
/** Told to every process when a segment was changed or deleted, so they drop the row they keep. */
export const SEGMENT_CHANGED = 'segments.changed';

/** Static and dynamic segments of contacts; contacts are always seen through the caller's rights. */
@Injectable()
export class SegmentsService implements OnModuleInit {
  /**
   * Dynamic segment counts. Counting a rule over a million contacts costs hundreds of
   * milliseconds and a segment list asks for one per segment, so a count that took 50 ms or
   * more is kept: fresh for two seconds (as the contact list keeps its totals), then answered
   * while one query counts again. A count may thus lag changes by two seconds plus one count
   * on a busy segment, and by at most ten seconds on one rarely asked for; cheap counts are
   * always exact.
   */
  private readonly counts = new KeptCounts({ slowMs: 50, freshMs: 2000, staleMs: 10_000, max: 2000 });
  /**
   * Segment rows as paging and explaining read them, on every page of a scrolling list. A
   * change or deletion drops a row here once committed and in the other processes through a
   * cluster event; the TTL bounds anything missed. A read that started before a change does
   * not keep what it found (the generation moved on).
   */
  private readonly keptRows = new LRUCache<string, SegmentRow>({ max: 1000, ttl: 5000 });
  private rowsGeneration = 0;
  /**
   * Which tags, statuses, services, traffic sources or assignees that rules name are gone, by
   * statement. An id once gone stays gone, so only "still there" can turn stale: every
   * process forgets all of it when a lookup or an account is deleted (and after a minute).
   */
  private readonly keptMissing = new LRUCache<string, Array<{ field: string; id: string }>>({ max: 1000, ttl: 60_000 });
  private missingGeneration = 0;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly contacts: ContactsService,
    private readonly customFields: CustomFieldsService,
    private readonly audit: AuditService,
    private readonly sql: PooledSql,
    private readonly cluster: ClusterEventsService,
  ) {}

  onModuleInit(): void {
    this.cluster.on(SEGMENT_CHANGED, (payload) => this.dropKeptRow((payload as { id?: string } | undefined)?.id));
    this.cluster.on(LOOKUP_DELETED, () => this.dropKeptMissing());
    // Renaming a field's options rewrites the rules that name them.
    this.cluster.on(CUSTOM_FIELDS_CHANGED, () => this.dropKeptRow(undefined));
    this.cluster.on(IDENTITY_CHANGED, () => this.dropKeptMissing());
    this.cluster.on('cluster.reconnected', () => {
      this.dropKeptRow(undefined);
      this.dropKeptMissing();
    });
  }

  // ----- reading -----

  async list(ability: AppAbility, query: SegmentQueryDto): Promise<Page<SegmentDto>> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, SEGMENT_SORTS, [['s.name_key', 'ASC']]);
    const visible = visibleSegments(ability, 1);
    const params = [...visible.params];
    const where = [visible.sql];
    if (query.q) where.push(`s.name ILIKE $${params.push(containsPattern(query.q))}`);
    if (query.kind) where.push(`s.kind = $${params.push(query.kind)}`);
    const whereSql = `WHERE ${where.join(' AND ')}`;
    const order = sort.map(([expression, direction]) => `${expression} ${direction}`).concat('s.id').join(', ');
    const [rows, [{ total }]] = await Promise.all([
      this.sql.query<SegmentRow>(`${SEGMENT_SELECT} ${whereSql} ORDER BY ${order} LIMIT ${window.limit} OFFSET ${window.offset}`, params),
      this.sql.query<{ total: number }>(`SELECT count(*)::int AS total FROM segments s ${whereSql}`, params),
    ]);
    return toPage(await this.toDtos(ability, rows), total, window);
  }

  async get(ability: AppAbility, id: string): Promise<SegmentDto> {
    const row = await this.findVisible(ability, id, 'read', this.dataSource.manager);
    return (await this.toDtos(ability, [row]))[0]!;
  }

  /** The segment's contacts, exactly as the contact list shows them, limited to what the caller may read. */
  async contactsOf(ability: AppAbility, id: string, query: SegmentContactsQueryDto): Promise<ContactPageDto> {
    // A bad sort is a 400 whatever the id.
    contactOrder(query.sort, query.sort?.includes('custom.') ? await this.customFields.all() : []);
    const segment = await this.findReadable(ability, id);
    const search: FilterNode | undefined = query.q?.trim() ? { field: 'q', op: 'matches', value: query.q.trim() } : undefined;
    const window = { sort: query.sort, page: query.page, limit: query.limit, cursor: query.cursor };
    if (segment.kind === 'static') return this.contacts.page(ability, { ...window, filter: search, restrict: membersOf(segment.id) });
    const prepared = usableRule(segment.rule!, await this.definitionsFor(segment.rule));
    // The page does not wait for the check of what the rule names.
    const [page, [references]] = await Promise.all([
      this.contacts.page(ability, { ...window, filter: search ? { and: [search, prepared.rule] } : prepared.rule }),
      this.referenceWarnings([prepared.rule]),
    ]);
    return withWarnings(page, [...prepared.warnings, ...references!]);
  }

  /** Count and first page of a rule's contacts, without saving anything. */
  async preview(ability: AppAbility, input: PreviewSegmentDto): Promise<ContactPageDto> {
    const definitions = await this.definitionsFor(input.rule);
    const checked = this.checkRule(input.rule, definitions);
    const warnings = [...checked, ...(await this.referenceWarnings([input.rule]))[0]!];
    const page = await this.contacts.page(ability, { filter: input.rule, sort: input.sort, limit: input.limit });
    // Nothing to page on from here: the full list is the segment's contacts route.
    delete page.meta.nextCursor;
    return withWarnings(page, warnings);
  }

  /**
   * Why a contact is or is not in a dynamic segment: the rule tree with every group and
   * condition evaluated in SQL for that contact.
   */
  async explain(ability: AppAbility, id: string, contactId: string): Promise<SegmentExplanationDto> {
    const segment = await this.findReadable(ability, id);
    if (segment.kind !== 'dynamic') throw new SegmentKindError('Only dynamic segments have a rule to explain; a static segment lists its members');
    await this.contacts.findVisible(ability, contactId);
    const definitions = await this.definitionsFor(segment.rule);
    const prepared = usableRule(segment.rule!, definitions);
    const { statement, annotate } = explainStatement(segment.rule!, prepared.rule, fieldResolver(definitions), contactId);
    const [row] = await this.sql.query<Record<string, boolean>>(statement.sql, statement.params);
    const rule = annotate(row!);
    const [references] = await this.referenceWarnings([prepared.rule]);
    return { segmentId: segment.id, contactId, matched: rule.matched, rule, warnings: [...prepared.warnings, ...references!] };
  }

  // ----- writing -----

  async create(ability: AppAbility, actor: AuthUser, input: CreateSegmentDto): Promise<SegmentDto> {
    if (input.kind === 'dynamic' && input.rule === undefined) throw new RequestValidationError([{ field: 'rule', message: 'is required for a dynamic segment' }]);
    if (input.kind === 'static' && input.rule !== undefined) throw new RequestValidationError([{ field: 'rule', message: 'a static segment has members, not a rule; leave it out' }]);
    if (input.rule) this.checkRule(input.rule, await this.definitionsFor(input.rule));
    if (!ability.can('create', subjectOf('Segment', { kind: input.kind, createdById: actor.id }))) {
      throw new ForbiddenException({ message: `You may not create ${input.kind} segments`, code: 'forbidden' });
    }
    const id = await this.translatingDuplicates(() =>
      this.dataSource.transaction(async (manager) => {
        await this.assertNameFree(manager, input.name);
        const [row] = (await manager.query(
          'INSERT INTO segments (name, description, kind, rule, created_by_id) VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id',
          [input.name, input.description ?? '', input.kind, input.rule === undefined ? null : JSON.stringify(input.rule), actor.id],
        )) as Array<{ id: string }>;
        await this.audit.record({ actorId: actor.id, action: 'segment.create', subjectType: 'Segment', subjectId: row!.id, after: input }, manager);
        return row!.id;
      }),
    );
    return this.get(ability, id);
  }

  async update(ability: AppAbility, actor: AuthUser, id: string, input: UpdateSegmentDto): Promise<SegmentDto> {
    await this.translatingDuplicates(() =>
      this.dataSource.transaction(async (manager) => {
        const before = await this.findVisible(ability, id, 'update', manager, true);
        if (input.rule !== undefined) {
          if (before.kind !== 'dynamic') {
            throw new SegmentKindError('A static segment has members, not a rule; add or remove members instead', { field: 'rule', message: 'a static segment has members, not a rule; leave it out' });
          }
          this.checkRule(input.rule, await this.definitionsFor(input.rule));
        }
        if (input.name !== undefined && input.name.toLowerCase() !== before.name.toLowerCase()) await this.assertNameFree(manager, input.name);
        const sets: string[] = [];
        const params: unknown[] = [id];
        if (input.name !== undefined) sets.push(`name = $${params.push(input.name)}`);
        if (input.description !== undefined) sets.push(`description = $${params.push(input.description)}`);
        if (input.rule !== undefined) sets.push(`rule = $${params.push(JSON.stringify(input.rule))}::jsonb`);
        if (sets.length) await manager.query(`UPDATE segments SET ${sets.concat('updated_at = now()').join(', ')} WHERE id = $1`, params);
        await this.audit.record(
          { actorId: actor.id, action: 'segment.update', subjectType: 'Segment', subjectId: id, before: { name: before.name, description: before.description, rule: before.rule }, after: input },
          manager,
        );
      }),
    );
    await this.changed(id);
    return this.get(ability, id);
  }

  /** Deletes the segment and its member list; the contacts stay. */
  async remove(ability: AppAbility, actor: AuthUser, id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const before = await this.findVisible(ability, id, 'delete', manager, true);
      await manager.query('DELETE FROM segments WHERE id = $1', [id]);
      await this.audit.record({ actorId: actor.id, action: 'segment.delete', subjectType: 'Segment', subjectId: id, before: { name: before.name, kind: before.kind, rule: before.rule } }, manager);
    });
    await this.changed(id);
  }

  /** Adds contacts to a static segment: listed ones, or everything a filter matches now. Only contacts the caller may read go in. */
  async addMembers(ability: AppAbility, actor: AuthUser, id: string, input: AddSegmentMembersDto): Promise<AddSegmentMembersResultDto> {
    if ((input.contactIds === undefined) === (input.filter === undefined)) {
      throw new RequestValidationError([{ field: 'contactIds', message: 'give either contactIds or filter' }]);
    }
    const selection = input.contactIds
      ? compileSelection({ ability, action: 'read', restrict: contactsWithIds(input.contactIds) }, [])
      : compileSelection({ ability, action: 'read', filter: input.filter, refuseDeletedFields: true }, await this.definitionsFor(input.filter));
    const result = await this.dataSource.transaction(async (manager) => {
      const segment = await this.findVisible(ability, id, 'update', manager, true);
      if (segment.kind !== 'static') {
        const sent = input.contactIds ? 'contactIds' : 'filter';
        throw new SegmentKindError("A dynamic segment's contacts come from its rule; change the rule instead", { field: sent, message: 'a dynamic segment takes no members: its rule decides them' });
      }
      // The members name the actor: a user, held before the contacts (core/identity/lock-order).
      await holdUsers(manager, [[actor.id, 'key share']]);
      const statement = addMembersStatement(selection, id, actor.id);
      const [{ matched, added }] = (await manager.query(statement.sql, statement.params)) as Array<{ matched: number; added: number }>;
      await this.audit.record(
        { actorId: actor.id, action: 'segment.members.add', subjectType: 'Segment', subjectId: id, after: { contactIds: input.contactIds, filter: input.filter, matched, added } },
        manager,
      );
      return { matched, added, alreadyMembers: matched - added };
    });
    // The segment's member list reads its total through the contacts' kept totals.
    this.contacts.forgetListTotals();
    return { ...result, contactCount: await this.staticCount(ability, id) };
  }

  async removeMembers(ability: AppAbility, actor: AuthUser, id: string, input: RemoveSegmentMembersDto): Promise<RemoveSegmentMembersResultDto> {
    const selection = compileSelection({ ability, action: 'read', restrict: contactsWithIds(input.contactIds) }, []);
    const removed = await this.dataSource.transaction(async (manager) => {
      const segment = await this.findVisible(ability, id, 'update', manager, true);
      if (segment.kind !== 'static') {
        throw new SegmentKindError("A dynamic segment's contacts come from its rule; change the rule instead", { field: 'contactIds', message: 'a dynamic segment takes no members: its rule decides them' });
      }
      const statement = removeMembersStatement(selection, id);
      const [{ removed: count }] = (await manager.query(statement.sql, statement.params)) as Array<{ removed: number }>;
      await this.audit.record({ actorId: actor.id, action: 'segment.members.remove', subjectType: 'Segment', subjectId: id, after: { contactIds: input.contactIds, removed: count } }, manager);
      return count;
    });
    this.contacts.forgetListTotals();
    return { removed, contactCount: await this.staticCount(ability, id) };
  }

  // ----- helpers -----

  /** The segment if the caller may `action` it; one they may not even read is a 404. */
  private async findVisible(ability: AppAbility, id: string, action: string, manager: EntityManager, lock = false): Promise<SegmentRow> {
    const query = this.sql.through(manager, true);
    if (lock) await query('SELECT 1 FROM segments WHERE id = $1 FOR UPDATE', [id]);
    const [row] = await query<SegmentRow>(`${SEGMENT_SELECT} WHERE s.id = $1`, [id]);
    return this.permitted(ability, row, action);
  }

  /** {@link findVisible} for reading, from the kept rows. */
  private async findReadable(ability: AppAbility, id: string): Promise<SegmentRow> {
    let row = this.keptRows.get(id);
    if (!row) {
      const generation = this.rowsGeneration;
      [row] = await this.sql.prepared<SegmentRow>(`${SEGMENT_SELECT} WHERE s.id = $1`, [id]);
      if (row && generation === this.rowsGeneration) this.keptRows.set(id, row);
    }
    return this.permitted(ability, row, 'read');
  }

  private permitted(ability: AppAbility, row: SegmentRow | undefined, action: string): SegmentRow {
    if (!row || !ability.can('read', subjectOf('Segment', segmentRecord(row)))) throw new SegmentNotFoundError();
    if (action !== 'read' && !ability.can(action, subjectOf('Segment', segmentRecord(row)))) {
      throw new ForbiddenException({ message: `You may not ${action} this segment`, code: 'forbidden' });
    }
    return row;
  }

  /**
   * After a committed change or deletion: no process answers from the row it kept. This one
   * drops it at once; should the notice not reach the others, their copies expire within 5 s,
   * so a failed notice does not fail the request that already committed.
   */
  private async changed(id: string): Promise<void> {
    await this.cluster.publish(SEGMENT_CHANGED, { id }).catch(() => undefined);
  }

  private dropKeptMissing(): void {
    this.missingGeneration += 1;
    this.keptMissing.clear();
  }

  private dropKeptRow(id: string | undefined): void {
    this.rowsGeneration += 1;
    if (id) this.keptRows.delete(id);
    else this.keptRows.clear();
  }

  /** Checks a rule with the one contacts rule language; returns its warnings (deleted custom fields). */
  private checkRule(rule: FilterNode, definitions: CustomField[]): string[] {
    const checked = validateFilter(rule, fieldResolver(definitions), 'rule');
    if (checked.errors.length) throw new RequestValidationError(checked.errors);
    return checked.warnings;
  }

  /** For each rule, the clauses naming tags, statuses, services, traffic sources or assignees that no longer exist. */
  private async referenceWarnings(rules: FilterNode[]): Promise<string[][]> {
    const references = rules.map((rule) => referencesOf(rule));
    const all = references.flat();
    if (!all.length) return rules.map(() => []);
    const statement = missingReferencesStatement(all);
    const key = `${statement.sql}\u0000${JSON.stringify(statement.params)}`;
    let missing = this.keptMissing.get(key);
    if (!missing) {
      const generation = this.missingGeneration;
      missing = await this.sql.query<{ field: string; id: string }>(statement.sql, statement.params);
      if (generation === this.missingGeneration) this.keptMissing.set(key, missing);
    }
    return references.map((refs) => missingReferenceWarnings(refs, missing));
  }

  private async definitionsFor(rule: unknown): Promise<CustomField[]> {
    return mentionsCustomFields(rule) ? this.customFields.all() : [];
  }

  /** Visible contacts matching a rule; see {@link counts}. */
  private dynamicCount(ability: AppAbility, rule: FilterNode, definitions: CustomField[]): Promise<number> {
    const statement = dynamicCountStatement(ability, rule, definitions);
    return this.counts.get(`${statement.sql}\u0000${JSON.stringify(statement.params)}`, async () => {
      const [row] = await this.sql.query<{ count: number }>(statement.sql, statement.params);
      return row!.count;
    });
  }

  private async staticCount(ability: AppAbility, id: string): Promise<number> {
    const statement = staticCountsStatement(ability, [id]);
    const rows = await this.sql.query<{ count: number }>(statement.sql, statement.params);
    return rows[0]?.count ?? 0;
  }

  /** Segments as the API shows them: counts and warnings for the caller, in a fixed number of statements. */
  private async toDtos(ability: AppAbility, rows: SegmentRow[]): Promise<SegmentDto[]> {
    const dynamic = rows.filter((row) => row.kind === 'dynamic');
    const staticIds = rows.filter((row) => row.kind === 'static').map((row) => row.id);
    const definitions = await this.definitionsFor(dynamic.map((row) => row.rule));
    const prepared = dynamic.map((row) => usableRule(row.rule!, definitions));
    const counts = new Map<string, number>();
    const [references] = await Promise.all([
      this.referenceWarnings(prepared.map((p) => p.rule)),
      (async () => {
        if (!staticIds.length) return;
        const statement = staticCountsStatement(ability, staticIds);
        const found = await this.sql.query<{ segment_id: string; count: number }>(statement.sql, statement.params);
        for (const row of found) counts.set(row.segment_id, row.count);
      })(),
      // A few at a time: a page of segments must not take every pooled connection.
      inBatches(dynamic, COUNTS_AT_ONCE, async (row, i) => counts.set(row.id, await this.dynamicCount(ability, prepared[i]!.rule, definitions))),
    ]);
    const warnings = new Map(dynamic.map((row, i) => [row.id, [...prepared[i]!.warnings, ...references[i]!]]));
    return rows.map((row) => ({
      id: row.id,
      name: row.name,
      description: row.description,
      kind: row.kind,
      rule: row.rule,
      contactCount: counts.get(row.id) ?? 0,
      warnings: warnings.get(row.id) ?? [],
      createdBy: row.created_by_id ? { id: row.created_by_id, firstName: row.created_by_first_name!, lastName: row.created_by_last_name! } : null,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    }));
  }

  private async assertNameFree(manager: EntityManager, name: string): Promise<void> {
    const taken: unknown[] = await manager.query('SELECT 1 FROM segments WHERE name_key = lower($1)', [name]);
    if (taken.length) throw new SegmentNameTakenError();
  }

  /** Two concurrent creates with one name: the unique index decides, the loser gets the same 409. */
  private async translatingDuplicates<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string; constraint?: string })?.constraint === 'segments_name_key_key') throw new SegmentNameTakenError();
      throw error;
    }
  }
}

/** Runs `work` over `items` with at most `width` running at once. */
async function inBatches<T>(items: T[], width: number, work: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** The segment's own warnings replace the list's, whose clause paths would point into a wrapped filter. */
function withWarnings(page: ContactPageDto, warnings: string[]): ContactPageDto {
  const { warnings: _listWarnings, ...meta } = page.meta;
  return { data: page.data, meta: warnings.length ? { ...meta, warnings } : meta };
}
