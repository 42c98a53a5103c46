import { and, asc, desc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import * as schema from "./schema";
import { type PackedSnapshot, unpackSnapshot } from "./snapshot-codec";
import { chunks, MAX_PARAMS } from "./sql";

export interface SnapshotMeta {
  readonly takenAt: number;
  /** The last tick whose effects the snapshot includes (0: none yet). */
  readonly tickId: number;
  /** The highest event seq at the time. */
  readonly logSeq: number;
  /** Events still pending at the time, as `[seq, attempts]`. */
  readonly pending: Array<[number, number]>;
}

export interface StoredSnapshot extends SnapshotMeta {
  readonly id: number;
  readonly json: string;
}

/** Where a snapshot is and how big it is, before it is read. */
export interface SnapshotRef extends SnapshotMeta {
  readonly id: number;
  readonly parts: number;
  /** Its JSON in UTF-8 bytes (what reading it holds in memory, however it is stored). */
  readonly bytes: number;
  readonly encoding: "json" | "gzip";
}

/** Periodic copies of the town's working set, the starting points of replay. */
export class SnapshotStore {
  constructor(private readonly db: DrizzleSqliteDODatabase<typeof schema>) {}

  /** Stores a packed snapshot: synchronous, so a caller can make it part of a transaction. */
  save(meta: SnapshotMeta, packed: PackedSnapshot): number {
    const id = this.db
      .insert(schema.snapshots)
      .values({ ...meta, parts: packed.chunks.length, bytes: packed.bytes, encoding: "gzip" })
      .returning({ id: schema.snapshots.id })
      .get()!.id;
    for (const [part, data] of packed.chunks.entries()) this.db.insert(schema.snapshotChunks).values({ snapshotId: id, part, data }).run();
    return id;
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
    const meta = this.db
      .select()
      .from(schema.snapshots)
      .where(lte(schema.snapshots.takenAt, at))
      .orderBy(desc(schema.snapshots.takenAt), desc(schema.snapshots.id))
      .limit(1)
      .get();
    if (!meta) return null;
    // A compressed snapshot knows its size; an older one is measured from its parts.
    const bytes =
      meta.encoding === "gzip"
        ? meta.bytes
        : this.db
            .select({ bytes: sql<number | null>`sum(length(CAST(${schema.snapshotParts.data} AS BLOB)))` })
            .from(schema.snapshotParts)
            .where(eq(schema.snapshotParts.snapshotId, meta.id))
            .get()?.bytes;
    const pending = meta.pending as Array<[number, number]>;
    const { id, takenAt, tickId, logSeq, parts, encoding } = meta;
    return { id, takenAt, tickId, logSeq, pending, parts, bytes: bytes ?? 0, encoding };
  }

  /** A snapshot reassembled from its chunks (and decompressed), or from its parts if it was stored uncompressed. */
  async read(ref: SnapshotRef): Promise<StoredSnapshot> {
    const table = ref.encoding === "gzip" ? schema.snapshotChunks : schema.snapshotParts;
    const parts = this.db
      .select({ data: table.data })
      .from(table)
      .where(eq(table.snapshotId, ref.id))
      .orderBy(asc(table.part))
      .all()
      .map((p) => p.data);
    if (parts.length !== ref.parts) throw new Error(`snapshot ${ref.id} has ${parts.length} of its ${ref.parts} parts`);
    const json = ref.encoding === "gzip" ? await unpackSnapshot(parts as Uint8Array[]) : (parts as string[]).join("");
    return { id: ref.id, takenAt: ref.takenAt, tickId: ref.tickId, logSeq: ref.logSeq, pending: ref.pending, json };
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

  /** Drops snapshots taken before `before`, except the newest of them (the base for the oldest windows). */
  prune(before: number): void {
    const keep = this.db
      .select({ id: schema.snapshots.id })
      .from(schema.snapshots)
      .where(lt(schema.snapshots.takenAt, before))
      .orderBy(desc(schema.snapshots.takenAt), desc(schema.snapshots.id))
      .limit(1)
      .get();
    if (!keep) return;
    const doomed = this.db
      .select({ id: schema.snapshots.id })
      .from(schema.snapshots)
      .where(and(lt(schema.snapshots.takenAt, before), lt(schema.snapshots.id, keep.id)))
      .all()
      .map((r) => r.id);
    for (const chunk of chunks(doomed, MAX_PARAMS)) {
      this.db.delete(schema.snapshotChunks).where(inArray(schema.snapshotChunks.snapshotId, chunk)).run();
      this.db.delete(schema.snapshotParts).where(inArray(schema.snapshotParts.snapshotId, chunk)).run();
      this.db.delete(schema.snapshots).where(inArray(schema.snapshots.id, chunk)).run();
    }
  }
}
