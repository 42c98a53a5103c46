import { sql } from "drizzle-orm";
import { customType, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { tickMetricColumns } from "./tick-metrics";

/**
 * The town's storage, one SQLite database per town Durable Object. Times are epoch milliseconds.
 * `drizzle-kit generate` turns changes here into a new file in `migrations/`.
 */

/** A BLOB column read and written as bytes (the Durable Object SQL API speaks ArrayBuffer; there is no Node Buffer here). */
const bytes = customType<{ data: Uint8Array; driverData: ArrayBuffer }>({
  dataType: () => "blob",
  toDriver: (value) => value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength) as ArrayBuffer,
  fromDriver: (value) => new Uint8Array(value),
});

const timestamps = {
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
};

/** The one town this object holds (a single row). */
export const towns = sqliteTable("towns", {
  id: text("id").primaryKey(),
  /** Config overrides as given (defaults are applied in code, so they can improve later). */
  overrides: text("overrides", { mode: "json" }).notNull(),
  /** SHA-256 of the town's agent token: the token itself is shown once and never stored. */
  agentTokenHash: text("agent_token_hash").notNull(),
  breaker: text("breaker", { mode: "json" }).notNull(),
  /** Beads that left the working set, by type and final status (exact, whatever retention deletes). */
  finished: text("finished", { mode: "json" }).notNull().default(sql`'{}'`),
  /** When a bead last changed status (invariant 11); 0 for towns older than the check: never. */
  progressAt: integer("progress_at").notNull().default(0),
  /** The pause, while the town is paused: `{ at, by, reason }` (null: it dispatches). */
  paused: text("paused", { mode: "json" }),
  /** The last `archived_seq` given to a bead: archive numbers only grow (a retried bead leaves the archive). */
  archiveSeq: integer("archive_seq").notNull().default(0),
  /** The budget's verdict the town last acted on: `{ day, verdict, waived }` (null: never judged). */
  budgetStanding: text("budget_standing", { mode: "json" }),
  ...timestamps,
});

export const rigs = sqliteTable("rigs", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  gitUrl: text("git_url").notNull(),
  defaultBranch: text("default_branch").notNull(),
  agentSeq: integer("agent_seq").notNull(),
  /** When it was deleted (null: in use); the row stays for its agent sequence. */
  deletedAt: integer("deleted_at"),
  ...timestamps,
});

export const agents = sqliteTable("agents", {
  id: text("id").primaryKey(),
  rigId: text("rig_id").notNull(),
  role: text("role").notNull(),
  status: text("status").notNull(),
  statusSince: integer("status_since").notNull(),
  hook: text("hook"),
  generation: integer("generation").notNull(),
  dispatchAttempts: integer("dispatch_attempts").notNull(),
  dispatchedAt: integer("dispatched_at"),
  /** Since when the usage meter counts its container (null: none counted). */
  runningSince: integer("running_since"),
  lastHeartbeatAt: integer("last_heartbeat_at"),
  containerStatus: text("container_status"),
  containerStatusSince: integer("container_status_since"),
  /** When the platform last reported anything about this agent (replay reads observations from here). */
  observedAt: integer("observed_at"),
  /** The last container status the platform reported, kept for the noise filter (applied status is above). */
  observedContainerStatus: text("observed_container_status"),
  /** Stops of this agent's containers not yet confirmed by the service (JSON list). */
  owedStops: text("owed_stops", { mode: "json" }).notNull().default(sql`'[]'`),
  ...timestamps,
});

