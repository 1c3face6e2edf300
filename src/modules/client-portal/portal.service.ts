import { Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AppConfig } from '../../config/app-config';
import { abilityToSql } from '../../core/access/ability-to-sql';
import type { AppAbility } from '../../core/access/app-ability';
import { assertFieldsPermitted, permittedFields } from '../../core/access/record-access';
import { SubjectRegistry } from '../../core/access/subject-registry';
import { AuditService } from '../../core/audit/audit.service';
import { AuthService } from '../../core/auth/auth.service';
import type { ChangePasswordDto } from '../../core/auth/dto/auth.dto';
import { TokenService } from '../../core/auth/token.service';
import { FeaturesService } from '../../core/features/features.service';
import { containsPattern, Page, pageWindow, parseSort, toPage } from '../../core/http/pagination';
import { RequestValidationError } from '../../core/http/validation';
import type { AuthUser } from '../../core/identity/auth-user';
import { IdentityService } from '../../core/identity/identity.service';
import { holdUsers } from '../../core/identity/lock-order';
import { type ContactPreferences, mergePreferences, samePreferences, toPreferencesDto } from '../contacts/contact-preferences';
import { ContactsService } from '../contacts/contacts.service';
import { checkCustomValues } from '../contacts/custom-field-values';
import { CustomFieldsService } from '../contacts/custom-fields.service';
import type { CustomField } from '../contacts/entities/custom-field.entity';
import {
  PORTAL_EDITABLE_FIELDS,
  PortalDashboardDto,
  PortalEditableField,
  PortalOpenItemDto,
  PortalProfileDto,
  PortalSectionDto,
  PortalTimelineItemDto,
  PortalTimelineQueryDto,
  UpdatePortalProfileDto,
} from './dto/portal.dto';
import { EmailChangeRefusedError, PortalStaleVersionError } from './portal.errors';
import {
  DASHBOARD_SELECT,
  DashboardRow,
  PORTAL_SCALAR_COLUMNS,
  PROFILE_SELECT,
  ProfileRow,
  TIMELINE_SELECT,
  TIMELINE_SORTS,
  TimelineRow,
} from './portal.queries';
import { PortalSectionsRegistry } from './portal-sections';


/**
 * The client's own view. Everything is keyed by the signed-in client's contact and goes
 * through their ability: the contact is loaded and checked with the Contact rules, changes
 * with their field rules, and activities are filtered by the Activity rules in SQL.
 */
