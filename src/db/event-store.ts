import { clipError } from "../domain/format";
import type { QueueStats } from "../domain/queue";
import { allColumns, rowCodec } from "./codec";
import * as schema from "./schema";
import { allRows, changes, chunks, firstRow, jsonRowChunks, MAX_PARAMS, placeholders, runs } from "./sql";

/** pending → processed, or → dead after its last failed attempt; a dead one may be retried (pending) or discarded. */
export type EventStatus = "pending" | "processed" | "dead" | "discarded";

/** An event row as stored; its payload is parsed and validated by the drain, not here. */
export type StoredEvent = Omit<typeof schema.townEvents.$inferSelect, "status"> & { readonly status: EventStatus };

export type NewEvent = Pick<StoredEvent, "eventId" | "type" | "agentId" | "beadId" | "payload" | "createdAt">;

const EVENT_ROW = rowCodec(schema.townEvents, allColumns(schema.townEvents));
const SELECT_EVENTS = `SELECT ${EVENT_ROW.columns} FROM town_events`;
const SELECT_PENDING = `${SELECT_EVENTS} WHERE status = 'pending' ORDER BY seq LIMIT ?`;
/**
 * Named, not left to the planner: the pending index (or an agent's) would also serve, and walk the
 * whole backlog a flood left there to find the few of the agents' own lane.
 */
const SELECT_OWN_PENDING = `${SELECT_EVENTS} INDEXED BY town_events_own_pending WHERE status = 'pending' AND lane = 'own' ORDER BY seq LIMIT ?`;
/** Bytes counted per event beyond its texts: its seq and times. */
export const EVENT_ROW_OVERHEAD = 24;
/** What an event weighs (its texts and the overhead): what the log's byte totals, retention and sizeAfter count. */
const EVENT_BYTES = `(length(CAST(payload AS BLOB)) + length(CAST(event_id AS BLOB)) + length(type) + coalesce(length(CAST(agent_id AS BLOB)), 0) + coalesce(length(CAST(bead_id AS BLOB)), 0) + ${EVENT_ROW_OVERHEAD})`;
/**
 * The insert of a chunk of events in one statement: its rows as one JSON array bound once
 * (`[eventId, type, agentId, beadId, payload, createdAt]` each, jsonRowChunks), read back in order
 * by `json_each`. A batch of 1,000 is one statement: each statement costs the runtime a call and a
 * cursor, which for many small rows cost more than the rows (docs/benchmarks.md, HTTP ingest). JSON
 * carries every text as a binding would, a lone surrogate and a NUL included (test/town/event-append).
 * An event id already in the log is skipped before the insert is tried: a row SQLite refuses on
 * conflict still uses up an AUTOINCREMENT seq, and a gap in the seqs reads as pruned history to
 * replay and export.
 */
const INSERT_JSON_ROWS =
  "INSERT INTO town_events (lane, event_id, type, agent_id, bead_id, payload, created_at, status, attempts, processed_at) " +
  "SELECT ?, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, ?, 0, ? FROM json_each(?) AS r " +
  "WHERE NOT EXISTS (SELECT 1 FROM town_events e WHERE e.event_id = r.value ->> 0) " +
  `ON CONFLICT (event_id) DO NOTHING RETURNING seq, event_id, ${EVENT_BYTES} AS bytes`;
/** Events per tick at most from the agents' own lane: the rest of the batch goes to the others, so neither starves the other. */
const OWN_LANE_SHARE = 0.5;

/** Who sent an event: a working agent's own container (its dispatch credential), or anyone else. */
export type EventLane = "own" | null;

/** The log's totals (the `event_totals` row): what waits, and what the log holds. */
export interface EventTotals {
  readonly pending: number;
  readonly events: number;
  readonly bytes: number;
}
/** Seqs per read of sizeAfter: at most this many rows are read past the point where the cap is passed. */
const SIZE_SCAN_SEQS = 1_000;

/** Where sizeAfter may stop reading: past this many events, or bytes (bead bodies counted or not). */
export interface EventSizeCap {
  readonly events: number;
  readonly bytes: number;
  readonly countBodies: boolean;
}

