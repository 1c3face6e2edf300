import { abilityToSql } from '../../core/access/ability-to-sql';
import type { AppAbility } from '../../core/access/app-ability';
import { compileSelection, fieldResolver, type SqlStatement } from '../contacts/contacts.queries';
import { compileFilter, type FieldResolver, goneFieldHolds, goneFieldWarning, validateFilter } from '../contacts/filters/contact-filter.compiler';
import type { FilterCondition, FilterNode } from '../contacts/filters/contact-filter.types';
import type { CustomField } from '../contacts/entities/custom-field.entity';
import type { ExplainNodeDto } from './dto/segment.dto';
import type { SegmentKind } from './entities/segment.entity';
import { SEGMENT_RULE_FIELDS } from './segments.subjects';

// ---------------------------------------------------------------------------------------------
// Segments themselves
// ---------------------------------------------------------------------------------------------

export const SEGMENT_SORTS: Record<string, string> = { name: 's.name_key', createdAt: 's.created_at', updatedAt: 's.updated_at' };

export const SEGMENT_SELECT = `
  SELECT s.id, s.name, s.description, s.kind, s.rule, s.created_by_id, s.created_at, s.updated_at,
         u.first_name AS created_by_first_name, u.last_name AS created_by_last_name
    FROM segments s LEFT JOIN users u ON u.id = s.created_by_id`;

export interface SegmentRow {
  id: string;
  name: string;
  description: string;
  kind: SegmentKind;
  rule: FilterNode | null;
  created_by_id: string | null;
  created_at: Date;
  updated_at: Date;
  created_by_first_name: string | null;
  created_by_last_name: string | null;
}

/** A segment as CASL conditions see it. */
export function segmentRecord(row: Pick<SegmentRow, 'id' | 'kind' | 'created_by_id'>): { id: string; kind: SegmentKind; createdById: string | null } {
  return { id: row.id, kind: row.kind, createdById: row.created_by_id };
}

/** The segments the caller may read, as a predicate over alias `s` numbered from `firstParam`. */
export function visibleSegments(ability: AppAbility, firstParam: number): { sql: string; params: unknown[] } {
  return abilityToSql(ability, 'read', 'Segment', SEGMENT_RULE_FIELDS, 's', firstParam);
}

// ---------------------------------------------------------------------------------------------
// Members
// ---------------------------------------------------------------------------------------------

/** The restriction handed to the contact selection: members of one static segment. */
export function membersOf(segmentId: string): { sql: string; params: unknown[] } {
  return { sql: 'EXISTS (SELECT 1 FROM segment_members m WHERE m.segment_id = $1::uuid AND m.contact_id = c.id)', params: [segmentId] };
}

/** These contacts, whatever the caller may see of them (the selection adds that). */
export function contactsWithIds(ids: string[]): { sql: string; params: unknown[] } {
  return { sql: 'c.id = ANY($1::uuid[])', params: [ids] };
}

/**
 * Adds the selected contacts to a segment; returns how many were selected and how many were new.
 * The members' foreign keys hold their contacts (key share) in the order rows are inserted, the
 * selection's scan order: they are held here first, in id order, as every writer of several
 * contacts takes them (core/identity/lock-order).
 */
export function addMembersStatement(selection: { where: string; params: unknown[] }, segmentId: string, actorId: string): SqlStatement {
  const params = [...selection.params, segmentId, actorId];
  return {
    sql: `WITH selected AS (SELECT c.id FROM contacts c WHERE ${selection.where} ORDER BY c.id FOR KEY SHARE OF c),
               inserted AS (
                 INSERT INTO segment_members (segment_id, contact_id, added_by_id)
                 SELECT $${params.length - 1}::uuid, selected.id, $${params.length}::uuid FROM selected
                 ON CONFLICT DO NOTHING RETURNING 1)
          SELECT (SELECT count(*) FROM selected)::int AS matched, (SELECT count(*) FROM inserted)::int AS added`,
    params,
  };
}

export function removeMembersStatement(selection: { where: string; params: unknown[] }, segmentId: string): SqlStatement {
  const params = [...selection.params, segmentId];
  return {
    sql: `WITH removed AS (
            DELETE FROM segment_members m
             WHERE m.segment_id = $${params.length}::uuid AND m.contact_id IN (SELECT c.id FROM contacts c WHERE ${selection.where})
            RETURNING 1)
          SELECT count(*)::int AS removed FROM removed`,
    params,
  };
}

// ---------------------------------------------------------------------------------------------
// Counts, as far as the caller may read contacts
// ---------------------------------------------------------------------------------------------

/** Visible live members of many static segments, in one grouped statement. */
export function staticCountsStatement(ability: AppAbility, segmentIds: string[]): SqlStatement {
  const visible = compileSelection({ ability, action: 'read' }, [], 2);
  return {
    sql: `SELECT m.segment_id, count(*)::int AS count
            FROM segment_members m JOIN contacts c ON c.id = m.contact_id
           WHERE m.segment_id = ANY($1::uuid[]) AND ${visible.where}
           GROUP BY m.segment_id`,
    params: [segmentIds, ...visible.params],
  };
}

