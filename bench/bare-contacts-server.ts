/**
 * The baseline: a bare node:http server on `pg` that runs the very statements the API runs
 * for each benchmarked route (built by the same query functions, with totals kept and page
 * plans chosen by the same ListTotals and ListPlans), without the framework, authentication
 * or authorization around them.
 */
import { createServer } from 'node:http';
import { Pool } from 'pg';
import { buildAbility } from '../src/core/access/app-ability';
import { statementName } from '../src/database/pooled-sql';
import { compileSelection, contactOrder, listStatements, preparable, profileStatements } from '../src/modules/contacts/contacts.queries';
import { ContactLookupDirectory } from '../src/modules/contacts/contact-lookups';
import { toListItem } from '../src/modules/contacts/contacts.service';
import { ListPlans } from '../src/modules/contacts/list-plans';
import { ListTotals } from '../src/modules/contacts/list-totals';
import type { ContactQueryDto } from '../src/modules/contacts/dto/contact.dto';
import { queryToFilter } from '../src/modules/contacts/filters/query-to-filter';

const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_SIZE ?? 20) });
// The same rule a staff member's ability reduces to for reading contacts.
const ability = buildAbility([{ action: 'read', subject: 'Contact' }]);
const userId = process.env.BENCH_USER_ID ?? '';
const totals = new ListTotals(async (sql, params) => (await pool.query(sql, params)).rows);
const plans = new ListPlans();
/** Status, traffic source and tag names, kept as the API keeps them. */
const lookupDirectory = new ContactLookupDirectory(async (sql, params) => (await pool.query(sql, params)).rows);
/** Custom field definitions, read once: the API keeps them in memory too. */
const definitions = pool.query('SELECT * FROM custom_fields ORDER BY position, key').then((result) => result.rows);

/** A statement the API prepares is prepared here under the same name (as the API's PooledSql.prepared does). */
function prepared(sql: string, params: unknown[]) {
  return pool.query({ name: statementName(sql), text: sql, values: params });
}

async function list(query: ContactQueryDto): Promise<unknown> {
  const filter = queryToFilter(query, userId);
  const selection = compileSelection({ ability, action: 'read', filter }, []);
  const window = { limit: 25, offset: 0 };
  // Totals are kept and the page's plan chosen exactly as the API does.
  const order = contactOrder(undefined, []);
  const { total } = listStatements(selection, order, window);
  const [counted, tableRows] = await Promise.all([totals.count(total), totals.estimatedContacts()]);
  const planKey = ListPlans.key(total, order.sql, window.limit);
  const plan = await plans.pick(planKey, filter !== undefined, counted, tableRows, window.limit);
  const statements = listStatements(selection, order, window, plan);
  const rows = await plans.timed(planKey, plan, () => (preparable({}, window, plan) ? prepared(statements.rows.sql, statements.rows.params) : pool.query(statements.rows.sql, statements.rows.params)));
  const [checked, lookups] = await Promise.all([totals.checked(total, counted, { offset: 0, limit: window.limit, rows: rows.rows.length }), lookupDirectory.resolve(rows.rows)]);
  return { data: rows.rows.map((row) => toListItem(row, lookups)), meta: { page: 1, limit: 25, total: checked.total } };
}

async function profile(id: string): Promise<unknown> {
  const statements = profileStatements(id);
  const [[contact, services, account, activities, history], fields] = await Promise.all([
    Promise.all(Object.values(statements).map((statement) => prepared(statement.sql, statement.params))),
    definitions,
  ]);
  const lookups = await lookupDirectory.resolve(contact.rows);
  return { ...toListItem(contact.rows[0], lookups), services: services.rows, account: account.rows[0] ?? null, recentActivities: activities.rows, statusHistory: history.rows, fields: fields.length };
}

const server = createServer((request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const split = (name: string) => url.searchParams.get(name)?.split(',');
  const work = url.pathname.startsWith('/contacts/')
    ? profile(url.pathname.slice('/contacts/'.length))
    : list({ q: url.searchParams.get('q') ?? undefined, status: split('status'), tags: split('tags'), assignedTo: split('assignedTo') } as ContactQueryDto);
  work.then(
    (body) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    },
    (error: Error) => {
      response.writeHead(500);
      response.end(error.message);
    },
  );
});
server.listen(Number(process.env.PORT ?? 3299), '127.0.0.1', () => process.send?.('ready'));
process.on('SIGTERM', () => server.close(() => void pool.end().then(() => process.exit(0))));
