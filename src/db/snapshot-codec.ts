/** How a snapshot is stored: its JSON gzip-compressed with the runtime's CompressionStream, cut into chunks. */

/** A full snapshot at least this often; those between are deltas from it (reading one reads at most two). */
export const SNAPSHOT_FULL_EVERY_MS = 86_400_000;

/**
 * A delta is stored while it is at most this share of the state's JSON, else a full snapshot is taken:
 * deltas from one base grow as the town moves on, and past this a new base costs less over the day
 * (bench/snapshot-week.ts: at ten times the bench's pace a third stores least, 12% less than a half;
 * at the bench's own pace deltas stay under either).
 */
export const DELTA_AT_MOST = 0.35;

/** Bytes per stored chunk of a compressed snapshot: well under the 2 MB a row may hold. */
export const SNAPSHOT_CHUNK_BYTES = 1_000_000;

/** A snapshot's JSON compressed and cut into chunks, ready to be written in one synchronous transaction. */
export interface PackedSnapshot {
  readonly chunks: readonly Uint8Array[];
  /** The JSON's size in UTF-8 bytes. */
  readonly bytes: number;
  /** The compressed size in bytes (the sum of the chunks). */
  readonly storedBytes: number;
}

/**
 * Gzips a snapshot's JSON (the runtime's CompressionStream) and cuts it into chunks of at most
 * `chunkBytes`. Compression is asynchronous and SQLite writes here are not: a snapshot is packed
 * first, then saved.
 */
export async function packSnapshot(json: string, chunkBytes = SNAPSHOT_CHUNK_BYTES): Promise<PackedSnapshot> {
  const text = new TextEncoder().encode(json);
  const gzipped = new Uint8Array(await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < gzipped.length; start += chunkBytes) pieces.push(gzipped.subarray(start, start + chunkBytes));
  return { chunks: pieces, bytes: text.length, storedBytes: gzipped.length };
}

/** The JSON back from a compressed snapshot's chunks. */
export async function unpackSnapshot(chunks: readonly Uint8Array[]): Promise<string> {
  return new Response(new Blob([...chunks]).stream().pipeThrough(new DecompressionStream("gzip"))).text();
}

/**
 * Events pending when a snapshot was taken, as runs `[firstSeq, lastSeq, attempts]` of consecutive
 * seqs with the same attempts: a flood's backlog is a few runs, not one pair per event, and however
 * many runs there are they travel in the snapshot's chunks, never in one row.
 */
export type PendingRuns = ReadonlyArray<readonly [number, number, number]>;

/** The `[seq, attempts]` pairs back from runs (a loop: there may be hundreds of thousands). */
export function pendingOfRuns(runs: PendingRuns): Array<[number, number]> {
  const pending: Array<[number, number]> = [];
  for (const [first, last, attempts] of runs) for (let seq = first; seq <= last; seq++) pending.push([seq, attempts]);
  return pending;
}

/**
 * A keyed list of the state (rigs, agents, beads, merge-request lists) relative to the same list in a
 * base: the rows added or changed (whole), and the keys gone. Applied to the base, it keeps the base's
 * order and appends new rows in their order — which is the order the town's maps keep.
 */
export interface ListDelta {
  readonly put: readonly unknown[];
  readonly removed: readonly string[];
}

/**
 * A snapshot's state as the change from a full snapshot (its base): each member of the state in the
 * state's own key order, keyed lists as a `ListDelta`, everything else (the town row, counts, focus,
 * usage: small) whole. Applying it to the base gives back the state (`deltaOf` says when it would not).
 */
export interface StateDelta {
  readonly members: ReadonlyArray<readonly [string, { readonly whole: unknown } | { readonly list: ListDelta }]>;
}

/** The members of the state that are lists keyed by id, with the key of a row. */
const KEYED_LISTS: Readonly<Record<string, (row: never) => string>> = {
  rigs: (rig: { id: string }) => rig.id,
  agents: (agent: { id: string }) => agent.id,
  beads: (bead: { id: string }) => bead.id,
  mergeRequests: (entry: readonly [string, unknown]) => entry[0],
};

type JsonObject = Readonly<Record<string, unknown>>;

/** A state's keyed lists as text, row by row, in their order: serialised once, for the state's JSON and its delta. */
export interface StateRows {
  readonly lists: ReadonlyMap<string, { readonly keys: readonly string[]; readonly texts: readonly string[] }>;
}

export function rowsOf(state: JsonObject): StateRows {
  const lists = new Map<string, { keys: string[]; texts: string[] }>();
  for (const [name, value] of Object.entries(state)) {
    const keyOf = KEYED_LISTS[name] as ((row: unknown) => string) | undefined;
    if (keyOf && Array.isArray(value)) lists.set(name, { keys: value.map(keyOf), texts: value.map((row) => JSON.stringify(row)) });
  }
  return { lists };
}

/** The state's JSON, exactly as `JSON.stringify(state)` gives it, from its rows' texts. */
export function textOf(state: JsonObject, rows: StateRows): string {
  const members: string[] = [];
  for (const [name, value] of Object.entries(state)) {
    if (value === undefined) continue;
    const list = rows.lists.get(name);
    members.push(`${JSON.stringify(name)}:${list ? `[${list.texts.join(",")}]` : JSON.stringify(value)}`);
  }
  return `{${members.join(",")}}`;
}