export interface EventSize {
  readonly events: number;
  readonly bytes: number;
  readonly bodyBytes: number;
  /** The last seq logged at or before the window's end (the seq it started after if none). */
  readonly lastSeq: number;
  /** The scan stopped at the cap: the figures are what it read, already over it. */
  readonly capped: boolean;
  /** No seq was missing in what it read. */
  readonly complete: boolean;
  /** Rows SQLite read to answer (what the check cost). */
  readonly rowsRead: number;
}

const decode = (raw: readonly SqlStorageValue[]) => EVENT_ROW.decode(raw) as StoredEvent;

/** The town's event log (`town_events`): every change to the town, in `seq` order. */
export class EventStore {
  /** The highest seq given before migration 0016 (id_floors; written by the migration only, so read once). */
  private floor: number | undefined;
  /** Whether the log may still be empty since that migration: the next append must then continue from the floor. */
  private mayBeEmpty = true;

  constructor(private readonly sql: SqlStorage) {}

  /**
   * Appends events; `processedAt` set means already applied (commands), else pending for the next tick.
   * An event id already in the log is skipped; what was inserted comes back.
   */
  append(events: readonly NewEvent[], processedAt: number | null = null, lane: EventLane = null): Array<{ seq: number; eventId: string }> {
    const status: EventStatus = processedAt === null ? "pending" : "processed";
    const inserted: Array<{ seq: number; eventId: string }> = [];
    let bytes = 0;
    const bridge = events.length > 0 ? this.bridgeSeq() : null;
    // A row at the floor makes SQLite give the next seq after it; it goes again once the batch is in.
    if (bridge !== null)
      this.sql.exec("INSERT INTO town_events (seq, event_id, type, payload, created_at, status) VALUES (?, '', '', '', 0, 'discarded')", bridge);
    const take = (cursor: Iterable<{ seq: number; event_id: string; bytes: number }>) => {
      for (const row of cursor) {
        inserted.push({ seq: row.seq, eventId: row.event_id });
        bytes += row.bytes;
      }
    };
    // In order, so the seqs follow the batch.
    const rows = events.map((e) => [e.eventId, e.type, e.agentId, e.beadId, e.payload, e.createdAt]);
    for (const chunk of jsonRowChunks(rows))
      take(this.sql.exec<{ seq: number; event_id: string; bytes: number }>(INSERT_JSON_ROWS, lane, status, processedAt, chunk));
    if (bridge !== null) this.sql.exec("DELETE FROM town_events WHERE seq = ?", bridge);
    if (inserted.length > 0) this.addToTotals(status === "pending" ? inserted.length : 0, inserted.length, bytes);
    return inserted;
  }

  /**
   * The seq a log emptied by retention before migration 0016 must continue after (null: it need not).
   * Retention keeps the newest event since, so once the log holds a row SQLite's own next seq (one above
   * the highest) never goes back, and this is asked no more.
   */
  private bridgeSeq(): number | null {
    if (!this.mayBeEmpty) return null;
    const empty = this.sql.exec("SELECT 1 FROM town_events LIMIT 1").toArray().length === 0;
    this.mayBeEmpty = empty;
    return empty && this.seqFloor() > 0 ? this.seqFloor() : null;
  }

  private seqFloor(): number {
    this.floor ??= this.sql.exec<{ last: number }>("SELECT coalesce((SELECT last FROM id_floors WHERE name = 'town_events'), 0) AS last").one().last;
    return this.floor;
  }

  /** The log's totals, one row read (kept by every write that changes them). */
  totals(): EventTotals {
    const row = this.sql.exec<{ pending: number; events: number; bytes: number }>("SELECT pending, events, bytes FROM event_totals WHERE id = 1").toArray()[0];
    return row ?? { pending: 0, events: 0, bytes: 0 };
  }

  /**
   * The totals counted again over the whole log, as migration 0014 first counted them: for rows written
   * outside this store (a hand repair, a test's seeded rows). O(log): never on a request's or a tick's path.
   */
  recountTotals(): EventTotals {
    this.sql.exec(
      `UPDATE event_totals SET (pending, events, bytes) = (
         SELECT coalesce(sum(status = 'pending'), 0), count(*), coalesce(sum(${EVENT_BYTES}), 0) FROM town_events) WHERE id = 1`,
    );
    return this.totals();
  }

  /** One update per write, whatever its size; the row is there from the migration that made the table. */
  private addToTotals(pending: number, events: number, bytes: number): void {
    this.sql.exec("UPDATE event_totals SET pending = pending + ?, events = events + ?, bytes = bytes + ? WHERE id = 1", pending, events, bytes);
  }

