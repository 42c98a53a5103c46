import { clipError } from "../domain/format";
import { and, asc, desc, eq, getTableColumns, gt, gte, lte, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { measureFailedTick, type TickMetricValues } from "./tick-metrics";
import type { QueueStats } from "../domain/queue";
import * as schema from "./schema";
import { changes } from "./sql";
import { decodeSeries, encodeSeries, type CounterRow } from "./counter-store";

export type TickRow = typeof schema.ticks.$inferSelect;
export type NewTick = typeof schema.ticks.$inferInsert;

/** What only replay reads of a tick (its inputs and actions): the largest columns, which no view shows. */
const REPLAY_ONLY = ["actions", "observations", "drainedSeqs", "firstSeq", "lastSeq", "logSeq"] as const satisfies ReadonlyArray<keyof TickRow>;
/** A tick as the history, status and metrics show it. */
export type TickViewRow = Omit<TickRow, (typeof REPLAY_ONLY)[number]>;
const VIEW_COLUMNS = Object.fromEntries(Object.entries(getTableColumns(schema.ticks)).filter(([key]) => !(REPLAY_ONLY as readonly string[]).includes(key)));

/** Bytes counted per tick record beyond its JSON columns: its numbers and short texts. */
const TICK_ROW_OVERHEAD = 64;

/** What a tick recorded: its inputs (commands before it, observations, drained events) and its actions. */
export interface HistoryTick {
  readonly id: number;
  readonly at: number;
  /** `ok`, or `error` for a tick that threw (it kept nothing, and replay skips it). */
  readonly result: string;
  /** The highest event seq when it started: commands up to it came before it. */
  readonly logSeq: number | null;
  /** Agent observations that arrived since the previous tick, as `[agentId, lastHeartbeatAt]`. */
  readonly observations: ReadonlyArray<readonly [string, number | null]> | null;
  /** The seqs it drained, in order. */
  readonly drainedSeqs: readonly number[] | null;
  /** Its actions and repairs as decided, with their reasons (ticks recorded before bead histories existed: without). */
  readonly actions: readonly unknown[] | null;
  /** The queue as the tick saw it (invariants 8 and 9 read it). */
  readonly oldestPendingAgeMs: number | null;
  readonly deadLetters: number;
}

/** One row per alarm tick: what it did and what it measured (the tick history). */
export class TickStore {
  constructor(
    private readonly sqlStorage: SqlStorage,
    private readonly db: DrizzleSqliteDODatabase<typeof schema>,
  ) {}

  insert(tick: NewTick): number {
    return this.db.insert(schema.ticks).values(tick).returning({ id: schema.ticks.id }).get()!.id;
  }

  /**
   * The id the next tick will get (ids only grow: failed ticks take one too, and pruning never lowers
   * them, as it keeps the newest tick — and id_floors the highest given before migration 0016).
   */
  nextId(): number {
    return (
      this.sqlStorage
        .exec<{ last: number }>("SELECT max(coalesce((SELECT max(id) FROM ticks), 0), coalesce((SELECT last FROM id_floors WHERE name = 'ticks'), 0)) AS last")
        .one().last + 1
    );
  }

  /**
   * What is known only after the tick's transaction: the metrics measured after it (`measureAfterTick`),
   * the next alarm, and the counters' increments, held with them until the next tick (`heldCounters`).
   */
  finish(tickId: number, after: Partial<TickMetricValues> & Pick<NewTick, "nextAlarmAt" | "nextAlarmReason">, counters: readonly CounterRow[]): void {
    this.db
      .update(schema.ticks)
      .set({ ...after, afterCounters: encodeSeries(counters) })
      .where(eq(schema.ticks.id, tickId))
      .run();
  }

  /**
   * The increments the newest tick's record holds: not in the counters' totals until the transaction that
   * records the next tick adds them (every such transaction does, before its record becomes the newest).
   */
  heldCounters(): CounterRow[] {
    const row = this.sqlStorage.exec<{ held: string | null }>("SELECT after_counters AS held FROM ticks ORDER BY id DESC LIMIT 1").toArray()[0];
    return row?.held ? decodeSeries(JSON.parse(row.held) as Record<string, number>) : [];
  }

  /** A tick that threw: nothing it did was kept, but that it failed is. */
  insertFailed(at: number, error: string, durationMs: number, breakerStatus: string, nextAlarmAt: number, nextAlarmReason: string, queue: QueueStats): void {
    this.insert({
      id: this.nextId(),
      at,
      result: "error",
      error: clipError(error),
      ...measureFailedTick({ at, durationMs, queue }),
      actionsByType: {},
      actionsByRule: {},
      breakerStatus,
      nextAlarmAt,
      nextAlarmReason,
    });
  }

  /** The alarm the newest tick set, as its record says (null: it set none, or there is no tick yet). */
  lastNextAlarm(): { at: number; reason: string } | null {
    const row = this.db
      .select({ at: schema.ticks.nextAlarmAt, reason: schema.ticks.nextAlarmReason })
      .from(schema.ticks)
      .orderBy(desc(schema.ticks.id))
      .limit(1)
      .get();
    return row?.at != null ? { at: row.at, reason: row.reason ?? "scheduled" } : null;
  }

  last(): TickViewRow | null {
    return (this.db.select(VIEW_COLUMNS).from(schema.ticks).orderBy(desc(schema.ticks.id)).limit(1).get() as TickViewRow | undefined) ?? null;
  }

  /** The newest `limit` ticks of a window, oldest first. */
  newestBetween(from: number, to: number, limit: number): TickViewRow[] {
    return (
      this.db
        .select(VIEW_COLUMNS)
        .from(schema.ticks)
        .where(and(gte(schema.ticks.at, from), lte(schema.ticks.at, to)))
        .orderBy(desc(schema.ticks.id))
        .limit(limit)
        .all() as TickViewRow[]
    ).reverse();
  }

  /** What replay reads of the ticks after `afterId` that ran at or before `upTo`, oldest first: their inputs and actions. */
  replayRecords(afterId: number, upTo: number, limit: number): HistoryTick[] {
    const t = schema.ticks;
    return this.db
      .select({
        id: t.id,
        at: t.at,
        result: t.result,
        logSeq: t.logSeq,
        observations: t.observations,
        drainedSeqs: t.drainedSeqs,
        actions: t.actions,
        oldestPendingAgeMs: t.oldestPendingAgeMs,
        deadLetters: t.deadLetters,
      })
      .from(t)
      .where(and(gt(t.id, afterId), lte(t.at, upTo)))
      .orderBy(asc(t.id))
      .limit(limit)
      .all() as HistoryTick[];
  }

  /**
   * How many ticks after `afterId` ran at or before `upTo`, the actions they recorded, and the bytes of
   * what replay reads of them — of the first `maxTicks` + 1 at most, so that a window with far too many
   * is refused at a bounded cost.
   */
  sizeAfter(afterId: number, upTo: number, maxTicks: number): { ticks: number; actions: number; bytes: number } {
    const row = this.sqlStorage
      .exec<{ n: number; actions: number | null; bytes: number | null }>(
        `SELECT count(*) AS n, sum(actions_emitted + repairs) AS actions,
           sum(coalesce(length(CAST(actions AS BLOB)), 0) + coalesce(length(CAST(observations AS BLOB)), 0) + coalesce(length(CAST(drained_seqs AS BLOB)), 0) + ${TICK_ROW_OVERHEAD}) AS bytes
         FROM (SELECT * FROM ticks WHERE id > ? AND at <= ? ORDER BY id LIMIT ?)`,
        afterId,
        upTo,
        maxTicks + 1,
      )
      .one();
    return { ticks: row.n, actions: row.actions ?? 0, bytes: row.bytes ?? 0 };
  }

  oldestId(): number | null {
    return (
      this.db
        .select({ id: sql<number | null>`min(${schema.ticks.id})` })
        .from(schema.ticks)
        .get()?.id ?? null
    );
  }

  /** The oldest tick kept (the first retention deletes), or null. */
  oldest(): { id: number; at: number } | null {
    return this.sqlStorage.exec<{ id: number; at: number }>("SELECT id, at FROM ticks ORDER BY id LIMIT 1").toArray()[0] ?? null;
  }

  /** Retention: ticks older than `before` go, and any beyond the newest `keep`; at most `limit` per call. */
  prune(before: number, keep: number, limit: number): number {
    const cutoff = this.nextId() - 1 - keep;
    // Never the newest: it holds the highest id, which the next tick's id comes after.
    this.sqlStorage.exec(
      "DELETE FROM ticks WHERE id IN (SELECT id FROM ticks WHERE (at < ? OR id <= ?) AND id < (SELECT max(id) FROM ticks) ORDER BY id LIMIT ?)",
      before,
      cutoff,
      limit,
    );
    return changes(this.sqlStorage);
  }

  /**
   * Ticks that ran in `[from, to]` whose recorded actions name one of `ids` as a bead or an agent, oldest
   * first, at most `limit`: a scan of the window's ticks (by `ticks_at`), matched on the JSON text.
   */
  actionsNaming(
    ids: { readonly beads: readonly string[]; readonly agents: readonly string[] },
    from: number,
    to: number,
    limit: number,
  ): Array<{ id: number; at: number; logSeq: number | null; actions: unknown[] }> {
    const patterns = [...ids.beads.map((id) => `%"beadId":"${likeEscaped(id)}"%`), ...ids.agents.map((id) => `%"agentId":"${likeEscaped(id)}"%`)];
    if (patterns.length === 0) return [];
    const matches = patterns.map(() => "actions LIKE ? ESCAPE '\\'").join(" OR ");
    return this.sqlStorage
      .exec<{ id: number; at: number; log_seq: number | null; actions: string }>(
        `SELECT id, at, log_seq, actions FROM ticks WHERE at >= ? AND at <= ? AND (${matches}) ORDER BY id LIMIT ?`,
        from,
        to,
        ...patterns,
        limit,
      )
      .toArray()
      .map((row) => ({ id: row.id, at: row.at, logSeq: row.log_seq, actions: JSON.parse(row.actions) as unknown[] }));
  }
}

/** An id as a LIKE pattern matches it literally (ids may hold `_`, LIKE's any-one-character). */
const likeEscaped = (id: string): string => id.replace(/[\\%_]/g, (c) => `\\${c}`);
