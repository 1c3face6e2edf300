import type { ActivityType } from '../contacts/entities/activity.entity';
import type { ContactStage } from '../contacts/entities/contact-status.entity';
import { DELETED_AUTHOR, NO_STATUS, NO_TRAFFIC_SOURCE, QUIET_DAYS, SERIES_MONTHS, SERIES_WEEKS, STAGE_NAMES } from './dashboard.definitions';

/**
 * The dashboard's SQL. Every metric is an aggregate computed in the database, one statement
 * per group, each returning a single row (JSON built in SQL); nothing is counted row by row in
 * JavaScript. Every statement takes the moment it describes as $1, so one snapshot is one
 * point in time and a test can pin it.
 */

export interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * Run before each dashboard statement, in its transaction: the planner's cost estimates for
 * these large aggregates cross the JIT thresholds, and compiling costs far more (about a
 * second per statement) than it saves on scans this simple.
 */
export const WITHOUT_JIT_SQL = 'SET LOCAL jit = off';

/** Only this module's own constants are inlined; anything else is a parameter. */
const text = (value: string) => `'${value.replace(/'/g, "''")}'`;

const NOW = '$1::timestamptz';
const MONTH_0 = `date_trunc('month', ${NOW} AT TIME ZONE 'UTC')`;
const WEEK_0 = `date_trunc('week', ${NOW} AT TIME ZONE 'UTC')`;
/** First instant of the oldest month / week in the series. */
const MONTHS_FROM = `((${MONTH_0} - interval '${SERIES_MONTHS - 1} months') AT TIME ZONE 'UTC')`;
const WEEKS_FROM = `((${WEEK_0} - interval '${SERIES_WEEKS - 1} weeks') AT TIME ZONE 'UTC')`;
// Integer series: the planner knows how many rows they give (a timestamp series is guessed at 1000,
// which inflates every join above it).
const MONTHS = `SELECT ${MONTH_0} - make_interval(months => ${SERIES_MONTHS - 1} - g.i) AS period FROM generate_series(0, ${SERIES_MONTHS - 1}) AS g(i)`;
const WEEKS = `SELECT ${WEEK_0} - make_interval(weeks => ${SERIES_WEEKS - 1} - g.i) AS period FROM generate_series(0, ${SERIES_WEEKS - 1}) AS g(i)`;
const DAY = `'YYYY-MM-DD'`;

/** Never contacted, or last contacted more than `days` before the snapshot's moment. */
const quietFor = (alias: string, days: number) => `(${alias}.last_contacted_at IS NULL OR ${alias}.last_contacted_at < ${NOW} - interval '${days} days')`;
const QUIET_COUNTS = (alias: string) =>
  `count(*) FILTER (WHERE ${quietFor(alias, QUIET_DAYS.week)})::int AS quiet_week,
   count(*) FILTER (WHERE ${quietFor(alias, QUIET_DAYS.twoWeeks)})::int AS quiet_two_weeks,
   count(*) FILTER (WHERE ${quietFor(alias, QUIET_DAYS.month)})::int AS quiet_month`;

/** The four stages in display order, then "no status". */
const STAGE_ROWS = `(VALUES ${Object.entries(STAGE_NAMES)
  .map(([stage, name], index) => `(${index + 1}, ${text(stage)}, ${text(name)})`)
  .concat(`(${Object.keys(STAGE_NAMES).length + 1}, NULL, ${text(NO_STATUS)})`)
  .join(', ')}) AS v(ord, stage, name)`;

/** A trashed contact's rows never count; there are few of them, so this is an anti-join on a small set. */
const LIVE_CONTACT = (column: string) => `NOT EXISTS (SELECT 1 FROM contacts t WHERE t.id = ${column} AND t.deleted_at IS NOT NULL)`;

// ---------------------------------------------------------------------------------------------
// The snapshot
// ---------------------------------------------------------------------------------------------

export interface ContactCountsRow {
  contacts: number;
  customers: number;
  leads: number;
  customers_quiet_week: number;
  customers_quiet_two_weeks: number;
  customers_quiet_month: number;
  customers_unassigned: number;
  per_status: Array<{ statusId: string | null; name: string; stage: ContactStage | null; value: number }>;
  per_stage: Array<{ stage: ContactStage | null; name: string; value: number }>;
}

/**
 * Totals, customers, leads, quiet customers, unassigned customers, per status and per stage:
 * one pass over the live contacts grouped by status (an index-only scan of contacts_assignee_status_idx).
 */
