import { isDeepStrictEqual } from 'node:util';
import { ForbiddenException, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryFailedError } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { abilityToSql } from '../../core/access/ability-to-sql';
import { AbilityFactory } from '../../core/access/ability.factory';
import type { AppAbility } from '../../core/access/app-ability';
import { PreciseInstant, subjectOf } from '../../core/access/app-ability';
import { assertAdministrator, assertCanOnRecord, assertFieldsPermitted, dependsOnRecord, hasWholeRight, isAdministrator } from '../../core/access/record-access';
import { AuditService } from '../../core/audit/audit.service';
import { PasswordTokensService } from '../../core/auth/password-tokens.service';
import { RequestValidationError } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { IdentityService } from '../../core/identity/identity.service';
import { PooledSql } from '../../database/pooled-sql';
import { ContactLookupDirectory, type ContactLookups, tagsOf } from './contact-lookups';
import { type ContactPreferences, mergePreferences, samePreferences, toPreferencesDto } from './contact-preferences';
import { type ChangeSource, setChangeContext } from './contacts.change-context';
import type { ActivityType } from './entities/activity.entity';
import {
  AccountExistsError,
  ContactEmailTakenError,
  ContactHasAccountError,
  ContactNotFoundError,
  ContactRuleError,
  StaleContactVersionError,
  UnknownReferenceError,
} from './contacts.errors';
import {
  activeStaffSql,
  holdContactWriteUsers,
  compileSelection,
  ContactListRow,
  ContactSelection,
  ContactScope,
  contactOrder,
  CURSOR_SORTS,
  decodeCursor,
  encodeCursor,
  listStatements,
  preparable,
  mentionsCustomFields,
  newContactVersion,
  profileActivitiesStatement,
  profileStatements,
  utcMicrosecondText,
} from './contacts.queries';
import { ACTIVITY_RULE_FIELDS, CONTACT_RULE_FIELDS } from './contacts.subjects';
import { checkCustomValues } from './custom-field-values';
import { CustomFieldsService } from './custom-fields.service';
import type {
  BulkActionDto,
  BulkResultDto,
  ContactDto,
  ContactListItemDto,
  ContactPageDto,
  ContactWritableFields,
  CreateAccountDto,
  CreateContactDto,
  UpdateContactDto,
} from './dto/contact.dto';
import type { CustomField } from './entities/custom-field.entity';
import { reportAs } from './filters/contact-filter.compiler';
import type { FilterNode } from './filters/contact-filter.types';
import { ListPlans } from './list-plans';
import { ContactListTotals } from './list-totals';
import { type LookupKind, LookupsService } from './lookups.service';

/** A contact as CASL conditions see it: camelCase fields plus derived ones (hasAccount, tagIds…). */
export type ContactRecord = Record<string, unknown> & { id: string; version: number; hasAccount: boolean; email: string | null };

export interface ContactPageRequest {
  filter?: FilterNode;
  sort?: string;
  page?: number;
  limit?: number;
  cursor?: string;
  scope?: ContactScope;
  /** See {@link ContactSelection.restrict}. */
  restrict?: ContactSelection['restrict'];
}

const ALL_RULE_FIELDS = Object.keys(CONTACT_RULE_FIELDS);

/** A right a change needs on a contact. */
interface ContactRight {
  action: string;
  /** The field the change touches: rules limited to other fields do not allow it. */
  field?: string;
}

/** Fields a contact shares with its account, kept in step by triggers. */
const ACCOUNT_FIELDS: readonly string[] = ['firstName', 'lastName', 'email'];

/** The rights each bulk action needs on a contact: those a single edit of the same field needs. */
const BULK_RIGHTS: Record<BulkActionDto['action'], ContactRight[]> = {
  assign: [{ action: 'update', field: 'assignedToId' }, { action: 'assign' }],
  unassign: [{ action: 'update', field: 'assignedToId' }, { action: 'assign' }],
  setStatus: [{ action: 'update', field: 'statusId' }],
  addTags: [{ action: 'update', field: 'tagIds' }],
  removeTags: [{ action: 'update', field: 'tagIds' }],
  delete: [{ action: 'delete' }],
};

/** All of `rights` as one SQL condition over contacts `c`, placeholders from `firstParam`. */
function bulkRightsSql(ability: AppAbility, rights: ContactRight[], firstParam: number): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const parts = rights.map((right) => {
    const condition = abilityToSql(ability, right.action, 'Contact', CONTACT_RULE_FIELDS, 'c', firstParam + params.length, right.field);
    params.push(...condition.params);
    return condition.sql;
  });
  return { sql: `(${parts.join(' AND ')})`, params };
}

/** Body field → column, for the scalar fields a create or update writes directly. */
const SCALAR_COLUMNS: Record<string, string> = {
  firstName: 'first_name',
  lastName: 'last_name',
  email: 'email',
  phone: 'phone',
  company: 'company',
  jobTitle: 'job_title',
  addressLine1: 'address_line1',
  addressLine2: 'address_line2',
  city: 'city',
  region: 'region',
  postalCode: 'postal_code',
  country: 'country',
  statusId: 'status_id',
  trafficSourceId: 'traffic_source_id',
  assignedToId: 'assigned_to_id',
};