export const beads = sqliteTable(
  "beads",
  {
    id: text("id").primaryKey(),
    rigId: text("rig_id"),
    type: text("type").notNull(),
    status: text("status").notNull(),
    title: text("title").notNull(),
    /** Not held in memory: read when a bead is shown or dispatched. */
    body: text("body"),
    priority: integer("priority").notNull(),
    assignee: text("assignee"),
    dispatchAttempts: integer("dispatch_attempts").notNull(),
    lastDispatchAt: integer("last_dispatch_at"),
    held: integer("held", { mode: "boolean" }).notNull(),
    sourceBeadId: text("source_bead_id"),
    branch: text("branch"),
    prUrl: text("pr_url"),
    merged: integer("merged", { mode: "boolean" }).notNull(),
    /** When it last went back to open, within the flapping window (invariant 12), as a JSON array. */
    reopenedAt: text("reopened_at", { mode: "json" }).$type<number[]>().notNull().default(sql`'[]'`),
    /** Why it (or its last attempt) last failed, as JSON `{ at, code, message, rule, agentId, generation }`. */
    lastFailure: text("last_failure", { mode: "json" }),
    /** Container time and dispatches spent on it: `{ containerMs, dispatches }` (null: none yet). */
    usage: text("usage", { mode: "json" }),
    /**
     * Set when the bead leaves the working set (finished, held by nothing): the n-th bead to leave gets n.
     * A snapshot knows how many had left when it was taken, so replay reads only those from here.
     * An archived row never changes again: its `updated_at` is when it finished.
     */
    archivedSeq: integer("archived_seq"),
    ...timestamps,
  },
  (t) => [
    // The working set, in creation order (a cold load reads only these rows).
    index("beads_working").on(t.archivedSeq).where(sql`archived_seq IS NULL`),
    // An issue's merge requests.
    index("beads_source").on(t.sourceBeadId).where(sql`source_bead_id IS NOT NULL`),
    // History retention deletes the oldest finished beads first.
    index("beads_archived").on(t.updatedAt).where(sql`archived_seq IS NOT NULL`),
    // Listing beads, newest change first: by status (the status page's latest failures too), by rig, or all.
    index("beads_status_changed").on(t.status, t.updatedAt, t.id),
    index("beads_rig_changed").on(t.rigId, t.updatedAt, t.id),
    index("beads_changed").on(t.updatedAt, t.id),
  ],
);

/** `blocks`: bead waits for depends_on. `tracks`: convoy bead tracks depends_on. */
export const dependencies = sqliteTable(
  "dependencies",
  {
    beadId: text("bead_id").notNull(),
    dependsOnId: text("depends_on_id").notNull(),
    kind: text("kind").notNull(),
    ordinal: integer("ordinal").notNull(),
  },
  (t) => [primaryKey({ columns: [t.beadId, t.kind, t.dependsOnId] })],
);

export const townEvents = sqliteTable(
  "town_events",
  {
    /** Never reused: retention keeps the newest event, and `id_floors` carries the mark past a table emptied before 0016. */
    seq: integer("seq").primaryKey(),
    eventId: text("event_id").notNull(),
    type: text("type").notNull(),
    agentId: text("agent_id"),
    beadId: text("bead_id"),
    payload: text("payload").notNull(),
    createdAt: integer("created_at").notNull(),
    status: text("status").notNull(),
    attempts: integer("attempts").notNull().default(0),
    lastError: text("last_error"),
    processedAt: integer("processed_at"),
    /**
     * `own`: sent by a working agent's container with its dispatch credential, drained before the
     * rest, so its callbacks never queue behind a flood from the platform's token (DESIGN §4.8).
     */
    lane: text("lane"),
  },
  (t) => [
    uniqueIndex("town_events_event_id").on(t.eventId),
    index("town_events_own_pending").on(t.seq).where(sql`status = 'pending' AND lane = 'own'`),
    // The drain reads pending events in seq order; partial so it stays as small as the backlog.
    index("town_events_pending").on(t.seq).where(sql`status = 'pending'`),
    index("town_events_dead").on(t.seq).where(sql`status = 'dead'`),
    index("town_events_processed_at").on(t.processedAt),
    // A bead's history: the commands and events that name it, and the callbacks of its agents.
    index("town_events_bead").on(t.beadId, t.seq).where(sql`bead_id IS NOT NULL`),
    index("town_events_agent").on(t.agentId, t.seq).where(sql`agent_id IS NOT NULL`),
  ],
);

/**
 * The event log's totals, one row, kept with every write that changes them (one update per batch, not
 * per event): what waits and what the log holds, so the ingest's bounds and the queue's figures cost
 * one read, never a count over the backlog. Bytes are counted as `sizeAfter` weighs an event.
 */
export const eventTotals = sqliteTable("event_totals", {
  id: integer("id").primaryKey(),
  pending: integer("pending").notNull(),
  events: integer("events").notNull(),
  bytes: integer("bytes").notNull(),
});

/** Side effects, written in the transaction that decided them and executed after it commits. */
export const outbox = sqliteTable(
  "outbox",
  {
    id: text("id").primaryKey(),
    kind: text("kind").notNull(),
    agentId: text("agent_id").notNull(),
    payload: text("payload", { mode: "json" }).notNull(),
    attempts: integer("attempts").notNull(),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    lastError: text("last_error"),
    ...timestamps,
  },
  (t) => [index("outbox_next_attempt").on(t.nextAttemptAt)],
);