@Injectable()
export class PortalService {
  private authService?: AuthService;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly features: FeaturesService,
    private readonly sections: PortalSectionsRegistry,
    private readonly contacts: ContactsService,
    private readonly customFields: CustomFieldsService,
    private readonly subjects: SubjectRegistry,
    private readonly identity: IdentityService,
    private readonly tokens: TokenService,
    private readonly audit: AuditService,
    private readonly moduleRef: ModuleRef,
  ) {}

  async dashboard(ability: AppAbility, user: AuthUser): Promise<PortalDashboardDto> {
    await this.contacts.findVisible(ability, user.contactId);
    const [rows, upcomingTasks, sections] = await Promise.all([
      this.dataSource.query(DASHBOARD_SELECT, [user.contactId]) as Promise<DashboardRow[]>,
      this.countUpcomingTasks(ability, user.contactId),
      this.loadSections(user.contactId),
    ]);
    const row = rows[0]!;
    const openItems: PortalOpenItemDto[] = [
      { key: 'tasks', label: 'Upcoming tasks', count: upcomingTasks },
      ...sections.map((section) => ({ key: section.key, label: section.title, count: section.openCount })),
    ];
    return {
      welcomeText: this.config.portal.welcomeText,
      client: { firstName: row.first_name, lastName: row.last_name },
      assignee: row.assignee_id
        ? { firstName: row.assignee_first_name!, lastName: row.assignee_last_name ?? '', email: row.assignee_email!, phone: row.assignee_phone }
        : null,
      openItems,
      sections,
    };
  }

  async profile(ability: AppAbility, user: AuthUser): Promise<PortalProfileDto> {
    const record = await this.contacts.findVisible(ability, user.contactId);
    const [rows, definitions] = await Promise.all([
      this.dataSource.query(PROFILE_SELECT, [user.contactId]) as Promise<ProfileRow[]>,
      this.visibleCustomFields(),
    ]);
    const row = rows[0]!;
    const allowed = new Set(permittedFields(ability, 'update', 'Contact', record, this.contactRuleFields()));
    return {
      id: row.id,
      firstName: row.first_name,
      lastName: row.last_name,
      email: row.email,
      phone: row.phone,
      company: row.company,
      jobTitle: row.job_title,
      addressLine1: row.address_line1,
      addressLine2: row.address_line2,
      city: row.city,
      region: row.region,
      postalCode: row.postal_code,
      country: row.country,
      status: row.status_name,
      preferences: toPreferencesDto(row.preferences),
      customFields: definitions.map((definition) => ({
        key: definition.key,
        label: definition.label,
        type: definition.type,
        options: definition.options,
        required: definition.required,
        value: Object.hasOwn(row.custom_fields, definition.key) ? row.custom_fields[definition.key] : null,
      })),
      editableFields: PORTAL_EDITABLE_FIELDS.filter((field) => allowed.has(field)),
      version: row.version,
      updatedAt: row.updated_at,
    };
  }

  /**
   * Changes the client's own safe fields. What they may change is what their rules allow
   * (`update Contact` with `fields`); status, tags, assignee and the rest are not even part
   * of the request, and internal custom fields do not exist as far as the client can tell.
   */
  async updateProfile(ability: AppAbility, user: AuthUser, input: UpdatePortalProfileDto): Promise<PortalProfileDto> {
    const definitions = await this.visibleCustomFields();
    const custom = checkCustomValues(definitions, input.customFields ?? {}, false);
    if (custom.errors.length) throw new RequestValidationError(custom.errors);

    const id = user.contactId;
    const sent = Object.fromEntries(Object.entries(custom.values).filter(([, value]) => value !== null));
    const changedFields = await this.dataSource.transaction(async (manager) => {
      // Definitions of the values sent, then the account, then the contact (core/identity/lock-order):
      // which values change is known only once the contact is locked. Names reach the account through a trigger.
      await this.customFields.hold(manager, Object.keys(sent), sent, definitions);
      if (input.firstName !== undefined || input.lastName !== undefined) await holdUsers(manager, [[user.id, 'no key update']]);
      const before = await this.contacts.findVisible(ability, id, 'update', manager, true);
      if (input.email !== undefined && input.email.toLowerCase() !== (before.email ?? '').toLowerCase()) throw new EmailChangeRefusedError();
      if (before.version !== input.version) throw new PortalStaleVersionError(before.version);
      const [{ preferences: storedPreferences }] = (await manager.query('SELECT preferences FROM contacts WHERE id = $1', [id])) as Array<{ preferences: ContactPreferences }>;

      const changed: PortalEditableField[] = [];
      const sets: string[] = [];
      const params: unknown[] = [id];
      const beforeValues: Record<string, unknown> = {};
      const afterValues: Record<string, unknown> = {};
      for (const [field, column] of Object.entries(PORTAL_SCALAR_COLUMNS) as Array<[keyof typeof PORTAL_SCALAR_COLUMNS, string]>) {
        const sent = input[field];
        if (sent === undefined) continue;
        const value = sent === null && field === 'lastName' ? '' : sent;
        if (value === (before[field] ?? null)) continue;
        changed.push(field);
        beforeValues[field] = before[field] ?? null;
        afterValues[field] = value;
        sets.push(`${column} = $${params.push(value)}`);
      }
      if (input.preferences) {
        const merged = mergePreferences(storedPreferences, input.preferences);
        if (!samePreferences(merged, storedPreferences)) {
          changed.push('preferences');
          beforeValues.preferences = storedPreferences;
          afterValues.preferences = merged;
          sets.push(`preferences = $${params.push(JSON.stringify(merged))}::jsonb`);
        }
      }
      const storedCustom = (before.customFields ?? {}) as Record<string, unknown>;
      const customChanged = Object.keys(custom.values).filter((key) => JSON.stringify(custom.values[key] ?? null) !== JSON.stringify(storedCustom[key] ?? null));
      if (customChanged.length) {
        changed.push('customFields');
        beforeValues.customFields = Object.fromEntries(customChanged.map((key) => [key, storedCustom[key] ?? null]));
        afterValues.customFields = Object.fromEntries(customChanged.map((key) => [key, custom.values[key]]));
        const cleared = customChanged.filter((key) => custom.values[key] === null);
        const set = Object.fromEntries(customChanged.filter((key) => custom.values[key] !== null).map((key) => [key, custom.values[key]]));
        sets.push(`custom_fields = (custom_fields - $${params.push(cleared)}::text[]) || $${params.push(JSON.stringify(set))}::jsonb`);
      }

      // The client's rules, not this code, decide which of these fields they may change.
      assertFieldsPermitted(ability, 'update', 'Contact', before, changed, this.contactRuleFields());
      if (!changed.length) return changed;
      // Names reach the client's account through the contacts_sync_user trigger, in this transaction.
      await manager.query(`UPDATE contacts SET ${sets.concat('version = version + 1', 'updated_at = now()').join(', ')} WHERE id = $1`, params);
      await this.audit.record({ actorId: user.id, action: 'contact.update', subjectType: 'Contact', subjectId: id, before: beforeValues, after: afterValues }, manager);
      return changed;
    });
    if (changedFields.length) this.contacts.forgetListTotals();
    // The signed-in account carries the names; drop its cached copy everywhere.
    if (changedFields.includes('firstName') || changedFields.includes('lastName')) await this.identity.changed(user.id);
    return this.profile(ability, user);
  }

  /** Ends every session of the account, this one included. */
  async changePassword(user: AuthUser, input: ChangePasswordDto): Promise<void> {
    await this.auth().changePassword(user, input);
  }

  /** Ends the session the refresh token belongs to (nothing happens for an unknown token). */
  async logout(refreshToken: string): Promise<void> {
    await this.tokens.revokeFamilyOf(refreshToken);
  }

  async timeline(ability: AppAbility, user: AuthUser, query: PortalTimelineQueryDto): Promise<Page<PortalTimelineItemDto>> {
    const window = pageWindow(query, this.config.pagination.maxLimit);
    const sort = parseSort(query.sort, TIMELINE_SORTS, [['a.occurred_at', 'DESC']]);
    await this.contacts.findVisible(ability, user.contactId);
    const params: unknown[] = [user.contactId];
    const where = ['a.contact_id = $1', this.activityRules(ability, params)];
    if (query.type) where.push(`a.type = $${params.push(query.type)}`);
    if (query.q) {
      const p = `$${params.push(containsPattern(query.q))}`;
      where.push(`(a.subject ILIKE ${p} OR a.body ILIKE ${p})`);
    }
    const whereSql = `WHERE ${where.join(' AND ')}`;
    const order = sort.map(([expression, direction]) => `${expression} ${direction}`).concat(`a.created_at ${sort[0]![1]}`, `a.id ${sort[0]![1]}`).join(', ');
    const [rows, [{ total }]] = await Promise.all([
      this.dataSource.query(`${TIMELINE_SELECT} ${whereSql} ORDER BY ${order} LIMIT ${window.limit} OFFSET ${window.offset}`, params) as Promise<TimelineRow[]>,
      this.dataSource.query(`SELECT count(*)::int AS total FROM activities a ${whereSql}`, params) as Promise<Array<{ total: number }>>,
    ]);
    return toPage(
      rows.map((row) => ({
        id: row.id,
        type: row.type,
        subject: row.subject,
        body: row.body,
        occurredAt: row.occurred_at,
        author: row.author_first_name !== null ? { firstName: row.author_first_name, lastName: row.author_last_name ?? '' } : null,
      })),
      total,
      window,
    );
  }

  // --- helpers -----------------------------------------------------------------------------

  /** Tasks shared with the client that are still ahead of them. */
  private async countUpcomingTasks(ability: AppAbility, contactId: string): Promise<number> {
    const params: unknown[] = [contactId];
    const rules = this.activityRules(ability, params);
    const [{ count }] = (await this.dataSource.query(
      `SELECT count(*)::int AS count FROM activities a WHERE a.contact_id = $1 AND ${rules} AND a.type = 'task' AND a.occurred_at > now()`,
      params,
    )) as Array<{ count: number }>;
    return count;
  }

  /** The SQL of the activities the ability lets the client read; its parameters are appended to `params`. */
  private activityRules(ability: AppAbility, params: unknown[]): string {
    const visible = abilityToSql(ability, 'read', 'Activity', this.subjects.get('Activity')!.fields, 'a', params.length + 1);
    params.push(...visible.params);
    return visible.sql;
  }

  /** Sections of business modules that are on, in key order. */
  private async loadSections(contactId: string): Promise<PortalSectionDto[]> {
    const providers = this.sections.all().filter((provider) => this.features.isEnabled(provider.feature));
    return Promise.all(
      providers.map(async (provider) => {
        const content = await provider.load(contactId);
        return { key: provider.key, feature: provider.feature, title: content.title, openCount: content.openCount, data: content.data };
      }),
    );
  }

  /** Active custom fields a client may see: internal ones are for staff only. */
  private async visibleCustomFields(): Promise<CustomField[]> {
    return (await this.customFields.all()).filter((definition) => !definition.deletedAt && !definition.internal);
  }

  /** Contact fields rules may name, plus the portal's preferences. */
  private contactRuleFields(): string[] {
    return Object.keys(this.subjects.get('Contact')?.fields ?? {});
  }

  /** AuthModule keeps AuthService to itself; it is looked up once rather than duplicated here. */
  private auth(): AuthService {
    this.authService ??= this.moduleRef.get(AuthService, { strict: false });
    return this.authService;
  }
}
