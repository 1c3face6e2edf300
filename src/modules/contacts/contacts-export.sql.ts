import { escapeLiteral } from 'pg';
import { CSV_CORE_COLUMNS, CsvCoreField, LIST_SEPARATOR } from './contacts.csv';

/**
 * The export as one SELECT whose rows are the CSV cells, so PostgreSQL can write the file with
 * COPY. Every cell is computed in SQL exactly as contacts.csv.ts computes it in JavaScript
 * (customValueToCell, neutraliseFormula), and an empty cell is NULL: COPY writes NULL as
 * nothing and an empty string as "", while the file has nothing for both.
 */

/** What the statement needs: the selection (placeholders $1…), its order and the custom columns. */
export interface ExportStatementPlan {
  where: string;
  params: unknown[];
  orderBy: string;
  customKeys: string[];
  /** The assignee's email (what imports match), or only the name lists show, for callers who may not read users. */
  assignee: 'email' | 'name';
}

/** The core cells over `c` and its joins; tags and services (`li`) come from their grouped joins. */
export const CORE_SQL: Record<CsvCoreField, string> = {
  firstName: 'c.first_name',
  lastName: 'c.last_name',
  email: 'c.email',
  phone: 'c.phone',
  company: 'c.company',
  jobTitle: 'c.job_title',
  addressLine1: 'c.address_line1',
  addressLine2: 'c.address_line2',
  city: 'c.city',
  region: 'c.region',
  postalCode: 'c.postal_code',
  country: 'c.country',
  status: 's.name',
  tags: 'li.tags',
  services: 'li.services',
  trafficSource: 'ts.name',
  assignedTo: 'a.email',
};

/** The assignee as lists show it, for callers whose rules keep users' emails from them. */
const ASSIGNEE_NAME_SQL = "nullif(btrim(a.first_name || ' ' || a.last_name), '')";

/** A core cell's SQL for this export (before neutralising). */
export function coreCellSql(field: CsvCoreField, plan: Pick<ExportStatementPlan, 'assignee'>): string {
  return field === 'assignedTo' && plan.assignee === 'name' ? ASSIGNEE_NAME_SQL : CORE_SQL[field];
}

const SEPARATOR = escapeLiteral(LIST_SEPARATOR);

/**
 * neutraliseFormula in SQL, on a cell computed once below it; '' becomes NULL (see above).
 * The first character is tested as a code point (= + - @ tab CR, or apostrophes before one):
 * integer tests, cheap per cell.
 */
export function neutraliseSql(cell: string): string {
  return `CASE WHEN ascii(${cell}) IN (61, 43, 45, 64, 9, 13) OR (ascii(${cell}) = 39 AND ascii(ltrim(${cell}, '''')) IN (61, 43, 45, 64, 9, 13)) THEN '''' || ${cell} ELSE NULLIF(${cell}, '') END`;
}

// Beyond these a double is ±Infinity or 0 (round half to even), as JSON.parse reads them.
const DOUBLE_OVERFLOW = (2n ** 1024n - 2n ** 970n).toString();
const DOUBLE_UNDERFLOW = `0.${(5n ** 1075n).toString().padStart(1075, '0')}`;

/**
 * String(number) for a JSON number (numeric `x`), as JavaScript prints the double JSON.parse
 * makes of it: PostgreSQL's shortest round-trip float8 text gives the digits (extra_float_digits
 * must be ≥ 1, the default), then JavaScript's layout: plain from 1e-6 up to 1e21, else d.ddde±x.
 */
export function jsNumberSql(x: string): string {
  const n = `(${x})::float8::text::numeric`;
  const a = `trim_scale(abs(${n}))::text`;
  // Digits without leading or trailing zeros, and the decimal exponent of the first one.
  const large = `abs(${n}) >= 1e21`;
  const digits = `CASE WHEN ${large} THEN rtrim(${a}, '0') ELSE ltrim(substr(${a}, 3), '0') END`;
  const exponent = `CASE WHEN ${large} THEN length(${a}) - 1 ELSE length(ltrim(substr(${a}, 3), '0')) - length(substr(${a}, 3)) - 1 END`;
  const scientific =
    `CASE WHEN ${n} < 0 THEN '-' ELSE '' END || left(${digits}, 1) || CASE WHEN length(${digits}) > 1 THEN '.' || substr(${digits}, 2) ELSE '' END` +
    ` || 'e' || CASE WHEN ${exponent} >= 0 THEN '+' ELSE '-' END || abs(${exponent})::text`;
  // Up to 15 significant digits a decimal is the shortest text of its double (DBL_DIG), so the
  // stored text without trailing zeros is JavaScript's, within the plain range: the common case.
  const plain = `trim_scale(${x})::text`;
  return `CASE WHEN length(${plain}) <= 15 AND (${x} = 0 OR abs(${x}) >= 1e-6) THEN ${plain}
    WHEN abs(${x}) >= ${DOUBLE_OVERFLOW} THEN CASE WHEN ${x} < 0 THEN '-Infinity' ELSE 'Infinity' END
    WHEN abs(${x}) <= ${DOUBLE_UNDERFLOW} THEN '0'
    WHEN abs(${n}) >= 1e-6 AND abs(${n}) < 1e21 THEN trim_scale(${n})::text
    ELSE ${scientific} END`;
}

/** Arrays nested this deep inside a value are written as their JSON text (no field type stores them). */
const MAX_ARRAY_DEPTH = 3;

/**
 * String(value) in SQL for a jsonb value `v` (NULL when absent); arrays join with `separator`
 * like Array#join. With `finished`, the cell as the file has it: neutralised, NULL when empty,
 * each branch referring to its text once or cheaply (a wrapping neutralisation would compute it
 * three times, and a subquery per row to avoid that costs more than the cell).
 */