/**
 * Visible live contacts matching one rule. One statement per rule rather than one pass with
 * `count(*) FILTER (WHERE rule)` for many: inside FILTER a rule cannot drive the plan (no
 * semi-joins, no index on the rule's columns), which at 1M contacts doubles the time.
 */
export function dynamicCountStatement(ability: AppAbility, rule: FilterNode, definitions: CustomField[]): SqlStatement {
  const visible = compileSelection({ ability, action: 'read' }, []);
  const compiled = compileFilter(rule, fieldResolver(definitions), visible.params.length + 1);
  return { sql: `SELECT count(*)::int AS count FROM contacts c WHERE ${visible.where} AND ${compiled.sql}`, params: [...visible.params, ...compiled.params] };
}

// ---------------------------------------------------------------------------------------------
// Rules
// ---------------------------------------------------------------------------------------------

/** The contact id is never NULL: valid clauses that are false, and true, for every contact. */
const MATCHES_NOTHING: FilterNode = { field: 'id', op: 'empty' };
const MATCHES_EVERYTHING: FilterNode = { field: 'id', op: 'notEmpty' };

/**
 * A saved rule made safe to run: a clause on a custom field whose definition was purged (not
 * just deleted), or defined again with another type, becomes a clause that holds for every
 * contact or for none, as one on a deleted field does (see {@link goneFieldHolds}), so one
 * purge cannot break every list that shows the segment. The tree keeps its shape and paths.
 */
export function usableRule(rule: FilterNode, definitions: CustomField[], path = 'rule'): { rule: FilterNode; warnings: string[] } {
  const resolver = fieldResolver(definitions);
  const warnings: string[] = [];
  const walk = (node: FilterNode, at: string, negated: boolean): FilterNode => {
    if ('and' in node) return { and: node.and.map((child, i) => walk(child, `${at}.and.${i}`, negated)) };
    if ('or' in node) return { or: node.or.map((child, i) => walk(child, `${at}.or.${i}`, negated)) };
    if ('not' in node) return { not: walk(node.not, `${at}.not`, !negated) };
    if (typeof node.field === 'string' && node.field.startsWith('custom.')) {
      const gone = (how: string) => {
        warnings.push(goneFieldWarning(at, node.field, how, node.op, negated));
        return goneFieldHolds(node.op) ? MATCHES_EVERYTHING : MATCHES_NOTHING;
      };
      if (resolver.resolve(node.field) === undefined) return gone('no longer exists');
      // Purged and defined again with another type: the saved operator or value may no longer fit it.
      if (validateFilter(node, resolver, at).errors.length) return gone('changed type since this rule was saved');
    }
    return node;
  };
  const usable = walk(rule, path, false);
  return { rule: usable, warnings: [...warnings, ...validateFilter(usable, resolver, path).warnings] };
}

/** Rule fields that name records of other tables, and what the warnings call them. */
const REFERENCE_FIELDS: Record<string, { table: string; label: string }> = {
  tags: { table: 'tags', label: 'tag' },
  services: { table: 'services', label: 'service' },
  status: { table: 'contact_statuses', label: 'status' },
  trafficSource: { table: 'traffic_sources', label: 'traffic source' },
  assignedTo: { table: 'users', label: 'assignee' },
};

export interface RuleReference {
  path: string;
  field: string;
  id: string;
  op: string;
  /** Under an odd number of `not`: what the clause matches is left out. */
  negated: boolean;
  /** Every id of the clause, this one included. */
  clauseIds: string[];
}

/** Operators whose ids say which contacts a clause leaves out: an id that no longer exists leaves out nobody. */
const EXCLUDING_OPS = new Set(['isNot', 'notIn', 'hasNone']);

/** Every tag, service, status, traffic source and assignee id a rule names, with its clause. */
export function referencesOf(rule: FilterNode, path = 'rule'): RuleReference[] {
  const found: RuleReference[] = [];
  const walk = (node: FilterNode, at: string, negated: boolean) => {
    if ('and' in node) return node.and.forEach((child, i) => walk(child, `${at}.and.${i}`, negated));
    if ('or' in node) return node.or.forEach((child, i) => walk(child, `${at}.or.${i}`, negated));
    if ('not' in node) return walk(node.not, `${at}.not`, !negated);
    const condition = node as FilterCondition;
    if (!Object.hasOwn(REFERENCE_FIELDS, condition.field)) return;
    const values = Array.isArray(condition.value) ? condition.value : condition.value === undefined ? [] : [condition.value];
    const clauseIds = values.filter((id): id is string => typeof id === 'string');
    for (const id of clauseIds) found.push({ path: at, field: condition.field, id, op: condition.op, negated, clauseIds });
  };
  walk(rule, path, false);
  return found;
}