export function contactCountsStatement(now: Date): Statement {
  const sql = `
    WITH per_status AS (
      SELECT c.status_id,
             count(*)::int AS contacts,
             count(*) FILTER (WHERE c.assigned_to_id IS NULL)::int AS unassigned,
             ${QUIET_COUNTS('c')}
        FROM contacts c
       WHERE c.deleted_at IS NULL
       GROUP BY c.status_id
    ),
    statuses AS (
      SELECT s.id, s.name, s.name_key, s.stage, s.position,
             coalesce(p.contacts, 0) AS contacts, coalesce(p.unassigned, 0) AS unassigned,
             coalesce(p.quiet_week, 0) AS quiet_week, coalesce(p.quiet_two_weeks, 0) AS quiet_two_weeks, coalesce(p.quiet_month, 0) AS quiet_month
        FROM contact_statuses s
        LEFT JOIN per_status p ON p.status_id = s.id
      UNION ALL
      SELECT NULL, ${text(NO_STATUS)}, NULL, NULL, NULL, p.contacts, p.unassigned, p.quiet_week, p.quiet_two_weeks, p.quiet_month
        FROM (SELECT coalesce(sum(contacts), 0)::int AS contacts, coalesce(sum(unassigned), 0)::int AS unassigned,
                     coalesce(sum(quiet_week), 0)::int AS quiet_week, coalesce(sum(quiet_two_weeks), 0)::int AS quiet_two_weeks,
                     coalesce(sum(quiet_month), 0)::int AS quiet_month
                FROM per_status WHERE status_id IS NULL) AS p
    ),
    stages AS (
      SELECT v.ord, v.stage, v.name,
             coalesce(sum(s.contacts), 0)::int AS contacts, coalesce(sum(s.unassigned), 0)::int AS unassigned,
             coalesce(sum(s.quiet_week), 0)::int AS quiet_week, coalesce(sum(s.quiet_two_weeks), 0)::int AS quiet_two_weeks,
             coalesce(sum(s.quiet_month), 0)::int AS quiet_month
        FROM ${STAGE_ROWS}
        LEFT JOIN statuses s ON s.stage IS NOT DISTINCT FROM v.stage
       GROUP BY v.ord, v.stage, v.name
    )
    SELECT (SELECT coalesce(sum(contacts), 0)::int FROM stages) AS contacts,
           c.contacts AS customers,
           l.contacts AS leads,
           c.quiet_week AS customers_quiet_week,
           c.quiet_two_weeks AS customers_quiet_two_weeks,
           c.quiet_month AS customers_quiet_month,
           c.unassigned AS customers_unassigned,
           (SELECT jsonb_agg(jsonb_build_object('statusId', s.id, 'name', s.name, 'stage', s.stage, 'value', s.contacts)
                             ORDER BY s.id IS NULL, s.position, s.name_key)
              FROM statuses s) AS per_status,
           (SELECT jsonb_agg(jsonb_build_object('stage', s.stage, 'name', s.name, 'value', s.contacts) ORDER BY s.ord) FROM stages s) AS per_stage
      FROM stages c, stages l
     WHERE c.stage = 'customer' AND l.stage = 'lead'`;
  return { sql, params: [now.toISOString()] };
}

export interface LastContactedRow {
  contact_id: string;
  first_name: string;
  last_name: string;
  last_contacted_at: Date;
  activity_id: string | null;
  activity_type: ActivityType | null;
  activity_subject: string | null;
  author_id: string | null;
  author_first_name: string | null;
  author_last_name: string | null;
}

/** The most recently contacted live contact (a backward scan of contacts_last_contacted_idx) and the activity that did it. */
export function lastContactedStatement(now: Date): Statement {
  const sql = `
    SELECT c.id AS contact_id, c.first_name, c.last_name, c.last_contacted_at,
           a.id AS activity_id, a.type AS activity_type, a.subject AS activity_subject,
           u.id AS author_id, u.first_name AS author_first_name, u.last_name AS author_last_name
      FROM (SELECT id, first_name, last_name, last_contacted_at
              FROM contacts
             WHERE deleted_at IS NULL AND last_contacted_at IS NOT NULL AND last_contacted_at <= ${NOW}
             ORDER BY last_contacted_at DESC
             LIMIT 1) AS c
      LEFT JOIN LATERAL (
        SELECT id, type, subject, author_id
          FROM activities
         WHERE contact_id = c.id AND occurred_at = c.last_contacted_at
         ORDER BY created_at DESC, id DESC
         LIMIT 1
      ) AS a ON true
      LEFT JOIN users u ON u.id = a.author_id`;
  return { sql, params: [now.toISOString()] };
}

export interface SeriesRow {
  periods: string[];
  values: number[];
  total: number;
}

