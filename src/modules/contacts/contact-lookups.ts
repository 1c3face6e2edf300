/** A status as contact rows show it. */
export interface StatusEntry {
  id: string;
  name: string;
  stage: string;
}

export interface TrafficSourceEntry {
  id: string;
  name: string;
}

export interface TagEntry {
  id: string;
  name: string;
  color: string | null;
  /** The name's sort key: a contact's tags are shown in name order. */
  nameKey: string;
}

/** The statuses, traffic sources and tags some contact rows refer to, by id. */
export interface ContactLookups {
  statuses: ReadonlyMap<string, StatusEntry>;
  trafficSources: ReadonlyMap<string, TrafficSourceEntry>;
  tags: ReadonlyMap<string, TagEntry>;
}

/** What a contact row carries for its lookups: their ids and the lookup epoch its statement read. */
export interface LookupReferences {
  status_id: string | null;
  traffic_source_id: string | null;
  tag_ids: string[];
  lookups_epoch: string;
}

/**
 * The epoch as a column of a contact statement (over alias `c`'s table): read once per
 * statement, as text so that both drivers hand over the same type.
 */
export const LOOKUPS_EPOCH_COLUMN = `coalesce((SELECT e.epoch FROM contact_lookup_epoch e), 0)::text AS lookups_epoch`;

type RunQuery = (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>;

/** Past this many entries the kept ones are dropped and read again as needed. */
const MAX_ENTRIES = 20_000;

const LOAD_SQL = `
  SELECT e.epoch::text AS epoch, x.kind, x.id, x.name, x.stage, x.color, x.name_key
    FROM (SELECT coalesce((SELECT epoch FROM contact_lookup_epoch), 0) AS epoch) e
    LEFT JOIN (
      SELECT 'status' AS kind, s.id, s.name, s.stage::text AS stage, NULL::text AS color, NULL::text AS name_key
        FROM contact_statuses s WHERE s.id = ANY($1::uuid[])
      UNION ALL
      SELECT 'trafficSource', ts.id, ts.name, NULL, NULL, NULL FROM traffic_sources ts WHERE ts.id = ANY($2::uuid[])
      UNION ALL
      SELECT 'tag', t.id, t.name, NULL, t.color, t.name_key FROM tags t WHERE t.id = ANY($3::uuid[])
    ) x ON true`;

interface LoadedRow {
  epoch: string;
  kind: 'status' | 'trafficSource' | 'tag' | null;
  id: string;
  name: string;
  stage: string | null;
  color: string | null;
  name_key: string | null;
}

interface Entries {
  statuses: Map<string, StatusEntry>;
  trafficSources: Map<string, TrafficSourceEntry>;
  tags: Map<string, TagEntry>;
}

const emptyEntries = (): Entries => ({ statuses: new Map(), trafficSources: new Map(), tags: new Map() });

/**
 * The names of statuses, traffic sources and tags, kept in memory for contact rows: a list
 * page names a handful of them 25 times over, and PostgreSQL spent more resolving them per
 * row than finding the rows. Entries are read when first referenced. Every contact statement
 * reads the lookup epoch (see the ContactLookupEpoch migration) with its rows; when it has
 * moved, everything kept is forgotten, so a renamed tag shows under its new name in the very
 * next list, whichever process renamed it.
 */
export class ContactLookupDirectory {
  private epoch = -1n;
  private entries = emptyEntries();

  constructor(private readonly run: RunQuery) {}

  /** The entries the rows refer to (rows of one statement, so one epoch). */
  async resolve(rows: LookupReferences[]): Promise<ContactLookups> {
    if (!rows.length) return this.entries;
    this.observe(BigInt(rows[0]!.lookups_epoch));
    const missing = { statuses: new Set<string>(), trafficSources: new Set<string>(), tags: new Set<string>() };
    for (const row of rows) {
      if (row.status_id && !this.entries.statuses.has(row.status_id)) missing.statuses.add(row.status_id);
      if (row.traffic_source_id && !this.entries.trafficSources.has(row.traffic_source_id)) missing.trafficSources.add(row.traffic_source_id);
      for (const tag of row.tag_ids) if (!this.entries.tags.has(tag)) missing.tags.add(tag);
    }
    if (!missing.statuses.size && !missing.trafficSources.size && !missing.tags.size) return this.entries;

    const loaded = (await this.run(LOAD_SQL, [[...missing.statuses], [...missing.trafficSources], [...missing.tags]])) as unknown as LoadedRow[];
    const loadedEpoch = BigInt(loaded[0]?.epoch ?? '0');
    this.observe(loadedEpoch);
    // Read before a change this process has already seen: good for this answer, not for keeping.
    const keep = loadedEpoch === this.epoch;
    const target = keep ? this.entries : copyOf(this.entries);
    for (const row of loaded) {
      if (row.kind === 'status') target.statuses.set(row.id, { id: row.id, name: row.name, stage: row.stage! });
      else if (row.kind === 'trafficSource') target.trafficSources.set(row.id, { id: row.id, name: row.name });
      else if (row.kind === 'tag') target.tags.set(row.id, { id: row.id, name: row.name, color: row.color, nameKey: row.name_key! });
    }
    // Kept maps are only ever added to or replaced whole, never emptied, so an answer in progress keeps what it was given.
    if (keep && target.statuses.size + target.trafficSources.size + target.tags.size > MAX_ENTRIES) this.entries = emptyEntries();
    return target;
  }

  /** A newer epoch than the kept entries': they may be stale, forget them. */
  private observe(epoch: bigint): void {
    if (epoch > this.epoch) {
      this.epoch = epoch;
      this.entries = emptyEntries();
    }
  }
}

function copyOf(entries: Entries): Entries {
  return { statuses: new Map(entries.statuses), trafficSources: new Map(entries.trafficSources), tags: new Map(entries.tags) };
}

/** A contact's tags in name order. Ids no longer found (deleted since the row was read) are left out. */
export function tagsOf(ids: string[], lookups: ContactLookups): Array<{ id: string; name: string; color: string | null }> {
  const tags: TagEntry[] = [];
  for (const id of ids) {
    const tag = lookups.tags.get(id);
    if (tag) tags.push(tag);
  }
  if (tags.length > 1) tags.sort((a, b) => (a.nameKey < b.nameKey ? -1 : a.nameKey > b.nameKey ? 1 : 0));
  return tags.map(({ id, name, color }) => ({ id, name, color }));
}