/**
 * What a delta is taken against: a full snapshot's keyed lists, row by row as text. Kept in memory
 * between snapshots (about the size of the state's JSON), so a delta compares texts, and read back from
 * storage only after the object starts again.
 */
export interface SnapshotBase {
  readonly id: number;
  readonly takenAt: number;
  readonly lists: ReadonlyMap<string, { readonly keys: readonly string[]; readonly texts: Map<string, string> }>;
}

/**
 * Whether a row's text and the row now hold the same fields with the same values, in any order. Only
 * rows whose text changed are asked, most of them really changed: a reordering keeps the text's
 * length, and the fields are compared one by one until one differs.
 */
function sameFields(wasText: string, text: string, row: unknown): boolean {
  if (wasText.length !== text.length) return false;
  const was = JSON.parse(wasText) as Record<string, unknown>;
  const now = row as Record<string, unknown>;
  const keys = Object.keys(now);
  if (keys.length !== Object.keys(was).length) return false;
  return keys.every((key) => key in was && JSON.stringify(was[key]) === JSON.stringify(now[key]));
}

export function snapshotBase(id: number, takenAt: number, rows: StateRows): SnapshotBase {
  const lists = new Map<string, { keys: readonly string[]; texts: Map<string, string> }>();
  for (const [name, list] of rows.lists) lists.set(name, { keys: list.keys, texts: new Map(list.keys.map((key, i) => [key, list.texts[i]!])) });
  return { id, takenAt, lists };
}

/**
 * The state as a delta from `base`, or null when applying one would not give the state back: applying
 * keeps the base's order and appends new rows, so a row that left a list and came back (a retried
 * bead, now last) cannot be told. Otherwise applying it gives back every row, with the same content in
 * the state's order, and the other members whole (byte for byte the state's JSON, but for the order
 * of fields inside a row the object loaded again from storage since the base).
 */
export function deltaOf(base: SnapshotBase, state: JsonObject, rows: StateRows): StateDelta | null {
  const members: Array<[string, { whole: unknown } | { list: ListDelta }]> = [];
  for (const [name, value] of Object.entries(state)) {
    if (value === undefined) continue;
    const list = rows.lists.get(name);
    const before = base.lists.get(name);
    if (!list || !before) {
      members.push([name, { whole: value }]);
      continue;
    }
    const present = new Set(list.keys);
    const kept = before.keys.filter((key) => present.has(key));
    const put: unknown[] = [];
    const values = value as unknown[];
    for (const [i, key] of list.keys.entries()) {
      // The state's order must be the base's (less what is gone) followed by the new rows.
      if (i < kept.length ? kept[i] !== key : before.texts.has(key)) return null;
      const was = before.texts.get(key);
      if (was === list.texts[i]) continue;
      // The same row loaded again from storage has its fields in another order: the same content is
      // no change (and its new text is what the next delta compares with).
      if (was !== undefined && sameFields(was, list.texts[i]!, values[i])) before.texts.set(key, list.texts[i]!);
      else put.push(values[i]);
    }
    members.push([name, { list: { put, removed: before.keys.filter((key) => !present.has(key)) } }]);
  }
  return { members };
}

export function applyDelta(base: JsonObject, delta: StateDelta): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const [name, change] of delta.members) {
    if ("whole" in change) {
      state[name] = change.whole;
      continue;
    }
    const keyOf = KEYED_LISTS[name] as (row: unknown) => string;
    const removed = new Set(change.list.removed);
    const put = new Map(change.list.put.map((row) => [keyOf(row), row]));
    const rows: unknown[] = [];
    for (const row of (base[name] ?? []) as unknown[]) {
      const key = keyOf(row);
      if (removed.has(key)) continue;
      rows.push(put.get(key) ?? row);
      put.delete(key);
    }
    for (const row of put.values()) rows.push(row);
    state[name] = rows;
  }
  return state;
}

/**
 * What a `frame` snapshot's chunks hold once decompressed: the pending list, and the state whole or as
 * a delta from its base.
 */
export type SnapshotFrame = { readonly pending: PendingRuns; readonly state: JsonObject } | { readonly pending: PendingRuns; readonly delta: StateDelta };

/**
 * The frame a snapshot is stored as, as JSON text (`json`: the state's, from `textOf`): a delta from
 * `base` when there is one, the delta gives the state back and it is at most `deltaAtMost` of the state,
 * else the whole state. (`base` learns the texts of rows whose fields only changed order.)
 */
export function snapshotFrame(
  state: JsonObject,
  rows: StateRows,
  json: string,
  pending: PendingRuns,
  base: SnapshotBase | null,
  deltaAtMost = DELTA_AT_MOST,
): { text: string; delta: boolean } {
  const runs = JSON.stringify(pending);
  const delta = base ? deltaOf(base, state, rows) : null;
  if (delta) {
    const text = JSON.stringify(delta);
    if (text.length <= json.length * deltaAtMost) return { text: `{"pending":${runs},"delta":${text}}`, delta: true };
  }
  return { text: `{"pending":${runs},"state":${json}}`, delta: false };
}
