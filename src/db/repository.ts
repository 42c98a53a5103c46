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
import { updateManyFor, upsertFor, type UpdateMany } from "./statements";

/** Bound parameters per statement are capped at 100 in Durable Object SQLite. */
const MAX_PARAMS = 100;
/** The rows a tick writes, as prepared statements (see statements.ts). */
const RIG_COLUMNS = ["id", "name", "gitUrl", "defaultBranch", "agentSeq", "createdAt", "updatedAt"] as const;
const AGENT_COLUMNS = [
  "id", "rigId", "role", "status", "statusSince", "hook", "generation", "dispatchAttempts", "dispatchedAt",
  "lastHeartbeatAt", "containerStatus", "containerStatusSince", "createdAt", "updatedAt",
] as const;
const BEAD_COLUMNS = [
  "id", "rigId", "type", "status", "title", "priority", "assignee", "dispatchAttempts", "lastDispatchAt",
  "held", "sourceBeadId", "branch", "prUrl", "merged", "createdAt", "updatedAt",
] as const;
const UPSERT = {
  rig: upsertFor<Rig>(schema.rigs, ["id"], RIG_COLUMNS),
  agent: upsertFor<Agent>(schema.agents, ["id"], AGENT_COLUMNS),
  bead: upsertFor<Bead>(schema.beads, ["id"], BEAD_COLUMNS),
};
/** What an update writes: every column that can change (never id, rig, role, type or creation time). */
const UPDATE = {
  agent: updateManyFor<Agent>(schema.agents, "id", AGENT_COLUMNS.filter((c) => c !== "rigId" && c !== "role" && c !== "createdAt")),
  bead: updateManyFor<Bead>(schema.beads, "id", BEAD_COLUMNS.filter((c) => c !== "rigId" && c !== "type" && c !== "sourceBeadId" && c !== "createdAt")),
};
const INSERT_DEPENDENCY = `INSERT INTO dependencies (bead_id, depends_on_id, kind, ordinal) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`;
const ADD_TO_COUNTER = `INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value`;
const EVENTS_PER_INSERT = 12;
const insertEventsSqlByRows = new Map<number, string>();
/** The insert for `rows` events (the text is cached, so the runtime reuses the prepared statement). */
function insertEventsSql(rows: number): string {
  let text = insertEventsSqlByRows.get(rows);
  if (!text) {
    const values = Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?, 0, ?)").join(", ");
    text = `INSERT INTO town_events (event_id, type, agent_id, bead_id, payload, created_at, status, attempts, processed_at) VALUES ${values} ON CONFLICT (event_id) DO NOTHING RETURNING seq, event_id`;
    insertEventsSqlByRows.set(rows, text);
  }
  return text;
}
const SELECT_EVENT_COLUMNS = `SELECT seq, event_id, type, agent_id, bead_id, payload, created_at, status, attempts, last_error, processed_at FROM town_events`;
const SELECT_PENDING = `${SELECT_EVENT_COLUMNS} WHERE status = 'pending' ORDER BY seq LIMIT ?`;

