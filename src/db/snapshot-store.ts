import { and, asc, desc, eq, inArray, isNull, lt, lte, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import * as schema from "./schema";
import { applyDelta, type PackedSnapshot, pendingOfRuns, type SnapshotFrame, unpackSnapshot } from "./snapshot-codec";
import { chunks, MAX_PARAMS } from "./sql";

export interface SnapshotMeta {
  readonly takenAt: number;
  /** The last tick whose effects the snapshot includes (0: none yet). */
  readonly tickId: number;
  /** The highest event seq at the time. */
  readonly logSeq: number;
  /** The oldest event still pending at the time (null: none). */
  readonly firstPendingSeq: number | null;
}

/** A snapshot about to be stored: its packed frame (src/db/snapshot-codec.ts) and what it stands for. */
export interface NewSnapshot extends SnapshotMeta {
  /** The full snapshot its frame is a delta from (null: the frame holds the whole state). */
  readonly baseId: number | null;
  /** The whole state's JSON in UTF-8 bytes (what reading it gives back, delta or not). */
  readonly bytes: number;
}

export interface StoredSnapshot extends SnapshotMeta {
  readonly id: number;
  /** The state as parsed JSON (a delta already applied to its base). */
  readonly state: unknown;
  /** Events still pending at the time, as `[seq, attempts]`. */
  readonly pending: Array<[number, number]>;
}

/** Where a snapshot is and how big it is, before it is read. */
export interface SnapshotRef extends SnapshotMeta {
  readonly id: number;
  readonly parts: number;
  /** Its state's JSON in UTF-8 bytes (what reading it holds in memory, however it is stored). */
  readonly bytes: number;
  readonly encoding: "json" | "gzip" | "frame";
  /** The full snapshot it is a delta from (null: it is full). */
  readonly baseId: number | null;
}

type SnapshotRow = typeof schema.snapshots.$inferSelect;

/**
 * Periodic copies of the town's working set, the starting points of replay. A snapshot is full, or a
 * delta from a full one (its base): reading one reads at most two, and retention keeps a base as long
 * as a delta from it is kept.
 */
export class SnapshotStore {
  constructor(private readonly db: DrizzleSqliteDODatabase<typeof schema>) {}

  /** Stores a packed frame: synchronous, so a caller can make it part of a transaction. */
  save(snapshot: NewSnapshot, packed: PackedSnapshot): number {
    const id = this.db
      .insert(schema.snapshots)
      .values({ ...snapshot, pending: [], parts: packed.chunks.length, encoding: "frame" })
      .returning({ id: schema.snapshots.id })
      .get()!.id;
    for (const [part, data] of packed.chunks.entries()) this.db.insert(schema.snapshotChunks).values({ snapshotId: id, part, data }).run();
    return id;
  }

  /**
   * The events pending now, as runs of consecutive seqs with the same attempts (what a snapshot keeps
   * of the queue), found by SQLite: under a flood the backlog's rows are counted there, and what
   * reaches JavaScript is a few runs, not one pair per event. (Here rather than in the event store:
   * only a snapshot asks the question this way.)
   */
  pendingRuns(): Array<[number, number, number]> {
    return this.db
      .all<{ first: number; last: number; attempts: number }>(
        sql`SELECT min(seq) AS first, max(seq) AS last, attempts FROM (
              SELECT seq, attempts, seq - row_number() OVER (PARTITION BY attempts ORDER BY seq) AS island
              FROM town_events WHERE status = 'pending'
            ) GROUP BY attempts, island ORDER BY first`,
      )
      .map((run) => [run.first, run.last, run.attempts]);
  }

  /** The latest snapshot taken at or before `at`, reassembled. */
  async atOrBefore(at: number): Promise<StoredSnapshot | null> {
    const ref = this.refAtOrBefore(at);
    return ref ? this.read(ref) : null;
  }

  /** Where the creation snapshot is, without reading it. */
  creationRef(): SnapshotRef | null {
    const first = this.db.select().from(schema.snapshots).where(eq(schema.snapshots.tickId, 0)).orderBy(asc(schema.snapshots.id)).limit(1).get();
    return first ? this.refAtOrBefore(first.takenAt) : null;
  }

  /**
   * Where the latest snapshot taken at or before `at` is, and its size in bytes (UTF-8), without
   * reading it: a caller bounded in what it reads decides first.
   */
  refAtOrBefore(at: number): SnapshotRef | null {
    const row = this.db
      .select()
      .from(schema.snapshots)
      .where(lte(schema.snapshots.takenAt, at))
      .orderBy(desc(schema.snapshots.takenAt), desc(schema.snapshots.id))
      .limit(1)
      .get();
    return row ? this.refOf(row) : null;
  }

  /** The newest full snapshot: what the next delta is taken from. */
  latestFullRef(): SnapshotRef | null {
    const row = this.db
      .select()
      .from(schema.snapshots)
      .where(isNull(schema.snapshots.baseId))
      .orderBy(desc(schema.snapshots.takenAt), desc(schema.snapshots.id))
      .limit(1)
      .get();
    return row ? this.refOf(row) : null;
  }

  private refById(id: number): SnapshotRef | null {
    const row = this.db.select().from(schema.snapshots).where(eq(schema.snapshots.id, id)).get();
    return row ? this.refOf(row) : null;
  }

  private refOf(row: SnapshotRow): SnapshotRef {
    // A compressed snapshot knows its size; an older one is measured from its parts.
    const bytes =
      row.encoding === "json"
        ? this.db
            .select({ bytes: sql<number | null>`sum(length(CAST(${schema.snapshotParts.data} AS BLOB)))` })
            .from(schema.snapshotParts)
            .where(eq(schema.snapshotParts.snapshotId, row.id))
            .get()?.bytes
        : row.bytes;
    const { id, takenAt, tickId, logSeq, parts, encoding, baseId } = row;
    const firstPendingSeq = encoding === "frame" ? row.firstPendingSeq : firstOf(row.pending as Array<[number, number]>);
    return { id, takenAt, tickId, logSeq, firstPendingSeq, parts, bytes: bytes ?? 0, encoding, baseId };
  }

  /**
   * A snapshot reassembled: decompressed from its chunks (a delta applied to its base), or joined from
   * its parts if it was stored uncompressed.
   */
  async read(ref: SnapshotRef): Promise<StoredSnapshot> {
    const { id, takenAt, tickId, logSeq, firstPendingSeq } = ref;
    const meta = { id, takenAt, tickId, logSeq, firstPendingSeq };
    if (ref.encoding !== "frame") {
      const pending = this.db.select({ pending: schema.snapshots.pending }).from(schema.snapshots).where(eq(schema.snapshots.id, id)).get()!.pending as Array<
        [number, number]
      >;
      const json = ref.encoding === "gzip" ? await unpackSnapshot(this.dataOf(ref) as Uint8Array[]) : (this.dataOf(ref) as string[]).join("");
      return { ...meta, pending, state: JSON.parse(json) };
    }
    const frame = JSON.parse(await unpackSnapshot(this.dataOf(ref) as Uint8Array[])) as SnapshotFrame;
    const pending = pendingOfRuns(frame.pending);
    if ("state" in frame) return { ...meta, pending, state: frame.state };
    const base = ref.baseId === null ? null : this.refById(ref.baseId);
    if (!base || base.baseId !== null) throw new Error(`snapshot ${id} is a delta from snapshot ${ref.baseId}, which is not a full snapshot kept`);
    const { state } = await this.read(base);
    return { ...meta, pending, state: applyDelta(state as Record<string, unknown>, frame.delta) };
  }

  private dataOf(ref: SnapshotRef): Array<Uint8Array | string> {
    const table = ref.encoding === "json" ? schema.snapshotParts : schema.snapshotChunks;
    const parts = this.db
      .select({ data: table.data })
      .from(table)
      .where(eq(table.snapshotId, ref.id))
      .orderBy(asc(table.part))
      .all()
      .map((p) => p.data);
    if (parts.length !== ref.parts) throw new Error(`snapshot ${ref.id} has ${parts.length} of its ${ref.parts} parts`);
    return parts;
  }

  oldestAt(): number | null {
    return (
      this.db
        .select({ at: sql<number | null>`min(${schema.snapshots.takenAt})` })
        .from(schema.snapshots)
        .get()?.at ?? null
    );
  }

  lastAt(): number | null {
    return (
      this.db
        .select({ at: sql<number | null>`max(${schema.snapshots.takenAt})` })
        .from(schema.snapshots)
        .get()?.at ?? null
    );
  }

  /** The bytes its snapshots take stored (compressed chunks, or text parts), and how many are full and deltas. */
  storedSize(): { bytes: number; full: number; deltas: number } {
    const chunkBytes =
      this.db
        .select({ n: sql<number | null>`sum(length(${schema.snapshotChunks.data}))` })
        .from(schema.snapshotChunks)
        .get()?.n ?? 0;
    const partBytes =
      this.db
        .select({ n: sql<number | null>`sum(length(CAST(${schema.snapshotParts.data} AS BLOB)))` })
        .from(schema.snapshotParts)
        .get()?.n ?? 0;
    const counts = this.db
      .select({ full: sql<number>`count(*) - count(${schema.snapshots.baseId})`, deltas: sql<number>`count(${schema.snapshots.baseId})` })
      .from(schema.snapshots)
      .get()!;
    return { bytes: chunkBytes + partBytes, full: counts.full, deltas: counts.deltas };
  }

  /**
   * Drops snapshots taken before `before`, except the newest of them (the base for the oldest windows)
   * and any full snapshot a kept delta is taken from.
   */
  prune(before: number): void {
    const keep = this.db
      .select({ id: schema.snapshots.id })
      .from(schema.snapshots)
      .where(lt(schema.snapshots.takenAt, before))
      .orderBy(desc(schema.snapshots.takenAt), desc(schema.snapshots.id))
      .limit(1)
      .get();
    if (!keep) return;
    const candidates = new Set(
      this.db
        .select({ id: schema.snapshots.id })
        .from(schema.snapshots)
        .where(and(lt(schema.snapshots.takenAt, before), lt(schema.snapshots.id, keep.id)))
        .all()
        .map((r) => r.id),
    );
    // Retention keeps about a week of hourly snapshots: their few hundred rows are read whole.
    for (const { id, baseId } of this.db.select({ id: schema.snapshots.id, baseId: schema.snapshots.baseId }).from(schema.snapshots).all()) {
      if (baseId !== null && !candidates.has(id)) candidates.delete(baseId);
    }
    for (const chunk of chunks([...candidates], MAX_PARAMS)) {
      this.db.delete(schema.snapshotChunks).where(inArray(schema.snapshotChunks.snapshotId, chunk)).run();
      this.db.delete(schema.snapshotParts).where(inArray(schema.snapshotParts.snapshotId, chunk)).run();
      this.db.delete(schema.snapshots).where(inArray(schema.snapshots.id, chunk)).run();
    }
  }
}

/** The oldest seq of a `[seq, attempts]` list (a loop: the list may be long), or null. */
function firstOf(pending: ReadonlyArray<readonly [number, number]>): number | null {
  let first: number | null = null;
  for (const [seq] of pending) if (first === null || seq < first) first = seq;
  return first;
}