function jsStringSql(value: string, separator: string, depth: number, finished = false): string {
  const v = `(${value})`;
  const element = `e${depth}`;
  const index = `i${depth}`;
  const array =
    depth >= MAX_ARRAY_DEPTH
      ? `${v}::text`
      : `(SELECT string_agg(COALESCE(${jsStringSql(element, "','", depth + 1)}, ''), ${separator} ORDER BY ${index}) FROM jsonb_array_elements(${v}) WITH ORDINALITY AS l${depth} (${element}, ${index}))`;
  const number = jsNumberSql(`${v}::numeric`);
  if (!finished) {
    return `CASE jsonb_typeof(${v})
    WHEN 'string' THEN ${v} #>> '{}'
    WHEN 'number' THEN ${number}
    WHEN 'boolean' THEN ${v}::text
    WHEN 'array' THEN ${array}
    WHEN 'object' THEN '[object Object]' END`;
  }
  // A number's text starts with "-" exactly when it is negative and not read as 0.
  return `CASE jsonb_typeof(${v})
    WHEN 'string' THEN ${neutraliseSql(`(${v} #>> '{}')`)}
    WHEN 'number' THEN CASE WHEN ${v}::numeric < 0 AND abs(${v}::numeric) > ${DOUBLE_UNDERFLOW} THEN '''' ELSE '' END || ${number}
    WHEN 'boolean' THEN ${v}::text
    WHEN 'array' THEN NULLIF(regexp_replace(${array}, E'^(''*[-=+@\\t\\r])', '''\\1'), '')
    WHEN 'object' THEN '[object Object]' END`;
}

/** customValueToCell in SQL for the jsonb value `v`; '' or NULL where it gives ''. */
export function customCellSql(v: string): string {
  return jsStringSql(v, SEPARATOR, 0);
}

/** The file's cell for the jsonb value `v`: neutraliseFormula(customValueToCell(v)), NULL when empty. */
export function customFinishedCellSql(v: string): string {
  return jsStringSql(v, SEPARATOR, 0, true);
}

/** A parameter's text as node-postgres sends it: arrays as array literals, objects as JSON. */
function parameterText(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const items = value.map((item) => {
      if (Array.isArray(item)) return parameterText(item)!;
      const text = parameterText(item);
      return text === null ? 'NULL' : `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    });
    return `{${items.join(',')}}`;
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A value as a SQL literal, quoted by the driver's own escaping. */
export function sqlLiteral(value: unknown): string {
  const text = parameterText(value);
  return text === null ? 'NULL' : escapeLiteral(text);
}

/**
 * Puts the parameters into the statement as literals (COPY takes no parameters). A literal,
 * like an untyped parameter, takes its type from where it stands, so the statement means the
 * same. Placeholders are only replaced outside quoted literals and identifiers.
 */
export function inlineParams(sql: string, params: unknown[]): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i]!;
    if (ch === "'" || ch === '"') {
      let end = i + 1;
      for (;;) {
        end = sql.indexOf(ch, end);
        if (end === -1) throw new Error('Unterminated quote in SQL');
        if (sql[end + 1] === ch) end += 2;
        else break;
      }
      out += sql.slice(i, end + 1);
      i = end + 1;
      continue;
    }
    const placeholder = ch === '$' ? /^\$(\d+)/.exec(sql.slice(i, i + 12)) : null;
    if (placeholder) {
      const index = Number(placeholder[1]) - 1;
      if (index < 0 || index >= params.length) throw new Error(`No parameter for $${index + 1}`);
      out += sqlLiteral(params[index]);
      i += placeholder[0].length;
      continue;
    }
    out += ch;
    i += 1;
  }
  return out;
}

/**
 * Tags and services per contact, in one pass over both link tables and one join: a lookup per
 * contact costs more than aggregating the whole tables once. The names reach the aggregate
 * already in order (one sort for all), much cheaper than a sort per contact.
 */
const LISTS_JOIN = `LEFT JOIN (
    SELECT o.contact_id, string_agg(o.name, ${SEPARATOR}) FILTER (WHERE o.list = 1) AS tags, string_agg(o.name, ${SEPARATOR}) FILTER (WHERE o.list = 2) AS services
      FROM (SELECT l.contact_id, 1 AS list, x.name, x.name_key FROM contact_tags l JOIN tags x ON x.id = l.tag_id
            UNION ALL
            SELECT l.contact_id, 2 AS list, x.name, x.name_key FROM contact_services l JOIN services x ON x.id = l.service_id
            ORDER BY 1, 2, 4) o
     GROUP BY o.contact_id) li ON li.contact_id = c.id`;

/**
 * The SELECT whose rows are the file's records, in the export order: one level, ordered at the
 * top so the planner optimises for the whole result.
 */
export function exportSelectSql(plan: ExportStatementPlan): string {
  const cells = [
    ...CSV_CORE_COLUMNS.map((column) => neutraliseSql(coreCellSql(column.field, plan))),
    ...plan.customKeys.map((key) => customFinishedCellSql(`c.custom_fields -> ${escapeLiteral(key)}`)),
  ];
  return `SELECT ${cells.join(',\n  ')}
  FROM contacts c
  LEFT JOIN contact_statuses s ON s.id = c.status_id
  LEFT JOIN traffic_sources ts ON ts.id = c.traffic_source_id
  LEFT JOIN users a ON a.id = c.assigned_to_id
  ${LISTS_JOIN}
  WHERE ${inlineParams(plan.where, plan.params)}
  ORDER BY ${plan.orderBy}`;
}