/** Lead-stage → customer-stage status changes per month (contact_status_history_changed_idx). */
export function conversionsStatement(now: Date): Statement {
  const sql = `
    WITH months AS (${MONTHS}),
    conversions AS (
      SELECT date_trunc('month', h.changed_at AT TIME ZONE 'UTC') AS period, count(*)::int AS n
        FROM contact_status_history h
        LEFT JOIN contact_statuses f ON f.id = h.from_status_id
        LEFT JOIN contact_statuses t ON t.id = h.to_status_id
       -- The stages the statuses had when the change was made, kept on the row; a row written
       -- without them (bypassing the trigger) reads the statuses' current ones.
       WHERE coalesce(h.from_status_stage, f.stage) = 'lead' AND coalesce(h.to_status_stage, t.stage) = 'customer'
         -- An import's revert puts back a status a contact had: neither the import's change
         -- nor the revert's converts anybody. Nor does merging statuses (a status deleted with
         -- its contacts moved to another): it reorganises the settings, it sells nothing.
         AND h.source NOT IN ('revert', 'lookup') AND NOT h.undone
         AND h.changed_at >= ${MONTHS_FROM} AND h.changed_at <= ${NOW}
         AND ${LIVE_CONTACT('h.contact_id')}
       GROUP BY 1
    )
    SELECT jsonb_agg(to_char(m.period, ${DAY}) ORDER BY m.period) AS periods,
           jsonb_agg(coalesce(v.n, 0) ORDER BY m.period) AS values,
           coalesce(sum(v.n), 0)::int AS total
      FROM months m
      LEFT JOIN conversions v ON v.period = m.period`;
  return { sql, params: [now.toISOString()] };
}

export interface BreakdownSeriesRow {
  periods: string[];
  series: Array<{ id: string | null; name: string; values: number[]; total: number }>;
}

/** Contacts created per month and traffic source (a range of contacts_live_created_idx). */
export function newContactsBySourceStatement(now: Date): Statement {
  const sql = `
    WITH months AS (${MONTHS}),
    counts AS (
      SELECT c.traffic_source_id AS source_id, date_trunc('month', c.created_at AT TIME ZONE 'UTC') AS period, count(*)::int AS n
        FROM contacts c
       WHERE c.deleted_at IS NULL AND c.created_at >= ${MONTHS_FROM} AND c.created_at <= ${NOW}
       GROUP BY 1, 2
    ),
    sources AS (
      SELECT ts.id, ts.name, ts.name_key, 0 AS ord FROM traffic_sources ts
      UNION ALL
      SELECT NULL, ${text(NO_TRAFFIC_SOURCE)}, '', 1
    ),
    series AS (
      SELECT s.id, s.name, s.name_key, s.ord,
             jsonb_agg(coalesce(k.n, 0) ORDER BY m.period) AS values,
             coalesce(sum(k.n), 0)::int AS total
        FROM sources s
       CROSS JOIN months m
        LEFT JOIN counts k ON k.source_id IS NOT DISTINCT FROM s.id AND k.period = m.period
       GROUP BY s.id, s.name, s.name_key, s.ord
    )
    SELECT (SELECT jsonb_agg(to_char(m.period, ${DAY}) ORDER BY m.period) FROM months m) AS periods,
           (SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'values', s.values, 'total', s.total) ORDER BY s.ord, s.name_key)
              FROM series s) AS series`;
  return { sql, params: [now.toISOString()] };
}

/** Activities per author and week (a range of activities_occurred_idx). */
export function activitiesPerStaffStatement(now: Date): Statement {
  const sql = `
    WITH weeks AS (${WEEKS}),
    counts AS (
      SELECT u.id AS author_id, date_trunc('week', a.occurred_at AT TIME ZONE 'UTC') AS period, count(*)::int AS n
        FROM activities a
        -- An activity keeps its author's id once the account is deleted: counted under no author.
        LEFT JOIN users u ON u.id = a.author_id
       WHERE a.occurred_at >= ${WEEKS_FROM} AND a.occurred_at <= ${NOW}
         AND ${LIVE_CONTACT('a.contact_id')}
       GROUP BY 1, 2
    ),
    series AS (
      SELECT au.author_id AS id,
             CASE WHEN au.author_id IS NULL THEN ${text(DELETED_AUTHOR)} ELSE trim(u.first_name || ' ' || u.last_name) END AS name,
             jsonb_agg(coalesce(k.n, 0) ORDER BY w.period) AS values,
             coalesce(sum(k.n), 0)::int AS total
        FROM (SELECT DISTINCT author_id FROM counts) AS au
       CROSS JOIN weeks w
        LEFT JOIN counts k ON k.author_id IS NOT DISTINCT FROM au.author_id AND k.period = w.period
        LEFT JOIN users u ON u.id = au.author_id
       GROUP BY au.author_id, u.first_name, u.last_name
    )
    SELECT (SELECT jsonb_agg(to_char(w.period, ${DAY}) ORDER BY w.period) FROM weeks w) AS periods,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'values', s.values, 'total', s.total)
                                      ORDER BY s.id IS NULL, s.total DESC, s.name, s.id)
                       FROM series s), '[]'::jsonb) AS series`;
  return { sql, params: [now.toISOString()] };
}