  /** Stored events with these ids (to tell a duplicate from a conflicting reuse of an id). */
  byIds(eventIds: readonly string[]): StoredEvent[] {
    return chunks(eventIds, MAX_PARAMS).flatMap((chunk) =>
      allRows(this.sql, `${SELECT_EVENTS} WHERE event_id IN (${placeholders(chunk.length)})`, { decode }, ...chunk),
    );
  }

  bySeq(seq: number): StoredEvent | undefined {
    return firstRow(this.sql, `${SELECT_EVENTS} WHERE seq = ?`, { decode }, seq);
  }

  /** Events with these seqs, in seq order. */
  bySeqs(seqs: readonly number[]): StoredEvent[] {
    const found = chunks(seqs, MAX_PARAMS).flatMap((chunk) =>
      allRows(this.sql, `${SELECT_EVENTS} WHERE seq IN (${placeholders(chunk.length)})`, { decode }, ...chunk),
    );
    return found.sort((a, b) => a.seq - b.seq);
  }

  /**
   * What the next tick drains, in seq order: the agents' own callbacks first (up to their share of
   * `limit`, from their own index), then the oldest of the rest. So a working agent's report is applied
   * by the next tick however long the queue behind the platform's token is (DESIGN §4.8), and a flood
   * of callbacks still leaves the others their share.
   */
  pending(limit: number): StoredEvent[] {
    const own = allRows(this.sql, SELECT_OWN_PENDING, { decode }, Math.ceil(limit * OWN_LANE_SHARE));
    if (own.length === 0) return allRows(this.sql, SELECT_PENDING, { decode }, limit);
    const taken = new Set(own.map((row) => row.seq));
    const rest = allRows(this.sql, SELECT_PENDING, { decode }, limit).filter((row) => !taken.has(row.seq));
    return [...own, ...rest.slice(0, limit - own.length)].sort((a, b) => a.seq - b.seq);
  }

  /** Marks drained events processed, or counts a failed attempt (dead-lettering at the limit). Returns the dead ones. */
  settle(processed: readonly number[], failed: ReadonlyArray<{ seq: number; error: string }>, now: number, maxAttempts: number): number[] {
    // Drained events are consecutive unless some failed or came from the agents' own lane: a run of
    // consecutive seqs is one range update.
    for (const [first, last] of runs([...processed].sort((a, b) => a - b))) {
      this.sql.exec("UPDATE town_events SET status = 'processed', processed_at = ? WHERE seq BETWEEN ? AND ?", now, first, last);
    }
    const dead: number[] = [];
    for (const { seq, error } of failed) {
      const row = this.sql
        .exec<{ status: string }>(
          `UPDATE town_events SET attempts = attempts + 1, last_error = ?,
             status = CASE WHEN attempts + 1 >= ? THEN 'dead' ELSE 'pending' END,
             processed_at = CASE WHEN attempts + 1 >= ? THEN ? ELSE NULL END
           WHERE seq = ? RETURNING status`,
          clipError(error),
          maxAttempts,
          maxAttempts,
          now,
          seq,
        )
        .toArray()[0];
      if (row?.status === "dead") dead.push(seq);
    }
    const settled = processed.length + dead.length;
    if (settled > 0) this.addToTotals(-settled, 0, 0);
    return dead;
  }

  /** A dead-lettered event goes back in the queue with its attempts reset. */
  revive(seq: number): void {
    this.sql.exec("UPDATE town_events SET status = 'pending', attempts = 0, processed_at = NULL WHERE seq = ? AND status = 'dead'", seq);
    if (changes(this.sql) > 0) this.addToTotals(1, 0, 0);
  }

  /** A dead-lettered event is dropped for good (kept until retention prunes it, as `discarded`). */
  discard(seq: number, now: number): void {
    this.sql.exec("UPDATE town_events SET status = 'discarded', processed_at = ? WHERE seq = ? AND status = 'dead'", now, seq);
  }

  /**
   * What waits, since when, and what is dead — at a cost that does not grow with the backlog (every
   * tick, status read and summary asks): the count from the totals, the oldest from the first pending
   * seq (the log's times never go back), the dead by their own small index.
   */
  queueStats(): QueueStats {
    const { pending } = this.totals();
    const oldest = this.sql.exec<{ at: number }>("SELECT created_at AS at FROM town_events WHERE status = 'pending' ORDER BY seq LIMIT 1").toArray()[0];
    const dead = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM town_events WHERE status = 'dead'").one();
    return { pending, oldestPendingAt: oldest?.at ?? null, dead: dead.n };
  }