/** One row per alarm tick: what it did and what it measured (its metrics are declared in tick-metrics.ts). */
export const ticks = sqliteTable(
  "ticks",
  {
    /** Given by the tick (`TickStore.nextId`), never reused: retention keeps the newest tick (see `idFloors`). */
    id: integer("id").primaryKey(),
    at: integer("at").notNull(),
    result: text("result").notNull(),
    error: text("error"),
    ...tickMetricColumns(),
    firstSeq: integer("first_seq"),
    lastSeq: integer("last_seq"),
    actionsByType: text("actions_by_type", { mode: "json" }).notNull(),
    actionsByRule: text("actions_by_rule", { mode: "json" }).notNull(),
    breakerStatus: text("breaker_status").notNull(),
    nextAlarmAt: integer("next_alarm_at"),
    nextAlarmReason: text("next_alarm_reason"),
    /** Milliseconds per phase (drain, reconcile, invariants, persist, effects); CPU-only phases read 0 in production. */
    phases: text("phases", { mode: "json" }),
    /** The highest event seq in the log when the tick started: commands up to it came before this tick. */
    logSeq: integer("log_seq"),
    /** The seqs this tick drained, in order (replay applies exactly these). */
    drainedSeqs: text("drained_seqs", { mode: "json" }),
    /** The actions as decided, for replay's divergence report. */
    actions: text("actions", { mode: "json" }),
    /** Agent observations that arrived since the previous tick, as this tick saw them. */
    observations: text("observations", { mode: "json" }),
    /**
     * What the steps after the tick's transaction counted (its duration, its rows, side effects), as
     * `{ "name{labels}": n }`: held here, in the one row they write, until the next tick's transaction
     * adds them to the totals in the row it writes anyway (the metrics read the newest tick's too).
     */
    afterCounters: text("after_counters", { mode: "json" }).$type<Record<string, number>>(),
  },
  (t) => [index("ticks_at").on(t.at)],
);

/**
 * The highest id `ticks` and `town_events` had given when migration 0016 rebuilt them without
 * AUTOINCREMENT (whose counter cost a row written on every insert): ids continue above it even where
 * retention had already emptied the table. Written once, by the migration; only read after.
 */
export const idFloors = sqliteTable("id_floors", {
  name: text("name").primaryKey(),
  last: integer("last").notNull(),
});

/** Work of the simulated container adapter (local runs and benchmarks only). */
export const simulatedRuns = sqliteTable("simulated_runs", {
  agentId: text("agent_id").primaryKey(),
  generation: integer("generation").notNull(),
  beadId: text("bead_id").notNull(),
  role: text("role").notNull(),
  branch: text("branch").notNull(),
  finishAt: integer("finish_at").notNull(),
  outcome: text("outcome").notNull(),
  lastHeartbeatAt: integer("last_heartbeat_at").notNull(),
});

/**
 * The usage meter (DESIGN §4.7): container time and dispatches per UTC day (`YYYY-MM-DD`), rig and role,
 * and per rig and role ever (`day` = 'total'). A change adds to its rows in the transaction that made it.
 */
export const usage = sqliteTable(
  "usage",
  {
    day: text("day").notNull(),
    rigId: text("rig_id").notNull(),
    role: text("role").notNull(),
    containerMs: integer("container_ms").notNull(),
    dispatches: integer("dispatches").notNull(),
  },
  (t) => [primaryKey({ columns: [t.day, t.rigId, t.role] })],
);