/** An event row from a raw array in SELECT_EVENT_COLUMNS order. */
function eventFromRow(r: SqlStorageValue[]): StoredEvent {
  return {
    seq: r[0] as number,
    eventId: r[1] as string,
    type: r[2] as string,
    agentId: r[3] as string | null,
    beadId: r[4] as string | null,
    payload: r[5] as string,
    createdAt: r[6] as number,
    status: r[7] as EventStatus,
    attempts: r[8] as number,
    lastError: r[9] as string | null,
    processedAt: r[10] as number | null,
  };
}

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
    const sql = this.storage.sql;
    for (const rig of changes.rigs) sql.exec(UPSERT.rig.sql, ...UPSERT.rig.params(rig));
    // New rows are inserted; the rest are updated in place, several to a statement.
    const newAgents = new Set(changes.createdAgents);
    const newBeads = new Set(changes.createdBeads);
    for (const agent of changes.createdAgents) sql.exec(UPSERT.agent.sql, ...UPSERT.agent.params(agent));
    for (const bead of changes.createdBeads) sql.exec(UPSERT.bead.sql, ...UPSERT.bead.params(bead));
    this.updateMany(UPDATE.agent, changes.agents.filter((agent) => !newAgents.has(agent)));
    this.updateMany(UPDATE.bead, changes.beads.filter((bead) => !newBeads.has(bead)));
    for (const bead of changes.createdBeads) {
      bead.blockedBy.forEach((dependsOnId, ordinal) => sql.exec(INSERT_DEPENDENCY, bead.id, dependsOnId, "blocks", ordinal));
      bead.tracked.forEach((dependsOnId, ordinal) => sql.exec(INSERT_DEPENDENCY, bead.id, dependsOnId, "tracks", ordinal));
    }
  }

  private updateMany<Row>(statement: UpdateMany<Row>, rows: readonly Row[]): void {
    for (let i = 0; i < rows.length; i += statement.rowsPerStatement) {
      const chunk = rows.slice(i, i + statement.rowsPerStatement);
      this.storage.sql.exec(statement.sql(chunk.length), ...chunk.flatMap((row) => statement.params(row)));
    }
  }

  setBeadBody(id: BeadId, body: string): void {
    this.db.update(schema.beads).set({ body }).where(eq(schema.beads.id, id)).run();
  }

  beadBody(id: BeadId): string | null {
    return this.db.select({ body: schema.beads.body }).from(schema.beads).where(eq(schema.beads.id, id)).get()?.body ?? null;
  }

  /**
   * The most recently failed beads, newest first (last changed, then last created), from storage: finished beads are on their way out of
   * the in-memory state, so this does not ask it. (Without an index on (status, updated_at) SQLite
   * visits every failed row to find the newest; the status page asks for a few at a time.)
   */
  failedBeads(limit: number): Bead[] {
    const { body: _body, ...beadColumns } = getTableColumns(schema.beads);
    const rows = this.db.select(beadColumns).from(schema.beads).where(eq(schema.beads.status, "failed")).orderBy(desc(schema.beads.updatedAt), desc(ROWID)).limit(limit).all();
    const ids = rows.map((row) => row.id);
    const blockedBy = new Map<string, BeadId[]>();
    const tracked = new Map<string, BeadId[]>();
    for (const chunk of chunks(ids, MAX_PARAMS)) {
      const deps = this.db.select().from(schema.dependencies).where(inArray(schema.dependencies.beadId, chunk)).orderBy(asc(schema.dependencies.ordinal)).all();
      for (const dep of deps) {
        const target = dep.kind === "blocks" ? blockedBy : tracked;
        let list = target.get(dep.beadId);
        if (!list) target.set(dep.beadId, (list = []));
        list.push(dep.dependsOnId as BeadId);
      }
    }
    return rows.map((row) => toBead(row, blockedBy.get(row.id) ?? [], tracked.get(row.id) ?? []));
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
      const query = `${SELECT_EVENT_COLUMNS} WHERE event_id IN (${chunk.map(() => "?").join(",")})`;
      for (const row of this.storage.sql.exec(query, ...chunk).raw()) found.push(eventFromRow(row));
    }
    return found;
  }

  /**
   * Appends events; `processedAt` set means already applied (commands), else pending for the next tick.
   * An event id already in the log is skipped; what was inserted comes back.
   */
  appendEvents(events: readonly NewEvent[], processedAt: number | null = null): Array<{ seq: number; eventId: string }> {
    const status: EventStatus = processedAt === null ? "pending" : "processed";
    const inserted: Array<{ seq: number; eventId: string }> = [];
    // Twelve rows to a statement (8 parameters each, under the limit of 100): a batch of 1,000 is 84 statements.
    for (let i = 0; i < events.length; i += EVENTS_PER_INSERT) {
      const chunk = events.slice(i, i + EVENTS_PER_INSERT);
      const params = chunk.flatMap((e) => [e.eventId, e.type, e.agentId, e.beadId, e.payload, e.createdAt, status, processedAt]);
      for (const row of this.storage.sql.exec<{ seq: number; event_id: string }>(insertEventsSql(chunk.length), ...params)) {
        inserted.push({ seq: row.seq, eventId: row.event_id });
      }
    }
    return inserted;
  }

  pendingEvents(limit: number): StoredEvent[] {
    // Rows as arrays (cheaper than objects for a thousand rows).
    return [...this.storage.sql.exec(SELECT_PENDING, limit).raw()].map(eventFromRow);
  }

  /** Marks drained events processed, or counts a failed attempt (dead-lettering at the limit). Returns the dead ones. */
  settleEvents(processed: readonly number[], failed: ReadonlyArray<{ seq: number; error: string }>, now: number, maxAttempts: number): number[] {
    // Drained events are consecutive unless some failed: a run of consecutive seqs is one range update.
    for (const [first, last] of runs(processed)) {
      this.storage.sql.exec("UPDATE town_events SET status = 'processed', processed_at = ? WHERE seq BETWEEN ? AND ?", now, first, last);
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
    const pending = this.storage.sql.exec<{ n: number; oldest: number | null }>(
      "SELECT count(*) AS n, min(created_at) AS oldest FROM town_events WHERE status = 'pending'",
    ).one();
    const dead = this.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM town_events WHERE status = 'dead'").one();
    return { pending: pending.n, oldestPendingAt: pending.oldest, dead: dead.n };
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
    for (const delta of deltas) this.storage.sql.exec(ADD_TO_COUNTER, delta.name, delta.labels, delta.by);
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

  /** The snapshot taken when the town was created (tick 0), if it is still kept. */
  creationSnapshot() {
    const first = this.db.select().from(schema.snapshots).where(eq(schema.snapshots.tickId, 0)).orderBy(asc(schema.snapshots.id)).limit(1).get();
    return first ? this.snapshotAtOrBefore(first.takenAt) : null;
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

  /** How many events after `afterSeq` were logged at or before `at`. */
  countEventsAfter(afterSeq: number, at: number): number {
    return this.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM town_events WHERE seq > ? AND created_at <= ?", afterSeq, at).one().n;
  }

  /** Events after `afterSeq` logged at or before `at`, of these types (or all but these, with `exclude`), in seq order. */
  eventsAfterOfTypes(afterSeq: number, at: number, types: readonly string[], exclude = false, limit = 1_000_000): StoredEvent[] {
    const list = types.map(() => "?").join(",");
    const query = `${SELECT_EVENT_COLUMNS} WHERE seq > ? AND created_at <= ? AND type ${exclude ? "NOT IN" : "IN"} (${list}) ORDER BY seq LIMIT ?`;
    return [...this.storage.sql.exec(query, afterSeq, at, ...types, limit).raw()].map(eventFromRow);
  }

  /** Events with `first ≤ seq ≤ last`, in seq order. */
  eventsInSeqRange(first: number, last: number): StoredEvent[] {
    return [...this.storage.sql.exec(`${SELECT_EVENT_COLUMNS} WHERE seq BETWEEN ? AND ? ORDER BY seq`, first, last).raw()].map(eventFromRow);
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

/** Sorted numbers as runs of consecutive values: [1,2,3,7,8] → [[1,3],[7,8]]. */
function runs(sorted: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const n of sorted) {
    const last = out.at(-1);
    if (last && n === last[1] + 1) last[1] = n;
    else out.push([n, n]);
  }
  return out;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function townRow(town: Town) {
  return { id: town.id, config: town.overrides, breaker: town.breaker, createdAt: town.createdAt, updatedAt: town.updatedAt };
}

function toRig(row: typeof schema.rigs.$inferSelect): Rig {
  return { ...row, id: row.id as RigId };
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