  /** How many of the agents' own callbacks from this agent wait (read from their own index, which the per-agent bound keeps small). */
  pendingOwn(agentId: string): number {
    return this.sql
      .exec<{ n: number }>(
        "SELECT count(*) AS n FROM town_events INDEXED BY town_events_own_pending WHERE status = 'pending' AND lane = 'own' AND agent_id = ?",
        agentId,
      )
      .one().n;
  }

  withStatus(status: "pending" | "dead", limit: number): StoredEvent[] {
    return allRows(this.sql, `${SELECT_EVENTS} WHERE status = ? ORDER BY seq LIMIT ?`, { decode }, status, limit);
  }

  /**
   * Retention: applied (and discarded) events older than `before` go, any beyond the newest `keep`
   * seqs, and the oldest while the log holds more than `keepBytes`; at most `limit` rows per call, so
   * pruning never makes one alarm long. Returns how many went, and their bytes.
   */
  prune(before: number, keep: number, keepBytes: number, limit: number): { events: number; bytes: number } {
    const cutoff = this.maxSeq() - keep;
    const excess = Math.max(0, this.totals().bytes - keepBytes);
    let events = 0;
    let bytes = 0;
    // The window is over the batch only (its LIMIT comes first); `ahead`: the bytes of the settled events
    // before this one, so the oldest go until the excess is gone.
    for (const row of this.sql.exec<{ bytes: number }>(
      `DELETE FROM town_events WHERE seq IN (
         SELECT seq FROM (
           SELECT seq, processed_at, sum(bytes) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) - bytes AS ahead FROM (
             SELECT seq, processed_at, ${EVENT_BYTES} AS bytes FROM town_events WHERE status IN ('processed', 'discarded') ORDER BY seq LIMIT ?))
         WHERE (processed_at < ? OR seq <= ? OR ahead < ?) AND seq < (SELECT max(seq) FROM town_events))
       RETURNING ${EVENT_BYTES} AS bytes`,
      limit,
      before,
      cutoff,
      excess,
    )) {
      events += 1;
      bytes += row.bytes;
    }
    if (events > 0) this.addToTotals(0, -events, -bytes);
    return { events, bytes };
  }

  /** The highest event seq ever assigned (pruning never lowers it: it keeps the newest event). */
  maxSeq(): number {
    const row = this.sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM town_events").one();
    return Math.max(row.seq ?? 0, this.seqFloor());
  }

  /** Pending events as `[seq, attempts]`, in seq order. */
  pendingSeqs(): Array<[number, number]> {
    return this.sql
      .exec<{ seq: number; attempts: number }>("SELECT seq, attempts FROM town_events WHERE status = 'pending' ORDER BY seq")
      .toArray()
      .map((row) => [row.seq, row.attempts]);
  }