/** Every statement of a snapshot, by group. */
export function snapshotStatements(now: Date) {
  return {
    counts: contactCountsStatement(now),
    lastContacted: lastContactedStatement(now),
    conversions: conversionsStatement(now),
    newContacts: newContactsBySourceStatement(now),
    activities: activitiesPerStaffStatement(now),
  };
}

// ---------------------------------------------------------------------------------------------
// One staff member's own numbers, live
// ---------------------------------------------------------------------------------------------

export interface MyCountsRow {
  contacts: number;
  customers_quiet_week: number;
  customers_quiet_two_weeks: number;
  customers_quiet_month: number;
  per_stage: Array<{ stage: ContactStage | null; name: string; value: number }>;
}

/** The caller's assigned live contacts by stage and quiet customers (a range of contacts_assignee_status_idx). */
export function myCountsStatement(now: Date, userId: string): Statement {
  const sql = `
    WITH mine AS (
      SELECT s.stage, count(*)::int AS contacts, ${QUIET_COUNTS('c')}
        FROM contacts c
        LEFT JOIN contact_statuses s ON s.id = c.status_id
       WHERE c.deleted_at IS NULL AND c.assigned_to_id = $2::uuid
       GROUP BY s.stage
    )
    SELECT (SELECT coalesce(sum(contacts), 0)::int FROM mine) AS contacts,
           coalesce(c.quiet_week, 0) AS customers_quiet_week,
           coalesce(c.quiet_two_weeks, 0) AS customers_quiet_two_weeks,
           coalesce(c.quiet_month, 0) AS customers_quiet_month,
           (SELECT jsonb_agg(jsonb_build_object('stage', v.stage, 'name', v.name, 'value', coalesce(m.contacts, 0)) ORDER BY v.ord)
              FROM ${STAGE_ROWS} LEFT JOIN mine m ON m.stage IS NOT DISTINCT FROM v.stage) AS per_stage
      FROM (SELECT 1) AS one
      LEFT JOIN mine c ON c.stage = 'customer'`;
  return { sql, params: [now.toISOString(), userId] };
}

/** Activities the caller logged per week (a range of activities_author_idx). */
export function myActivitiesStatement(now: Date, userId: string): Statement {
  const sql = `
    WITH weeks AS (${WEEKS}),
    counts AS (
      SELECT date_trunc('week', a.occurred_at AT TIME ZONE 'UTC') AS period, count(*)::int AS n
        FROM activities a
       WHERE a.author_id = $2::uuid AND a.occurred_at >= ${WEEKS_FROM} AND a.occurred_at <= ${NOW}
         AND ${LIVE_CONTACT('a.contact_id')}
       GROUP BY 1
    )
    SELECT jsonb_agg(to_char(w.period, ${DAY}) ORDER BY w.period) AS periods,
           jsonb_agg(coalesce(k.n, 0) ORDER BY w.period) AS values,
           coalesce(sum(k.n), 0)::int AS total
      FROM weeks w
      LEFT JOIN counts k ON k.period = w.period`;
  return { sql, params: [now.toISOString(), userId] };
}

// ---------------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------------

export const LATEST_SNAPSHOT_SQL = `
  SELECT id, computed_at, duration_ms, trigger, metrics
    FROM dashboard_snapshots
   ORDER BY computed_at DESC, id DESC
   LIMIT 1`;

export const INSERT_SNAPSHOT_SQL = `
  INSERT INTO dashboard_snapshots (computed_at, duration_ms, metrics, trigger)
  VALUES ($1::timestamptz, $2::int, $3::jsonb, $4::text)
  RETURNING id`;

/** Keeps the newest `$1` snapshots. */
export const PRUNE_SNAPSHOTS_SQL = `
  DELETE FROM dashboard_snapshots
   WHERE id IN (SELECT id FROM dashboard_snapshots ORDER BY computed_at DESC, id DESC OFFSET $1::int)`;
