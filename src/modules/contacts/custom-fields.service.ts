import { ConflictException, ForbiddenException, Injectable, OnModuleInit, UnprocessableEntityException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { type AppAbility, subjectOf } from '../../core/access/app-ability';
import { assertCanOnRecord, dependsOnRecord, hasWholeRight } from '../../core/access/record-access';
import { AuditService } from '../../core/audit/audit.service';
import { ClusterEventsService } from '../../core/cluster/cluster-events.service';
import type { AuthUser } from '../../core/identity/auth-user';
import type { CreateCustomFieldDto, UpdateCustomFieldDto } from './dto/custom-field.dto';
import { LIST_ITEM, listItemMessage } from './contacts.naming';
import { CHOICE_FIELD_TYPES, CustomField } from './entities/custom-field.entity';
import { holdsOptionsSql, planOptionRenames, RenamePlan, renamedValueSql, renameOptionsInRule } from './custom-field-renames';
import type { FilterNode } from './filters/contact-filter.types';
import { ContactListTotals } from './list-totals';


/** A definition as a write holds it: what its values must be until the write commits. */
export interface HeldField {
  id: string;
  key: string;
  type: string;
  options: string[];
}
/** What renaming options changed besides the definition, for the audit trail. */
interface RenamedValues {
  contactsRenamed: number;
  segmentsRewritten: number;
}
export const CUSTOM_FIELDS_CHANGED = 'custom-fields.changed';

/**
 * Definitions of the admin-defined contact fields. They are few, change rarely and are read
 * by most contact requests, so they are kept in memory and dropped after any change, in any
 * process (told through the cluster channel once the change is committed).
 */
@Injectable()
export class CustomFieldsService implements OnModuleInit {
  private definitions?: Promise<CustomField[]>;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
    private readonly cluster: ClusterEventsService,
    private readonly listTotals: ContactListTotals,
  ) {}

  onModuleInit(): void {
    this.cluster.on(CUSTOM_FIELDS_CHANGED, () => this.forget());
    this.cluster.on('cluster.reconnected', () => this.forget());
  }

  /** Every definition, removed ones included (they still resolve in saved filters). Callers must not change them. */
  all(): Promise<CustomField[]> {
    if (!this.definitions) {
      const loading = this.dataSource.getRepository(CustomField).find({ order: { position: 'ASC', key: 'ASC' } });
      loading.catch(() => {
        if (this.definitions === loading) this.definitions = undefined;
      });
      this.definitions = loading;
    }
    return this.definitions;
  }

  /** The definitions the caller's rules let it read (rules may name fields by id or key). */
  async list(ability: AppAbility, includeDeleted: boolean): Promise<CustomField[]> {
    const fields = (await this.all()).filter((field) => includeDeleted || !field.deletedAt);
    if (!dependsOnRecord(ability, 'read', 'CustomField')) return fields;
    return fields.filter((field) => ability.can('read', subjectOf('CustomField', ruleRecord(field))));
  }

  async get(ability: AppAbility, id: string): Promise<CustomField> {
    return visible(ability, 'read', await this.dataSource.getRepository(CustomField).findOneBy({ id }));
  }

  async create(ability: AppAbility, actor: AuthUser, input: CreateCustomFieldDto): Promise<CustomField> {
    const options = input.options ?? [];
    this.checkOptions(input.type, options);
    if (!ability.can('create', subjectOf('CustomField', { key: input.key }))) {
      throw new ForbiddenException({ message: 'You may not define this custom field', code: 'forbidden', details: [{ field: 'key', message: 'is not a key your role may define' }] });
    }
    return this.changing(async (manager) => {
      const taken: unknown[] = await manager.query('SELECT 1 FROM custom_fields WHERE key = $1', [input.key]);
      if (taken.length) {
        throw new ConflictException({ message: 'A custom field (perhaps a removed one) already has this key', code: 'custom_field_key_taken', details: [{ field: 'key', message: 'is already in use' }] });
      }
      const inserted = await manager.insert(CustomField, {
        key: input.key,
        label: input.label,
        type: input.type,
        required: input.required ?? false,
        options: options as never,
        internal: input.internal ?? false,
        position: input.position ?? 0,
      });
      const id = (inserted.identifiers[0] as { id: string }).id;
      await this.audit.record({ actorId: actor.id, action: 'custom-field.create', subjectType: 'CustomField', subjectId: id, after: input }, manager);
      return manager.findOneByOrFail(CustomField, { id });
    });
  }

  async update(ability: AppAbility, actor: AuthUser, id: string, input: UpdateCustomFieldDto): Promise<CustomField> {
    const { dropRemovedValues, renameOptions, ...changes } = input;
    let contactsCleared = 0;
    let renamed: RenamedValues | undefined;
    const updated = await this.changing(async (manager) => {
      // The definition first, then the contacts whose values change, in id order (core/identity/lock-order).
      // Writes storing values of the field hold it until they commit: no contact takes one of its options meanwhile.
      const before = visible(ability, 'update', await manager.findOne(CustomField, { where: { id }, lock: { mode: 'pessimistic_write' } }));
      const plan = renameOptions ? planOptionRenames(before, renameOptions, changes.options) : undefined;
      if (changes.options) this.checkOptions(before.type, changes.options);
      const touched = optionsTouched(before, plan, changes.options, dropRemovedValues === true);
      // Rules naming renamed options before the contacts: an account's deletion holds its segments before its contacts.
      const rules = plan?.from.length ? await this.lockRulesNaming(manager, before) : [];
      if (touched.length) await manager.query(`SELECT id FROM contacts WHERE ${holdsSql(before)} ORDER BY id FOR UPDATE`, [before.key, touched]);
      // Renames come first: `options` names the options by their new names.
      const offered = plan?.options ?? before.options;
      if (plan?.from.length) renamed = await this.renameOptionValues(manager, before, plan, rules);
      if (changes.options) {
        const removed = offered.filter((option) => !changes.options!.includes(option));
        // How many contacts hold each is told only to callers who may read every contact.
        const countsShown = hasWholeRight(ability, 'read', 'Contact');
        if (removed.length) contactsCleared = await this.removeOptionValues(manager, before, removed, dropRemovedValues === true, countsShown);
      }
      const options = changes.options ?? (plan ? offered : undefined);
      await manager.update(CustomField, { id }, { ...changes, ...(options ? { options: options as never } : {}) });
      const after = { ...changes, ...(renameOptions ? { renameOptions } : {}), ...(renamed ?? {}), ...(contactsCleared ? { contactsCleared } : {}) };
      await this.audit.record({ actorId: actor.id, action: 'custom-field.update', subjectType: 'CustomField', subjectId: id, before, after }, manager);
      return manager.findOneByOrFail(CustomField, { id });
    });
    if (contactsCleared || renamed?.contactsRenamed) await this.listTotals.changedEverywhere();
    return updated;
  }

  /**
   * Renames the options' values wherever they are kept: on contacts (trashed ones included), in
   * dynamic segments' rules, and in what imports keep to revert to. Contacts keep their version
   * and last update, as when a tag is renamed: the option is the same, only its name changed, and
   * a stale edit still cannot store the old name (it is no option any more). An import's revert
   * thus still applies to them, and puts back the option under its new name.
   */
  private async renameOptionValues(manager: EntityManager, field: CustomField, plan: RenamePlan, segments: Array<{ id: string; rule: FilterNode }>): Promise<RenamedValues> {
    const multi = field.type === 'multi_select';
    const params = [field.key, plan.from, plan.to];
    const [, contactsRenamed] = (await manager.query(
      `UPDATE contacts SET custom_fields = jsonb_set(custom_fields, ARRAY[$1::text], ${renamedValueSql('custom_fields', multi)}) WHERE ${holdsSql(field)}`,
      params,
    )) as [unknown, number];
    const kept = "before -> 'custom_fields'";
    await manager.query(
      `UPDATE contact_import_changes SET before = jsonb_set(before, ARRAY['custom_fields', $1::text], ${renamedValueSql(kept, multi)}) WHERE ${holdsOptionsSql(field.type, kept)}`,
      params,
    );
    const rewritten = segments.flatMap((segment) => {
      const rule = renameOptionsInRule(segment.rule, field, plan);
      return rule ? [{ id: segment.id, rule }] : [];
    });
    if (rewritten.length) {
      await manager.query(`UPDATE segments s SET rule = r.rule FROM jsonb_to_recordset($1::jsonb) AS r(id uuid, rule jsonb) WHERE s.id = r.id`, [JSON.stringify(rewritten)]);
    }
    return { contactsRenamed, segmentsRewritten: rewritten.length };
  }

  /** Dynamic segments whose rules name the field, locked: their rules are rewritten with its options' new names. */
  private lockRulesNaming(manager: EntityManager, field: CustomField): Promise<Array<{ id: string; rule: FilterNode }>> {
    return manager.query(`SELECT id, rule FROM segments WHERE kind = 'dynamic' AND strpos(rule::text, $1) > 0 ORDER BY id FOR UPDATE`, [JSON.stringify(`custom.${field.key}`)]);
  }

  /**
   * Values of options a field no longer offers would fail every later write of their contact:
   * they are cleared when asked (trashed contacts included), else the edit is refused with
   * how many contacts hold each. Returns the number of contacts changed.
   */
  private async removeOptionValues(manager: EntityManager, field: CustomField, removed: string[], drop: boolean, countsShown: boolean): Promise<number> {
    const multi = field.type === 'multi_select';
    const holds = holdsSql(field);
    if (!drop) {
      const counts: Array<{ option: string; contacts: number }> = await manager.query(
        `SELECT option, count(*)::int AS contacts
           FROM (SELECT custom_fields -> $1::text AS value FROM contacts WHERE ${holds}) held, unnest($2::text[]) AS option
          WHERE ${multi ? 'held.value ? option' : "held.value #>> '{}' = option"} GROUP BY option ORDER BY option`,
        [field.key, removed],
      );
      if (!counts.length) return 0;
      throw new ConflictException({
        message: 'Contacts still hold options this edit removes: send dropRemovedValues: true to clear those values',
        code: 'options_in_use',
        details: counts.map(({ option, contacts }) => ({
          field: 'options',
          message: countsShown ? `"${option}" is the value of ${contacts} contact${contacts === 1 ? '' : 's'}` : `"${option}" is the value of contacts`,
        })),
      });
    }
    // A multi-select keeps its other values; one left with none loses the key. A new version:
    // a stale edit of these contacts is refused, and an import's revert leaves them alone.
    const kept = `(SELECT coalesce(jsonb_agg(v ORDER BY i), '[]'::jsonb) FROM jsonb_array_elements_text(custom_fields -> $1::text) WITH ORDINALITY AS e (v, i) WHERE v <> ALL($2::text[]))`;
    const cleared = multi
      ? `CASE WHEN ${kept} = '[]'::jsonb THEN custom_fields - $1::text ELSE jsonb_set(custom_fields, ARRAY[$1::text], ${kept}) END`
      : 'custom_fields - $1::text';
    const result: [unknown[], number] = await manager.query(
      `UPDATE contacts SET custom_fields = ${cleared}, version = version + 1, updated_at = now() WHERE ${holds}`,
      [field.key, removed],
    );
    return result[1];
  }

  /** Removes the definition; the values stay on the contacts until the field is purged. */
  async remove(ability: AppAbility, actor: AuthUser, id: string): Promise<void> {
    await this.setDeleted(ability, actor, id, true);
  }

  async restore(ability: AppAbility, actor: AuthUser, id: string): Promise<CustomField> {
    return this.setDeleted(ability, actor, id, false);
  }

  /** Deletes a removed definition and its values on every contact, for good. */
  async purge(ability: AppAbility, actor: AuthUser, id: string): Promise<void> {
    await this.changing(async (manager) => {
      const field = visible(ability, 'delete', await manager.findOne(CustomField, { where: { id }, lock: { mode: 'pessimistic_write' } }));
      if (!field.deletedAt) throw new ConflictException({ message: 'Remove the field before purging it', code: 'custom_field_active' });
      // Its contacts in id order (core/identity/lock-order), not in the order the update finds them.
      await manager.query('SELECT id FROM contacts WHERE custom_fields ? $1 ORDER BY id FOR UPDATE', [field.key]);
      // A new version: the contacts changed, so a stale edit is refused and an import's revert leaves them alone.
      const result: [unknown[], number] = await manager.query(
        'UPDATE contacts SET custom_fields = custom_fields - $1, version = version + 1, updated_at = now() WHERE custom_fields ? $1',
        [field.key],
      );
      await manager.delete(CustomField, { id });
      await this.audit.record({ actorId: actor.id, action: 'custom-field.purge', subjectType: 'CustomField', subjectId: id, before: { key: field.key, contactsCleared: result[1] } }, manager);
    });
    await this.listTotals.changedEverywhere();
  }

  private async setDeleted(ability: AppAbility, actor: AuthUser, id: string, deleted: boolean): Promise<CustomField> {
    return this.changing(async (manager) => {
      visible(ability, 'delete', await manager.findOne(CustomField, { where: { id }, lock: { mode: 'pessimistic_write' } }));
      await manager.update(CustomField, { id }, { deletedAt: deleted ? new Date() : null });
      await this.audit.record({ actorId: actor.id, action: deleted ? 'custom-field.remove' : 'custom-field.restore', subjectType: 'CustomField', subjectId: id }, manager);
      return manager.findOneByOrFail(CustomField, { id });
    });
  }

  /**
   * Every definition, removed ones included, held (FOR SHARE) against edits of fields until the
   * transaction ends, in id order: for a write that puts back values of any field, checked
   * against its options (an import's revert), first of its locks (core/identity/lock-order).
   */
  async holdEvery(manager: EntityManager): Promise<void> {
    await manager.query('SELECT id FROM custom_fields ORDER BY id FOR SHARE');
  }

  /**
   * Holds the definitions a write stores values for until its transaction ends, in id order.
   * Called before the write locks users or contacts (core/identity/lock-order): an edit of a
   * field's options locks the field, then the contacts holding its values. Removing or
   * purging a field locks its definition, so a purge waits for the write and then clears its
   * values too, and a write that comes after a removal is refused rather than storing values
   * of a field that is gone. Given the definitions the values were checked against, a field
   * removed and defined again meanwhile (perhaps with another type) counts as gone. Given the
   * values, a choice is checked again against the options as they are now: one removed meanwhile is refused.
   */
  async hold(manager: EntityManager, keys: string[], values?: Record<string, unknown>, checkedAgainst?: ReadonlyArray<Pick<CustomField, 'id' | 'key'>>): Promise<HeldField[]> {
    if (!keys.length) return [];
    const live: HeldField[] = await manager.query(
      'SELECT id, key, type, options FROM custom_fields WHERE key = ANY($1::text[]) AND deleted_at IS NULL ORDER BY id FOR SHARE',
      [keys],
    );
    const checkedId = (key: string) => checkedAgainst?.find((definition) => definition.key === key)?.id;
    const gone = keys.filter((key) => !live.some((row) => row.key === key && (checkedAgainst === undefined || row.id === checkedId(key))));
    if (gone.length) {
      throw new ConflictException({
        message: 'A custom field was removed while this change was being made; try again',
        code: 'custom_field_removed',
        details: gone.map((key) => ({ field: `customFields.${key}`, message: 'was removed meanwhile' })),
      });
    }
    const withdrawn = values
      ? live.filter(({ key, type, options }) => CHOICE_FIELD_TYPES.has(type) && ([] as unknown[]).concat(values[key] ?? []).some((choice) => !options.includes(choice as string)))
      : [];
    if (withdrawn.length) {
      throw new ConflictException({
        message: 'Options of a custom field were removed while this change was being made; try again',
        code: 'custom_field_options_changed',
        details: withdrawn.map(({ key, options }) => ({ field: `customFields.${key}`, message: `must now be one of ${options.join(', ')}` })),
      });
    }
    return live;
  }

  /** A write in a transaction; the kept definitions are dropped everywhere once it has committed (or failed). */
  private async changing<T>(work: (manager: EntityManager) => Promise<T>): Promise<T> {
    try {
      return await this.dataSource.transaction(work);
    } finally {
      this.forget();
      await this.cluster.publish(CUSTOM_FIELDS_CHANGED, null).catch(() => undefined);
    }
  }

  private forget(): void {
    this.definitions = undefined;
  }

  private checkOptions(type: string, options: string[]): void {
    const separated = type === 'multi_select' ? options.flatMap((option, index) => (LIST_ITEM.test(option) ? [] : [index])) : [];
    if (separated.length) {
      throw new UnprocessableEntityException({
        message: 'Multi-select options must not contain "," or ";"',
        code: 'invalid_options',
        details: separated.map((index) => ({ field: `options.${index}`, message: listItemMessage('the values of a multi-select field') })),
      });
    }
    if (CHOICE_FIELD_TYPES.has(type) && options.length === 0) {
      throw new UnprocessableEntityException({ message: 'Select fields need at least one option', code: 'options_required', details: [{ field: 'options', message: 'must list at least one option' }] });
    }
    if (!CHOICE_FIELD_TYPES.has(type) && options.length > 0) {
      throw new UnprocessableEntityException({ message: 'Only select fields have options', code: 'options_not_allowed', details: [{ field: 'options', message: 'only select and multi_select fields take options' }] });
    }
  }
}

/** What rules on custom fields can name. */
function ruleRecord(field: CustomField): { id: string; key: string } {
  return { id: field.id, key: field.key };
}

/**
 * The field if the caller's rules let it `action` it: one it may not read answers as a missing
 * one (404, its existence not told), one it may read but not change 403.
 */
function visible(ability: AppAbility, action: string, field: CustomField | null): CustomField {
  assertCanOnRecord(ability, action, 'CustomField', field && ruleRecord(field), 'Custom field not found');
  return field!;
}

/** Contacts holding any of the options `$2` of the field keyed `$1`. */
function holdsSql(field: CustomField): string {
  return holdsOptionsSql(field.type, 'custom_fields');
}

/** The options, as stored, whose values an edit renames or clears: the contacts holding them are locked. */
function optionsTouched(field: CustomField, plan: RenamePlan | undefined, listed: string[] | undefined, drop: boolean): string[] {
  const offered = plan?.options ?? field.options;
  const removed = listed && drop ? field.options.filter((_, at) => !listed.includes(offered[at]!)) : [];
  return [...new Set([...(plan?.from ?? []), ...removed])];
}