@Injectable()
export class ContactsService {
  private readonly plans = new ListPlans();
  /** Names of the statuses, traffic sources and tags rows refer to. */
  private readonly lookupDirectory = new ContactLookupDirectory((sql, params) => this.sql.query(sql, params));

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly customFields: CustomFieldsService,
    private readonly lookups: LookupsService,
    private readonly identity: IdentityService,
    private readonly passwordTokens: PasswordTokensService,
    private readonly audit: AuditService,
    private readonly abilities: AbilityFactory,
    private readonly sql: PooledSql,
    /** Totals of recent list queries; dropped on every write to contacts in this process. */
    private readonly totals: ContactListTotals,
  ) {}

  /** One page of contacts the caller may read, filtered and sorted; offset or keyset paging. */
  async page(ability: AppAbility, request: ContactPageRequest): Promise<ContactPageDto> {
    const definitions = await this.definitionsFor(request.filter, request.sort);
    const limit = Math.min(request.limit ?? 25, this.config.pagination.maxLimit);
    const page = request.page ?? 1;
    // The trash lists what the caller may restore or purge: both take the right to delete the contact.
    const restrict = request.scope === 'trash' ? (request.restrict ?? bulkRightsSql(ability, [{ action: 'delete' }], 1)) : request.restrict;
    const selection = compileSelection({ ability, action: 'read', filter: request.filter, scope: request.scope, restrict }, definitions);
    const order = contactOrder(request.sort ?? (request.scope === 'trash' ? '-deletedAt' : undefined), definitions);
    const sortKey = request.sort ?? '-createdAt';
    if (request.cursor && (!CURSOR_SORTS.has(sortKey) || request.scope === 'trash')) {
      throw new RequestValidationError([{ field: 'cursor', message: `keyset paging works with sort ${[...CURSOR_SORTS].join(', ')}` }]);
    }
    const window = { limit, offset: (page - 1) * limit, cursor: request.cursor ? decodeCursor(request.cursor) : undefined };
    if (window.cursor?.sort !== undefined && window.cursor.sort !== sortKey) {
      throw new RequestValidationError([{ field: 'cursor', message: `was handed out for sort ${window.cursor.sort}; send that sort with it, or start again without a cursor` }]);
    }
    const { total: count } = listStatements(selection, order, window);
    // The total comes first: how many rows match decides how the page is best read.
    const [counted, tableRows] = await Promise.all([this.totals.count(count, window.cursor !== undefined), this.totals.estimatedContacts()]);
    const rowsToPage = window.cursor ? limit : window.offset + limit;
    const planKey = ListPlans.key(count, order.sql, rowsToPage);
    const plan = await this.plans.pick(planKey, request.filter !== undefined, counted, tableRows, rowsToPage);
    const statements = listStatements(selection, order, window, plan);
    const rows = await this.plans.timed(planKey, plan, () =>
      preparable(request, window, plan) ? this.sql.prepared<ContactListRow>(statements.rows.sql, statements.rows.params) : this.sql.query<ContactListRow>(statements.rows.sql, statements.rows.params),
    );
    const pageShown = { offset: window.cursor ? undefined : window.offset, limit, rows: rows.length };
    const [{ total }, lookups, allDefinitions] = await Promise.all([
      this.totals.checked(count, counted, pageShown),
      this.lookupDirectory.resolve(rows),
      this.customFields.all(),
    ]);
    const data = rows.map((row) => toListItem(row, lookups));
    // A removed field's values stay stored (recoverable until purged) but are shown nowhere.
    const removed = allDefinitions.filter((definition) => definition.deletedAt).map((definition) => definition.key);
    if (removed.length) for (const item of data) for (const key of removed) delete item.customFields[key];
    const last = rows[rows.length - 1];
    const cursorable = CURSOR_SORTS.has(sortKey) && request.scope !== 'trash';
    const nextCursor =
      cursorable && last && rows.length === limit
        ? encodeCursor({ value: sortKey.endsWith('updatedAt') ? last.updated_key : last.created_key, id: last.id, sort: sortKey })
        : null;
    return {
      data,
      meta: { page: request.cursor ? 1 : page, limit, total, ...(cursorable ? { nextCursor } : {}), ...(selection.warnings.length ? { warnings: selection.warnings } : {}) },
    };
  }

  /** The contact if the caller may `action` it (404 when they may not even read it). */
  async findVisible(ability: AppAbility, id: string, action = 'read', manager: EntityManager = this.dataSource.manager, lock = false): Promise<ContactRecord> {
    const record = await this.loadRecord(manager, id, 'live', lock);
    assertCanOnRecord(ability, action, 'Contact', record, 'Contact not found');
    return record!;
  }

  /** The contact, unless in the trash, as access rules see it (undefined when there is none). */
  record(manager: EntityManager, id: string): Promise<ContactRecord | undefined> {
    return this.loadRecord(manager, id, 'live', false);
  }

  /**
   * Forgets the kept list totals of this process: for writes of other modules that change which
   * contacts a list holds (a static segment's members, a client's own contact). Other
   * processes' expire on their own.
   */
  forgetListTotals(): void {
    this.totals.clear();
  }

  /**
   * A transaction that changes contacts. This process's kept totals are dropped once it has
   * committed: a count taken while it ran saw the rows before it.
   */
  private async writing<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    const result = await this.dataSource.transaction(work);
    this.totals.clear();
    return result;
  }

  async get(ability: AppAbility, id: string): Promise<ContactDto> {
    // The profile's own rows carry every field a rule can name, so they are what the caller's
    // rights are checked on: one round of statements. A contact in the trash, or one the caller
    // may not read, is a 404 whatever was read.
    const read = await this.readProfile(ability, id);
    const live = read && !read.row.deleted_at ? read : undefined;
    // The record rules' conditions read is only built for callers whose rules have any.
    const record = live && (dependsOnRecord(ability, 'read', 'Contact') ? ruleRecordOf(live.row, live.services) : live.row);
    assertCanOnRecord(ability, 'read', 'Contact', record, 'Contact not found');
    return this.toProfile(live!);
  }

  async create(ability: AppAbility, actor: AuthUser, input: CreateContactDto): Promise<ContactDto> {
    const definitions = await this.customFields.all();
    const custom = checkCustomValues(definitions, input.customFields ?? {}, true);
    if (custom.errors.length) throw new RequestValidationError(custom.errors);
    const stored = stripNulls(custom.values);
    const id = await this.writing(async (manager) => {
      await setChangeContext(manager, actor.id, 'api');
      // Definitions, then users, then contacts (core/identity/lock-order).
      await this.customFields.hold(manager, Object.keys(stored), stored, definitions);
      await holdContactWriteUsers(manager, { assigneeId: input.assignedToId });
      const statusId = input.statusId === undefined ? await this.defaultStatusId(manager, ability) : input.statusId;
      await this.checkReferences(manager, ability, input);
      if (input.email) await this.assertEmailFree(manager, ability, input.email, null);
      const candidate = { ...input, statusId, hasAccount: false, createdById: actor.id };
      if (!ability.can('create', subjectOf('Contact', candidate))) {
        throw new ForbiddenException({ message: 'You may not create this contact', code: 'forbidden' });
      }
      if (input.assignedToId && !ability.can('assign', subjectOf('Contact', candidate))) {
        throw new ForbiddenException({ message: 'You may not assign contacts', code: 'forbidden' });
      }
      const columns: Record<string, unknown> = {
        created_by_id: actor.id,
        status_id: statusId,
        custom_fields: JSON.stringify(stored),
        preferences: JSON.stringify(mergePreferences({}, input.preferences ?? {})),
      };
      for (const [field, column] of Object.entries(SCALAR_COLUMNS)) {
        const value = (input as unknown as Record<string, unknown>)[field];
        if (value !== undefined && field !== 'statusId') columns[column] = value ?? (field === 'lastName' ? '' : null);
      }
      const names = Object.keys(columns);
      const [row] = (await manager.query(
        `INSERT INTO contacts (${names.join(', ')}) VALUES (${names.map((name, i) => (name === 'custom_fields' || name === 'preferences' ? `$${i + 1}::jsonb` : `$${i + 1}`)).join(', ')}) RETURNING id`,
        Object.values(columns),
      )) as Array<{ id: string }>;
      await this.writeSets(manager, ability, row!.id, input, true);
      // Tags given by name are ids only now: the stored row is what the rules must allow.
      await this.assertStoredWithinRights(manager, ability, row!.id, input.assignedToId ? [{ action: 'create' }, { action: 'assign' }] : [{ action: 'create' }], 'You may not create this contact; nothing was created');
      await this.audit.record({ actorId: actor.id, action: 'contact.create', subjectType: 'Contact', subjectId: row!.id, after: input }, manager);
      return row!.id;
    }).catch(namedEmailConflict);
    return this.profile(ability, id);
  }

  async update(ability: AppAbility, actor: AuthUser, id: string, input: UpdateContactDto): Promise<ContactDto> {
    const definitions = await this.customFields.all();
    const custom = checkCustomValues(definitions, input.customFields ?? {}, false);
    if (custom.errors.length) throw new RequestValidationError(custom.errors);
    // The account whose names or email the edit changes, if any: its kept copy goes after commit.
    let account: string | undefined;
    const stored = stripNulls(custom.values);
    await this.writing(async (manager) => {
      await setChangeContext(manager, actor.id, 'api');
      // Definitions, then users, then contacts (core/identity/lock-order): the definitions of every
      // value sent, as which of them change is known only once the contact is locked.
      await this.customFields.hold(manager, Object.keys(stored), stored, definitions);
      // An account whose names or email the edit may write is held before the contact, as its trigger writes it.
      const accountId = ACCOUNT_FIELDS.some((field) => (input as unknown as Record<string, unknown>)[field] !== undefined) ? await this.accountOf(manager, id) : undefined;
      await holdContactWriteUsers(manager, {
        assigneeId: input.assignedToId,
        actorId: input.statusId !== undefined ? actor.id : null,
        account: accountId ? { id: accountId, hold: input.email !== undefined ? 'update' : 'no key update' } : undefined,
      });
      const before = await this.findVisible(ability, id, 'update', manager, true);
      if (before.version !== input.version) throw new StaleContactVersionError(before.version);
      const changed = this.changedFields(before, input, custom.values);
      assertFieldsPermitted(ability, 'update', 'Contact', before, changed, ALL_RULE_FIELDS);
      if (changed.includes('assignedToId') && !ability.can('assign', subjectOf('Contact', before))) {
        throw new ForbiddenException({ message: 'You may not assign this contact', code: 'forbidden' });
      }
      // Values sent again unchanged are not checked again (an assignee deactivated since stays).
      const added = (wanted: string[] | undefined, current: unknown) => wanted?.filter((entry) => !(current as string[]).includes(entry));
      await this.checkReferences(manager, ability, {
        statusId: changed.includes('statusId') ? input.statusId : undefined,
        trafficSourceId: changed.includes('trafficSourceId') ? input.trafficSourceId : undefined,
        assignedToId: changed.includes('assignedToId') ? input.assignedToId : undefined,
        tagIds: changed.includes('tagIds') ? added(input.tagIds, before.tagIds) : undefined,
        serviceIds: changed.includes('serviceIds') ? added(input.serviceIds, before.serviceIds) : undefined,
      });
      if (before.hasAccount && changed.includes('email') && !input.email) throw new ContactRuleError('A contact with a user account must keep an email address (it is the login)', [{ field: 'email', message: 'is required while the contact has an account' }]);
      if (before.hasAccount && changed.some((field) => ACCOUNT_FIELDS.includes(field))) account = await this.assertMayChangeAccount(manager, ability, id, changed);
      // The trigger writes the account, so it must be the one held: one opened since the look-up makes the version stale.
      if (account && account !== accountId) throw new StaleContactVersionError(before.version);
      if (changed.includes('email') && input.email) await this.assertEmailFree(manager, ability, input.email, id);
      const sets: string[] = [];
      const params: unknown[] = [id];
      for (const field of changed) {
        const column = SCALAR_COLUMNS[field];
        if (!column) continue;
        const value = (input as unknown as Record<string, unknown>)[field];
        params.push(value ?? (field === 'lastName' ? '' : null));
        sets.push(`${column} = $${params.length}`);
      }
      if (changed.includes('customFields')) {
        const cleared = Object.keys(custom.values).filter((key) => custom.values[key] === null);
        params.push(JSON.stringify(stored), cleared);
        sets.push(`custom_fields = (custom_fields - $${params.length}::text[]) || $${params.length - 1}::jsonb`);
      }
      if (changed.includes('preferences')) sets.push(`preferences = $${params.push(JSON.stringify(mergePreferences(before.preferences as ContactPreferences, input.preferences!)))}::jsonb`);
      const setsChanged = await this.writeSets(manager, ability, id, input, false);
      if (sets.length || setsChanged) {
        // Names and email reach the linked account through the contacts_sync_user trigger.
        await manager.query(`UPDATE contacts SET ${sets.concat('version = version + 1', 'updated_at = now()').join(', ')} WHERE id = $1`, params);
      }
      const rights: ContactRight[] = changed.map((field) => ({ action: 'update', field }));
      if (changed.includes('assignedToId')) rights.push({ action: 'assign' });
      await this.assertStoredWithinRights(manager, ability, id, rights, 'The change would take this contact outside what you may change; nothing was changed');
      await this.audit.record({ actorId: actor.id, action: 'contact.update', subjectType: 'Contact', subjectId: id, before: pick(before, changed), after: input }, manager);
    }).catch(namedEmailConflict);
    if (account) await this.identity.changed(account);
    return this.profile(ability, id);
  }

  /** Moves the contact to the trash, where staff can restore it. */
  async trash(ability: AppAbility, actor: AuthUser, id: string): Promise<void> {
    await this.writing(async (manager) => {
      const record = await this.findVisible(ability, id, 'delete', manager, true);
      if (record.hasAccount) throw new ContactHasAccountError('delete');
      await manager.query('UPDATE contacts SET deleted_at = now(), version = version + 1, updated_at = now() WHERE id = $1', [id]);
      await this.audit.record({ actorId: actor.id, action: 'contact.trash', subjectType: 'Contact', subjectId: id }, manager);
    });
  }

  async restore(ability: AppAbility, actor: AuthUser, id: string): Promise<ContactDto> {
    await this.writing(async (manager) => {
      const record = await this.loadRecord(manager, id, 'trash', true);
      assertCanOnRecord(ability, 'delete', 'Contact', record, 'Contact not found in the trash');
      await manager.query('UPDATE contacts SET deleted_at = NULL, version = version + 1, updated_at = now() WHERE id = $1', [id]);
      await this.audit.record({ actorId: actor.id, action: 'contact.restore', subjectType: 'Contact', subjectId: id }, manager);
    });
    return this.profile(ability, id);
  }

  /** Deletes a trashed contact for good, with its activities and history. */
  async purge(ability: AppAbility, actor: AuthUser, id: string): Promise<void> {
    await this.writing(async (manager) => {
      const record = await this.loadRecord(manager, id, 'trash', true);
      assertCanOnRecord(ability, 'purge', 'Contact', record, 'Contact not found in the trash');
      if (record!.hasAccount) throw new ContactHasAccountError('purge');
      await manager.query('DELETE FROM contacts WHERE id = $1', [id]);
      await this.audit.record({ actorId: actor.id, action: 'contact.purge', subjectType: 'Contact', subjectId: id, before: { firstName: record!.firstName, lastName: record!.lastName, email: record!.email } }, manager);
    });
  }

  /** One change applied to a selection, as set-based SQL, limited to what the caller may change. */
  async bulk(ability: AppAbility, actor: AuthUser, input: BulkActionDto): Promise<BulkResultDto> {
    const { ids, filter } = input.selection ?? {};
    // Exactly one of them, each of its own type: nothing else may stand for "every contact".
    if (Array.isArray(ids) === (filter !== undefined && filter !== null && typeof filter === 'object')) {
      throw new RequestValidationError([{ field: 'selection', message: 'give either ids or filter' }]);
    }
    const required: Record<BulkActionDto['action'], string[]> = {
      assign: ['assignedToId'],
      unassign: [],
      addTags: [],
      removeTags: ['tagIds'],
      setStatus: ['statusId'],
      delete: [],
    };
    const sent = input as unknown as Record<string, unknown>;
    const missing = required[input.action].filter((field) => sent[field] === undefined);
    if (input.action === 'addTags' && !input.tagIds?.length && !input.newTags?.length) missing.push('tagIds');
    if (input.action === 'removeTags' && input.tagIds?.length === 0) missing.push('tagIds');
    if (missing.length) throw new RequestValidationError(missing.map((field) => ({ field, message: `is required for ${input.action}` })));
    // A value the action does not use is a mistake about what the request does, not something to ignore.
    const used = input.action === 'addTags' ? ['tagIds', 'newTags'] : required[input.action];
    const unused = ['assignedToId', 'statusId', 'tagIds', 'newTags'].filter((field) => sent[field] !== undefined && !used.includes(field));
    if (unused.length) throw new RequestValidationError(unused.map((field) => ({ field, message: `is not used by ${input.action}` })));
    // Judged before the selection is: a bad name is as wrong when no contact matches.
    if (input.newTags) this.lookups.tagNamesToStore(input.newTags);

    // Reported under the names the caller sent (`selection.filter.and.0.op`).
    const selectionFilter: FilterNode = Array.isArray(ids)
      ? reportAs({ field: 'id', op: 'in', value: ids.length ? ids : ['00000000-0000-0000-0000-000000000000'] }, 'selection.ids', true)
      : reportAs(filter!, 'selection.filter');
    const definitions = await this.definitionsFor(selectionFilter, undefined);
    // Only contacts the caller may read and may change this way, as a single edit of the same field.
    const rights = BULK_RIGHTS[input.action];
    // A right the caller holds on no contact at all is refused, as the single route refuses it, rather than matching nothing.
    const lacking = rights.find((right) => !ability.can(right.action, 'Contact', right.field));
    if (lacking) {
      throw new ForbiddenException({
        message: `Your role may not ${lacking.field ? `change the ${lacking.field} of` : lacking.action} contacts`,
        code: lacking.field ? 'field_forbidden' : 'forbidden',
        ...(lacking.field ? { details: [{ field: lacking.field, message: 'is not a field your role may change' }] } : {}),
      });
    }
    const selection = compileSelection({ ability, action: 'read', filter: selectionFilter, restrict: bulkRightsSql(ability, rights, 1), refuseDeletedFields: true }, definitions);
    const params = [...selection.params];
    const p = (value: unknown) => `$${params.push(value)}`;
    const bump = 'version = t.version + 1, updated_at = now()';
    const change = (set: string, unchanged: string) => `changed AS (UPDATE contacts t SET ${set}, ${bump} FROM picked WHERE t.id = picked.id AND ${unchanged} RETURNING t.id)`;
    // Rows whose rights hang on their values are checked again once changed: conditions bound the result too.
    const recheck = rights.some((right) => dependsOnRecord(ability, right.action, 'Contact'));

    const result = await this.writing(async (manager) => {
      await setChangeContext(manager, actor.id, 'bulk');
      await holdContactWriteUsers(manager, { assigneeId: input.assignedToId, actorId: input.action === 'setStatus' ? actor.id : null });
      // The selected rows are locked first, in id order, before the entries they are given (as
      // every writer of several contacts locks them, so two cannot deadlock); the change then runs
      // as a statement of its own, whose snapshot sees whatever was committed while it waited.
      const [{ locked }] = (await manager.query(`SELECT count(*)::int AS locked FROM (SELECT c.id FROM contacts c WHERE ${selection.where} ORDER BY c.id FOR UPDATE OF c) picked`, selection.params)) as Array<{ locked: number }>;
      await this.checkReferences(manager, ability, { assignedToId: input.assignedToId, statusId: input.statusId, tagIds: input.tagIds });
      // Common table expressions after `picked`, the last named `changed` (the contacts changed).
      let changes: string;
      switch (input.action) {
        case 'assign': {
          const assignee = p(input.assignedToId);
          changes = change(`assigned_to_id = ${assignee}::uuid`, `t.assigned_to_id IS DISTINCT FROM ${assignee}::uuid`);
          break;
        }
        case 'unassign':
          changes = change('assigned_to_id = NULL', 't.assigned_to_id IS NOT NULL');
          break;
        case 'setStatus': {
          const status = p(input.statusId);
          changes = change(`status_id = ${status}::uuid`, `t.status_id IS DISTINCT FROM ${status}::uuid`);
          break;
        }
        case 'addTags': {
          // Typed names become tags only when there is a contact to put them on.
          const typed = locked ? await this.lookups.ensureTags(manager, input.newTags ?? [], ability) : [];
          const tagIds = [...new Set([...(input.tagIds ?? []), ...typed])];
          changes = `added AS (INSERT INTO contact_tags (contact_id, tag_id) SELECT picked.id, tag FROM picked CROSS JOIN unnest(${p(tagIds)}::uuid[]) tag
                       ON CONFLICT DO NOTHING RETURNING contact_id),
                     changed AS (UPDATE contacts t SET ${bump} WHERE t.id IN (SELECT contact_id FROM added) RETURNING t.id)`;
          break;
        }
        case 'removeTags':
          // Each picked contact's links, found by its own key: filtered by the tags, a tag the
          // statistics have not seen yet (one just added in bulk) was read as if it had no links,
          // and the DELETE compared every one of its links with every picked contact.
          changes = `removed AS (DELETE FROM contact_tags WHERE (contact_id, tag_id) IN (SELECT picked.id, tag FROM picked CROSS JOIN unnest(${p(input.tagIds)}::uuid[]) tag) RETURNING contact_id),
                     changed AS (UPDATE contacts t SET ${bump} WHERE t.id IN (SELECT contact_id FROM removed) RETURNING t.id)`;
          break;
        case 'delete':
          // Contacts with an account stay: the account needs its contact.
          changes = change('deleted_at = now()', 'NOT EXISTS (SELECT 1 FROM users u WHERE u.contact_id = t.id)');
          break;
      }
      const [result] = (await manager.query(
        `WITH picked AS (SELECT c.id FROM contacts c WHERE ${selection.where}),
              ${changes}
         SELECT (SELECT count(*)::int FROM picked) AS matched, (SELECT count(*)::int FROM changed) AS updated,
                ${recheck ? 'ARRAY(SELECT id FROM changed)' : "'{}'::uuid[]"} AS changed_ids`,
        params,
      )) as Array<{ matched: number; updated: number; changed_ids: string[] }>;
      const { matched, updated } = result!;
      if (recheck && result!.changed_ids.length) await this.assertStillPermitted(manager, ability, rights, result!.changed_ids);
      await this.audit.record({ actorId: actor.id, action: `contact.bulk.${input.action}`, subjectType: 'Contact', after: { selection: input.selection, matched, updated } }, manager);
      return { matched, updated };
    });
    if (result.updated) await this.totals.changedEverywhere();
    return result;
  }

  /**
   * Conditions bound the result of an edit as well as the record edited: a role that may update
   * its own leads may not turn one into someone else's customer. Refuses (the transaction rolls
   * back) a written contact the caller's conditional rules for `rights` do not allow, each right
   * judged by the rules for its field, as a bulk change of that field is.
   */
  private async assertStoredWithinRights(manager: EntityManager, ability: AppAbility, id: string, rights: ContactRight[], message: string): Promise<void> {
    if (!rights.some((right) => dependsOnRecord(ability, right.action, 'Contact'))) return;
    const after = await this.loadRecord(manager, id, 'live', false);
    const subject = after && subjectOf('Contact', after);
    if (!subject || rights.some((right) => !ability.can(right.action, subject, right.field))) throw new ForbiddenException({ message, code: 'forbidden' });
  }

  /**
   * A contact's names and email are its account's, kept in step by triggers: changing them
   * changes the account, so it takes what the users API asks for the same change. The login
   * email needs `update` on that user; an administrator's account is changed by administrators only.
   */
  private async assertMayChangeAccount(manager: EntityManager, ability: AppAbility, contactId: string, changed: string[]): Promise<string | undefined> {
    const [account] = (await manager.query(
      `SELECT u.id, u.email, u.is_active, array(SELECT ur.role_id FROM user_roles ur WHERE ur.user_id = u.id) AS role_ids
         FROM users u WHERE u.contact_id = $1`,
      [contactId],
    )) as Array<{ id: string; email: string; is_active: boolean; role_ids: string[] }>;
    if (!account) return undefined;
    if (changed.includes('email') && !ability.can('update', subjectOf('User', { id: account.id, contactId, email: account.email, isActive: account.is_active }))) {
      throw new ForbiddenException({ message: "You may not change the login email of this contact's account", code: 'forbidden', details: [{ field: 'email', message: 'is the login of an account you may not change' }] });
    }
    // Whoever could change an administrator's email could become one.
    if (await this.abilities.isAdministratorAccount(account.role_ids)) {
      const fields = changed.filter((field) => ACCOUNT_FIELDS.includes(field));
      if (!isAdministrator(ability)) {
        throw new ForbiddenException({
          message: "Only administrators may change an administrator's account",
          code: 'forbidden',
          details: fields.map((field) => ({ field, message: "is part of an administrator's account" })),
        });
      }
    }
    return account.id;
  }

  /** The account of the contact, if it has one. */
  private async accountOf(manager: EntityManager, contactId: string): Promise<string | undefined> {
    const [account] = (await manager.query('SELECT id FROM users WHERE contact_id = $1', [contactId])) as Array<{ id: string }>;
    return account?.id;
  }

  /** Refuses (rolling back) a change that took contacts outside what the caller may change this way. */
  private async assertStillPermitted(manager: EntityManager, ability: AppAbility, rights: ContactRight[], ids: string[]): Promise<void> {
    const allowed = bulkRightsSql(ability, rights, 2);
    const [{ outside }] = (await manager.query(
      `SELECT count(*)::int AS outside FROM contacts c WHERE c.id = ANY($1::uuid[]) AND NOT COALESCE(${allowed.sql}, FALSE)`,
      [ids, ...allowed.params],
    )) as Array<{ outside: number }>;
    if (outside > 0) {
      throw new ForbiddenException({ message: `The change would take ${outside} contact(s) outside what you may change; nothing was changed`, code: 'forbidden' });
    }
  }

  /** Opens an account for an existing contact; the person is invited to choose a password. */
  async createAccount(ability: AppAbility, actor: AuthUser, id: string, input: CreateAccountDto): Promise<ContactDto> {
    const user = await this.writing(async (manager) => {
      await setChangeContext(manager, actor.id, 'account');
      const record = await this.findVisible(ability, id, 'update', manager, true);
      // Opening an account changes the contact's hasAccount: a change of that field, as an edit would be.
      assertFieldsPermitted(ability, 'update', 'Contact', record, ['hasAccount'], ALL_RULE_FIELDS);
      // A staff account is a role choice, which is an administrator's.
      if (input.accountType === 'staff') assertAdministrator(ability, 'open staff accounts');
      if (record.hasAccount) throw new AccountExistsError();
      if (!record.email) throw new ContactRuleError('The contact needs an email address to have an account', [{ field: 'email', message: 'is required for an account' }]);
      const roleId = await this.identity.systemRoleId(manager, input.accountType);
      const created = await this.identity.createAccount(manager, {
        contactId: id,
        email: record.email,
        firstName: String(record.firstName),
        lastName: String(record.lastName ?? ''),
        passwordHash: null,
        roleIds: [roleId],
      });
      await newContactVersion(manager, id);
      await this.assertStoredWithinRights(manager, ability, id, [{ action: 'update', field: 'hasAccount' }], 'The account would take this contact outside what you may change; nothing was changed');
      await this.audit.record({ actorId: actor.id, action: 'contact.account', subjectType: 'Contact', subjectId: id, after: { userId: created.id, accountType: input.accountType } }, manager);
      return created;
    });
    if (input.sendInvite !== false) await this.passwordTokens.issueAndSend(user, 'invite');
    return this.profile(ability, id);
  }

  // --- helpers -----------------------------------------------------------------------------

  private async definitionsFor(filter: unknown, sort: string | undefined): Promise<CustomField[]> {
    return mentionsCustomFields(filter) || sort?.includes('custom.') ? this.customFields.all() : [];
  }

  private async loadRecord(manager: EntityManager, id: string, scope: ContactScope, lock: boolean): Promise<ContactRecord | undefined> {
    const query = this.sql.through(manager, true);
    if (lock) {
      const locked = await query(`SELECT id FROM contacts WHERE id = $1 AND deleted_at IS ${scope === 'trash' ? 'NOT ' : ''}NULL FOR UPDATE`, [id]);
      if (!locked.length) return undefined;
    }
    const rows = await query<Record<string, unknown>>(
      `SELECT c.id, c.first_name, c.last_name, c.email, c.phone, c.company, c.job_title, c.address_line1, c.address_line2, c.city, c.region,
              c.postal_code, c.country, c.status_id, c.traffic_source_id, c.assigned_to_id, c.created_by_id, c.custom_fields, c.preferences, c.version,
              ${utcMicrosecondText('c.created_at')} AS created_key,
              EXISTS (SELECT 1 FROM users u WHERE u.contact_id = c.id) AS has_account,
              ARRAY(SELECT tag_id FROM contact_tags WHERE contact_id = c.id) AS tag_ids,
              ARRAY(SELECT service_id FROM contact_services WHERE contact_id = c.id) AS service_ids
         FROM contacts c WHERE c.id = $1 AND c.deleted_at IS ${scope === 'trash' ? 'NOT ' : ''}NULL`,
      [id],
    );
    return rows[0] ? contactRecordOf(rows[0]) : undefined;
  }

  /** The fields `input` would change; values sent again as they are stored are not changes. */
  private changedFields(before: ContactRecord, input: UpdateContactDto, customValues: Record<string, unknown>): string[] {
    const changed: string[] = [];
    for (const field of Object.keys(SCALAR_COLUMNS)) {
      const value = (input as unknown as Record<string, unknown>)[field];
      if (value === undefined) continue;
      const normalised = value === null && field === 'lastName' ? '' : value;
      if (normalised !== (before[field] ?? null)) changed.push(field);
    }
    const sameSet = (given: string[], stored: unknown) => {
      const kept = new Set(stored as string[]);
      const wanted = new Set(given);
      return wanted.size === kept.size && [...wanted].every((value) => kept.has(value));
    };
    if ((input.tagIds !== undefined && !sameSet(input.tagIds, before.tagIds)) || input.newTags?.length) changed.push('tagIds');
    if (input.serviceIds !== undefined && !sameSet(input.serviceIds, before.serviceIds)) changed.push('serviceIds');
    const stored = (before.customFields ?? {}) as Record<string, unknown>;
    if (Object.entries(customValues).some(([key, value]) => !isDeepStrictEqual(value, stored[key] ?? null))) changed.push('customFields');
    const preferences = before.preferences as ContactPreferences;
    if (input.preferences && !samePreferences(mergePreferences(preferences, input.preferences), preferences)) changed.push('preferences');
    return changed;
  }

  /** The default status, when the caller may give one (a role whose rules hide every lead status must choose). */
  private async defaultStatusId(manager: EntityManager, ability: AppAbility): Promise<string | null> {
    const status = await this.lookups.defaultStatusFor(manager, ability);
    if (status !== 'hidden') return status;
    throw new ContactRuleError('Your role may not give the default status; choose a status (or null for none)', [
      { field: 'statusId', message: 'is required: the default status is not one your role may give' },
    ]);
  }

  /**
   * The statuses, traffic source, tags and services a write gives a contact exist and are the
   * caller's to give (lookup rules hide entries here as on their own routes); an assignee is an
   * active back-office user. Pass only what the write adds: what a contact has was checked when
   * it was given.
   */
  private async checkReferences(
    manager: EntityManager,
    ability: AppAbility,
    input: Partial<Pick<ContactWritableFields, 'statusId' | 'trafficSourceId' | 'assignedToId' | 'tagIds' | 'serviceIds'>>,
  ): Promise<void> {
    const lookups: Array<[LookupKind, string, string, string[] | undefined]> = [
      ['status', 'statusId', 'status', input.statusId ? [input.statusId] : undefined],
      ['trafficSource', 'trafficSourceId', 'traffic source', input.trafficSourceId ? [input.trafficSourceId] : undefined],
      ['tag', 'tagIds', 'tag', input.tagIds],
      ['service', 'serviceIds', 'service', input.serviceIds],
    ];
    for (const [kind, field, label, ids] of lookups) {
      if (!ids?.length) continue;
      const usable = await this.lookups.usableIds(manager, ability, kind, ids);
      if (ids.some((id) => !usable.has(id))) throw new UnknownReferenceError(field, label);
    }
    if (input.assignedToId) {
      const [{ staff }] = (await manager.query(`SELECT ${activeStaffSql('$1::uuid')} AS staff`, [input.assignedToId])) as Array<{ staff: boolean }>;
      if (!staff) throw new UnknownReferenceError('assignedToId', 'active staff user');
    }
  }

  private async assertEmailFree(manager: EntityManager, ability: AppAbility, email: string, exceptId: string | null): Promise<void> {
    const [holder] = (await manager.query('SELECT id, deleted_at FROM contacts WHERE email_key = lower($1) AND id IS DISTINCT FROM $2::uuid LIMIT 1', [email, exceptId])) as Array<{
      id: string;
      deleted_at: Date | null;
    }>;
    if (!holder) return;
    const scope = holder.deleted_at ? 'trash' : 'live';
    const seen = hasWholeRight(ability, 'read', 'Contact') || ability.can('read', subjectOf('Contact', (await this.loadRecord(manager, holder.id, scope, false)) ?? {}));
    throw new ContactEmailTakenError(seen ? scope : 'unseen', exceptId === null);
  }

  /** Writes tags and services; returns whether anything changed. */
  private async writeSets(manager: EntityManager, ability: AppAbility, id: string, input: ContactWritableFields, creating: boolean): Promise<boolean> {
    let changed = false;
    if (input.tagIds !== undefined || input.newTags?.length) {
      const typed = await this.lookups.ensureTags(manager, input.newTags ?? [], ability);
      const current: Array<{ tag_id: string }> = creating ? [] : await manager.query('SELECT tag_id FROM contact_tags WHERE contact_id = $1', [id]);
      const wanted = [...new Set([...(input.tagIds ?? current.map((row) => row.tag_id)), ...typed])];
      changed = (await this.replaceSet(manager, 'contact_tags', 'tag_id', id, wanted)) || changed;
    }
    if (input.serviceIds !== undefined) {
      changed = (await this.replaceSet(manager, 'contact_services', 'service_id', id, [...new Set(input.serviceIds)])) || changed;
    }
    return changed;
  }

  private async replaceSet(manager: EntityManager, table: string, column: string, id: string, wanted: string[]): Promise<boolean> {
    const [removed] = (await manager.query(`DELETE FROM ${table} WHERE contact_id = $1 AND NOT (${column} = ANY($2::uuid[])) RETURNING ${column}`, [id, wanted])) as [unknown[], number];
    const added: unknown[] = await manager.query(
      `INSERT INTO ${table} (contact_id, ${column}) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING RETURNING ${column}`,
      [id, wanted],
    );
    return removed.length > 0 || added.length > 0;
  }

  /** The full profile: the contact with its lists, account, latest activities and status history. */
  private async profile(ability: AppAbility, id: string): Promise<ContactDto> {
    const read = await this.readProfile(ability, id);
    if (!read) throw new ContactNotFoundError();
    return this.toProfile(read);
  }

  /** The profile's rows, read side by side; undefined when there is no such contact (trash included). */
  private async readProfile(ability: AppAbility, id: string): Promise<ProfileRead | undefined> {
    const statements = profileStatements(id);
    const run = <T extends unknown[]>(name: keyof typeof statements) => this.sql.prepared(statements[name].sql, statements[name].params) as Promise<T>;
    const [rows, services, account, activities, history, definitions] = await Promise.all([
      run<ProfileRead['row'][]>('contact'),
      run<ProfileRead['services']>('services'),
      run<ProfileRead['account']>('account'),
      this.recentActivities(ability, id, () => run<ProfileRead['activities']>('activities')),
      run<ProfileRead['history']>('history'),
      this.customFields.all(),
    ]);
    if (!rows[0]) return undefined;
    return { row: rows[0], services, account, activities, history, definitions, lookups: await this.lookupDirectory.resolve(rows) };
  }

  /** The profile's recent activities the caller may read (the Activity rules, as in the activity list). */
  private recentActivities(ability: AppAbility, id: string, all: () => Promise<ProfileRead['activities']>): Promise<ProfileRead['activities']> {
    if (!ability.can('read', 'Activity')) return Promise.resolve([]);
    if (!dependsOnRecord(ability, 'read', 'Activity')) return all();
    const statement = profileActivitiesStatement(id, abilityToSql(ability, 'read', 'Activity', ACTIVITY_RULE_FIELDS, 'a', 2));
    return this.sql.query(statement.sql, statement.params) as Promise<ProfileRead['activities']>;
  }

  private toProfile({ row, services, account, activities, history, definitions, lookups }: ProfileRead): ContactDto {
    const active = new Set(definitions.filter((d) => !d.deletedAt).map((d) => d.key));
    const item = toListItem(row, lookups);
    // A change shows the stages its statuses had then; a deleted status keeps its name too, without an id.
    const ref = (idValue: unknown, name: unknown, stage: unknown) => (name ? { id: idValue ? String(idValue) : null, name: String(name), stage: String(stage) } : null);
    return {
      ...item,
      customFields: Object.fromEntries(Object.entries(item.customFields).filter(([key]) => active.has(key))),
      addressLine1: row.address_line1,
      addressLine2: row.address_line2,
      region: row.region,
      postalCode: row.postal_code,
      services,
      account: account[0] ? { userId: account[0].id, email: account[0].email, isActive: account[0].is_active, accountType: account[0].staff ? 'staff' : 'client' } : null,
      preferences: toPreferencesDto(row.preferences),
      recentActivities: activities.map((a) => ({
        id: a.id,
        type: a.type,
        subject: a.subject,
        occurredAt: a.occurred_at,
        author: a.author_id ? { id: a.author_id, firstName: a.author_first_name, lastName: a.author_last_name } : null,
      })),
      statusHistory: history.map((h) => ({
        id: String(h.id),
        from: ref(h.from_id, h.from_name, h.from_stage),
        to: ref(h.to_id, h.to_name, h.to_stage),
        changedAt: h.changed_at as Date,
        changedBy: h.by_id ? { id: String(h.by_id), firstName: String(h.by_first_name), lastName: String(h.by_last_name) } : null,
        source: h.source as ChangeSource,
      })),
    };
  }
}

