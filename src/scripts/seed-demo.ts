import 'reflect-metadata';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { DataSource, DataSourceOptions, QueryRunner } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { validateEnvironment } from '../config/environment';
import { SYSTEM_ROLES } from '../core/identity/system-roles';
import { dataSourceOptions } from '../database/data-source-options';
import { PGlitePool } from '../database/pglite/pglite-pool';
import { runPendingMigrations } from '../database/run-migrations';
import { isStartupRefusal } from '../startup-errors';
import { titleCase } from '../modules/contacts/contacts.naming';
import { STARTER_SERVICES, STARTER_STATUSES, STARTER_TRAFFIC_SOURCES } from '../modules/contacts/contacts.starter-data';

/**
 * Fills a database with realistic demo data: staff users, tags, contacts with their tags,
 * services, activities and status history, all generated set-based inside the database.
 *
 *   npm run seed:demo -- --contacts 1000000 [--activities-per-contact 5] [--status-changes-per-contact 1]
 *                        [--staff 20] [--tags 50] [--seed 42] [--jobs 2] [--yes]
 *
 * Every value derives from (seed, contact number) through hashint8extended(), so the same
 * seed and sizes give the same data (ids and absolute dates aside: they follow the run time)
 * whatever the number of parallel sessions or the order in which statements finish.
 */

const MAX_EXISTING_CONTACTS = 1000;

const USAGE = `Usage: npm run seed:demo -- --contacts N [options]

  --contacts N                    demo contacts to create (required)
  --activities-per-contact N      average activities per contact, each gets 0..2N (default 5)
  --status-changes-per-contact N  earlier status transitions per contact, at most 3 apply (default 1)
  --staff N                       staff users the contacts are assigned to (default 20)
  --tags N                        tags to create and use (default 50)
  --seed N                        seed; the same seed gives the same data (default 42)
  --jobs N                        parallel database sessions on PostgreSQL (default: CPU count, at most 4)
  --per-row-checks                keep per-row foreign-key checks even where they could be skipped (slower)
  --yes                           also run when the database already has more than ${MAX_EXISTING_CONTACTS} contacts

The database is the application's: DATABASE_URL (PostgreSQL) or the embedded one in DATA_DIR.`;

const DEMO_DOMAIN = 'demo.maestro.test';
const SPAN_SECONDS = 3 * 365.25 * 86400;
/** Largest per-contact child number encoded in child keys (activity j, history step k). */
const CHILD_SLOTS = 4096;
const CONTACT_BATCH = 200_000;
/** Activities per statement: each is sorted by date in memory, so the embedded database gets smaller ones. */
const ACTIVITY_ROWS_PER_STATEMENT = { postgres: 1_000_000, pglite: 200_000 };
/** Advisory lock held while seeding (any constant distinct from the migration lock). */
const SEED_LOCK_KEY = 7_316_482_114;

class UsageError extends Error {}
/** A statement of the load failed (or was cancelled); earlier statements stay committed. */
class LoadError extends Error {}

interface SeedOptions {
  contacts: number;
  activitiesPerContact: number;
  statusChangesPerContact: number;
  staff: number;
  tags: number;
  seed: number;
  jobs: number;
  perRowChecks: boolean;
  yes: boolean;
}

const INTEGER_OPTIONS: Record<string, { key: keyof SeedOptions; min: number; max: number }> = {
  contacts: { key: 'contacts', min: 1, max: 100_000_000 },
  'activities-per-contact': { key: 'activitiesPerContact', min: 0, max: (CHILD_SLOTS - 1) / 2 },
  'status-changes-per-contact': { key: 'statusChangesPerContact', min: 0, max: 1000 },
  staff: { key: 'staff', min: 1, max: 10_000 },
  tags: { key: 'tags', min: 0, max: 10_000 },
  seed: { key: 'seed', min: 0, max: 2_147_483_647 },
  jobs: { key: 'jobs', min: 1, max: 16 },
};

function parseArguments(argv: string[]): SeedOptions | 'help' {
  const options: SeedOptions = {
    contacts: NaN,
    activitiesPerContact: 5,
    statusChangesPerContact: 1,
    staff: 20,
    tags: 50,
    seed: 42,
    jobs: Math.min(4, availableParallelism()),
    perRowChecks: false,
    yes: false,
  };
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!;
    if (argument === '--help' || argument === '-h') return 'help';
    if (argument === '--yes' || argument === '-y') {
      options.yes = true;
      continue;
    }
    if (argument === '--per-row-checks') {
      options.perRowChecks = true;
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(argument);
    const spec = match ? INTEGER_OPTIONS[match[1]!] : undefined;
    if (!match || !spec) throw new UsageError(`Unknown argument "${argument}"`);
    const raw = match[2] ?? argv[(index += 1)];
    if (raw === undefined) throw new UsageError(`--${match[1]} needs a value`);
    const value = /^\d+$/.test(raw.replace(/_/g, '')) ? Number(raw.replace(/_/g, '')) : NaN;
    if (!Number.isSafeInteger(value) || value < spec.min || value > spec.max) {
      throw new UsageError(`--${match[1]} must be a whole number between ${spec.min} and ${spec.max} (got "${raw}")`);
    }
    (options[spec.key] as number) = value;
  }
  if (Number.isNaN(options.contacts)) throw new UsageError('--contacts is required');
  return options;
}

// ---------------------------------------------------------------------------------------------
// Word lists. Display names may carry accents; e-mail addresses use the ASCII slug.

const FIRST_NAMES = `James Mary John Patricia Robert Jennifer Michael Linda William Elizabeth David Barbara Richard Susan
  Joseph Jessica Thomas Sarah Charles Karen Christopher Nancy Daniel Lisa Matthew Margaret Anthony Betty Mark Sandra Paul
  Ashley Steven Emily Andrew Donna Joshua Michelle Kevin Carol Brian Amanda George Melissa Timothy Deborah Ryan Stephanie
  Jacob Rebecca Nicholas Laura Eric Sharon Jonathan Kathleen Olivia Emma Ava Sophia Isabella Mia Charlotte Amelia Harper
  Liam Noah Oliver Elijah Lucas Mateo Ethan Aiden Sebastian Leo Chloé Léa Manon Camille Hugo Louis Jules Élodie Zoë Anna
  Lukas Jonas Leon Finn Sofia Marie Hannah Lena Emil Giulia Francesca Alessandro Lorenzo Matteo Chiara Sofía Lucía Martina
  Alejandro Javier Diego Carmen José María João Inês Tiago Beatriz Sven Astrid Freya Lars Ingrid Björn Aarav Priya Ananya
  Rohan Arjun Aisha Omar Fatima Yusuf Layla Wei Mei Hiroshi Yuki Haruto Sakura Min-jun Seo-yeon Kwame Amara Chinedu Zanele
  Thabo Siobhán Niamh Seán Aoife Ciarán Dmitri Olga Katarzyna Piotr Agnieszka Mateusz Tomás Ana Pedro`.split(/\s+/);

const LAST_NAMES = `Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson
  Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis Robinson Walker
  Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter
  Roberts Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Hoffmann Schäfer Bernard Dubois Petit Durand Leroy
  Moreau Lefèvre Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Fernández Silva Santos Oliveira Pereira Costa
  Ferreira Almeida Jansen de_Vries van_Dijk Bakker Visser Smit Andersson Johansson Karlsson Nilsson Eriksson Larsen Hansen
  Nielsen Kowalski Nowak Wiśniewski Novák Horváth O'Brien O'Connor Murphy Kelly Byrne Walsh McCarthy MacDonald Patel
  Sharma Singh Kumar Gupta Khan Ali Hussain Tanaka Suzuki Takahashi Watanabe Sato Kim Park Choi Wang Li Zhang Liu Chen
  Okafor Mensah Nkosi Dlamini Haddad Cohen Levi Ivanov Petrov Popescu Papadopoulos Yilmaz Kaya`
  .split(/\s+/)
  .map((name) => name.replace(/_/g, ' '));

