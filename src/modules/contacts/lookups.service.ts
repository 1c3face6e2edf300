import { ConflictException, ForbiddenException, Injectable, NotFoundException, UnprocessableEntityException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { abilityToSql, type SqlCondition } from '../../core/access/ability-to-sql';
import { type AppAbility, subjectOf } from '../../core/access/app-ability';
import { assertCanOnRecord, hasWholeRight } from '../../core/access/record-access';
import type { SubjectField } from '../../core/access/rule.types';
import { AuditService } from '../../core/audit/audit.service';
import { ClusterEventsService } from '../../core/cluster/cluster-events.service';
import { containsPattern, Page, pageWindow, parseSort, SortDirection, toPage } from '../../core/http/pagination';
import { RequestValidationError } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { holdUsers } from '../../core/identity/lock-order';
import { setChangeContext } from './contacts.change-context';
import { nameKey, storedLookupName } from './contacts.naming';
import { holdTagsNamed } from './held-tags';
import { DEFAULT_STATUS_ORDER } from './contacts.starter-data';
import { CONTACT_RULE_FIELDS, CONTACT_SUBJECTS } from './contacts.subjects';
import type {
  ContactStatusDto,
  CreateContactStatusDto,
  CreateNamedLookupDto,
  CreateTagDto,
  DeleteLookupQueryDto,
  LookupContactDto,
  LookupContactsQueryDto,
  LookupQueryDto,
  ServiceOfferingDto,
  TagDto,
  TrafficSourceDto,
  UpdateContactStatusDto,
  UpdateNamedLookupDto,
  UpdateTagDto,
} from './dto/lookup.dto';
import { STATUS_POSITION_MAX } from './dto/lookup.dto';
import { type ContactStage, stageOrderSql } from './entities/contact-status.entity';
import { ContactListTotals } from './list-totals';

// ---------------------------------------------------------------------------------------------
// The four lists
// ---------------------------------------------------------------------------------------------

export type LookupKind = 'status' | 'tag' | 'service' | 'trafficSource';

interface LookupDefinition {
  table: string;
  /** The CASL subject, also the audit subject type. */
  subject: string;
  /** The fields rules on `subject` may name, with their columns (over the entry's table). */
  ruleFields: Record<string, SubjectField>;
  /** Prefix of audit actions (`tag.create`, …). */
  audit: string;
  /** In messages: "the status", "3 contact(s) use this tag". */
  label: string;
  /** Error code prefix (`tag_not_found`). */
  code: string;
  /** How contacts refer to an entry: a column on contacts, or a join table. */
  usage: { column: string } | { joinTable: string; joinColumn: string };
  /** Columns beyond id, name, timestamps. */
  extra: string[];
  defaultSort: Array<[string, SortDirection]>;
  sorts: Record<string, string>;
}

function ruleFieldsOf(subject: string): Record<string, SubjectField> {
  const definition = CONTACT_SUBJECTS.find((candidate) => candidate.name === subject);
  if (!definition) throw new Error(`No subject definition for ${subject}`);
  return definition.fields;
}

/** An entry's count in selectSql: absent from a caller's counts when none of their contacts uses it. */
const CONTACT_COUNT = 'coalesce(u.contact_count, 0)';
const COMMON_SORTS = { name: 'x.name_key', createdAt: 'x.created_at', contactCount: CONTACT_COUNT };

const LOOKUPS: Record<LookupKind, LookupDefinition> = {
  status: {
    table: 'contact_statuses',
    subject: 'ContactStatus',
    ruleFields: ruleFieldsOf('ContactStatus'),
    audit: 'contact-status',
    label: 'status',
    code: 'status',
    usage: { column: 'status_id' },
    extra: ['stage', 'position'],
    defaultSort: [
      ['x.position', 'ASC'],
      ['x.name_key', 'ASC'],
    ],
    // Stages sort in the funnel's order (lead, prospect, customer, other), as contacts do.
    sorts: { ...COMMON_SORTS, position: 'x.position', stage: stageOrderSql('x.stage') },
  },
  tag: {
    table: 'tags',
    subject: 'Tag',
    ruleFields: ruleFieldsOf('Tag'),
    audit: 'tag',
    label: 'tag',
    code: 'tag',
    usage: { joinTable: 'contact_tags', joinColumn: 'tag_id' },
    extra: ['color'],
    defaultSort: [['x.name_key', 'ASC']],
    sorts: COMMON_SORTS,
  },
  service: {
    table: 'services',
    subject: 'Service',
    ruleFields: ruleFieldsOf('Service'),
    audit: 'service',
    label: 'service',
    code: 'service',
    usage: { joinTable: 'contact_services', joinColumn: 'service_id' },
    extra: [],
    defaultSort: [['x.name_key', 'ASC']],
    sorts: COMMON_SORTS,
  },
  trafficSource: {
    table: 'traffic_sources',
    subject: 'TrafficSource',
    ruleFields: ruleFieldsOf('TrafficSource'),
    audit: 'traffic-source',
    label: 'traffic source',
    code: 'traffic_source',
    usage: { column: 'traffic_source_id' },
    extra: [],
    defaultSort: [['x.name_key', 'ASC']],
    sorts: COMMON_SORTS,
  },
};

const LOOKUP_CONTACT_SORTS: Record<string, string> = {
  firstName: 'lower(c.first_name)',
  // No last name ('') comes last, as empty values do (every key here sorts NULLs last).
  lastName: "lower(nullif(c.last_name, ''))",
  email: 'c.email_key',
  company: 'lower(c.company)',
  createdAt: 'c.created_at',
};

interface LookupRow {
  id: string;
  name: string;
  stage?: ContactStage;
  position?: number;
  color?: string | null;
  contact_count: number;
  created_at: Date;
  updated_at: Date;
}

type LookupDtoOf<K extends LookupKind> = K extends 'status' ? ContactStatusDto : K extends 'tag' ? TagDto : K extends 'service' ? ServiceOfferingDto : TrafficSourceDto;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

export class LookupNotFoundError extends NotFoundException {
  constructor(definition: LookupDefinition) {
    super({ message: `${capitalised(definition.label)} not found`, code: `${definition.code}_not_found` });
  }
}

export class LookupNameTakenError extends ConflictException {
  constructor(definition: LookupDefinition) {
    super({
      message: `A ${definition.label} with this name already exists`,
      code: `${definition.code}_name_taken`,
      details: [{ field: 'name', message: 'is already in use (names are compared regardless of case)' }],
    });
  }
}

export class LookupInUseError extends ConflictException {
  /** Counts are told only to callers who may read every contact: they would tell others of contacts their rules hide. */
  constructor(definition: LookupDefinition, usage: { live: number; trashed: number } | 'withheld') {
    const used = usage === 'withheld' ? 'Contacts use' : `${usage.live + usage.trashed} contact(s) use`;
    const where = usage !== 'withheld' && usage.trashed ? ` (${usage.trashed} of them in the trash)` : '';
    const by = usage === 'withheld' ? 'contacts' : `${usage.live + usage.trashed} contact(s)`;
    super({
      message: `${used} this ${definition.label}${where}; pass replaceWith=<id> to move them to another ${definition.label}, or detach=true to take it off them`,
      code: 'in_use',
      details: [
        { field: 'replaceWith', message: `or detach is required: the ${definition.label} is used by ${by}` },
        { field: 'detach', message: `or replaceWith is required: the ${definition.label} is used by ${by}` },
      ],
    });
  }
}

export class InvalidReplacementError extends UnprocessableEntityException {
  constructor(definition: LookupDefinition, reason: 'self' | 'unknown') {
    super({
      message: reason === 'self' ? `A ${definition.label} cannot replace itself` : `replaceWith does not name an existing ${definition.label}`,
      code: 'invalid_replacement',
      details: [{ field: 'replaceWith', message: reason === 'self' ? 'must differ from the deleted id' : `does not name an existing ${definition.label}` }],
    });
  }
}

function capitalised(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/** Told to every process once a status, tag, service or traffic source was deleted: `{ kind, id }`. */
export const LOOKUP_DELETED = 'contacts.lookup-deleted';

/** Contacts the caller may read, as a condition over `c` (placeholders from `firstParam`): counts show only those. */
function readableContacts(ability: AppAbility, firstParam: number): SqlCondition {
  return abilityToSql(ability, 'read', 'Contact', CONTACT_RULE_FIELDS, 'c', firstParam);
}

/** Entries the caller may read, as a condition over `x` (placeholders from `firstParam`); undefined when that is all of them. */
function readableEntries(ability: AppAbility, definition: LookupDefinition, firstParam: number): SqlCondition | undefined {
  const condition = abilityToSql(ability, 'read', definition.subject, definition.ruleFields, 'x', firstParam);
  return condition.sql === 'TRUE' ? undefined : condition;
}

/** An entry as rule conditions see it: the fields rules may name. */
function ruleRecordOf(entry: { id?: string; name: string }): Record<string, unknown> {
  return { id: entry.id, name: entry.name };
}

/**
 * 404 for an entry the caller may not read, 403 for one they may read but not `action`, as on
 * contacts; the 404 is the list's own, so a hidden entry answers like a missing one.
 */
function assertCanOnEntry(ability: AppAbility, action: string, definition: LookupDefinition, entry: { id: string; name: string }): void {
  try {
    assertCanOnRecord(ability, action, definition.subject, ruleRecordOf(entry));
  } catch (error) {
    if (error instanceof NotFoundException) throw new LookupNotFoundError(definition);
    throw error;
  }
}

/**
 * Statuses, tags, services and traffic sources: the admin-managed lists contacts refer to.
 * Names are stored Title Cased and are unique regardless of case (`name_key`); every entry
 * reports how many live contacts (not in the trash) use it. Rules' conditions on an entry's
 * id and name limit what a caller sees and changes, as they do on contacts.
 */
@Injectable()
export class LookupsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly audit: AuditService,
    private readonly cluster: ClusterEventsService,
    private readonly listTotals: ContactListTotals,
  ) {}

  // ----- reading -----

  /** The entries the caller may read, with the number of contacts using each, counting only contacts the caller may read. */
  async list<K extends LookupKind>(kind: K, ability: AppAbility, query: LookupQueryDto): Promise<Page<LookupDtoOf<K>>> {
    const definition = LOOKUPS[kind];
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, definition.sorts, definition.defaultSort);
    const params: unknown[] = [];
    const conditions: string[] = [];
    if (query.q) conditions.push(`x.name ILIKE $${params.push(containsPattern(query.q))}`);
    const readable = readableEntries(ability, definition, params.length + 1);
    if (readable) {
      conditions.push(readable.sql);
      params.push(...readable.params);
    }
    const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
    const visible = readableContacts(ability, params.length + 1);
    // Ties (equal positions, counts, days) fall to the name, as in the default order, then the id.
    const keys = sort.some(([expression]) => expression === 'x.name_key') ? sort : [...sort, ['x.name_key', 'ASC'] as const];
    const order = keys.map(([expression, direction]) => `${expression} ${direction} NULLS LAST`).concat('x.id').join(', ');
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(`${this.selectSql(definition, visible)} ${where} ORDER BY ${order} LIMIT ${window.limit} OFFSET ${window.offset}`, [
        ...params,
        ...visible.params,
      ]) as Promise<LookupRow[]>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM ${definition.table} x ${where}`, params) as Promise<Array<{ total: number }>>,
    ]);
    return toPage(
      rows.map((row) => this.toDto(kind, row)),
      total,
      window,
    );
  }

  async get<K extends LookupKind>(kind: K, ability: AppAbility, id: string): Promise<LookupDtoOf<K>> {
    const definition = LOOKUPS[kind];
    const row = await this.view(this.dataSource.manager, definition, id, ability);
    assertCanOnEntry(ability, 'read', definition, row);
    return this.toDto(kind, row);
  }

  /**
   * The live contacts in a status or with a tag, as far as the caller may read them.
   * The query is checked before the entry is looked up, so a bad query is a 400 whatever the id.
   */
  async contactsOf(kind: 'status' | 'tag', ability: AppAbility, id: string, query: LookupContactsQueryDto): Promise<Page<LookupContactDto>> {
    const definition = LOOKUPS[kind];
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, LOOKUP_CONTACT_SORTS, [
      [LOOKUP_CONTACT_SORTS.lastName!, 'ASC'],
      [LOOKUP_CONTACT_SORTS.firstName!, 'ASC'],
    ]);
    const [entry] = (await this.dataSource.query(`SELECT id, name FROM ${definition.table} WHERE id = $1`, [id])) as Array<{ id: string; name: string }>;
    if (!entry) throw new LookupNotFoundError(definition);
    assertCanOnEntry(ability, 'read', definition, entry);

    const params: unknown[] = [id];
    const where = ['c.deleted_at IS NULL', this.usedBySql(definition, 'c', '$1')];
    const visible = abilityToSql(ability, 'read', 'Contact', CONTACT_RULE_FIELDS, 'c', params.length + 1);
    params.push(...visible.params);
    where.push(visible.sql);
    if (query.q) {
      const p = `$${params.push(containsPattern(query.q))}`;
      where.push(`((c.first_name || ' ' || c.last_name) ILIKE ${p} OR c.email ILIKE ${p} OR c.company ILIKE ${p})`);
    }
    const whereSql = `WHERE ${where.join(' AND ')}`;
    const order = sort.map(([expression, direction]) => `${expression} ${direction} NULLS LAST`).concat('c.id').join(', ');
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(
        `SELECT c.id, c.first_name, c.last_name, c.email, c.company, c.created_at FROM contacts c ${whereSql} ORDER BY ${order} LIMIT ${window.limit} OFFSET ${window.offset}`,
        params,
      ) as Promise<Array<{ id: string; first_name: string; last_name: string; email: string | null; company: string | null; created_at: Date }>>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM contacts c ${whereSql}`, params) as Promise<Array<{ total: number }>>,
    ]);
    return toPage(
      rows.map((row) => ({ id: row.id, firstName: row.first_name, lastName: row.last_name, email: row.email, company: row.company, createdAt: row.created_at })),
      total,
      window,
    );
  }

  // ----- writing -----

  async createStatus(ability: AppAbility, actor: AuthUser, input: CreateContactStatusDto): Promise<ContactStatusDto> {
    return this.create('status', ability, actor, input.name, async (manager, name) => {
      const position =
        input.position ??
        ((await manager.query('SELECT coalesce(max(position) + 1, 0)::int AS next FROM contact_statuses')) as Array<{ next: number }>)[0]!.next;
      return { sql: 'INSERT INTO contact_statuses (name, stage, position) VALUES ($1, $2, $3) RETURNING id', params: [name, input.stage, Math.min(position, STATUS_POSITION_MAX)] };
    });
  }

  async createTag(ability: AppAbility, actor: AuthUser, input: CreateTagDto): Promise<TagDto> {
    return this.create('tag', ability, actor, input.name, async (_manager, name) => ({
      sql: 'INSERT INTO tags (name, color) VALUES ($1, $2) RETURNING id',
      params: [name, input.color ?? null],
    }));
  }

  async createNamed<K extends 'service' | 'trafficSource'>(kind: K, ability: AppAbility, actor: AuthUser, input: CreateNamedLookupDto): Promise<LookupDtoOf<K>> {
    return this.create(kind, ability, actor, input.name, async (_manager, name) => ({
      sql: `INSERT INTO ${LOOKUPS[kind].table} (name) VALUES ($1) RETURNING id`,
      params: [name],
    }));
  }

  async updateStatus(ability: AppAbility, actor: AuthUser, id: string, input: UpdateContactStatusDto): Promise<ContactStatusDto> {
    return this.update('status', ability, actor, id, input, { stage: input.stage, position: input.position });
  }

  async updateTag(ability: AppAbility, actor: AuthUser, id: string, input: UpdateTagDto): Promise<TagDto> {
    return this.update('tag', ability, actor, id, input, { color: input.color });
  }

  async updateNamed<K extends 'service' | 'trafficSource'>(kind: K, ability: AppAbility, actor: AuthUser, id: string, input: UpdateNamedLookupDto): Promise<LookupDtoOf<K>> {
    return this.update(kind, ability, actor, id, input, {});
  }

  /**
   * Deletes an entry. One that contacts use (in the trash too: they keep their references)
   * needs `replaceWith` (the contacts move to another entry, which the caller must be able to
   * read) or `detach` (they lose it).
   */
  async remove(kind: LookupKind, ability: AppAbility, actor: AuthUser, id: string, options: DeleteLookupQueryDto): Promise<void> {
    const definition = LOOKUPS[kind];
    // Both ids come validated, in lower case as the database answers them.
    const { replaceWith, detach } = options;
    if (replaceWith !== undefined && detach) {
      throw new RequestValidationError([{ field: 'detach', message: 'cannot be combined with replaceWith' }]);
    }
    const contactsChanged = await this.dataSource.transaction(async (manager) => {
      if (kind === 'status') {
        await setChangeContext(manager, actor.id, 'lookup');
        // The status history of the contacts changed names the actor: a user, held before contacts (core/identity/lock-order).
        await holdUsers(manager, [[actor.id, 'key share']]);
      }
      // Contacts first, in id order as every writer of several contacts locks them: an edit holds
      // its contact while its status history refers to the entry, so taking the entry first
      // would deadlock with it.
      await manager.query(`SELECT c.id FROM contacts c WHERE ${this.usedBySql(definition, 'c', '$1')} ORDER BY c.id FOR UPDATE OF c`, [id]);
      // Then the entry and its replacement in a stable order, so two crossing deletes cannot deadlock.
      const ids = replaceWith !== undefined && replaceWith !== id ? [id, replaceWith] : [id];
      const locked: Array<{ id: string; name: string }> = await manager.query(
        `SELECT id, name FROM ${definition.table} WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
        [ids],
      );
      const entry = locked.find((row) => row.id === id);
      if (!entry) throw new LookupNotFoundError(definition);
      assertCanOnEntry(ability, 'delete', definition, entry);
      if (replaceWith !== undefined) {
        if (replaceWith === id) throw new InvalidReplacementError(definition, 'self');
        const replacement = locked.find((row) => row.id === replaceWith);
        // One the caller may not read answers as a missing one: its existence does not leak.
        if (!replacement || !ability.can('read', subjectOf(definition.subject, ruleRecordOf(replacement)))) throw new InvalidReplacementError(definition, 'unknown');
      }
      const before = await this.view(manager, definition, id);
      const { live, trashed } = await this.usage(manager, definition, id);
      if (live + trashed > 0 && replaceWith === undefined && !detach) {
        throw new LookupInUseError(definition, hasWholeRight(ability, 'read', 'Contact') ? { live, trashed } : 'withheld');
      }

      const affected = live + trashed > 0 ? await this.reassign(manager, definition, id, replaceWith ?? null) : 0;
      await manager.query(`DELETE FROM ${definition.table} WHERE id = $1`, [id]);
      await this.audit.record(
        {
          actorId: actor.id,
          action: `${definition.audit}.delete`,
          subjectType: definition.subject,
          subjectId: id,
          before: this.auditView(kind, before),
          after: replaceWith !== undefined ? { replacedWith: replaceWith, contactsMoved: affected } : detach ? { detachedFrom: affected } : null,
        },
        manager,
      );
      return affected > 0;
    });
    if (contactsChanged) await this.listTotals.changedEverywhere();
    await this.announceDeleted(kind, [id]);
  }

  /**
   * The status a new contact gets when none is sent: the first lead-stage status ("Lead" first)
   * among those the caller may give. `null` when the deployment has no lead-stage status (the
   * contact gets none); `hidden` when it has some but the caller's rules hide them all.
   */
  async defaultStatusFor(manager: EntityManager, ability: AppAbility): Promise<string | null | 'hidden'> {
    const readable = readableEntries(ability, LOOKUPS.status, 1);
    const rows: Array<{ id: string; usable: boolean }> = await manager.query(
      `SELECT x.id, ${readable ? `COALESCE(${readable.sql}, FALSE)` : 'TRUE'} AS usable FROM contact_statuses x WHERE x.stage = 'lead'
        ORDER BY 2 DESC, ${DEFAULT_STATUS_ORDER} LIMIT 1`,
      readable?.params ?? [],
    );
    if (!rows[0]) return null;
    return rows[0].usable ? rows[0].id : 'hidden';
  }

  /**
   * Of `ids`, the entries that exist and that the caller may read: the ones a contact may be
   * given. An entry a lookup rule hides is as unknown here as on its own routes.
   */
  async usableIds(manager: EntityManager, ability: AppAbility, kind: LookupKind, ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const definition = LOOKUPS[kind];
    const readable = readableEntries(ability, definition, 2);
    const rows: Array<{ id: string }> = await manager.query(
      // Held until the caller's change commits: a deletion of the entry waits for it, or wins
      // first and the entry is unknown here (instead of the change failing on the foreign key).
      `SELECT x.id FROM ${definition.table} x WHERE x.id = ANY($1::uuid[])${readable ? ` AND ${readable.sql}` : ''} FOR KEY SHARE OF x`,
      [ids, ...(readable?.params ?? [])],
    );
    return new Set(rows.map((row) => row.id));
  }

  /**
   * Finds or creates tags by name for "create tags by typing their names": names are Title
   * Cased, deduplicated regardless of case, missing ones inserted (concurrent inserts of the
   * same name are harmless), and the ids come back in the order the names were given.
   * Runs in the caller's transaction; new tags are audited against the actor of its change
   * context. Creating one takes the caller's right to create that tag, as POST /tags does
   * (refused, the transaction rolls back).
   */
  /** Typed tag names as they would be stored, one per tag; 400 for a blank or overlong one. */
  tagNamesToStore(names: string[]): string[] {
    const wanted = new Map<string, string>();
    for (const raw of names) {
      const { name, error } = storedLookupName(raw);
      if (!name) throw new RequestValidationError([{ field: 'newTags', message: 'must not hold a blank name' }]);
      if (error) throw new RequestValidationError([{ field: 'newTags', message: `"${raw}" ${error}` }]);
      const key = nameKey(name);
      if (!wanted.has(key)) wanted.set(key, name);
    }
    return [...wanted.values()];
  }

  async ensureTags(manager: EntityManager, names: string[], ability: AppAbility): Promise<string[]> {
    const titled = this.tagNamesToStore(names);
    if (!titled.length) return [];
    const tags = await holdTagsNamed(manager, titled);
    if (!tags) throw new ConflictException({ message: 'A tag was deleted while this change named it; try again', code: 'concurrent_update', details: [{ field: 'newTags', message: 'names a tag deleted meanwhile' }] });
    const { held: rows, created } = tags;
    // A name may find an existing tag the caller's rules hide: it is not theirs to give. Refused
    // in the same words as one they may not create, so the answer tells nothing of hidden tags.
    const refused =
      created.find((tag) => !ability.can('create', subjectOf('Tag', tag))) ?? rows.find((row) => !ability.can('read', subjectOf('Tag', ruleRecordOf(row))));
    if (refused) {
      throw new ForbiddenException({
        message: `You may not use the tag "${refused.name}"`,
        code: 'forbidden',
        details: [{ field: 'newTags', message: `"${refused.name}" is not a tag you may use or create` }],
      });
    }
    if (created.length) {
      const [{ actor }] = (await manager.query(`SELECT nullif(current_setting('maestro.actor_id', true), '') AS actor`)) as Array<{ actor: string | null }>;
      for (const tag of created) {
        await this.audit.record({ actorId: actor, action: 'tag.create', subjectType: 'Tag', subjectId: tag.id, after: { name: tag.name, color: null } }, manager);
      }
    }
    return [...new Set(rows.map((row) => row.id))];
  }

  /**
   * Deletes those of the tags no contact (trashed ones included) uses, audited as `why`; for
   * undoing what created them. They are locked first, so a write adding one waits, or is waited for
   * and then counts as a use. Returns the ids deleted; announce them with `announceDeleted` once committed.
   */
  async deleteUnusedTags(manager: EntityManager, actorId: string, tagIds: string[], why: Record<string, unknown>): Promise<string[]> {
    if (!tagIds.length) return [];
    await manager.query('SELECT id FROM tags WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [tagIds]);
    const [deleted] = (await manager.query(
      `DELETE FROM tags t WHERE t.id = ANY($1::uuid[]) AND NOT EXISTS (SELECT 1 FROM contact_tags ct WHERE ct.tag_id = t.id) RETURNING id, name, color`,
      [tagIds],
    )) as [Array<{ id: string; name: string; color: string | null }>, number];
    for (const tag of deleted) {
      await this.audit.record({ actorId, action: 'tag.delete', subjectType: 'Tag', subjectId: tag.id, before: { name: tag.name, color: tag.color }, after: why }, manager);
    }
    return deleted.map((tag) => tag.id);
  }

  /** Tells every process that entries are gone (saved filters naming them warn again). */
  async announceDeleted(kind: LookupKind, ids: string[]): Promise<void> {
    // Committed: a notice that cannot be sent fails nothing (kept answers expire on their own).
    for (const id of ids) await this.cluster.publish(LOOKUP_DELETED, { kind, id }).catch(() => undefined);
  }

  // ----- internals -----

  private async create<K extends LookupKind>(
    kind: K,
    ability: AppAbility,
    actor: AuthUser,
    rawName: string,
    insert: (manager: EntityManager, name: string) => Promise<{ sql: string; params: unknown[] }>,
  ): Promise<LookupDtoOf<K>> {
    const definition = LOOKUPS[kind];
    const { name, error } = storedLookupName(rawName);
    if (error) throw new RequestValidationError([{ field: 'name', message: error }]);
    // Checked on the name as it will be stored, before any other answer (a taken name) can tell of entries.
    if (!ability.can('create', subjectOf(definition.subject, ruleRecordOf({ name })))) {
      throw new ForbiddenException({ message: `You may not create this ${definition.label}`, code: 'forbidden' });
    }
    const row = await this.dataSource.transaction(async (manager) => {
      await this.assertNameFree(manager, definition, name);
      const { sql, params } = await insert(manager, name);
      const [{ id }] = (await this.translatingDuplicates(definition, () => manager.query(sql, params))) as Array<{ id: string }>;
      const created = await this.view(manager, definition, id);
      await this.audit.record({ actorId: actor.id, action: `${definition.audit}.create`, subjectType: definition.subject, subjectId: id, after: this.auditView(kind, created) }, manager);
      return created;
    });
    return this.toDto(kind, row);
  }

  private async update<K extends LookupKind>(
    kind: K,
    ability: AppAbility,
    actor: AuthUser,
    id: string,
    input: { name?: string },
    extra: Record<string, unknown>,
  ): Promise<LookupDtoOf<K>> {
    const definition = LOOKUPS[kind];
    let restaged = false;
    const row = await this.dataSource.transaction(async (manager) => {
      // Not a key change: contacts being given the entry meanwhile need not wait.
      const locked: unknown[] = await manager.query(`SELECT id FROM ${definition.table} WHERE id = $1 FOR NO KEY UPDATE`, [id]);
      if (!locked.length) throw new LookupNotFoundError(definition);
      const before = await this.view(manager, definition, id);
      assertCanOnEntry(ability, 'update', definition, before);
      const changes: Record<string, unknown> = {};
      if (input.name !== undefined) {
        const { name, error } = storedLookupName(input.name);
        if (error) throw new RequestValidationError([{ field: 'name', message: error }]);
        if (name !== before.name) {
          // Conditions bound what an edit may turn an entry into, as on contacts.
          if (!ability.can('update', subjectOf(definition.subject, ruleRecordOf({ id, name })))) {
            throw new ForbiddenException({ message: `The change would take this ${definition.label} outside what you may change; nothing was changed`, code: 'forbidden' });
          }
          if (nameKey(name) !== nameKey(before.name)) await this.assertNameFree(manager, definition, name);
          changes.name = name;
        }
      }
      for (const [column, value] of Object.entries(extra)) {
        if (value !== undefined && value !== before[column as keyof LookupRow]) changes[column] = value;
      }
      // Counted as the caller may see them, as any answer of theirs is.
      if (!Object.keys(changes).length) return this.view(manager, definition, id, ability);
      const columns = Object.keys(changes);
      const assignments = columns.map((column, index) => `${column} = $${index + 2}`).join(', ');
      await this.translatingDuplicates(definition, () =>
        manager.query(`UPDATE ${definition.table} SET ${assignments}, updated_at = now() WHERE id = $1`, [id, ...columns.map((column) => changes[column])]),
      );
      restaged = 'stage' in changes;
      const after = await this.view(manager, definition, id, ability);
      await this.audit.record(
        {
          actorId: actor.id,
          action: `${definition.audit}.update`,
          subjectType: definition.subject,
          subjectId: id,
          before: Object.fromEntries(columns.map((column) => [column, before[column as keyof LookupRow] ?? null])),
          after: changes,
        },
        manager,
      );
      return after;
    });
    // Its contacts now count under another stage, in every process's lists.
    if (restaged) await this.listTotals.changedEverywhere();
    return this.toDto(kind, row);
  }

  /** Moves (or, with no replacement, detaches) every contact using `id`, trash included. Returns how many contacts changed. */
  private async reassign(manager: EntityManager, definition: LookupDefinition, id: string, replacement: string | null): Promise<number> {
    if ('column' in definition.usage) {
      // A real column change: the status history trigger records it under the change context.
      return this.countOf(
        manager,
        `UPDATE contacts SET ${definition.usage.column} = $2, version = version + 1, updated_at = now() WHERE ${definition.usage.column} = $1 RETURNING id`,
        [id, replacement],
      );
    }
    const { joinTable, joinColumn } = definition.usage;
    const touched = await this.countOf(
      manager,
      `UPDATE contacts SET version = version + 1, updated_at = now() WHERE id IN (SELECT contact_id FROM ${joinTable} WHERE ${joinColumn} = $1) RETURNING id`,
      [id],
    );
    if (replacement) {
      await manager.query(
        `INSERT INTO ${joinTable} (contact_id, ${joinColumn}) SELECT contact_id, $2 FROM ${joinTable} WHERE ${joinColumn} = $1 ON CONFLICT DO NOTHING`,
        [id, replacement],
      );
    }
    await manager.query(`DELETE FROM ${joinTable} WHERE ${joinColumn} = $1`, [id]);
    return touched;
  }

  /** How many rows a data-changing statement with RETURNING touched (TypeORM reshapes UPDATE results, a CTE keeps it a plain SELECT). */
  private async countOf(manager: EntityManager, statement: string, params: unknown[]): Promise<number> {
    const [{ count }] = (await manager.query(`WITH changed AS (${statement}) SELECT count(*)::int AS count FROM changed`, params)) as Array<{ count: number }>;
    return count;
  }

  private async usage(manager: EntityManager, definition: LookupDefinition, id: string): Promise<{ live: number; trashed: number }> {
    const [row] = (await manager.query(
      `SELECT count(*) FILTER (WHERE c.deleted_at IS NULL)::int AS live, count(*) FILTER (WHERE c.deleted_at IS NOT NULL)::int AS trashed
         FROM contacts c WHERE ${this.usedBySql(definition, 'c', '$1')}`,
      [id],
    )) as Array<{ live: number; trashed: number }>;
    return row!;
  }

  /** SQL true when the contact `alias` uses the entry given by `param`. */
  private usedBySql(definition: LookupDefinition, alias: string, param: string): string {
    if ('column' in definition.usage) return `${alias}.${definition.usage.column} = ${param}`;
    const { joinTable, joinColumn } = definition.usage;
    return `EXISTS (SELECT 1 FROM ${joinTable} j WHERE j.contact_id = ${alias}.id AND j.${joinColumn} = ${param})`;
  }

  /** The entries with their contact count, over contacts `visible` allows (all of them without it). */
  private selectSql(definition: LookupDefinition, visible?: SqlCondition): string {
    const columns = ['x.id', 'x.name', ...definition.extra.map((column) => `x.${column}`), `${CONTACT_COUNT} AS contact_count`, 'x.created_at', 'x.updated_at'];
    const from = `SELECT ${columns.join(', ')} FROM ${definition.table} x`;
    const usage = definition.usage;
    if (visible && visible.sql !== 'TRUE') {
      // The caller's contacts counted once, by entry: counted entry by entry, each read every
      // contact using it to find the caller's few (0.6 s for a rep's tags or traffic sources at
      // a million contacts, against a tenth of one).
      const grouped =
        'column' in usage
          ? `SELECT c.${usage.column} AS id, count(*)::int AS contact_count FROM contacts c WHERE c.deleted_at IS NULL AND ${visible.sql} GROUP BY 1`
          : `SELECT j.${usage.joinColumn} AS id, count(*)::int AS contact_count FROM ${usage.joinTable} j JOIN contacts c ON c.id = j.contact_id WHERE c.deleted_at IS NULL AND ${visible.sql} GROUP BY 1`;
      return `${from} LEFT JOIN (${grouped}) u ON u.id = x.id`;
    }
    if ('column' in usage) {
      return `${from} CROSS JOIN LATERAL (SELECT count(*)::int AS contact_count FROM contacts c WHERE c.${usage.column} = x.id AND c.deleted_at IS NULL) u`;
    }
    // Every link, from the entry's own index, less those of trashed contacts (the few): joining
    // each link to its contact to see whether it is live cost seconds for fifty tags on a
    // million contacts, against a tenth of one.
    return `${from} CROSS JOIN LATERAL (SELECT ((SELECT count(*) FROM ${usage.joinTable} j WHERE j.${usage.joinColumn} = x.id)
              - (SELECT count(*) FROM contacts c JOIN ${usage.joinTable} j ON j.contact_id = c.id WHERE c.deleted_at IS NOT NULL AND j.${usage.joinColumn} = x.id))::int AS contact_count) u`;
  }

  /** One entry; with `ability`, its contact count is of the contacts that caller may read. */
  private async view(manager: EntityManager, definition: LookupDefinition, id: string, ability?: AppAbility): Promise<LookupRow> {
    const visible = ability ? readableContacts(ability, 2) : undefined;
    const rows: LookupRow[] = await manager.query(`${this.selectSql(definition, visible)} WHERE x.id = $1`, [id, ...(visible?.params ?? [])]);
    if (!rows.length) throw new LookupNotFoundError(definition);
    return rows[0]!;
  }

  private async assertNameFree(manager: EntityManager, definition: LookupDefinition, name: string): Promise<void> {
    const taken: unknown[] = await manager.query(`SELECT 1 FROM ${definition.table} WHERE name_key = lower($1)`, [name]);
    if (taken.length) throw new LookupNameTakenError(definition);
  }

  /** A concurrent insert of the same name loses on the unique index: report it like the pre-check does. */
  private async translatingDuplicates<T>(definition: LookupDefinition, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: string } | undefined)?.code === '23505') throw new LookupNameTakenError(definition);
      throw error;
    }
  }

  private auditView(kind: LookupKind, row: LookupRow): Record<string, unknown> {
    if (kind === 'status') return { name: row.name, stage: row.stage, position: row.position };
    if (kind === 'tag') return { name: row.name, color: row.color ?? null };
    return { name: row.name };
  }

  private toDto<K extends LookupKind>(kind: K, row: LookupRow): LookupDtoOf<K> {
    const common = { id: row.id, name: row.name, contactCount: row.contact_count, createdAt: row.created_at, updatedAt: row.updated_at };
    if (kind === 'status') return { ...common, stage: row.stage!, position: row.position! } as LookupDtoOf<K>;
    if (kind === 'tag') return { ...common, color: row.color ?? null } as LookupDtoOf<K>;
    return common as LookupDtoOf<K>;
  }
}
