import { and, asc, desc, eq, inArray, lt, lte, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import * as schema from "./schema";
import { chunks, MAX_PARAMS } from "./sql";

/** Characters per snapshot part: at most 3 UTF-8 bytes each, so a part stays under 1.5 MB (rows may hold 2 MB). */
export const SNAPSHOT_PART_CHARS = 500_000;

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
  /** Its JSON in UTF-8 bytes. */
  readonly bytes: number;
}

/** Periodic copies of the town's working set, the starting points of replay. */
export class SnapshotStore {
  constructor(private readonly db: DrizzleSqliteDODatabase<typeof schema>) {}

  /** Stores a snapshot's JSON in parts of at most `partChars` characters (≤ 3 bytes each: far under 2 MB). */
  save(meta: SnapshotMeta, json: string, partChars = SNAPSHOT_PART_CHARS): number {
    const pieces = splitText(json, partChars);
    const id = this.db
      .insert(schema.snapshots)
      .values({ ...meta, parts: pieces.length, bytes: json.length })
      .returning({ id: schema.snapshots.id })
      .get()!.id;
    for (const [part, data] of pieces.entries()) this.db.insert(schema.snapshotParts).values({ snapshotId: id, part, data }).run();
    return id;
  }

  /** The latest snapshot taken at or before `at`, reassembled. */
  atOrBefore(at: number): StoredSnapshot | null {
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
    const bytes = this.db
      .select({ bytes: sql<number | null>`sum(length(CAST(${schema.snapshotParts.data} AS BLOB)))` })
      .from(schema.snapshotParts)
      .where(eq(schema.snapshotParts.snapshotId, meta.id))
      .get()?.bytes;
    const pending = meta.pending as Array<[number, number]>;
    return { id: meta.id, takenAt: meta.takenAt, tickId: meta.tickId, logSeq: meta.logSeq, pending, parts: meta.parts, bytes: bytes ?? 0 };
  }

  /** A snapshot reassembled from its parts. */
  read(ref: SnapshotRef): StoredSnapshot {
    const parts = this.db
      .select({ part: schema.snapshotParts.part, data: schema.snapshotParts.data })
      .from(schema.snapshotParts)
      .where(eq(schema.snapshotParts.snapshotId, ref.id))
      .orderBy(asc(schema.snapshotParts.part))
      .all();
    if (parts.length !== ref.parts) throw new Error(`snapshot ${ref.id} has ${parts.length} of its ${ref.parts} parts`);
    return { id: ref.id, takenAt: ref.takenAt, tickId: ref.tickId, logSeq: ref.logSeq, pending: ref.pending, json: parts.map((p) => p.data).join("") };
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
      this.db.delete(schema.snapshotParts).where(inArray(schema.snapshotParts.snapshotId, chunk)).run();
      this.db.delete(schema.snapshots).where(inArray(schema.snapshots.id, chunk)).run();
    }
  }
}

/** Text in pieces of at most `size` UTF-16 units, never splitting a surrogate pair (an emoji stays whole). */
export function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + size, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    pieces.push(text.slice(start, end));
    start = end;
  }
  return pieces.length > 0 ? pieces : [""];
}