const COMPANY_STEMS = `Northwind Contoso Fabrikam Blue_Harbor Summit Evergreen Ironwood Silverline Brightpath Redwood Lumen Apex
  Horizon Granite Maple_Leaf Harbor_Point Riverbend Skyline Oakridge Pinnacle Vertex Nimbus Quantum Atlas Beacon Cobalt
  Falcon Meridian Orion Polaris Sterling Willow Zenith Sunrise Westbrook Keystone Trident Aurora Crescent Juniper`
  .split(/\s+/)
  .map((name) => name.replace(/_/g, ' '));

const COMPANY_SUFFIXES = `Consulting Logistics Labs Analytics Solutions Partners Group Holdings Software Health Foods Design
  Media Energy Capital Construction Retail Studios Systems Travel`.split(/\s+/);

const JOB_TITLES = [
  'CEO', 'CTO', 'CFO', 'COO', 'Founder', 'Co-founder', 'Managing Director', 'Head of Sales', 'Sales Manager',
  'Account Executive', 'Marketing Manager', 'Head of Marketing', 'Product Manager', 'Project Manager',
  'Operations Manager', 'Office Manager', 'Procurement Lead', 'IT Manager', 'Software Engineer', 'Engineering Manager',
  'HR Manager', 'Finance Director', 'Accountant', 'Consultant', 'Business Analyst', 'Customer Success Manager',
  'Designer', 'Owner', 'Purchasing Manager', 'VP of Sales',
];

const STREETS = 'Main Oak Maple Cedar Elm High Station Church Park Mill King Queen River Lake Hill Market Bridge Victoria Garden Spring'.split(' ');
const STREET_KINDS = 'Street Avenue Road Lane Boulevard Way Drive Place'.split(' ');

/** City, region, country, calling code; earlier rows are picked more often. */
const CITIES: Array<[string, string, string, string]> = [
  ['New York', 'NY', 'United States', '1'], ['London', 'England', 'United Kingdom', '44'],
  ['Los Angeles', 'CA', 'United States', '1'], ['Toronto', 'Ontario', 'Canada', '1'],
  ['Chicago', 'IL', 'United States', '1'], ['Berlin', 'Berlin', 'Germany', '49'],
  ['Paris', 'Île-de-France', 'France', '33'], ['Sydney', 'New South Wales', 'Australia', '61'],
  ['Austin', 'TX', 'United States', '1'], ['Manchester', 'England', 'United Kingdom', '44'],
  ['Amsterdam', 'North Holland', 'Netherlands', '31'], ['Madrid', 'Madrid', 'Spain', '34'],
  ['Seattle', 'WA', 'United States', '1'], ['Dublin', 'Leinster', 'Ireland', '353'],
  ['Munich', 'Bavaria', 'Germany', '49'], ['Boston', 'MA', 'United States', '1'],
  ['Vancouver', 'British Columbia', 'Canada', '1'], ['Barcelona', 'Catalonia', 'Spain', '34'],
  ['Milan', 'Lombardy', 'Italy', '39'], ['Stockholm', 'Stockholm', 'Sweden', '46'],
  ['Melbourne', 'Victoria', 'Australia', '61'], ['Denver', 'CO', 'United States', '1'],
  ['Lyon', 'Auvergne-Rhône-Alpes', 'France', '33'], ['Zürich', 'Zürich', 'Switzerland', '41'],
  ['Lisbon', 'Lisbon', 'Portugal', '351'], ['Edinburgh', 'Scotland', 'United Kingdom', '44'],
  ['Montréal', 'Quebec', 'Canada', '1'], ['Hamburg', 'Hamburg', 'Germany', '49'],
  ['Rome', 'Lazio', 'Italy', '39'], ['Vienna', 'Vienna', 'Austria', '43'],
  ['Copenhagen', 'Capital Region', 'Denmark', '45'], ['Oslo', 'Oslo', 'Norway', '47'],
  ['Helsinki', 'Uusimaa', 'Finland', '358'], ['Brussels', 'Brussels', 'Belgium', '32'],
  ['Rotterdam', 'South Holland', 'Netherlands', '31'], ['Warsaw', 'Masovia', 'Poland', '48'],
  ['Prague', 'Prague', 'Czechia', '420'], ['Singapore', 'Singapore', 'Singapore', '65'],
  ['Tokyo', 'Tokyo', 'Japan', '81'], ['Mumbai', 'Maharashtra', 'India', '91'],
  ['Bangalore', 'Karnataka', 'India', '91'], ['São Paulo', 'São Paulo', 'Brazil', '55'],
  ['Mexico City', 'CDMX', 'Mexico', '52'], ['Buenos Aires', 'Buenos Aires', 'Argentina', '54'],
  ['Auckland', 'Auckland', 'New Zealand', '64'], ['Cape Town', 'Western Cape', 'South Africa', '27'],
  ['Nairobi', 'Nairobi', 'Kenya', '254'], ['Dubai', 'Dubai', 'United Arab Emirates', '971'],
  ['Tel Aviv', 'Tel Aviv', 'Israel', '972'], ['Seoul', 'Seoul', 'South Korea', '82'],
];

const ACTIVITY_TYPES = ['call', 'email', 'meeting', 'note', 'sms', 'task'] as const;
/** Share of each type above, in the same order. */
const ACTIVITY_TYPE_SHARES = [0.25, 0.3, 0.1, 0.2, 0.05, 0.1];
/** Six subjects per type, in ACTIVITY_TYPES order; {name} is the contact's first name. */
const ACTIVITY_SUBJECTS = [
  'Intro call with {name}', 'Follow-up call', 'Discovery call', 'Pricing discussion', 'Check-in call', 'Left a voicemail',
  'Sent proposal', 'Re: your enquiry', 'Welcome email', 'Quote follow-up', 'Reply to newsletter', 'Invoice sent',
  'Meeting with {name}', 'Product demo', 'Quarterly review', 'Onboarding session', 'Contract negotiation', 'Site visit',
  'Budget confirmed', 'Decision maker identified', 'Interested in premium plan', 'Competitor mentioned', 'Internal note', 'Asked for references',
  'Appointment reminder', 'Thanks for your time', 'Quick question', 'Running ten minutes late', 'Confirmed meeting time', 'Shared a link',
  'Send contract to {name}', 'Prepare quote', 'Schedule demo', 'Update contact details', 'Follow up next week', 'Send case studies',
];
const ACTIVITY_BODIES = [
  'Discussed requirements and next steps.', 'Will follow up after their internal review.', 'Interested, asked for a detailed quote.',
  'Not the right time; revisit next quarter.', 'Agreed on a trial period.', 'Sent pricing and two case studies.',
  'They are comparing us with two other vendors.', 'Positive conversation, strong fit.', 'Needs approval from finance.',
  'Requested a call back on Friday.', 'Happy with the service so far.', 'Raised a support question, resolved on the call.',
  'Asked about volume discounts.', 'Introduced us to their operations lead.', 'No answer; will try again.',
];

const TAG_NAMES = [
  'VIP', 'Newsletter', 'Hot lead', 'Warm lead', 'Cold lead', 'Decision maker', 'Partner', 'Reseller', 'Enterprise', 'SMB',
  'Startup', 'Nonprofit', 'Government', 'Education', 'Healthcare', 'Retail', 'Manufacturing', 'Finance', 'Real estate',
  'Hospitality', 'Trial', 'Churn risk', 'Upsell', 'Renewal due', 'Referral partner', 'Event attendee', 'Webinar',
  'Trade show', 'Local', 'International', 'Key account', 'Influencer', 'Press', 'Investor', 'Supplier', 'Former customer',
  'Do not call', 'Needs follow-up', 'High value', 'Low priority', 'Beta tester', 'Ambassador', 'Early adopter',
  'Long term', 'Seasonal', 'Spanish speaking', 'French speaking', 'German speaking', 'Onboarding', 'Support plan',
];
const TAG_REGIONS = ['North', 'South', 'East', 'West', 'Central', 'Coastal', 'Metro', 'Rural'];
const TAG_COLORS = ['#e53935', '#8e24aa', '#3949ab', '#039be5', '#00897b', '#7cb342', '#fdd835', '#fb8c00', '#6d4c41', '#546e7a'];