export interface ProfileRead {
  row: ContactListRow & {
    address_line1: string | null;
    address_line2: string | null;
    region: string | null;
    postal_code: string | null;
    created_by_id: string | null;
    preferences: ContactPreferences;
  };
  services: Array<{ id: string; name: string }>;
  account: Array<{ id: string; email: string; is_active: boolean; staff: boolean | null }>;
  activities: Array<{ id: string; type: ActivityType; subject: string; occurred_at: Date; author_id: string | null; author_first_name: string; author_last_name: string }>;
  history: Array<Record<string, string | Date | null>>;
  definitions: CustomField[];
  lookups: ContactLookups;
}

/** Column name → record field; the columns are a fixed set, so each is converted once (a profile reads ~35 per request). */
const recordFields = new Map<string, string>();

function recordField(column: string): string {
  let field = recordFields.get(column);
  if (field === undefined) {
    field = column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    recordFields.set(column, field);
  }
  return field;
}

/** Two writes racing for one email: the loser's unique violation names the field like the check before it. */
function namedEmailConflict(error: unknown): never {
  const driverError = error instanceof QueryFailedError ? (error.driverError as { code?: string; constraint?: string }) : undefined;
  if (driverError?.code === '23505' && (driverError.constraint === 'contacts_email_key_key' || driverError.constraint === 'users_email_key_key')) {
    throw new ContactEmailTakenError('unseen');
  }
  throw error;
}

