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

/** `[seq, attempts]` pairs in seq order, as runs (a loop: the list may hold hundreds of thousands). */
export function pendingRunsOf(pending: ReadonlyArray<readonly [number, number]>): Array<[number, number, number]> {
  const runs: Array<[number, number, number]> = [];
  for (const [seq, attempts] of pending) {
    const last = runs.at(-1);
    if (last && last[1] === seq - 1 && last[2] === attempts) last[1] = seq;
    else runs.push([seq, seq, attempts]);
  }
  return runs;
}

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
 * usage: small) whole. Applying it to the base gives back the state's JSON byte for byte, which is
 * checked before one is stored.
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

export function deltaOf(base: JsonObject, state: JsonObject): StateDelta {
  const members: Array<[string, { whole: unknown } | { list: ListDelta }]> = [];
  for (const [name, value] of Object.entries(state)) {
    const keyOf = KEYED_LISTS[name] as ((row: unknown) => string) | undefined;
    const before = base[name];
    if (!keyOf || !Array.isArray(value) || !Array.isArray(before)) {
      members.push([name, { whole: value }]);
      continue;
    }
    const was = new Map<string, string>();
    for (const row of before) was.set(keyOf(row), JSON.stringify(row));
    const put: unknown[] = [];
    const present = new Set<string>();
    for (const row of value) {
      const key = keyOf(row);
      present.add(key);
      if (was.get(key) !== JSON.stringify(row)) put.push(row);
    }
    const removed = [...was.keys()].filter((key) => !present.has(key));
    members.push([name, { list: { put, removed } }]);
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
 * The frame a snapshot is stored as, as JSON text: a delta from `base` when there is one and the delta
 * is at most `deltaAtMost` of the state and gives back the state's very JSON (`json`, the state serialised) — a row
 * that moved in the maps' order would not — else the whole state. Built from texts already at hand:
 * the state is serialised once.
 */
export function snapshotFrame(
  state: JsonObject,
  json: string,
  pending: PendingRuns,
  base: JsonObject | null,
  deltaAtMost = DELTA_AT_MOST,
): { text: string; delta: boolean } {
  const runs = JSON.stringify(pending);
  if (base) {
    const delta = deltaOf(base, state);
    const text = JSON.stringify(delta);
    if (text.length <= json.length * deltaAtMost && JSON.stringify(applyDelta(base, delta)) === json)
      return { text: `{"pending":${runs},"delta":${text}}`, delta: true };
  }
  return { text: `{"pending":${runs},"state":${json}}`, delta: false };
}