function asciiSlug(name: string): string {
  return name.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** T distinct Title Cased tag names: the list above, then regional variants, then numbered ones. */
function tagNames(count: number): string[] {
  const names = TAG_NAMES.map(titleCase);
  for (const region of TAG_REGIONS) for (const base of TAG_NAMES) names.push(titleCase(`${region} ${base}`));
  for (let n = 1; names.length < count; n += 1) names.push(`Segment ${n}`);
  return names.slice(0, count);
}

/** A small seeded generator for the few values picked in JavaScript (staff names). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// SQL generation

/** Positional parameters for one statement. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast: string): string {
    this.values.push(value);
    return `($${this.values.length}::${cast})`;
  }
}

/** Independent salts for every random choice, so changing one does not shift the others. */
const enum Salt {
  FirstName = 1, LastName, Age, Status, StatusPath, Assigned, AssignedStaff, TrafficSource, TrafficPick, Company,
  CompanyStem, CompanySuffix, JobTitle, HasJob, Phone1, Phone2, HasPhone, HasAddress, StreetNumber, Street, StreetKind,
  HasLine2, Line2, City, HasCity, Postal, TagCount, TagStart, TagStep, ServiceCount, ServiceStart, ActivityCount,
  ActivityTime, LatestActivity, ActivityType, ActivitySubject, ActivityBody, HasBody, ActivityAuthor, ActivityStaff, Visible, ChangeTime,
}

/** The values one run shares between its statements. */
interface RunContext {
  options: SeedOptions;
  /** Demo numbers already used by earlier runs: contact i gets e-mail number offset + i. */
  emailOffset: number;
  /** Run start: nothing is dated after it. */
  now: string;
  /** 20 hex digits: UUIDv7 time of the run, version, kind, variant. Row keys fill the last 12. */
  idPrefix: { contact: string; activity: string; history: string };
  statusIds: [string, string, string, string];
  /** Their stages, which status history keeps as they were at each change. */
  statusStages: string[];
  staffIds: string[];
  tagIds: string[];
  serviceIds: string[];
  trafficSourceIds: string[];
}

function idPrefixes(startedAt: number): RunContext['idPrefix'] {
  const time = startedAt.toString(16).padStart(12, '0');
  const run = Math.floor(Math.random() * 0xfff).toString(16).padStart(3, '0');
  const prefix = (kind: number) => `${time}7${kind.toString(16).padStart(3, '0')}8${run}`;
  return { contact: prefix(1), activity: prefix(2), history: prefix(3) };
}

class Generator {
  constructor(private readonly run: RunContext) {}

  private get o(): SeedOptions {
    return this.run.options;
  }

  /** Uniform in [0, 1) from (seed, salt, key). */
  u(salt: Salt, key = 'g.i'): string {
    return `((hashint8extended(${key}, ${this.o.seed * 1000 + salt}) & 9007199254740991)::float8 / 9007199254740992)`;
  }

  /** Non-negative integer from (seed, salt, key). */
  h(salt: Salt, key = 'g.i'): string {
    return `(hashint8extended(${key}, ${this.o.seed * 1000 + salt}) & 2147483647)`;
  }

  /** A 1-based index into a list of `length`; skew > 1 favours the front of the list. */
  pick(length: number, salt: Salt, key = 'g.i', skew = 1): string {
    const u = skew === 1 ? this.u(salt, key) : `power(${this.u(salt, key)}, ${skew})`;
    return `(1 + floor(${u} * ${length})::int)`;
  }

  /** Sequential UUIDv7 ids: a run's rows append to the primary-key index instead of splitting pages all over it. */
  id(kind: keyof RunContext['idPrefix'], key: string): string {
    return `('${this.run.idPrefix[kind]}' || lpad(to_hex(${key}), 12, '0'))::uuid`;
  }

  /** A moment `fraction` of the way from the contact's creation to the run start. */
  private at(now: string, fraction: string): string {
    return `${now} - (c.age * (1 - ${fraction})) * interval '1 second'`;
  }

  private createdAt(now: string): string {
    return `${now} - c.age * interval '1 second'`;
  }

  /**
   * Per-contact values every statement derives identically, plus `extra` columns.
   *
   * Contact numbers run from the newest contact (1) to the oldest: created_at falls as the
   * number rises, so the indexes that lead with created_at are appended to, not split at
   * random. OFFSET 0 keeps the subquery from being flattened into the caller, which would
   * evaluate every expression again for each reference to it.
   *
   * An activity count n and the latest activity's position `latest` (the maximum of n
   * uniform draws, drawn directly as u^(1/n)) give contacts.last_contacted_at without
   * looking at the activities; the activities place their last row exactly there.
   */
  private contactSource(from: number, to: number, extra: Record<string, string> = {}): string {
    const o = this.o;
    const activityCount = `floor(${this.u(Salt.ActivityCount)} * ${2 * o.activitiesPerContact + 1})::int`;
    const columns = {
      cid: this.id('contact', 'g.i'),
      fi: this.pick(FIRST_NAMES.length, Salt.FirstName),
      li: this.pick(LAST_NAMES.length, Salt.LastName),
      age: `${SPAN_SECONDS} * power((g.i - 1 + ${this.u(Salt.Age)}) / ${o.contacts}, 1.4)`,
      st: `1 + width_bucket(${this.u(Salt.Status)}, '{0.50,0.75,0.94,0.99}'::float8[])`,
      assigned: `${this.u(Salt.Assigned)} < 0.7`,
      si: this.pick(this.run.staffIds.length, Salt.AssignedStaff, 'g.i', 1.3),
      nact: activityCount,
      latest: `power(${this.u(Salt.LatestActivity)}, 1.0 / greatest(${activityCount}, 1))`,
      ...extra,
    };
    return `(SELECT g.i, ${Object.entries(columns).map(([name, sql]) => `${sql} AS ${name}`).join(',\n        ')}
      FROM generate_series(${from}::int8, ${to}::int8) AS g(i) OFFSET 0) AS c`;
  }

  contacts(from: number, to: number): { sql: string; params: unknown[] } {
    const p = new Params();
    const run = this.run;
    const now = p.add(run.now, 'timestamptz');
    const list = (values: readonly string[]) => p.add(values, 'text[]');
    const [first, firstSlug, last, lastSlug] = [list(FIRST_NAMES), list(FIRST_NAMES.map(asciiSlug)), list(LAST_NAMES), list(LAST_NAMES.map(asciiSlug))];
    const [stems, suffixes, titles, streets, kinds] = [list(COMPANY_STEMS), list(COMPANY_SUFFIXES), list(JOB_TITLES), list(STREETS), list(STREET_KINDS)];
    const [cities, regions, countries, codes] = [0, 1, 2, 3].map((column) => list(CITIES.map((city) => city[column]!)));
    const statuses = p.add(run.statusIds, 'uuid[]');
    const staff = p.add(run.staffIds, 'uuid[]');
    const sources = p.add(run.trafficSourceIds, 'uuid[]');
    const source = this.contactSource(from, to, {
      city: this.pick(CITIES.length, Salt.City, 'g.i', 1.6),
      has_city: `${this.u(Salt.HasCity)} < 0.85`,
      has_address: `${this.u(Salt.HasAddress)} < 0.6`,
      line2: `CASE WHEN ${this.u(Salt.HasLine2)} < 0.15 THEN ${this.h(Salt.Line2)} END`,
      phone: `CASE WHEN ${this.u(Salt.HasPhone)} < 0.9 THEN (100 + ${this.h(Salt.Phone1)} % 900) || ' ' || lpad((${this.h(Salt.Phone2)} % 10000000)::text, 7, '0') END`,
      company: `CASE WHEN ${this.u(Salt.Company)} < 0.75 THEN ${stems}[${this.pick(COMPANY_STEMS.length, Salt.CompanyStem)}] || ' ' || ${suffixes}[${this.pick(COMPANY_SUFFIXES.length, Salt.CompanySuffix)}] END`,
      job_title: `CASE WHEN ${this.u(Salt.HasJob)} < 0.6 THEN ${titles}[${this.pick(JOB_TITLES.length, Salt.JobTitle, 'g.i', 1.5)}] END`,
      street: `(1 + ${this.h(Salt.StreetNumber)} % 400) || ' ' || ${streets}[${this.pick(STREETS.length, Salt.Street)}] || ' ' || ${kinds}[${this.pick(STREET_KINDS.length, Salt.StreetKind)}]`,
      postal: `lpad((${this.h(Salt.Postal)} % 100000)::text, 5, '0')`,
      traffic_source: `CASE WHEN ${this.u(Salt.TrafficSource)} < 0.8 THEN ${this.pick(run.trafficSourceIds.length, Salt.TrafficPick, 'g.i', 1.5)} END`,
    });
    const sql = `
      INSERT INTO contacts (id, first_name, last_name, email, phone, status_id, company, job_title,
                            address_line1, address_line2, city, region, postal_code, country,
                            assigned_to_id, traffic_source_id, created_by_id, last_contacted_at, created_at, updated_at)
      SELECT
        c.cid,
        ${first}[c.fi],
        ${last}[c.li],
        ${firstSlug}[c.fi] || '.' || ${lastSlug}[c.li] || '.' || (c.i + ${run.emailOffset}) || '@${DEMO_DOMAIN}',
        '+' || ${codes}[c.city] || ' ' || c.phone,
        ${statuses}[c.st],
        c.company,
        c.job_title,
        CASE WHEN c.has_address THEN c.street END,
        CASE WHEN c.has_address THEN (ARRAY['Suite ', 'Apt ', 'Floor ', 'Unit '])[1 + c.line2 % 4] || (1 + c.line2 % 120) END,
        CASE WHEN c.has_city THEN ${cities}[c.city] END,
        CASE WHEN c.has_city THEN ${regions}[c.city] END,
        CASE WHEN c.has_address THEN c.postal END,
        CASE WHEN c.has_city THEN ${countries}[c.city] END,
        CASE WHEN c.assigned THEN ${staff}[c.si] END,
        ${sources}[c.traffic_source],
        CASE WHEN c.assigned THEN ${staff}[c.si] END,
        CASE WHEN c.nact > 0 THEN ${this.at(now, 'c.latest')} END,
        ${this.createdAt(now)},
        ${this.createdAt(now)}
      FROM ${source}`;
    return { sql, params: p.values };
  }

  /**
   * 0..2N activities per contact, dated between its creation and the run start. Rows go in
   * in date order, numbered in that order, so the date-led indexes (occurred_at, author)
   * and the primary key are filled front to back instead of at random places.
   */
  activities(from: number, to: number): { sql: string; params: unknown[] } {
    const p = new Params();
    const now = p.add(this.run.now, 'timestamptz');
    const first = p.add(FIRST_NAMES, 'text[]');
    const types = p.add(ACTIVITY_TYPES, 'text[]');
    const subjects = p.add(ACTIVITY_SUBJECTS, 'text[]');
    const bodies = p.add(ACTIVITY_BODIES, 'text[]');
    const staff = p.add(this.run.staffIds, 'uuid[]');
    const key = `(c.i * ${CHILD_SLOTS} + j.j)`;
    let cumulative = 0;
    const typeBounds = ACTIVITY_TYPE_SHARES.slice(0, -1).map((share) => (cumulative += share).toFixed(4));
    const named = ACTIVITY_SUBJECTS.flatMap((subject, index) => (subject.includes('{name}') ? [index + 1] : []));
    // Keys of a batch stay below those of the next: at most 2N < CHILD_SLOTS activities per contact.
    const id = this.id('activity', `${(from - 1) * CHILD_SLOTS} + row_number() OVER (ORDER BY a.occurred_at, a.k)`);
    const sql = `
      INSERT INTO activities (id, contact_id, type, subject, body, occurred_at, author_id, visible_to_client, created_at, updated_at)
      SELECT ${id}, a.contact_id, ${types}[a.t],
             CASE WHEN a.subject = ANY ('{${named.join(',')}}'::int[]) THEN replace(${subjects}[a.subject], '{name}', ${first}[a.fi]) ELSE ${subjects}[a.subject] END,
             CASE WHEN a.has_body THEN ${bodies}[a.body] ELSE '' END,
             a.occurred_at, a.author_id, a.t IN (2, 3) AND a.visible, a.occurred_at, a.occurred_at
      FROM (
        SELECT
          ${key} AS k,
          c.cid AS contact_id,
          c.fi,
          t.t,
          (t.t - 1) * 6 + ${this.pick(6, Salt.ActivitySubject, key)} AS subject,
          ${this.u(Salt.HasBody, key)} < 0.6 AS has_body,
          ${this.pick(ACTIVITY_BODIES.length, Salt.ActivityBody, key)} AS body,
          -- The last activity sits exactly at c.latest (see contactSource); the others before it.
          ${this.at(now, `CASE WHEN j.j = c.nact THEN c.latest ELSE c.latest * ${this.u(Salt.ActivityTime, key)} END`)} AS occurred_at,
          CASE WHEN c.assigned AND ${this.u(Salt.ActivityAuthor, key)} < 0.85 THEN ${staff}[c.si]
               ELSE ${staff}[${this.pick(this.run.staffIds.length, Salt.ActivityStaff, key)}] END AS author_id,
          ${this.u(Salt.Visible, key)} < 0.25 AS visible
        FROM ${this.contactSource(from, to)}
        CROSS JOIN LATERAL generate_series(1, c.nact) AS j(j)
        CROSS JOIN LATERAL (SELECT 1 + width_bucket(${this.u(Salt.ActivityType, key)}, '{${typeBounds.join(',')}}'::float8[]) AS t) AS t
      ) AS a
      ORDER BY a.occurred_at, a.k`;
    return { sql, params: p.values };
  }

  /**
   * The full status path per current status (1 lead, 2 prospect, 3 customer, 4 inactive,
   * 5 none), of which the last changes+1 steps are kept: the first kept step is the creation
   * row (from NULL), each later one a transition dated between creation and the run start.
   */
  statusHistory(from: number, to: number): { sql: string; params: unknown[] } {
    const p = new Params();
    const now = p.add(this.run.now, 'timestamptz');
    const statuses = p.add(this.run.statusIds, 'uuid[]');
    const stages = p.add(this.run.statusStages, 'text[]');
    const staff = p.add(this.run.staffIds, 'uuid[]');
    const keep = Math.min(this.o.statusChangesPerContact, 3) + 1;
    const stepKey = `(c.i * ${CHILD_SLOTS} + s.k)`;
    const source = this.contactSource(from, to, { path: this.u(Salt.StatusPath) });
    const sql = `
      INSERT INTO contact_status_history (id, contact_id, from_status_id, to_status_id, from_status_stage, to_status_stage, changed_at, changed_by_id, source)
      SELECT
        ${this.id('history', stepKey)},
        c.cid,
        CASE WHEN s.k > 1 THEN ${statuses}[k.path[s.k - 1]] END,
        ${statuses}[k.path[s.k]],
        CASE WHEN s.k > 1 THEN ${stages}[k.path[s.k - 1]] END,
        ${stages}[k.path[s.k]],
        CASE WHEN s.k = 1 THEN ${this.createdAt(now)}
             ELSE ${this.at(now, `((s.k - 2) + ${this.u(Salt.ChangeTime, stepKey)}) / (cardinality(k.path) - 1)`)} END,
        CASE WHEN c.assigned THEN ${staff}[c.si] END,
        'import'
      FROM ${source}
      CROSS JOIN LATERAL (
        SELECT CASE c.st
          WHEN 1 THEN ARRAY[1]
          WHEN 2 THEN CASE WHEN c.path < 0.85 THEN ARRAY[1, 2] ELSE ARRAY[2] END
          WHEN 3 THEN CASE WHEN c.path < 0.45 THEN ARRAY[1, 3] WHEN c.path < 0.9 THEN ARRAY[1, 2, 3] ELSE ARRAY[3] END
          WHEN 4 THEN CASE WHEN c.path < 0.5 THEN ARRAY[1, 4] WHEN c.path < 0.8 THEN ARRAY[1, 2, 4] ELSE ARRAY[1, 2, 3, 4] END
          ELSE ARRAY[5] END AS full_path
      ) AS f
      CROSS JOIN LATERAL (SELECT f.full_path[greatest(1, cardinality(f.full_path) - ${keep - 1}):] AS path) AS k
      CROSS JOIN LATERAL generate_series(1, cardinality(k.path)) AS s(k)`;
    return { sql, params: p.values };
  }

  /** 0–3 distinct tags per contact; a skewed start makes some tags far more common than others. */
  contactTags(from: number, to: number): { sql: string; params: unknown[] } {
    const p = new Params();
    const tags = p.add(this.run.tagIds, 'uuid[]');
    const count = this.run.tagIds.length;
    // Steps up to (T-1)/2 keep start, start+step and start+2·step distinct modulo T.
    const maxStep = Math.max(1, Math.floor((count - 1) / 2));
    const source = this.contactSource(from, to, {
      n: `least(floor(${this.u(Salt.TagCount)} * 4)::int, ${count})`,
      start: `floor(power(${this.u(Salt.TagStart)}, 2) * ${count})::int`,
      step: `1 + floor(${this.u(Salt.TagStep)} * ${maxStep})::int`,
    });
    const sql = `
      INSERT INTO contact_tags (contact_id, tag_id)
      SELECT c.cid, ${tags}[1 + (c.start + t.t * c.step) % ${count}]
      FROM ${source}
      CROSS JOIN LATERAL generate_series(0, c.n - 1) AS t(t)`;
    return { sql, params: p.values };
  }

  /** 0–2 distinct services per contact. */
  contactServices(from: number, to: number): { sql: string; params: unknown[] } {
    const p = new Params();
    const services = p.add(this.run.serviceIds, 'uuid[]');
    const count = this.run.serviceIds.length;
    const source = this.contactSource(from, to, {
      n: `least(width_bucket(${this.u(Salt.ServiceCount)}, '{0.35,0.8}'::float8[]), ${count})`,
      start: `floor(${this.u(Salt.ServiceStart)} * ${count})::int`,
    });
    const sql = `
      INSERT INTO contact_services (contact_id, service_id)
      SELECT c.cid, ${services}[1 + (c.start + t.t) % ${count}]
      FROM ${source}
      CROSS JOIN LATERAL generate_series(0, c.n - 1) AS t(t)`;
    return { sql, params: p.values };
  }
}

// ---------------------------------------------------------------------------------------------
// Running

type Table = 'contacts' | 'contact_tags' | 'contact_services' | 'activities' | 'contact_status_history';
const TABLES: Table[] = ['contacts', 'contact_tags', 'contact_services', 'activities', 'contact_status_history'];

interface Statement {
  sql: string;
  params: unknown[];
}

/**
 * An index of a table loaded with its indexes rebuilt: a secondary index, or one a unique
 * constraint owns that no foreign key leans on (dropped and added back with its constraint).
 */
interface IndexDefinition {
  name: string;
  drop: string;
  create: string;
}

interface Task {
  table: Table;
  /** Contact numbers the statements cover, for messages. */
  range: [number, number];
  /** Run in order, in one transaction. */
  statements: Statement[];
  /**
   * Dropped before the statements and created again after them, in the same transaction:
   * building an index once over the loaded rows is several times cheaper than inserting
   * every row into it, and a failed or cancelled load rolls the drop back with the rows.
   */
  rebuiltIndexes?: IndexDefinition[];
  after?: Task;
  done?: boolean;
}

const format = (n: number) => Math.round(n).toLocaleString('en-US');
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

class Progress {
  readonly rows: Record<Table, number> = { contacts: 0, contact_tags: 0, contact_services: 0, activities: 0, contact_status_history: 0 };
  private readonly started = performance.now();
  private lastTotal = 0;
  private lastAt = this.started;
  private timer?: NodeJS.Timeout;

  constructor(private readonly expected: Partial<Record<Table, number>>) {}

  get total(): number {
    return TABLES.reduce((sum, table) => sum + this.rows[table], 0);
  }

  /** A line every 2 s while rows arrive (they arrive per statement), and at least every 10 s. */
  start(): void {
    this.timer = setInterval(() => {
      if (this.total !== this.lastTotal || performance.now() - this.lastAt >= 10_000) this.print();
    }, 2000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  note(message: string): void {
    console.log(`  ${seconds(performance.now() - this.started).padStart(6)}  ${message}`);
  }

  print(): void {
    const at = performance.now();
    const total = this.total;
    const rate = ((total - this.lastTotal) * 1000) / Math.max(1, at - this.lastAt);
    this.lastTotal = total;
    this.lastAt = at;
    const parts = TABLES.map((table) => `${table} ${format(this.rows[table])}${this.expected[table] ? `/${format(this.expected[table]!)}` : ''}`);
    console.log(`  ${seconds(at - this.started).padStart(6)}  ${parts.join(' · ')}  (${format(rate)} rows/s)`);
  }
}

/** Runs tasks on the given sessions, each task once the task it depends on has committed. */
async function runTasks(tasks: Task[], runners: QueryRunner[], execute: (runner: QueryRunner, task: Task) => Promise<void>): Promise<void> {
  const pending = [...tasks];
  let failure: unknown;
  let wake: () => void = () => undefined;
  let changed = new Promise<void>((resolve) => (wake = resolve));
  const notify = () => {
    const resolve = wake;
    changed = new Promise<void>((next) => (wake = next));
    resolve();
  };
  const worker = async (runner: QueryRunner) => {
    while (failure === undefined && pending.length) {
      const index = pending.findIndex((task) => !task.after || task.after.done);
      if (index < 0) {
        await changed;
        continue;
      }
      const [task] = pending.splice(index, 1);
      try {
        await execute(runner, task!);
        task!.done = true;
      } catch (error) {
        failure ??= error;
      } finally {
        notify();
      }
    }
  };
  await Promise.all(runners.map(worker));
  if (failure !== undefined) throw failure;
}

/**
 * Statements in an order that keeps both sessions busy. With per-row foreign-key checks a
 * batch's dependants must wait until its contacts are committed; without them (rows are
 * correct by construction) any order works. A table whose indexes are rebuilt is loaded by
 * one task (one transaction); those go first, largest first, as they take longest.
 */
function buildTasks(
  generator: Generator,
  options: SeedOptions,
  withTags: boolean,
  perRowChecks: boolean,
  kind: 'postgres' | 'pglite',
  rebuilt: Partial<Record<Table, IndexDefinition[]>>,
): Task[] {
  const tasks: Task[] = [];
  const activitiesPerStatement = Math.max(1000, Math.floor(ACTIVITY_ROWS_PER_STATEMENT[kind] / Math.max(1, options.activitiesPerContact)));
  for (let from = 1; from <= options.contacts; from += CONTACT_BATCH) {
    const to = Math.min(options.contacts, from + CONTACT_BATCH - 1);
    const range: [number, number] = [from, to];
    const contacts: Task = { table: 'contacts', range, statements: [generator.contacts(from, to)] };
    const after = perRowChecks ? contacts : undefined;
    tasks.push(contacts);
    if (options.activitiesPerContact > 0) {
      for (let start = from; start <= to; start += activitiesPerStatement) {
        const end = Math.min(to, start + activitiesPerStatement - 1);
        tasks.push({ table: 'activities', range: [start, end], statements: [generator.activities(start, end)], after });
      }
    }
    tasks.push({ table: 'contact_status_history', range, statements: [generator.statusHistory(from, to)], after });
    if (withTags) tasks.push({ table: 'contact_tags', range, statements: [generator.contactTags(from, to)], after });
    tasks.push({ table: 'contact_services', range, statements: [generator.contactServices(from, to)], after });
  }
  const whole = TABLES.flatMap((table): Task[] => {
    const indexes = rebuilt[table];
    const own = tasks.filter((task) => task.table === table);
    if (!indexes || !own.length) return [];
    return [{ table, range: [1, options.contacts], statements: own.flatMap((task) => task.statements), rebuiltIndexes: indexes }];
  });
  const weight = (task: Task) => task.statements.length * (task.table === 'activities' ? options.activitiesPerContact : 1);
  whole.sort((a, b) => weight(b) - weight(a));
  return [...whole, ...tasks.filter((task) => !rebuilt[task.table])];
}

/**
 * The tables worth loading with their secondary indexes rebuilt: those that hold few rows
 * next to what the load adds (an empty or demo database) and carry a secondary index. A
 * unique constraint no foreign key points at (the contacts' e-mail) counts as one: checking
 * it row by row costs a random index probe per row, adding it back checks every row at once.
 * The link tables' indexes lead with one of a few dozen tags or services: filled row by row,
 * every insert lands in the middle of one of those runs and the split pages stay half empty
 * (1M contacts: the tag index 127 MB, against 71 MB built at once; the seed ~3 s faster). Only
 * without per-row foreign-key checks, where a table's rows need not be committed before the
 * rows that point to them.
 */
async function tablesToRebuild(runner: QueryRunner, adding: Record<Table, number>): Promise<Partial<Record<Table, IndexDefinition[]>>> {
  const rebuilt: Partial<Record<Table, IndexDefinition[]>> = {};
  for (const table of TABLES) {
    const limit = Math.floor(adding[table] / 10);
    if (limit < 1000) continue;
    const present = await count(runner, `SELECT count(*) AS n FROM (SELECT 1 FROM ${table} LIMIT ${limit}) AS t`);
    if (present >= limit) continue;
    // Not the primary key, nor a unique index a foreign key points at: those stay.
    const indexes: IndexDefinition[] = await runner.query(
      `SELECT i.indexrelid::regclass::text AS name,
              CASE WHEN u.conname IS NULL THEN format('DROP INDEX %s', i.indexrelid::regclass)
                   ELSE format('ALTER TABLE %s DROP CONSTRAINT %I', i.indrelid::regclass, u.conname) END AS drop,
              CASE WHEN u.conname IS NULL THEN pg_get_indexdef(i.indexrelid)
                   ELSE format('ALTER TABLE %s ADD CONSTRAINT %I %s', i.indrelid::regclass, u.conname, pg_get_constraintdef(u.oid)) END AS create
         FROM pg_index i
         LEFT JOIN pg_constraint u ON u.conindid = i.indexrelid AND u.conrelid = i.indrelid AND u.contype = 'u'
        WHERE i.indrelid = $1::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.contype NOT IN ('u'))
          AND NOT EXISTS (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = i.indexrelid)
        ORDER BY i.indexrelid`,
      [table],
    );
    if (indexes.length) rebuilt[table] = indexes;
  }
  return rebuilt;
}

async function count(runner: QueryRunner, sql: string, params: unknown[] = []): Promise<number> {
  const rows: Array<{ n: number | string | null }> = await runner.query(sql, params);
  return Number(rows[0]?.n ?? 0);
}

/** Roles, statuses, services and traffic sources the app seeds, plus the Inactive status; returns ids in use. */
async function ensureLookups(runner: QueryRunner): Promise<Pick<RunContext, 'statusIds' | 'statusStages' | 'serviceIds' | 'trafficSourceIds'> & { staffRoleId: string }> {
  for (const [key, role] of Object.entries(SYSTEM_ROLES)) {
    await runner.query(
      `INSERT INTO roles (system_key, name, description, audience) VALUES ($1, $2, $3, $4) ON CONFLICT (system_key) DO NOTHING`,
      [key, role.name, role.description, role.audience],
    );
  }
  const statuses = [...STARTER_STATUSES, { name: 'Inactive', stage: 'other' as const }];
  for (const [position, status] of statuses.entries()) {
    await runner.query('INSERT INTO contact_statuses (name, stage, position) VALUES ($1, $2, $3) ON CONFLICT (name_key) DO NOTHING', [
      status.name,
      status.stage,
      position,
    ]);
  }
  await runner.query('INSERT INTO services (name) SELECT unnest($1::text[]) ON CONFLICT (name_key) DO NOTHING', [STARTER_SERVICES]);
  await runner.query('INSERT INTO traffic_sources (name) SELECT unnest($1::text[]) ON CONFLICT (name_key) DO NOTHING', [STARTER_TRAFFIC_SOURCES]);

  const idsByName = async (table: string, names: string[]) => {
    const rows: Array<{ id: string }> = await runner.query(
      `SELECT t.id FROM unnest($1::text[]) WITH ORDINALITY AS w (name, ord) JOIN ${table} t ON t.name_key = lower(w.name) ORDER BY w.ord`,
      [names],
    );
    return rows.map((row) => row.id);
  };
  const statusIds = await idsByName('contact_statuses', ['Lead', 'Prospect', 'Customer', 'Inactive']);
  const stages: Array<{ stage: string }> = await runner.query(
    'SELECT s.stage FROM unnest($1::uuid[]) WITH ORDINALITY AS w (id, ord) JOIN contact_statuses s ON s.id = w.id ORDER BY w.ord',
    [statusIds],
  );
  const [role] = (await runner.query(`SELECT id FROM roles WHERE system_key = 'staff'`)) as Array<{ id: string }>;
  return {
    statusIds: statusIds as RunContext['statusIds'],
    statusStages: stages.map((row) => row.stage),
    serviceIds: await idsByName('services', STARTER_SERVICES),
    trafficSourceIds: await idsByName('traffic_sources', STARTER_TRAFFIC_SOURCES),
    staffRoleId: role!.id,
  };
}

/** Staff accounts as the app makes them: a Lead contact, a user without password, the staff role. */
async function createStaff(runner: QueryRunner, options: SeedOptions, staffRoleId: string, leadStatusId: string): Promise<string[]> {
  const offset = await count(
    runner,
    `SELECT coalesce(max(substring(email_key FROM '^staff([0-9]+)@demo\\.maestro\\.test$')::int), 0) AS n FROM users WHERE email_key LIKE 'staff%@${DEMO_DOMAIN}'`,
  );
  const random = mulberry32(options.seed);
  const people = Array.from({ length: options.staff }, (_, index) => ({
    first: FIRST_NAMES[Math.floor(random() * FIRST_NAMES.length)]!,
    last: LAST_NAMES[Math.floor(random() * LAST_NAMES.length)]!,
    email: `staff${offset + index + 1}@${DEMO_DOMAIN}`,
  }));
  const rows: Array<{ id: string }> = await runner.query(
    `WITH person AS (
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS p (first_name, last_name, email, ord)
     ), contact AS (
       INSERT INTO contacts (first_name, last_name, email, status_id, company, job_title)
       SELECT first_name, last_name, email, $4::uuid, 'Maestro Demo', 'Account Manager' FROM person ORDER BY ord
       RETURNING id, email
     ), account AS (
       INSERT INTO users (contact_id, email, first_name, last_name)
       SELECT contact.id, person.email, person.first_name, person.last_name FROM contact JOIN person USING (email)
       RETURNING id, email
     ), membership AS (
       INSERT INTO user_roles (user_id, role_id) SELECT id, $5::uuid FROM account
     )
     SELECT account.id FROM account JOIN person USING (email) ORDER BY person.ord`,
    [people.map((p) => p.first), people.map((p) => p.last), people.map((p) => p.email), leadStatusId, staffRoleId],
  );
  return rows.map((row) => row.id);
}

async function ensureTags(runner: QueryRunner, total: number): Promise<string[]> {
  if (total === 0) return [];
  const names = tagNames(total);
  await runner.query(
    `INSERT INTO tags (name, color)
     SELECT name, ($2::text[])[1 + (ord - 1) % cardinality($2::text[])] FROM unnest($1::text[]) WITH ORDINALITY AS t (name, ord)
     ON CONFLICT (name_key) DO NOTHING`,
    [names, TAG_COLORS],
  );
  const rows: Array<{ id: string }> = await runner.query(
    'SELECT t.id FROM unnest($1::text[]) WITH ORDINALITY AS w (name, ord) JOIN tags t ON t.name_key = lower(w.name) ORDER BY w.ord',
    [names],
  );
  return rows.map((row) => row.id);
}

const BULK_TRIGGERS: Array<[table: string, trigger: string]> = [
  ['activities', 'activities_last_contacted'],
  ['contacts', 'contacts_status_history'],
];

async function setTriggers(runner: QueryRunner, enabled: boolean): Promise<void> {
  for (const [table, trigger] of BULK_TRIGGERS) {
    await runner.query(`ALTER TABLE ${table} ${enabled ? 'ENABLE' : 'DISABLE'} TRIGGER ${trigger}`);
  }
}

/**
 * Whether this session may set session_replication_role (superusers, or roles granted SET
 * on it). In that mode no per-row trigger fires: neither the two bookkeeping triggers nor
 * the foreign-key checks, which would otherwise cost more than the inserts themselves.
 */
async function canSkipRowTriggers(runner: QueryRunner): Promise<boolean> {
  await runner.startTransaction();
  try {
    await runner.query('SET LOCAL session_replication_role = replica');
    return true;
  } catch {
    return false;
  } finally {
    await runner.rollbackTransaction();
  }
}

/**
 * Without per-row foreign-key checks nothing locks the rows the new rows point to. This
 * takes the same FOR KEY SHARE locks once, in a transaction held for the whole load, so a
 * concurrent delete of a status, staff user, tag, service or source waits for the seed.
 */
async function lockReferencedRows(runner: QueryRunner, run: RunContext): Promise<void> {
  const lists: Array<[string, string[]]> = [
    ['contact_statuses', run.statusIds],
    ['users', run.staffIds],
    ['tags', run.tagIds],
    ['services', run.serviceIds],
    ['traffic_sources', run.trafficSourceIds],
  ];
  for (const [table, ids] of lists) {
    const locked = await count(runner, `SELECT count(*) AS n FROM (SELECT 1 FROM ${table} WHERE id = ANY($1::uuid[]) FOR KEY SHARE) AS l`, [ids]);
    if (locked !== ids.length) throw new Error(`Some ${table} rows disappeared while seeding; nothing was loaded.`);
  }
}

async function seedDemo(dataSource: DataSource, options: SeedOptions, kind: 'postgres' | 'pglite'): Promise<void> {
  const timings: Array<[string, number]> = [];
  const time = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const result = await work();
    timings.push([label, performance.now() - started]);
    return result;
  };
  const jobs = kind === 'postgres' ? options.jobs : 1;
  const startedAt = Date.now();

  // The embedded database is a single session: there, only one query runner may be connected at a time.
  let control = dataSource.createQueryRunner();
  let workers: QueryRunner[] = [];
  let triggersDisabled = false;
  let interrupted = false;
  const workerPids: number[] = [];
  const enableSql = BULK_TRIGGERS.map(([table, trigger]) => `ALTER TABLE ${table} ENABLE TRIGGER ${trigger};`).join(' ');
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      console.error(`\nSecond ${signal}: exiting now.${triggersDisabled ? ` Re-enable the triggers by hand: ${enableSql}` : ''}`);
      process.exit(130);
    }
    interrupted = true;
    console.error(`\n${signal}: cancelling the running statements…`);
    if (kind === 'postgres' && workerPids.length) {
      const canceller = dataSource.createQueryRunner();
      canceller
        .query('SELECT pg_cancel_backend(pid) FROM unnest($1::int[]) AS pid', [workerPids])
        .catch(() => undefined)
        .finally(() => canceller.release());
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (kind === 'postgres') {
      // Two seeders at once would re-enable each other's triggers half-way through.
      const locked = await count(control, 'SELECT pg_try_advisory_lock($1)::int AS n', [SEED_LOCK_KEY]);
      if (!locked) throw new Error('Another seed:demo run is in progress on this database.');
    }
    const existing = await count(control, 'SELECT count(*) AS n FROM contacts');
    if (existing > MAX_EXISTING_CONTACTS && !options.yes) {
      throw new UsageError(
        `The database already has ${format(existing)} contacts. Demo data is meant for empty or demo databases; ` +
          `pass --yes to add ${format(options.contacts)} more anyway.`,
      );
    }
    const skipRowTriggers = !options.perRowChecks && (await canSkipRowTriggers(control));
    console.log(
      `Seeding ${format(options.contacts)} contacts (≈${format(options.contacts * options.activitiesPerContact)} activities), ` +
        `${options.staff} staff, ${options.tags} tags, seed ${options.seed}` +
        (existing ? `, next to ${format(existing)} existing contacts` : '') +
        `\n  ${kind === 'postgres' ? `PostgreSQL, ${jobs} sessions` : 'embedded database'}; ` +
        (skipRowTriggers
          ? 'row triggers and foreign-key checks skipped for these sessions (session_replication_role = replica)'
          : 'foreign keys checked per row, bookkeeping triggers disabled during the load'),
    );

    const run = await time('lookups, staff and tags', async () => {
      const emailOffset = existing
        ? await count(
            control,
            `SELECT coalesce(max(substring(email_key FROM '\\.([0-9]+)@demo\\.maestro\\.test$')::int8), 0) AS n FROM contacts WHERE email_key LIKE '%@${DEMO_DOMAIN}'`,
          )
        : 0;
      await control.startTransaction();
      try {
        await control.query(`SELECT set_config('maestro.change_source', 'import', true)`);
        const lookups = await ensureLookups(control);
        const staffIds = await createStaff(control, options, lookups.staffRoleId, lookups.statusIds[0]);
        const tagIds = await ensureTags(control, options.tags);
        await control.commitTransaction();
        const context: RunContext = {
          options,
          emailOffset,
          now: new Date(startedAt).toISOString(),
          idPrefix: idPrefixes(startedAt),
          ...lookups,
          staffIds,
          tagIds,
        };
        return context;
      } catch (error) {
        await control.rollbackTransaction().catch(() => undefined);
        throw error;
      }
    });

    const generator = new Generator(run);
    const adding: Record<Table, number> = {
      contacts: options.contacts,
      activities: options.contacts * options.activitiesPerContact,
      contact_status_history: options.contacts,
      contact_tags: run.tagIds.length ? options.contacts : 0,
      contact_services: options.contacts,
    };
    // The embedded database loads on one session: a whole-table transaction would gain nothing there.
    const rebuilt = skipRowTriggers && kind === 'postgres' ? await tablesToRebuild(control, adding) : {};
    const rebuiltTables = Object.keys(rebuilt);
    if (rebuiltTables.length) {
      console.log(`  ${rebuiltTables.join(', ')}: nearly empty, so loaded without their secondary indexes, which are built once at the end (the tables stay locked until then)`);
    }
    const tasks = buildTasks(generator, options, run.tagIds.length > 0, !skipRowTriggers, kind, rebuilt);
    const progress = new Progress({ contacts: options.contacts, activities: options.contacts * options.activitiesPerContact });

    if (!skipRowTriggers) {
      await setTriggers(control, false);
      triggersDisabled = true;
    } else if (kind === 'postgres') {
      await control.startTransaction();
      await lockReferencedRows(control, run);
    }
    if (kind === 'pglite') await control.release();
    workers = Array.from({ length: jobs }, () => dataSource.createQueryRunner());
    for (const worker of workers) {
      await worker.connect();
      if (kind === 'postgres') workerPids.push(await count(worker, 'SELECT pg_backend_pid() AS n'));
    }

    progress.start();
    await time('bulk load', () =>
      runTasks(tasks, workers, async (runner, task) => {
        if (interrupted) throw new LoadError('interrupted');
        await runner.startTransaction();
        try {
          // JIT compilation costs more than it saves on these statements.
          await runner.query('SET LOCAL synchronous_commit = off; SET LOCAL jit = off');
          if (skipRowTriggers) await runner.query('SET LOCAL session_replication_role = replica');
          // Activities are sorted by date before they go in; this keeps that sort in memory.
          await runner.query(`SET LOCAL work_mem = '${kind === 'postgres' ? '256MB' : '64MB'}'`);
          for (const index of task.rebuiltIndexes ?? []) await runner.query(index.drop);
          for (const statement of task.statements) {
            if (interrupted) throw new LoadError('interrupted');
            const result = await runner.query(statement.sql, statement.params, true);
            progress.rows[task.table] += result.affected ?? 0;
          }
          if (task.rebuiltIndexes?.length) {
            progress.note(`${task.table}: building ${task.rebuiltIndexes.length} ${task.rebuiltIndexes.length === 1 ? 'index' : 'indexes'}`);
            for (const index of task.rebuiltIndexes) {
              // A B-tree build is cheapest sorted wholly in memory; a GIN build the other way round:
              // its in-memory entry tree outgrows the CPU caches, and flushing it every few MB halves
              // the build of the search index (1M contacts: ~7 s at 8 MB, ~14 s at 512 MB).
              await runner.query(`SET LOCAL maintenance_work_mem = '${/ USING gin /i.test(index.create) ? '8MB' : '512MB'}'`);
              await runner.query(index.create);
            }
          }
          await runner.commitTransaction();
        } catch (error) {
          await runner.rollbackTransaction().catch(() => undefined);
          // Rows of a failed statement were counted as they went in; the rollback took them out again.
          if (task.rebuiltIndexes) progress.rows[task.table] = 0;
          const detail = (error as { detail?: string }).detail;
          if (interrupted) throw new LoadError('interrupted');
          throw new LoadError(`loading ${task.table} for contacts ${task.range[0]}–${task.range[1]}: ${(error as Error).message}${detail ? ` (${detail})` : ''}`);
        }
      }),
    );
    progress.stop();
    progress.print();

    for (const worker of workers) await worker.release();
    workers = [];
    if (control.isReleased) control = dataSource.createQueryRunner();
    if (control.isTransactionActive) await control.commitTransaction();
    if (triggersDisabled) {
      await setTriggers(control, true);
      triggersDisabled = false;
    }
    const corrected = await time('last-contacted check', () => checkLastContacted(control, run));
    if (corrected) console.log(`  set last_contacted_at from the activities on ${format(corrected)} contacts`);
    // The tables list pages count and filter through are vacuumed too: that marks the freshly
    // loaded pages all-visible, as autovacuum would soon after, so counts and tag or service
    // checks read indexes alone instead of heap pages (a count of all live contacts: ~75 ms
    // instead of ~220 ms on two cores). ~1 s at 1M contacts; the rest is only analysed.
    await time('vacuum and analyze', async () => {
      await control.query('VACUUM (ANALYZE) contacts, contact_tags, contact_services');
      await control.query('ANALYZE activities, contact_status_history, users, user_roles, tags, contact_statuses, services, traffic_sources');
    });

    const rows = progress.rows;
    const bulk = timings.find(([label]) => label === 'bulk load')![1];
    console.log('\nDone.');
    for (const table of TABLES) console.log(`  ${table.padEnd(24)} ${format(rows[table]).padStart(12)} rows`);
    console.log(`  ${'staff users'.padEnd(24)} ${format(run.staffIds.length).padStart(12)}`);
    console.log(`  ${'tags'.padEnd(24)} ${format(run.tagIds.length).padStart(12)}`);
    for (const [label, ms] of timings) console.log(`  ${label.padEnd(24)} ${seconds(ms).padStart(12)}`);
    console.log(`  ${'total'.padEnd(24)} ${seconds(Date.now() - startedAt).padStart(12)}   (${format((progress.total * 1000) / bulk)} rows/s while loading)`);
    console.log(`Staff accounts have no password; an admin can send them a password reset (e.g. staff1@${DEMO_DOMAIN}).`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    for (const worker of workers) await worker.release().catch(() => undefined);
    if (triggersDisabled) {
      try {
        if (control.isReleased) control = dataSource.createQueryRunner();
        if (control.isTransactionActive) await control.rollbackTransaction();
        await setTriggers(control, true);
      } catch (error) {
        console.error(`Could not re-enable the triggers (${String(error)}); run: ${enableSql}`);
      }
    }
    if (!control.isReleased) {
      if (control.isTransactionActive) await control.rollbackTransaction().catch(() => undefined);
      if (kind === 'postgres') await control.query('SELECT pg_advisory_unlock($1)', [SEED_LOCK_KEY]).catch(() => undefined);
      await control.release().catch(() => undefined);
    }
    if (interrupted) process.exitCode = 130;
  }
}

/**
 * contacts.last_contacted_at is written with the contacts, from the same expression that
 * dates each contact's latest activity. This compares it with max(occurred_at) for a
 * sample spread over the run, and recomputes it set-based for the whole run only if the
 * sample disagrees. Returns the number of contacts corrected.
 */
async function checkLastContacted(runner: QueryRunner, run: RunContext): Promise<number> {
  const n = run.options.contacts;
  const id = (i: number) => `${run.idPrefix.contact}${i.toString(16).padStart(12, '0')}`;
  const sample = [...new Set(Array.from({ length: Math.min(n, 2000) }, (_, k) => 1 + Math.floor((k * n) / Math.min(n, 2000))))].map(id);
  const latest = (alias: string) => `(SELECT max(a.occurred_at) FROM activities a WHERE a.contact_id = ${alias}.id AND a.occurred_at <= now())`;
  const wrong = await count(
    runner,
    `SELECT count(*) AS n FROM contacts c WHERE c.id = ANY($1::uuid[]) AND c.last_contacted_at IS DISTINCT FROM ${latest('c')}`,
    [sample],
  );
  if (!wrong) return 0;
  const result = await runner.query(
    `UPDATE contacts c SET last_contacted_at = ${latest('c')} WHERE c.id BETWEEN $1::uuid AND $2::uuid AND c.last_contacted_at IS DISTINCT FROM ${latest('c')}`,
    [id(1), id(n)],
    true,
  );
  return result.affected ?? 0;
}

async function main(): Promise<void> {
  let options: SeedOptions | 'help';
  try {
    options = parseArguments(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (options === 'help') {
    console.log(USAGE);
    return;
  }
  const config = new AppConfig(validateEnvironment(process.env));
  // Failed statements are reported by the command; TypeORM's error log would print every (long) statement in full.
  const base = { ...dataSourceOptions(config), logging: ['warn', 'migration'] } as DataSourceOptions;
  // One session holds the seed lock while `jobs` others load; the pool must have room for all of them.
  const dataSource = new DataSource(
    config.database.kind === 'postgres' ? ({ ...base, poolSize: Math.max(config.database.poolSize, options.jobs + 2) } as DataSourceOptions) : base,
  );
  const started = performance.now();
  await dataSource.initialize();
  try {
    await runPendingMigrations(dataSource, config.database.kind === 'postgres');
    console.log(`Connected and migrated in ${seconds(performance.now() - started)}`);
    await seedDemo(dataSource, options, config.database.kind);
  } finally {
    await dataSource.destroy();
    if (config.database.kind === 'pglite') await PGlitePool.closeAll();
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) console.error(error.message);
  else if (error instanceof LoadError) console.error(`seed:demo failed: ${error.message}. Statements that finished before stay in the database.`);
  // Configuration and connection problems explain themselves; anything else gets its stack.
  else if (isStartupRefusal(error) || (error instanceof Error && 'code' in error)) console.error(`seed:demo failed: ${error.message}`);
  else console.error(`seed:demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(process.exitCode && process.exitCode !== 0 ? Number(process.exitCode) : 1);
});