/**
 * A contact row (snake_case columns, with tag_ids and service_ids) as access rules and writes
 * see it. Its creation time comes from `created_key`, to the microsecond as SQL compares it.
 */
function contactRecordOf(row: Record<string, unknown>): ContactRecord {
  const record: Record<string, unknown> = {};
  for (const column of Object.keys(row)) record[recordField(column)] = row[column];
  if (typeof row.created_key === 'string') record.createdAt = PreciseInstant.fromIso(row.created_key) ?? row.created_at;
  return record as ContactRecord;
}

/** The same record from the profile's rows, with the ids of its services. */
export function ruleRecordOf(row: ProfileRead['row'], services: ProfileRead['services']): ContactRecord {
  const { lookups_epoch: _epoch, ...columns } = row;
  return contactRecordOf({ ...columns, service_ids: services.map((service) => service.id) });
}

/** A contact row as lists show it, its statuses, traffic source and tags named from `lookups`. */
export function toListItem(row: ContactListRow, lookups: ContactLookups): ContactListItemDto {
  const status = row.status_id ? lookups.statuses.get(row.status_id) : undefined;
  const trafficSource = row.traffic_source_id ? lookups.trafficSources.get(row.traffic_source_id) : undefined;
  return {
    id: row.id,
    firstName: row.first_name,
    lastName: row.last_name,
    email: row.email,
    phone: row.phone,
    company: row.company,
    jobTitle: row.job_title,
    city: row.city,
    country: row.country,
    status: status ? { id: status.id, name: status.name, stage: status.stage } : null,
    tags: tagsOf(row.tag_ids, lookups),
    assignedTo: row.assigned_to_id ? { id: row.assigned_to_id, firstName: row.assignee_first_name!, lastName: row.assignee_last_name! } : null,
    trafficSource: trafficSource ? { id: trafficSource.id, name: trafficSource.name } : null,
    customFields: row.custom_fields,
    hasAccount: row.has_account,
    lastContactedAt: row.last_contacted_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    version: row.version,
  };
}

function stripNulls(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, value]) => value !== null));
}

function pick(record: ContactRecord, fields: string[]): Record<string, unknown> {
  return Object.fromEntries(fields.map((field) => [field, record[field]]));
}
