import { and, asc, count, desc, eq, getTableColumns, gt, gte, inArray, isNotNull, isNull, lt, lte, min, sql } from "drizzle-orm";
import { drizzle, type DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import type { Effect } from "../domain/actions";
import { resolveConfig, type TownConfigOverrides } from "../domain/config";
import type { AgentId, BeadId, RigId, TownId } from "../domain/ids";
import type { Agent, AgentRole, AgentStatus, Bead, BeadStatus, BeadType, Breaker, ContainerStatus, Rig, Town } from "../domain/model";
import { TownState, type StateChanges } from "../domain/state";
import type { CounterDelta } from "../observability/counters";
import type { OpenViolation, ViolationChanges } from "../observability/violation-tracker";
import * as schema from "./schema";

/** Bound parameters per statement are capped at 100 in Durable Object SQLite. */
const MAX_PARAMS = 100;
/** Creation order (see loadState). */
const ROWID = sql`rowid`;
/** Characters per snapshot part: at most 3 UTF-8 bytes each, so a part stays under 1.5 MB (rows may hold 2 MB). */
export const SNAPSHOT_PART_CHARS = 500_000;

export type EventStatus = "pending" | "processed" | "dead";

/** An event row as stored; its payload is parsed and validated by the drain, not here. */
export interface StoredEvent {
  readonly seq: number;
  readonly eventId: string;
  readonly type: string;
  readonly agentId: string | null;
  readonly beadId: string | null;
  readonly payload: string;
  readonly createdAt: number;
  readonly status: EventStatus;
  readonly attempts: number;
  readonly lastError: string | null;
  readonly processedAt: number | null;
}

export type NewEvent = Pick<StoredEvent, "eventId" | "type" | "agentId" | "beadId" | "payload" | "createdAt">;

export interface QueueStats {
  readonly pending: number;
  readonly oldestPendingAt: number | null;
  readonly dead: number;
}

export interface OutboxEntry {
  readonly effect: Effect;
  readonly attempts: number;
  readonly nextAttemptAt: number;
}

export interface Observation {
  readonly observedAt: number | null;
  readonly observedContainerStatus: ContainerStatus | null;
}

export type TickRow = typeof schema.ticks.$inferSelect;
export type NewTick = typeof schema.ticks.$inferInsert;
export type SimulatedRun = typeof schema.simulatedRuns.$inferSelect;

/**
 * All SQL of a town lives here. Methods are synchronous (Durable Object SQLite is), so a caller can
 * compose several of them inside one `transaction`.
 */
export class TownRepository {
  private readonly db: DrizzleSqliteDODatabase<typeof schema>;

  constructor(private readonly storage: DurableObjectStorage) {
    this.db = drizzle(storage, { schema });
  }

  /** Runs `work` in one SQLite transaction: all of it is stored, or (if it throws) none of it. */
  transaction<T>(work: () => T): T {
    return this.storage.transactionSync(work);
  }

  // ---- town state -------------------------------------------------------------------------------

  townExists(): boolean {
    return this.db.select({ id: schema.towns.id }).from(schema.towns).limit(1).all().length > 0;
  }

  agentTokenHash(): string | null {
    return this.db.select({ hash: schema.towns.agentTokenHash }).from(schema.towns).limit(1).get()?.hash ?? null;
  }

  createTown(town: Town, agentTokenHash: string): void {
    this.db.insert(schema.towns).values({ ...townRow(town), agentTokenHash }).run();
  }

  /**
   * Everything the reconciler works on, into memory. Bodies stay on disk.
   *
   * Rows come back in rowid order, which is the order they were created in (a tick writes new rows in
   * the order it made them): the same iteration order the state had before the object was evicted,
   * so a reloaded town decides exactly as the running one would — and as replay does.
   */
  loadState(): { state: TownState; observations: Map<AgentId, Observation> } | null {
    const townRowValue = this.db.select().from(schema.towns).limit(1).get();
    if (!townRowValue) return null;
    const overrides = townRowValue.config as TownConfigOverrides;
    const town: Town = {
      id: townRowValue.id as TownId,
      overrides,
      config: resolveConfig(overrides),
      breaker: townRowValue.breaker as Breaker,
      createdAt: townRowValue.createdAt,
      updatedAt: townRowValue.updatedAt,
    };
    const rigs = this.db.select().from(schema.rigs).orderBy(ROWID).all().map(toRig);
    const observations = new Map<AgentId, Observation>();
    const agents = this.db
      .select()
      .from(schema.agents)
      .orderBy(ROWID)
      .all()
      .map((row) => {
        observations.set(row.id as AgentId, {
          observedAt: row.observedAt,
          observedContainerStatus: row.observedContainerStatus as ContainerStatus | null,
        });
        return toAgent(row);
      });
    const blockedBy = new Map<string, BeadId[]>();
    const tracked = new Map<string, BeadId[]>();
    const deps = this.db.select().from(schema.dependencies).orderBy(asc(schema.dependencies.ordinal)).all();
    for (const dep of deps) {
      const target = dep.kind === "blocks" ? blockedBy : tracked;
      let list = target.get(dep.beadId);
      if (!list) target.set(dep.beadId, (list = []));
      list.push(dep.dependsOnId as BeadId);
    }
    const { body: _body, ...beadColumns } = getTableColumns(schema.beads);
    const beads = this.db
      .select(beadColumns)
      .from(schema.beads)
      .orderBy(ROWID)
      .all()
      .map((row) => toBead(row, blockedBy.get(row.id) ?? [], tracked.get(row.id) ?? []));
    return { state: new TownState(town, rigs, agents, beads), observations };
  }

  /** Writes what a tick or command changed. */
  persist(changes: StateChanges): void {
    if (changes.town) {
      const { id: _id, ...row } = townRow(changes.town);
      this.db.update(schema.towns).set(row).run();
    }
    for (const rig of changes.rigs) {
      const row = rigRow(rig);
      this.db.insert(schema.rigs).values(row).onConflictDoUpdate({ target: schema.rigs.id, set: row }).run();
    }
    for (const agent of changes.agents) {
      const row = agentRow(agent);
      this.db.insert(schema.agents).values(row).onConflictDoUpdate({ target: schema.agents.id, set: row }).run();
    }
    for (const bead of changes.beads) {
      const row = beadRow(bead);
      this.db.insert(schema.beads).values(row).onConflictDoUpdate({ target: schema.beads.id, set: row }).run();
    }
    const deps = changes.createdBeads.flatMap((bead) => [
      ...bead.blockedBy.map((dependsOnId, ordinal) => ({ beadId: bead.id, dependsOnId, kind: "blocks", ordinal })),
      ...bead.tracked.map((dependsOnId, ordinal) => ({ beadId: bead.id, dependsOnId, kind: "tracks", ordinal })),
    ]);
    for (const chunk of chunks(deps, rowsPerStatement(deps[0]))) {
      this.db.insert(schema.dependencies).values(chunk).onConflictDoNothing().run();
    }
  }

  setBeadBody(id: BeadId, body: string): void {
    this.db.update(schema.beads).set({ body }).where(eq(schema.beads.id, id)).run();
  }

  beadBody(id: BeadId): string | null {
    return this.db.select({ body: schema.beads.body }).from(schema.beads).where(eq(schema.beads.id, id)).get()?.body ?? null;
  }

  /** Heartbeats and container status reports update the agent's observation columns only. */
  saveObservation(agentId: AgentId, lastHeartbeatAt: number | null, observation: Observation): void {
    this.db
      .update(schema.agents)
      .set({ lastHeartbeatAt, observedAt: observation.observedAt, observedContainerStatus: observation.observedContainerStatus })
      .where(eq(schema.agents.id, agentId))
      .run();
  }

  // ---- event log --------------------------------------------------------------------------------

  /** Stored events with these ids (to tell a duplicate from a conflicting reuse of an id). */
  eventsById(eventIds: readonly string[]): StoredEvent[] {
    const found: StoredEvent[] = [];
    for (const chunk of chunks(eventIds, MAX_PARAMS)) {
      found.push(...(this.db.select().from(schema.townEvents).where(inArray(schema.townEvents.eventId, chunk)).all() as StoredEvent[]));
    }
    return found;
  }

  /**
   * Appends events; `processedAt` set means already applied (commands), else pending for the next tick.
   * An event id already in the log is skipped (callers check for conflicting reuse first).
   */
  appendEvents(events: readonly NewEvent[], processedAt: number | null = null): number[] {
    const status: EventStatus = processedAt === null ? "pending" : "processed";
    const rows = events.map((e) => ({ ...e, status, attempts: 0, processedAt }));
    const seqs: number[] = [];
    for (const chunk of chunks(rows, rowsPerStatement(rows[0]))) {
      const inserted = this.db.insert(schema.townEvents).values(chunk).onConflictDoNothing().returning({ seq: schema.townEvents.seq }).all();
      seqs.push(...inserted.map((r) => r.seq));
    }
    return seqs;
  }

  pendingEvents(limit: number): StoredEvent[] {
    return this.db
      .select()
      .from(schema.townEvents)
      .where(eq(schema.townEvents.status, "pending"))
      .orderBy(asc(schema.townEvents.seq))
      .limit(limit)
      .all() as StoredEvent[];
  }

  /** Marks drained events processed, or counts a failed attempt (dead-lettering at the limit). Returns the dead ones. */
  settleEvents(processed: readonly number[], failed: ReadonlyArray<{ seq: number; error: string }>, now: number, maxAttempts: number): number[] {
    for (const chunk of chunks(processed, MAX_PARAMS - 2)) {
      this.db
        .update(schema.townEvents)
        .set({ status: "processed", processedAt: now })
        .where(inArray(schema.townEvents.seq, chunk))
        .run();
    }
    const dead: number[] = [];
    for (const { seq, error } of failed) {
      const row = this.db
        .update(schema.townEvents)
        .set({
          attempts: sql`${schema.townEvents.attempts} + 1`,
          lastError: error.slice(0, 2_000),
          status: sql`CASE WHEN ${schema.townEvents.attempts} + 1 >= ${maxAttempts} THEN 'dead' ELSE 'pending' END`,
          processedAt: sql`CASE WHEN ${schema.townEvents.attempts} + 1 >= ${maxAttempts} THEN ${now} ELSE NULL END`,
        })
        .where(eq(schema.townEvents.seq, seq))
        .returning({ status: schema.townEvents.status })
        .get();
      if (row?.status === "dead") dead.push(seq);
    }
    return dead;
  }

  queueStats(): QueueStats {
    const pending = this.db
      .select({ n: count(), oldest: min(schema.townEvents.createdAt) })
      .from(schema.townEvents)
      .where(eq(schema.townEvents.status, "pending"))
      .get();
    const dead = this.db.select({ n: count() }).from(schema.townEvents).where(eq(schema.townEvents.status, "dead")).get();
    return { pending: pending?.n ?? 0, oldestPendingAt: pending?.oldest ?? null, dead: dead?.n ?? 0 };
  }

  eventsByStatus(status: EventStatus, limit: number): StoredEvent[] {
    return this.db
      .select()
      .from(schema.townEvents)
      .where(eq(schema.townEvents.status, status))
      .orderBy(asc(schema.townEvents.seq))
      .limit(limit)
      .all() as StoredEvent[];
  }

  /** Retention: processed events older than the window go, and beyond the count the oldest go. */
  pruneEvents(before: number, keep: number): number {
    const byAge = this.db
      .delete(schema.townEvents)
      .where(and(eq(schema.townEvents.status, "processed"), lt(schema.townEvents.processedAt, before)))
      .returning({ seq: schema.townEvents.seq })
      .all().length;
    const cutoff = this.db
      .select({ seq: schema.townEvents.seq })
      .from(schema.townEvents)
      .orderBy(desc(schema.townEvents.seq))
      .limit(1)
      .offset(keep)
      .get();
    if (!cutoff) return byAge;
    const byCount = this.db
      .delete(schema.townEvents)
      .where(and(eq(schema.townEvents.status, "processed"), lte(schema.townEvents.seq, cutoff.seq)))
      .returning({ seq: schema.townEvents.seq })
      .all().length;
    return byAge + byCount;
  }

  // ---- outbox -----------------------------------------------------------------------------------

  enqueueEffects(effects: readonly Effect[], now: number): void {
    for (const effect of effects) {
      this.db
        .insert(schema.outbox)
        .values({ id: effect.id, kind: effect.kind, agentId: effect.agentId, payload: effect, attempts: 0, nextAttemptAt: now, createdAt: now, updatedAt: now })
        .onConflictDoNothing()
        .run();
    }
  }

  dueEffects(now: number, limit: number): OutboxEntry[] {
    return this.db
      .select()
      .from(schema.outbox)
      .where(lte(schema.outbox.nextAttemptAt, now))
      .orderBy(asc(schema.outbox.nextAttemptAt), asc(schema.outbox.createdAt))
      .limit(limit)
      .all()
      .map((row) => ({ effect: row.payload as Effect, attempts: row.attempts, nextAttemptAt: row.nextAttemptAt }));
  }

  nextEffectAt(): number | null {
    return this.db.select({ at: min(schema.outbox.nextAttemptAt) }).from(schema.outbox).get()?.at ?? null;
  }

  outboxSize(): number {
    return this.db.select({ n: count() }).from(schema.outbox).get()?.n ?? 0;
  }

  completeEffect(id: string): void {
    this.db.delete(schema.outbox).where(eq(schema.outbox.id, id)).run();
  }

  deferEffect(id: string, attempts: number, nextAttemptAt: number, error: string, now: number): void {
    this.db
      .update(schema.outbox)
      .set({ attempts, nextAttemptAt, lastError: error.slice(0, 2_000), updatedAt: now })
      .where(eq(schema.outbox.id, id))
      .run();
  }

  // ---- ticks ------------------------------------------------------------------------------------

  insertTick(tick: NewTick): number {
    return this.db.insert(schema.ticks).values(tick).returning({ id: schema.ticks.id }).get()!.id;
  }

  /** What is known only after the tick's transaction: its side effects, its duration and the next alarm. */
  finishTick(
    tickId: number,
    after: Pick<NewTick, "durationMs" | "effectsAttempted" | "effectsSucceeded" | "effectsFailed" | "nextAlarmAt" | "nextAlarmReason">,
  ): void {
    this.db.update(schema.ticks).set(after).where(eq(schema.ticks.id, tickId)).run();
  }

  /** A tick that threw: nothing it did was kept, but that it failed is. */
  insertFailedTick(at: number, error: string, durationMs: number, breakerStatus: string, nextAlarmAt: number, nextAlarmReason: string): void {
    const queue = this.queueStats();
    this.insertTick({
      at,
      result: "error",
      error: error.slice(0, 2_000),
      durationMs,
      passes: 0,
      eventsDrained: 0,
      eventsApplied: 0,
      eventsIgnored: 0,
      eventsFailed: 0,
      eventsDeadLettered: 0,
      actionsEmitted: 0,
      actionsRefused: 0,
      actionsByType: {},
      actionsByRule: {},
      effectsEnqueued: 0,
      effectsAttempted: 0,
      effectsSucceeded: 0,
      effectsFailed: 0,
      queueDepth: queue.pending,
      oldestPendingAgeMs: queue.oldestPendingAt === null ? null : Math.max(0, at - queue.oldestPendingAt),
      deadLetters: queue.dead,
      breakerStatus,
      nextAlarmAt,
      nextAlarmReason,
    });
  }

  lastTick(): TickRow | null {
    return this.db.select().from(schema.ticks).orderBy(desc(schema.ticks.id)).limit(1).get() ?? null;
  }

  ticksBetween(from: number, to: number, limit: number): TickRow[] {
    return this.db
      .select()
      .from(schema.ticks)
      .where(and(gte(schema.ticks.at, from), lte(schema.ticks.at, to)))
      .orderBy(asc(schema.ticks.id))
      .limit(limit)
      .all();
  }

  pruneTicks(before: number, keep: number): void {
    this.db.delete(schema.ticks).where(lt(schema.ticks.at, before)).run();
    const cutoff = this.db.select({ id: schema.ticks.id }).from(schema.ticks).orderBy(desc(schema.ticks.id)).limit(1).offset(keep).get();
    if (cutoff) this.db.delete(schema.ticks).where(lte(schema.ticks.id, cutoff.id)).run();
  }

  // ---- counters and violations ---------------------------------------------------------------------

  /** Adds increments to cumulative counters (creating a series on first use). */
  addCounters(deltas: readonly CounterDelta[]): void {
    for (const delta of deltas) {
      this.db
        .insert(schema.counters)
        .values({ name: delta.name, labels: delta.labels, value: delta.by })
        .onConflictDoUpdate({ target: [schema.counters.name, schema.counters.labels], set: { value: sql`${schema.counters.value} + ${delta.by}` } })
        .run();
    }
  }

  counters(): Array<{ name: string; labels: string; value: number }> {
    return this.db.select().from(schema.counters).orderBy(asc(schema.counters.name), asc(schema.counters.labels)).all();
  }

  openViolations(): OpenViolation[] {
    return this.db
      .select()
      .from(schema.violations)
      .where(isNull(schema.violations.resolvedAt))
      .orderBy(asc(schema.violations.invariant), asc(schema.violations.key))
      .all()
      .map(({ resolvedAt: _resolved, ...row }) => ({ ...row, agentIds: row.agentIds as string[], beadIds: row.beadIds as string[] }));
  }

  /** Keeps the open violations and closes the resolved ones (their last `keepResolved` stay as history). */
  saveViolations(changes: ViolationChanges, now: number, keepResolved = 500): void {
    for (const violation of changes.open) {
      const row = { ...violation, agentIds: [...violation.agentIds], beadIds: [...violation.beadIds], resolvedAt: null };
      this.db.insert(schema.violations).values(row).onConflictDoUpdate({ target: schema.violations.key, set: row }).run();
    }
    for (const violation of changes.resolved) {
      this.db.update(schema.violations).set({ resolvedAt: now }).where(eq(schema.violations.key, violation.key)).run();
    }
    if (changes.resolved.length > 0) {
      const cutoff = this.db
        .select({ resolvedAt: schema.violations.resolvedAt })
        .from(schema.violations)
        .where(isNotNull(schema.violations.resolvedAt))
        .orderBy(desc(schema.violations.resolvedAt))
        .limit(1)
        .offset(keepResolved)
        .get();
      if (cutoff?.resolvedAt) this.db.delete(schema.violations).where(lte(schema.violations.resolvedAt, cutoff.resolvedAt)).run();
    }
  }

  // ---- replay: snapshots, sequence, history ---------------------------------------------------------

  /** The highest event seq ever assigned (pruning never lowers it). */
  maxSeq(): number {
    const row = this.storage.sql.exec<{ seq: number }>("SELECT seq FROM sqlite_sequence WHERE name = 'town_events'").toArray()[0];
    return row?.seq ?? 0;
  }

  /** Stores a snapshot's JSON in parts of at most `partChars` characters (≤ 3 bytes each: far under 2 MB). */
  saveSnapshot(meta: { takenAt: number; tickId: number; logSeq: number; pending: Array<[number, number]> }, json: string, partChars = SNAPSHOT_PART_CHARS): number {
    const pieces = splitText(json, partChars);
    const id = this.db.insert(schema.snapshots).values({ ...meta, parts: pieces.length, bytes: json.length }).returning({ id: schema.snapshots.id }).get()!.id;
    pieces.forEach((data, part) => this.db.insert(schema.snapshotParts).values({ snapshotId: id, part, data }).run());
    return id;
  }

  /** The latest snapshot taken at or before `at`, reassembled. */
  snapshotAtOrBefore(
    at: number,
  ): { id: number; takenAt: number; tickId: number; logSeq: number; pending: Array<[number, number]>; json: string } | null {
    const meta = this.db
      .select()
      .from(schema.snapshots)
      .where(lte(schema.snapshots.takenAt, at))
      .orderBy(desc(schema.snapshots.takenAt), desc(schema.snapshots.id))
      .limit(1)
      .get();
    if (!meta) return null;
    const parts = this.db
      .select({ part: schema.snapshotParts.part, data: schema.snapshotParts.data })
      .from(schema.snapshotParts)
      .where(eq(schema.snapshotParts.snapshotId, meta.id))
      .orderBy(asc(schema.snapshotParts.part))
      .all();
    if (parts.length !== meta.parts) throw new Error(`snapshot ${meta.id} has ${parts.length} of its ${meta.parts} parts`);
    const pending = meta.pending as Array<[number, number]>;
    return { id: meta.id, takenAt: meta.takenAt, tickId: meta.tickId, logSeq: meta.logSeq, pending, json: parts.map((p) => p.data).join("") };
  }

  oldestSnapshotAt(): number | null {
    return this.db.select({ at: sql<number | null>`min(${schema.snapshots.takenAt})` }).from(schema.snapshots).get()?.at ?? null;
  }

  lastSnapshotAt(): number | null {
    return this.db.select({ at: sql<number | null>`max(${schema.snapshots.takenAt})` }).from(schema.snapshots).get()?.at ?? null;
  }

  /** Drops snapshots taken before `before`, except the newest of them (the base for the oldest windows). */
  pruneSnapshots(before: number): void {
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

  /** Pending events as `[seq, attempts]`, in seq order. */
  pendingSeqs(): Array<[number, number]> {
    return this.db
      .select({ seq: schema.townEvents.seq, attempts: schema.townEvents.attempts })
      .from(schema.townEvents)
      .where(eq(schema.townEvents.status, "pending"))
      .orderBy(asc(schema.townEvents.seq))
      .all()
      .map((row) => [row.seq, row.attempts]);
  }

  eventsBySeqs(seqs: readonly number[]): StoredEvent[] {
    const found: StoredEvent[] = [];
    for (const chunk of chunks(seqs, MAX_PARAMS)) {
      found.push(...(this.db.select().from(schema.townEvents).where(inArray(schema.townEvents.seq, chunk)).all() as StoredEvent[]));
    }
    return found.sort((a, b) => a.seq - b.seq);
  }

  /** Events with `after < seq ≤ upTo`, in seq order. */
  eventsBetweenSeqs(after: number, upTo: number, limit: number): StoredEvent[] {
    return this.db
      .select()
      .from(schema.townEvents)
      .where(and(gt(schema.townEvents.seq, after), lte(schema.townEvents.seq, upTo)))
      .orderBy(asc(schema.townEvents.seq))
      .limit(limit)
      .all() as StoredEvent[];
  }

  countEventsBetweenSeqs(after: number, upTo: number): number {
    return this.db.select({ n: count() }).from(schema.townEvents).where(and(gt(schema.townEvents.seq, after), lte(schema.townEvents.seq, upTo))).get()?.n ?? 0;
  }

  /** Ticks after `afterId` that ran at or before `upTo`, oldest first. */
  ticksAfter(afterId: number, upTo: number, limit: number): TickRow[] {
    return this.db
      .select()
      .from(schema.ticks)
      .where(and(gt(schema.ticks.id, afterId), lte(schema.ticks.at, upTo)))
      .orderBy(asc(schema.ticks.id))
      .limit(limit)
      .all();
  }

  oldestTickId(): number | null {
    return this.db.select({ id: sql<number | null>`min(${schema.ticks.id})` }).from(schema.ticks).get()?.id ?? null;
  }

  // ---- simulated container runs -------------------------------------------------------------------

  startSimulatedRun(run: SimulatedRun): void {
    this.db.insert(schema.simulatedRuns).values(run).onConflictDoUpdate({ target: schema.simulatedRuns.agentId, set: run }).run();
  }

  simulatedRuns(): SimulatedRun[] {
    return this.db.select().from(schema.simulatedRuns).orderBy(asc(schema.simulatedRuns.finishAt), asc(schema.simulatedRuns.agentId)).all();
  }

  touchSimulatedRun(agentId: string, lastHeartbeatAt: number): void {
    this.db.update(schema.simulatedRuns).set({ lastHeartbeatAt }).where(eq(schema.simulatedRuns.agentId, agentId)).run();
  }

  endSimulatedRun(agentId: string, generation?: number): void {
    const byAgent = eq(schema.simulatedRuns.agentId, agentId);
    this.db
      .delete(schema.simulatedRuns)
      .where(generation === undefined ? byAgent : and(byAgent, eq(schema.simulatedRuns.generation, generation)))
      .run();
  }
}

// ---- row mapping ----------------------------------------------------------------------------------

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

/** How many rows of this shape fit in one statement's bound parameters. */
function rowsPerStatement(row: object | undefined): number {
  return row ? Math.max(1, Math.floor(MAX_PARAMS / Object.keys(row).length)) : 1;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function townRow(town: Town) {
  return { id: town.id, config: town.overrides, breaker: town.breaker, createdAt: town.createdAt, updatedAt: town.updatedAt };
}

function rigRow(rig: Rig) {
  return { ...rig };
}

function toRig(row: typeof schema.rigs.$inferSelect): Rig {
  return { ...row, id: row.id as RigId };
}

function agentRow(agent: Agent) {
  return { ...agent };
}

function toAgent(row: typeof schema.agents.$inferSelect): Agent {
  return {
    id: row.id as AgentId,
    rigId: row.rigId as RigId,
    role: row.role as AgentRole,
    status: row.status as AgentStatus,
    statusSince: row.statusSince,
    hook: row.hook as BeadId | null,
    generation: row.generation,
    dispatchAttempts: row.dispatchAttempts,
    dispatchedAt: row.dispatchedAt,
    lastHeartbeatAt: row.lastHeartbeatAt,
    containerStatus: row.containerStatus as ContainerStatus | null,
    containerStatusSince: row.containerStatusSince,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

function beadRow(bead: Bead) {
  const { blockedBy: _blockedBy, tracked: _tracked, ...row } = bead;
  return row;
}

function toBead(row: Omit<typeof schema.beads.$inferSelect, "body">, blockedBy: BeadId[], tracked: BeadId[]): Bead {
  return {
    id: row.id as BeadId,
    rigId: row.rigId as RigId | null,
    type: row.type as BeadType,
    status: row.status as BeadStatus,
    title: row.title,
    priority: row.priority,
    assignee: row.assignee as AgentId | null,
    dispatchAttempts: row.dispatchAttempts,
    lastDispatchAt: row.lastDispatchAt,
    held: row.held,
    blockedBy,
    sourceBeadId: row.sourceBeadId as BeadId | null,
    branch: row.branch,
    prUrl: row.prUrl,
    merged: row.merged,
    tracked,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