  /**
   * How many events after `afterSeq` were logged at or before `at`, their bytes (what replay and export
   * read of them), how many of those bytes are bead bodies in bead_created payloads, and the last of
   * their seqs — read at a bounded cost: a range of seqs at a time, stopping as soon as the count or
   * the bytes pass `cap` (`capped`: the figures are then what was read, already over it), at the end
   * of the log, or at the first range holding an event logged after `at` (the log's times never go
   * back: one clock, the town's). So a window far too large is refused after reading about as much as
   * the cap, never the whole log. `complete` is false when a seq in what was read is missing (pruned).
   */
  sizeAfter(afterSeq: number, at: number, cap: EventSizeCap): EventSize {
    const last = this.maxSeq();
    const size = { events: 0, bytes: 0, bodyBytes: 0, lastSeq: afterSeq, capped: false, complete: true, rowsRead: 0 };
    for (let from = afterSeq; from < last; from += SIZE_SCAN_SEQS) {
      const to = Math.min(last, from + SIZE_SCAN_SEQS);
      const cursor = this.sql.exec<{
        rows: number;
        n: number | null;
        bytes: number | null;
        bodies: number | null;
        lastSeq: number | null;
        later: number | null;
      }>(
        `SELECT count(*) AS rows, sum(created_at <= ?) AS n,
           sum(CASE WHEN created_at <= ? THEN ${EVENT_BYTES} ELSE 0 END) AS bytes,
           sum(CASE WHEN created_at <= ? AND type = 'bead_created' AND json_valid(payload) THEN coalesce(length(CAST(json_extract(payload, '$.body') AS BLOB)), 0) ELSE 0 END) AS bodies,
           max(CASE WHEN created_at <= ? THEN seq END) AS lastSeq,
           sum(created_at > ?) AS later
         FROM town_events WHERE seq > ? AND seq <= ?`,
        at,
        at,
        at,
        at,
        at,
        from,
        to,
      );
      const row = cursor.one();
      size.rowsRead += cursor.rowsRead;
      if (row.rows !== to - from) size.complete = false;
      size.events += row.n ?? 0;
      size.bytes += row.bytes ?? 0;
      size.bodyBytes += row.bodies ?? 0;
      if (row.lastSeq !== null) size.lastSeq = Math.max(size.lastSeq, row.lastSeq);
      const weighed = size.bytes - (cap.countBodies ? 0 : size.bodyBytes);
      if (size.events > cap.events || weighed > cap.bytes) {
        size.capped = true;
        break;
      }
      if ((row.later ?? 0) > 0) break;
    }
    return size;
  }

  /** The distinct bead ids events with `afterSeq < seq ≤ lastSeq` name in their bead column. */
  beadIdsAfter(afterSeq: number, lastSeq: number): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT DISTINCT bead_id AS id FROM town_events WHERE seq > ? AND seq <= ? AND bead_id IS NOT NULL", afterSeq, lastSeq)
      .toArray()
      .map((row) => row.id);
  }

  /** Events with `afterSeq < seq ≤ lastSeq`, in seq order, at most `limit`. */
  page(afterSeq: number, lastSeq: number, limit: number): StoredEvent[] {
    return allRows(this.sql, `${SELECT_EVENTS} WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, { decode }, afterSeq, lastSeq, limit);
  }

  /** Events of these types after `afterSeq` logged at or before `at`, in seq order. */
  ofTypesAfter(afterSeq: number, at: number, types: readonly string[], limit = 1_000_000): StoredEvent[] {
    return allRows(
      this.sql,
      `${SELECT_EVENTS} WHERE seq > ? AND created_at <= ? AND type IN (${placeholders(types.length)}) ORDER BY seq LIMIT ?`,
      { decode },
      afterSeq,
      at,
      ...types,
      limit,
    );
  }

  /** Events of any other type after `afterSeq` logged at or before `at`, in seq order. */
  notOfTypesAfter(afterSeq: number, at: number, types: readonly string[], limit = 1_000_000): StoredEvent[] {
    return allRows(
      this.sql,
      `${SELECT_EVENTS} WHERE seq > ? AND created_at <= ? AND type NOT IN (${placeholders(types.length)}) ORDER BY seq LIMIT ?`,
      { decode },
      afterSeq,
      at,
      ...types,
      limit,
    );
  }

  /** Events with `first ≤ seq ≤ last`, in seq order. */
  inSeqRange(first: number, last: number): StoredEvent[] {
    return allRows(this.sql, `${SELECT_EVENTS} WHERE seq BETWEEN ? AND ? ORDER BY seq`, { decode }, first, last);
  }

  /** The newest `limit` events that name this bead in their bead column, in seq order (index `town_events_bead`). */
  namingBead(beadId: string, limit: number): StoredEvent[] {
    return allRows(this.sql, `${SELECT_EVENTS} WHERE bead_id = ? ORDER BY seq DESC LIMIT ?`, { decode }, beadId, limit).reverse();
  }

  /**
   * The events of one agent's generation after `afterSeq` logged at or before `at`, in seq order, at most
   * `limit` (index `town_events_agent`): its callbacks, container statuses and the results of the calls
   * made for it.
   */
  ofGeneration(agentId: string, generation: number, afterSeq: number, at: number, limit: number): StoredEvent[] {
    return allRows(
      this.sql,
      `${SELECT_EVENTS} WHERE agent_id = ? AND seq > ? AND created_at <= ? AND json_extract(payload, '$.generation') = ? ORDER BY seq LIMIT ?`,
      { decode },
      agentId,
      afterSeq,
      at,
      generation,
      limit,
    );
  }
}