/** One statement that returns the ids among `references` whose record no longer exists. */
export function missingReferencesStatement(references: RuleReference[]): SqlStatement {
  // Only the kinds the rules name: a segment page runs this on every request.
  const fields = Object.keys(REFERENCE_FIELDS).filter((field) => references.some((ref) => ref.field === field));
  const params = fields.map((field) => [...new Set(references.filter((ref) => ref.field === field).map((ref) => ref.id.toLowerCase()))]);
  const sql = fields
    .map((field, i) => `SELECT '${field}' AS field, x.id::text AS id FROM unnest($${i + 1}::uuid[]) AS x(id) WHERE NOT EXISTS (SELECT 1 FROM ${REFERENCE_FIELDS[field]!.table} t WHERE t.id = x.id)`)
    .join(' UNION ALL ');
  return { sql, params };
}

/**
 * What each clause naming a record that no longer exists now does. An id that names nothing
 * matches no contact: in a clause that selects contacts (is, in, hasAny, hasAll) it selects
 * nobody; in one that leaves contacts out (isNot, notIn, hasNone, or any clause under `not`)
 * it leaves nobody out, so the contacts it used to leave out are back in.
 */
export function missingReferenceWarnings(references: RuleReference[], missing: Array<{ field: string; id: string }>): string[] {
  const gone = new Set(missing.map((row) => `${row.field}:${row.id}`));
  const isGone = (field: string, id: string) => gone.has(`${field}:${id.toLowerCase()}`);
  return references
    .filter((ref) => isGone(ref.field, ref.id))
    .map((ref) => {
      const lost = `${ref.path}: the ${REFERENCE_FIELDS[ref.field]!.label} ${ref.id} no longer exists`;
      if (EXCLUDING_OPS.has(ref.op) === ref.negated) return `${lost}; no contact matches it`;
      // The clause is true for everyone once it names nothing left (hasAll: once any of its ids is gone).
      const allGone = ref.op === 'hasAll' ? true : ref.clauseIds.every((id) => isGone(ref.field, id));
      const clause = ref.negated ? 'the "not" around it' : 'this condition';
      return allGone
        ? `${lost}; it excludes no contact, so ${clause} now holds for every contact, those it used to exclude included`
        : `${lost}; it excludes no contact, so contacts it alone used to exclude now pass ${clause}`;
    });
}

// ---------------------------------------------------------------------------------------------
// Explain
// ---------------------------------------------------------------------------------------------

/**
 * Evaluates every group and condition of a rule for one contact, in one statement: each node
 * is compiled on its own by the contacts compiler and selected as a column. NULL counts as
 * false, as it does in the list's WHERE clause. `shown` is the rule as saved; `usable` is the
 * same tree prepared by {@link usableRule}, which is what runs.
 */
export function explainStatement(shown: FilterNode, usable: FilterNode, resolver: FieldResolver, contactId: string): { statement: SqlStatement; annotate: (row: Record<string, boolean>) => ExplainNodeDto } {
  const params: unknown[] = [contactId];
  const columns: string[] = [];
  const compileNode = (node: FilterNode): string => {
    const compiled = compileFilter(node, resolver, params.length + 1);
    params.push(...compiled.params);
    columns.push(`COALESCE(${compiled.sql}, FALSE) AS n${columns.length}`);
    return `n${columns.length - 1}`;
  };
  type Slot = { column: string; shown: FilterNode; children?: Slot[]; key?: 'and' | 'or' | 'not' };
  const plan = (shownNode: FilterNode, usableNode: FilterNode): Slot => {
    const column = compileNode(usableNode);
    if ('and' in shownNode && 'and' in usableNode) return { column, shown: shownNode, key: 'and', children: shownNode.and.map((child, i) => plan(child, usableNode.and[i]!)) };
    if ('or' in shownNode && 'or' in usableNode) return { column, shown: shownNode, key: 'or', children: shownNode.or.map((child, i) => plan(child, usableNode.or[i]!)) };
    if ('not' in shownNode && 'not' in usableNode) return { column, shown: shownNode, key: 'not', children: [plan(shownNode.not, usableNode.not)] };
    return { column, shown: shownNode };
  };
  const root = plan(shown, usable);
  const annotate = (row: Record<string, boolean>, slot: Slot = root): ExplainNodeDto => {
    const matched = row[slot.column] === true;
    if (slot.key === 'not') return { matched, not: annotate(row, slot.children![0]!) };
    if (slot.key === 'and') return { matched, and: slot.children!.map((child) => annotate(row, child)) };
    if (slot.key === 'or') return { matched, or: slot.children!.map((child) => annotate(row, child)) };
    const { field, op, value } = slot.shown as FilterCondition;
    return { matched, field, op, ...(value !== undefined ? { value } : {}) };
  };
  return {
    statement: { sql: `SELECT ${columns.join(', ')} FROM contacts c WHERE c.id = $1::uuid`, params },
    annotate: (row) => annotate(row),
  };
}