/** Cumulative counters and histogram buckets (Prometheus) as earlier versions wrote them, one row per series (see counter_totals). */
export const counters = sqliteTable(
  "counters",
  {
    name: text("name").notNull(),
    /** Canonical label text, e.g. `kind="dispatch",outcome="ok"`. */
    labels: text("labels").notNull(),
    value: real("value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.name, t.labels] })],
);

/**
 * The counters' totals since they moved out of `counters`, in one row: what a tick adds to any number of
 * series is one row written, where a row per series wrote one for each (issue 20 item 3). `series` is a
 * JSON object from `name{labels}` to the total; `counters` keeps what earlier versions wrote there, and
 * a series' value is the sum of both.
 */
export const counterTotals = sqliteTable("counter_totals", {
  id: integer("id").primaryKey(),
  series: text("series").notNull(),
});

/** Invariant violations: open ones (resolved_at null) and a bounded history of resolved ones. */
export const violations = sqliteTable(
  "violations",
  {
    key: text("key").primaryKey(),
    invariant: integer("invariant").notNull(),
    message: text("message").notNull(),
    agentIds: text("agent_ids", { mode: "json" }).notNull(),
    beadIds: text("bead_ids", { mode: "json" }).notNull(),
    firstSeenAt: integer("first_seen_at").notNull(),
    lastSeenAt: integer("last_seen_at").notNull(),
    lastReportedAt: integer("last_reported_at").notNull(),
    resolvedAt: integer("resolved_at"),
  },
  (t) => [index("violations_open").on(t.invariant).where(sql`resolved_at IS NULL`)],
);

/** Periodic copies of the town's state, the starting points of replay. */
export const snapshots = sqliteTable(
  "snapshots",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    takenAt: integer("taken_at").notNull(),
    /** The last tick whose effects the snapshot includes (0: none yet). */
    tickId: integer("tick_id").notNull(),
    /** The highest event seq at the time (commands up to it are in the snapshot). */
    logSeq: integer("log_seq").notNull(),
    /** Events still pending at the time, as `[seq, attempts]`, for `json` and `gzip` snapshots (`frame` ones: `[]`, the list is in their chunks). */
    pending: text("pending", { mode: "json" }).notNull(),
    /** Rows it is stored in: chunks (`gzip`) or parts (`json`). */
    parts: integer("parts").notNull(),
    /**
     * Its JSON's size: UTF-8 bytes for `gzip` snapshots; UTF-16 units for `json` ones (those are
     * measured from their parts instead).
     */
    bytes: integer("bytes").notNull(),
    /**
     * `frame` (since migration 0013): a gzip-compressed frame in `snapshot_chunks` holding the pending
     * list and either the whole state or a delta from `baseId` (src/db/snapshot-codec.ts). `gzip`
     * (migration 0012): the state's JSON gzip-compressed in `snapshot_chunks`, the pending list in
     * `pending`. `json`: the JSON as text in `snapshot_parts` (written before 0012). All still read,
     * until retention drops them.
     */
    encoding: text("encoding", { enum: ["json", "gzip", "frame"] })
      .notNull()
      .default("json"),
    /**
     * The full snapshot this one is a delta from (`frame` snapshots only; null: it is full itself).
     * Retention never drops a base a kept delta names.
     */
    baseId: integer("base_id"),
    /**
     * The oldest event pending when it was taken (null: none), so sizing a replay never reads the
     * pending list itself (`frame` snapshots hold that list in their chunks; older ones in `pending`).
     */
    firstPendingSeq: integer("first_pending_seq"),
  },
  (t) => [index("snapshots_taken_at").on(t.takenAt)],
);

/** A compressed snapshot's gzip bytes, in chunks well under the 2 MB row limit. */
export const snapshotChunks = sqliteTable(
  "snapshot_chunks",
  {
    snapshotId: integer("snapshot_id").notNull(),
    part: integer("part").notNull(),
    data: bytes("data").notNull(),
  },
  (t) => [primaryKey({ columns: [t.snapshotId, t.part] })],
);

/** An uncompressed snapshot's JSON (written before migration 0012), split into parts under the 2 MB row limit. */
export const snapshotParts = sqliteTable(
  "snapshot_parts",
  {
    snapshotId: integer("snapshot_id").notNull(),
    part: integer("part").notNull(),
    data: text("data").notNull(),
  },
  (t) => [primaryKey({ columns: [t.snapshotId, t.part] })],
);

/**
 * `Idempotency-Key`s of creating requests (rigs, beads, convoys): the first answer, kept a day, so a
 * retry gets it again and the same key with another request is refused.
 */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    key: text("key").primaryKey(),
    /** Which kind of request used it (a key names one request, on one route). */
    route: text("route").notNull(),
    /** SHA-256 of the request body as validated, keys sorted. */
    requestHash: text("request_hash").notNull(),
    answer: text("answer", { mode: "json" }).notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("idempotency_keys_created_at").on(t.createdAt)],
);

/**
 * Alerts waiting for Sentry to accept them: written with the tick that raised them, deleted when Sentry
 * answers 2xx, retried with backoff, dropped (logged and counted) after their last attempt.
 */
export const alertOutbox = sqliteTable(
  "alert_outbox",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    kind: text("kind").notNull(),
    alert: text("alert", { mode: "json" }).notNull(),
    /** Where it was raised: the town and the tick. */
    context: text("context", { mode: "json" }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("alert_outbox_next_attempt").on(t.nextAttemptAt)],
);
