import { fleetLayout } from "./layout";
import { shardOf, shardStub, type FleetBindings } from "./shards";
import { worstFirst, type FleetRow } from "./fleet-row";
import { SNAPSHOT_WINDOW_MS, type RankKey } from "./registry-store";
import type { ShardRow } from "./registry.do";
import type { FleetLayout } from "./placement";

/**
 * Fleet reads over every shard that may hold a town (src/fleet/placement.ts, the layout). While a change
 * of shard count settles a town may be held by two shards, its new one and the one handing it over: a
 * read shows the row of the town's shard under the current count when that shard has one, else the
 * freshest other — so each town once, none missing.
 */

/** Every town, from every shard, by id, once (`GET /api/towns`, the Grafana `town` variable). */
export async function listTowns(env: FleetBindings): Promise<Array<{ id: string; createdAt: number }>> {
  const layout = await fleetLayout(env);
  const lists = await Promise.all(layout.shards.map((i) => shardStub(env, i).list()));
  const byId = new Map<string, { id: string; createdAt: number }>();
  for (const list of lists) for (const town of list) if (!byId.has(town.id)) byId.set(town.id, town);
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface FleetStatusQuery {
  /** Only towns with a problem (at least one alert condition holding). */
  readonly problemsOnly?: boolean;
  /** At most this many rows (absent: all of them). */
  readonly limit?: number;
  /** Where the previous page stopped (`nextCursor`). */
  readonly cursor?: string;
  /**
   * A first page of the last summaries, not the start of a read (the home page's worst towns, never
   * continued): a page without it is a view as of the read's snapshot, up to a window old.
   */
  readonly latest?: boolean;
}

export interface FleetStatusPage {
  readonly towns: FleetRow[];
  /** The next page's cursor; null on the last page (and when no limit was asked). */
  readonly nextCursor: string | null;
}

/**
 * A cursor names the moment the first page was read and where the last page stopped: later pages are
 * computed as of that moment. The pages of one read are one view of the fleet: every town ranked and
 * shown by the summary it had at the read's snapshot — the start of the SNAPSHOT_WINDOW_MS window the
 * first page was read in — its ages as of the first page, whatever it reported since; a town that
 * joined after the snapshot is not in that read (it is news after the read began). So a town changing
 * between two pages is neither shown twice nor missed, however often it reports. The registry keeps what
 * that takes for snapshots up to two windows old (src/fleet/registry-store.ts): a cursor lives at least
 * one window (30 s) and at most CURSOR_LIFETIME_MS (60 s) after its snapshot, then is refused.
 */
interface Cursor {
  readonly asOf: number;
  readonly after: RankKey;
  readonly problemsOnly: boolean;
}

/** How long after its snapshot a cursor is taken (the registry answers snapshots no older). */
export const CURSOR_LIFETIME_MS = 2 * SNAPSHOT_WINDOW_MS;

/** The snapshot of a paged read whose first page was read at `asOf`: the start of its window. */
export const snapshotOf = (asOf: number): number => asOf - (asOf % SNAPSHOT_WINDOW_MS);

export class InvalidCursor extends Error {}

const encodeCursor = (cursor: Cursor): string =>
  btoa(JSON.stringify([1, cursor.asOf, cursor.problemsOnly ? 1 : 0, cursor.after.problems, cursor.after.overdue, cursor.after.town]))
    .replace(/=+$/, "")
    .replace(/\+/g, "-")
    .replace(/\//g, "_");

function decodeCursor(text: string): Cursor {
  try {
    const [version, asOf, problemsOnly, problems, overdue, town] = JSON.parse(atob(text.replace(/-/g, "+").replace(/_/g, "/"))) as unknown[];
    if (version === 1 && Number.isSafeInteger(asOf) && Number.isSafeInteger(problems) && Number.isSafeInteger(overdue) && typeof town === "string")
      return { asOf: asOf as number, problemsOnly: problemsOnly === 1, after: { problems: problems as number, overdue: overdue as number, town } };
  } catch {
    // not one of ours
  }
  throw new InvalidCursor("cursor is not one this route gave: pass nextCursor as it came, or leave it out for the first page");
}

const afterKey = (key: RankKey, after: RankKey): boolean => byRank(key, after) > 0;

/**
 * One row per town, worst first (most problems, then most overdue, then by town id), from the
 * registries' own storage: no town is woken. With `limit`, a page: each shard gives its worst `limit`
 * after the cursor, and the merge keeps the worst `limit` of those.
 */
export async function fleetStatus(env: FleetBindings, query: FleetStatusQuery = {}): Promise<FleetStatusPage> {
  const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor);
  const problemsOnly = cursor?.problemsOnly ?? query.problemsOnly ?? false;
  const layout = await fleetLayout(env);
  const asOf = cursor?.asOf ?? layout.now;
  const limit = query.limit ?? null;
  // A page is read as of its read's snapshot; the un-paged answer (what the alert rules read) is the last summaries.
  const snapshot = (limit === null && cursor === null) || (query.latest && cursor === null) ? null : snapshotOf(asOf);
  if (cursor && layout.now >= snapshotOf(cursor.asOf) + CURSOR_LIFETIME_MS)
    throw new InvalidCursor(
      `cursor expired: the pages of one read are the fleet as of its first page, kept for ${CURSOR_LIFETIME_MS / 1000} s at most (${Math.floor((layout.now - cursor.asOf) / 1000)} s have passed); start again without a cursor`,
    );
  const request = { asOf, snapshot, problemsOnly, after: cursor?.after ?? null, limit: limit === null ? null : limit + 1 };
  const parts = await Promise.all(layout.shards.map((i) => shardStub(env, i).ranked(request)));
  const rows = await preferOwners(
    env,
    layout,
    parts,
    asOf,
    snapshot,
    (row) => (!problemsOnly || row.rank.problems > 0) && (cursor === null || afterKey(row.rank, cursor.after)),
  );
  rows.sort((a, b) => worstFirst(a.row, b.row));
  if (limit === null) return { towns: rows.map((r) => r.row), nextCursor: null };
  // A shard that gave `limit + 1` rows may have more: the page stops where the first such shard's rows stop.
  const boundary = parts
    .filter((part) => part.length > limit)
    .map((part) => part.at(-1)!.rank)
    .reduce<RankKey | null>((first, key) => (first === null || byRank(key, first) < 0 ? key : first), null);
  const candidates = boundary === null ? rows : rows.filter((r) => byRank(r.rank, boundary) <= 0);
  const page = candidates.slice(0, limit);
  const more = candidates.length > limit || boundary !== null;
  const after = page.length === limit ? page.at(-1)!.rank : boundary;
  return { towns: page.map((r) => r.row), nextCursor: more && after ? encodeCursor({ asOf, problemsOnly, after }) : null };
}

/** Worst first, as worstFirst orders rows. */
const byRank = (a: RankKey, b: RankKey): number => b.problems - a.problems || b.overdue - a.overdue || (a.town < b.town ? -1 : a.town > b.town ? 1 : 0);

/**
 * Each town once: a row from the town's own shard (under the current count) wins; a row from another
 * shard (one handing it over) counts only if the town's shard has none — asked, for those towns, in one
 * call per shard, since its own page may have stopped before the town. `keep` says whether such a row
 * of the town's shard belongs in this answer.
 */
async function preferOwners(
  env: FleetBindings,
  layout: FleetLayout,
  parts: readonly ShardRow[][],
  asOf: number,
  snapshot: number | null,
  keep: (row: ShardRow) => boolean,
): Promise<ShardRow[]> {
  const owned = new Map<string, ShardRow>();
  const strays = new Map<string, ShardRow>();
  parts.forEach((part, shard) => {
    for (const row of part) {
      if (shardOf(row.row.town, layout.current) === shard) owned.set(row.row.town, row);
      else {
        const other = strays.get(row.row.town);
        if (!other || row.reportedAt > other.reportedAt) strays.set(row.row.town, row);
      }
    }
  });
  const ask = new Map<number, string[]>();
  for (const town of strays.keys()) {
    if (owned.has(town)) {
      strays.delete(town);
      continue;
    }
    const owner = shardOf(town, layout.current);
    const towns = ask.get(owner);
    if (towns) towns.push(town);
    else ask.set(owner, [town]);
  }
  const answers = await Promise.all([...ask].map(([owner, towns]) => shardStub(env, owner).lookup(towns, asOf, snapshot)));
  for (const answer of answers)
    for (const row of answer) {
      strays.delete(row.row.town);
      if (keep(row)) owned.set(row.row.town, row);
    }
  return [...owned.values(), ...strays.values()];
}

/** A Prometheus HTTP service discovery target group: where to scrape, and the labels to put on it. */
export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

const targetGroup = (host: string, town: string): TargetGroup => ({
  targets: [host],
  labels: { __metrics_path__: `/api/towns/${encodeURIComponent(town)}/metrics`, town },
});

/**
 * Prometheus `http_sd_configs`: one target group per town, at the host the request came to (so the
 * answer is right behind any hostname or port), scraping the town's own metrics route. With `shard`,
 * the towns of that shard under the current count only (the shard's own, and any another shard is
 * still handing over to it), so each `http_sd_configs` entry of a Prometheus stays bounded and every
 * town is in exactly one; a shard past the count has none.
 */
export async function scrapeTargets(env: FleetBindings, host: string, shard?: number): Promise<TargetGroup[]> {
  if (shard === undefined) return (await listTowns(env)).map((town) => targetGroup(host, town.id));
  const layout = await fleetLayout(env);
  if (shard >= layout.current) return [];
  const parts = await Promise.all(layout.shards.map((i) => shardStub(env, i).townsOf(shard, layout.current, i)));
  return [...new Set(parts.flat())].sort().map((town) => targetGroup(host, town));
}

/** The fleet's shards, for discovery (`GET /api/fleet/shards`). */
export async function fleetShards(env: FleetBindings): Promise<{ shards: number; read: number; targets: string[] }> {
  const layout = await fleetLayout(env);
  return {
    shards: layout.current,
    read: layout.span,
    targets: Array.from({ length: layout.current }, (_, i) => `/api/fleet/targets?shard=${i}`),
  };
}
