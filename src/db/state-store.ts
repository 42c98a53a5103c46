import { eq } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { resolveConfig, type TownConfigOverrides } from "../domain/config";
import type { AgentId, BeadId, RigId, TownId } from "../domain/ids";
import type { Agent, Bead, BeadFailure, BeadStatus, BeadType, BeadUsage, Breaker, BudgetStanding, ContainerStatus, Pause, Rig, Town } from "../domain/model";
import { NO_BEAD_USAGE } from "../domain/model";
import { TOTAL, type UsageRow } from "../domain/usage";
import { TownState, type StateChanges } from "../domain/state";
import { noFinished, type BeadArchive, type FinishedCounts } from "../domain/archive";
import { allColumns, rowCodec } from "./codec";
import * as schema from "./schema";
import { allRows as all, chunks, firstRow as first, jsonRowChunks, MAX_PARAMS, placeholders as marks } from "./sql";
import { changedColumnsUpdate, updateManyFor, upsertFor, type UpdateMany } from "./statements";

/** The last observation of an agent (time and container status as reported, for the noise filter). */
export interface Observation {
  readonly observedAt: number | null;
  readonly observedContainerStatus: ContainerStatus | null;
}

/** What a listing of beads filters on (each optional). */
export interface BeadFilter {
  readonly status?: BeadStatus;
  readonly rig?: RigId;
  readonly type?: BeadType;
  readonly held?: boolean;
}

/** Where a page of a listing ended: its last bead's change time and id. */
export interface BeadCursor {
  readonly updatedAt: number;
  readonly id: string;
}

/** A bead as stored, where the domain has no use for it: with its body. */
export type StoredBead = Bead & { readonly body: string | null };

const RIG_KEYS = ["id", "name", "gitUrl", "defaultBranch", "agentSeq", "deletedAt", "createdAt", "updatedAt"] as const;
const AGENT_KEYS = [
  "id",
  "rigId",
  "role",
  "status",
  "statusSince",
  "hook",
  "generation",
  "dispatchAttempts",
  "dispatchedAt",
  "runningSince",
  "lastHeartbeatAt",
  "containerStatus",
  "containerStatusSince",
  "owedStops",
  "createdAt",
  "updatedAt",
] as const;
const BEAD_KEYS = [
  "id",
  "rigId",
  "type",
  "status",
  "title",
  "priority",
  "assignee",
  "dispatchAttempts",
  "lastDispatchAt",
  "held",
  "sourceBeadId",
  "branch",
  "prUrl",
  "merged",
  "reopenedAt",
  "lastFailure",
  "usage",
  "createdAt",
  "updatedAt",
] as const;

const TOWN_ROW = rowCodec(schema.towns, allColumns(schema.towns));
const RIG_ROW = rowCodec(schema.rigs, RIG_KEYS);
const AGENT_ROW = rowCodec(schema.agents, [...AGENT_KEYS, "observedAt", "observedContainerStatus"]);
const BEAD_ROW = rowCodec(schema.beads, BEAD_KEYS);
const STORED_BEAD_ROW = rowCodec(schema.beads, [...BEAD_KEYS, "body"]);

/** The rows a tick writes, as prepared statements derived from the schema (see statements.ts). */
const UPSERT = {
  rig: upsertFor<Rig>(schema.rigs, ["id"], RIG_KEYS),
  agent: upsertFor<Agent>(schema.agents, ["id"], AGENT_KEYS),
  bead: upsertFor<Bead>(schema.beads, ["id"], BEAD_KEYS),
};
const AGENT_CHANGING_KEYS = AGENT_KEYS.filter((c) => c !== "rigId" && c !== "role" && c !== "createdAt");
const BEAD_CHANGING_KEYS = BEAD_KEYS.filter((c) => c !== "rigId" && c !== "type" && c !== "sourceBeadId" && c !== "createdAt");
/** What an update writes: every column that can change (never id, rig, role, type or creation time) — for a row whose last version is not known. */
const UPDATE = {
  agent: updateManyFor<Agent>(schema.agents, "id", AGENT_CHANGING_KEYS),
  bead: updateManyFor<Bead>(schema.beads, "id", BEAD_CHANGING_KEYS),
};
/** A bead with its archive number when it leaves the working set with the change. */
type BeadRow = Bead & { readonly archivedSeq?: number };
/** What an update of a known row writes: the columns that changed (see `changedColumnsUpdate`). */
const CHANGED = {
  agent: changedColumnsUpdate<Agent>(schema.agents, "id", AGENT_CHANGING_KEYS),
  bead: changedColumnsUpdate<BeadRow>(schema.beads, "id", [...BEAD_CHANGING_KEYS, "archivedSeq"]),
};
const INSERT_DEPENDENCY = `INSERT INTO dependencies (bead_id, depends_on_id, kind, ordinal) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`;
/** Metered usage adds to its day's row and to the rig and role's total (`day` = 'total'). */
const ADD_USAGE = `INSERT INTO usage (day, rig_id, role, container_ms, dispatches) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (day, rig_id, role) DO UPDATE SET container_ms = container_ms + excluded.container_ms, dispatches = dispatches + excluded.dispatches`;
const USAGE_ROW = rowCodec(schema.usage, ["day", "rigId", "role", "containerMs", "dispatches"]);
const ARCHIVE = updateManyFor<{ id: string; archivedSeq: number }>(schema.beads, "id", ["id", "archivedSeq"]);

/**
 * The town's entities: the town row, rigs, agents, beads and their dependencies. The working set is
 * loaded into memory; finished beads stay here and are read one at a time (the archive).
 */
export class StateStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly db: DrizzleSqliteDODatabase<typeof schema>,
  ) {}

  agentTokenHash(): string | null {
    // Raw: every agent call asks, and drizzle's query builder costs more than the read.
    return this.sql.exec<{ hash: string | null }>("SELECT agent_token_hash AS hash FROM towns LIMIT 1").toArray()[0]?.hash ?? null;
  }

  setAgentTokenHash(hash: string): void {
    this.db.update(schema.towns).set({ agentTokenHash: hash }).run();
  }

  createTown(town: Town, agentTokenHash: string): void {
    this.db
      .insert(schema.towns)
      .values({ ...townRow(town), finished: noFinished(), agentTokenHash })
      .run();
  }

  /**
   * The working set into memory: the town, rigs, agents (with their last observations), and the beads
   * that have not left it, with their dependencies and every merge request of their issues. Bodies and
   * finished beads stay on disk.
   *
   * Rows come back in rowid order, which is the order they were created in (a tick writes new rows in
   * the order it made them): the same iteration order the state had before the object was evicted,
   * so a reloaded town decides exactly as the running one would — and as replay does.
   */
  loadState(archive: BeadArchive): { state: TownState; observations: Map<AgentId, Observation> } | null {
    const townRowValue = first(this.sql, `SELECT ${TOWN_ROW.columns} FROM ${TOWN_ROW.table} LIMIT 1`, TOWN_ROW);
    if (!townRowValue) return null;
    const overrides = townRowValue.overrides as TownConfigOverrides;
    const town: Town = {
      id: townRowValue.id as TownId,
      overrides,
      config: resolveConfig(overrides),
      breaker: townRowValue.breaker as Breaker,
      paused: (townRowValue.paused as Pause | null) ?? null,
      budgetStanding: (townRowValue.budgetStanding as BudgetStanding | null) ?? null,
      progressAt: townRowValue.progressAt,
      createdAt: townRowValue.createdAt,
      updatedAt: townRowValue.updatedAt,
    };
    const rigs = all(this.sql, `SELECT ${RIG_ROW.columns} FROM rigs ORDER BY rowid`, RIG_ROW).map((row) => row as Rig);
    const observations = new Map<AgentId, Observation>();
    const agents = all(this.sql, `SELECT ${AGENT_ROW.columns} FROM agents ORDER BY rowid`, AGENT_ROW).map((row) => {
      const { observedAt, observedContainerStatus, ...agent } = row;
      observations.set(row.id as AgentId, { observedAt, observedContainerStatus: observedContainerStatus as ContainerStatus | null });
      return agent as Agent;
    });
    const blockedBy = new Map<string, BeadId[]>();
    const tracked = new Map<string, BeadId[]>();
    const deps = this.sql.exec(
      `SELECT d.bead_id, d.depends_on_id, d.kind FROM beads b JOIN dependencies d ON d.bead_id = b.id WHERE b.archived_seq IS NULL ORDER BY d.bead_id, d.kind, d.ordinal`,
    );
    for (const [beadId, dependsOn, kind] of deps.raw() as unknown as Iterable<[string, string, string]>) {
      const target = kind === "blocks" ? blockedBy : tracked;
      const list = target.get(beadId);
      if (list) list.push(dependsOn as BeadId);
      else target.set(beadId, [dependsOn as BeadId]);
    }
    const beads = all(this.sql, `SELECT ${BEAD_ROW.columns} FROM beads WHERE archived_seq IS NULL ORDER BY rowid`, BEAD_ROW).map((row) =>
      toBead(row, blockedBy.get(row.id) ?? NONE, tracked.get(row.id) ?? NONE),
    );
    // Every merge request of the issues in play, archived ones too (a review settles on all of them).
    const mergeRequests = new Map<BeadId, BeadId[]>();
    const mrs = this.sql.exec(
      `SELECT mr.source_bead_id, mr.id FROM beads src JOIN beads mr ON mr.source_bead_id = src.id
       WHERE src.archived_seq IS NULL AND src.type = 'issue' AND mr.type = 'merge_request' ORDER BY mr.rowid`,
    );
    for (const [issue, mr] of mrs.raw() as unknown as Iterable<[BeadId, BeadId]>) {
      const list = mergeRequests.get(issue);
      if (list) list.push(mr);
      else mergeRequests.set(issue, [mr]);
    }
    const finished = { ...noFinished(), ...(townRowValue.finished as Partial<FinishedCounts>) };
    // The meter's totals and its latest day (older days stay on disk).
    const usage = all(
      this.sql,
      `SELECT ${USAGE_ROW.columns} FROM usage WHERE day = '${TOTAL}' OR day = (SELECT max(day) FROM usage WHERE day <> '${TOTAL}')`,
      USAGE_ROW,
    ) as UsageRow[];
    const state = new TownState(town, rigs, agents, beads, { archive, finished, mergeRequests, archivedUpTo: townRowValue.archiveSeq, usage });
    return { state, observations };
  }

  /** Writes what a tick or command changed. `finishedBefore`: the archive's counts before these changes. */
  persist(changes: StateChanges, finishedBefore: FinishedCounts): void {
    // Beads leaving the working set, numbered in order after the last archive number given (numbers only
    // grow, so a snapshot's "archived up to n" stays true); a retried bead comes back from the archive.
    const leaving = archiveNumbers(changes.archived, changes.archivedUpTo);
    const finished = changes.archived.length > 0 || changes.revived.length > 0 ? structuredClone(finishedBefore) : null;
    if (finished) {
      for (const { was } of changes.revived) finished[was.type][was.status as "closed" | "failed"] -= 1;
      for (const bead of changes.archived) finished[bead.type][bead.status as "closed" | "failed"] += 1;
    }
    // The town's row once, whatever of it changed.
    if (changes.town || finished) {
      const { id: _id, ...row } = changes.town ? townRow(changes.town) : {};
      this.db
        .update(schema.towns)
        .set({ ...row, ...(finished ? { finished, archiveSeq: changes.archivedUpTo + changes.archived.length } : {}) })
        .run();
    }
    for (const rig of changes.rigs) this.sql.exec(UPSERT.rig.sql, ...UPSERT.rig.params(rig));
    // New rows are inserted; the rest are updated in place, several to a statement.
    const newAgents = new Set(changes.createdAgents);
    const newBeads = new Set(changes.createdBeads);
    for (const agent of changes.createdAgents) this.sql.exec(UPSERT.agent.sql, ...UPSERT.agent.params(agent));
    for (const bead of changes.createdBeads) this.sql.exec(UPSERT.bead.sql, ...UPSERT.bead.params(bead));
    this.updateChanged(
      CHANGED.agent,
      UPDATE.agent,
      changes.agents.filter((agent) => !newAgents.has(agent)),
      changes.agentsWere,
    );
    // A bead's row once: with its archive number when it leaves the working set in the same change.
    const updated = changes.beads
      .filter((bead) => !newBeads.has(bead))
      .map((bead): BeadRow => (leaving.has(bead.id) ? { ...bead, archivedSeq: leaving.get(bead.id)! } : bead));
    const written = this.updateChanged(CHANGED.bead, UPDATE.bead, updated, changes.beadsWere);
    this.updateMany(
      ARCHIVE,
      [...leaving].filter(([id]) => !written.has(id)).map(([id, archivedSeq]) => ({ id, archivedSeq })),
    );
    // A retried bead leaves the archive (its row was updated above with the rest): it loads as live work again.
    for (const { bead } of changes.revived) this.sql.exec("UPDATE beads SET archived_seq = NULL WHERE id = ?", bead.id);
    for (const bead of changes.createdBeads) {
      for (const [ordinal, dependsOnId] of bead.blockedBy.entries()) this.sql.exec(INSERT_DEPENDENCY, bead.id, dependsOnId, "blocks", ordinal);
      for (const [ordinal, dependsOnId] of bead.tracked.entries()) this.sql.exec(INSERT_DEPENDENCY, bead.id, dependsOnId, "tracks", ordinal);
    }
    for (const bead of changes.reblocked) {
      this.sql.exec("DELETE FROM dependencies WHERE bead_id = ? AND kind = 'blocks'", bead.id);
      for (const [ordinal, dependsOnId] of bead.blockedBy.entries()) this.sql.exec(INSERT_DEPENDENCY, bead.id, dependsOnId, "blocks", ordinal);
    }
    for (const ids of chunks(changes.purgedAgents, MAX_PARAMS)) this.sql.exec(`DELETE FROM agents WHERE id IN (${marks(ids.length)})`, ...ids);
    this.addUsage(changes.usage);
  }

  /**
   * Marks beads as having left the working set, numbered after `upTo`, and stores the counts: at load,
   * for finished beads an older version (or a hand edit) left in the working set.
   */
  archive(beads: readonly Bead[], after: FinishedCounts, upTo: number): void {
    this.updateMany(
      ARCHIVE,
      [...archiveNumbers(beads, upTo)].map(([id, archivedSeq]) => ({ id, archivedSeq })),
    );
    this.db
      .update(schema.towns)
      .set({ finished: after, archiveSeq: upTo + beads.length })
      .run();
  }

  /** Adds metered usage to its days' rows and to the totals of each rig and role. */
  private addUsage(rows: readonly UsageRow[]): void {
    if (rows.length === 0) return;
    const totals = new Map<string, UsageRow>();
    for (const row of rows) {
      this.sql.exec(ADD_USAGE, row.day, row.rigId, row.role, row.containerMs, row.dispatches);
      const key = `${row.rigId}|${row.role}`;
      const had = totals.get(key);
      totals.set(key, { ...row, day: TOTAL, containerMs: (had?.containerMs ?? 0) + row.containerMs, dispatches: (had?.dispatches ?? 0) + row.dispatches });
    }
    for (const row of totals.values()) this.sql.exec(ADD_USAGE, row.day, row.rigId, row.role, row.containerMs, row.dispatches);
  }

  /** Usage per day from `from` to `to` (UTC days, inclusive), per rig and role, oldest first. */
  usageByDay(from: string, to: string): UsageRow[] {
    return all(
      this.sql,
      `SELECT ${USAGE_ROW.columns} FROM usage WHERE day >= ? AND day <= ? AND day <> '${TOTAL}' ORDER BY day, rig_id, role`,
      USAGE_ROW,
      from,
      to,
    ) as UsageRow[];
  }

  /** A bead that left the working set, as the domain reads it (no relations); `upToSeq` limits it to the first n archived. */
  archivedBead(id: BeadId, upToSeq = Number.MAX_SAFE_INTEGER): Bead | undefined {
    const row = first(this.sql, `SELECT ${BEAD_ROW.columns} FROM beads WHERE id = ? AND archived_seq <= ?`, BEAD_ROW, id, upToSeq);
    return row ? toBead(row, NONE, NONE) : undefined;
  }

  /**
   * Beads archived among the first `upToSeq` whose id starts with `prefix` (an issue's merge-request
   * ids, `<issue>:mr:<n>`): one range read on the primary key.
   */
  archivedWithPrefix(prefix: string, upToSeq: number): Bead[] {
    // Ids are ASCII; the range [prefix, prefix + U+FFFF) holds every id that starts with it.
    const rows = all(
      this.sql,
      `SELECT ${BEAD_ROW.columns} FROM beads WHERE id >= ? AND id < ? AND archived_seq <= ?`,
      BEAD_ROW,
      prefix,
      `${prefix}\uffff`,
      upToSeq,
    );
    return rows.map((row) => toBead(row, NONE, NONE));
  }

  /** The bodies of these beads that have one, as `[id, body]`. */
  bodies(ids: readonly string[]): Array<[string, string]> {
    return chunks(ids, MAX_PARAMS).flatMap((chunk) =>
      this.sql
        .exec<{ id: string; body: string }>(`SELECT id, body FROM beads WHERE body IS NOT NULL AND id IN (${marks(chunk.length)})`, ...chunk)
        .toArray()
        .map((row): [string, string] => [row.id, row.body]),
    );
  }

  /** Bytes of these beads' bodies. */
  bodyBytes(ids: readonly string[]): number {
    let bytes = 0;
    for (const chunk of chunks(ids, MAX_PARAMS)) {
      bytes +=
        this.sql.exec<{ n: number | null }>(`SELECT sum(length(CAST(body AS BLOB))) AS n FROM beads WHERE id IN (${marks(chunk.length)})`, ...chunk).one().n ??
        0;
    }
    return bytes;
  }

  /** Any stored bead with its relations and body (for reads that show a bead, wherever it is). */
  storedBead(id: BeadId): StoredBead | undefined {
    const row = first(this.sql, `SELECT ${STORED_BEAD_ROW.columns} FROM beads WHERE id = ?`, STORED_BEAD_ROW, id);
    if (!row) return undefined;
    const { body, ...bead } = row;
    return { ...this.withRelations(bead), body };
  }

  private withRelations(row: ReturnType<typeof BEAD_ROW.decode>): Bead {
    const blockedBy: BeadId[] = [];
    const tracked: BeadId[] = [];
    for (const [dependsOn, kind] of this.sql.exec("SELECT depends_on_id, kind FROM dependencies WHERE bead_id = ? ORDER BY kind, ordinal", row.id).raw()) {
      (kind === "blocks" ? blockedBy : tracked).push(dependsOn as BeadId);
    }
    return toBead(row, blockedBy, tracked);
  }

  /** An issue's merge requests as stored, oldest first. */
  mergeRequestsOf(issueId: BeadId): Bead[] {
    return all(this.sql, `SELECT ${BEAD_ROW.columns} FROM beads WHERE source_bead_id = ? AND type = 'merge_request' ORDER BY rowid`, BEAD_ROW, issueId).map(
      (row) => toBead(row, NONE, NONE),
    );
  }

  /**
   * Beads matching `filter`, newest change first (then id), after `after` (a page's last), at most
   * `limit`, finished ones included, with their relations. Each filter has an index that yields rows in
   * this order — by status, by rig, or all (`beads_status_changed`, `beads_rig_changed`, `beads_changed`)
   * — so a page costs its rows whatever the history behind it; `type` and `held` are checked on the rows
   * the index yields.
   */
  listBeads(filter: BeadFilter, after: BeadCursor | null, limit: number): Bead[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const and = (clause: string, ...values: unknown[]) => {
      where.push(clause);
      params.push(...values);
    };
    if (filter.status !== undefined) and("status = ?", filter.status);
    if (filter.rig !== undefined) and("rig_id = ?", filter.rig);
    if (filter.type !== undefined) and("type = ?", filter.type);
    if (filter.held !== undefined) and("held = ?", filter.held ? 1 : 0);
    if (after) and("(updated_at < ? OR (updated_at = ? AND id < ?))", after.updatedAt, after.updatedAt, after.id);
    const query = `SELECT ${BEAD_ROW.columns} FROM beads ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY updated_at DESC, id DESC LIMIT ?`;
    return this.withRelationsOf(all(this.sql, query, BEAD_ROW, ...params, limit));
  }

  /** Stored beads with these ids (in no particular order), with their relations. */
  beadsByIds(ids: readonly BeadId[]): Bead[] {
    return chunks(ids, MAX_PARAMS).flatMap((chunk) =>
      this.withRelationsOf(all(this.sql, `SELECT ${BEAD_ROW.columns} FROM beads WHERE id IN (${marks(chunk.length)})`, BEAD_ROW, ...chunk)),
    );
  }

  /** Rows with their blockers and tracked beads, read in one query per hundred rows. */
  private withRelationsOf(rows: ReadonlyArray<ReturnType<typeof BEAD_ROW.decode>>): Bead[] {
    const blockedBy = new Map<string, BeadId[]>();
    const tracked = new Map<string, BeadId[]>();
    for (const chunk of chunks(
      rows.map((row) => row.id),
      MAX_PARAMS,
    )) {
      const deps = this.sql.exec(
        `SELECT bead_id, depends_on_id, kind FROM dependencies WHERE bead_id IN (${marks(chunk.length)}) ORDER BY bead_id, kind, ordinal`,
        ...chunk,
      );
      for (const [beadId, dependsOn, kind] of deps.raw() as unknown as Iterable<[string, string, string]>) {
        const target = kind === "blocks" ? blockedBy : tracked;
        const list = target.get(beadId);
        if (list) list.push(dependsOn as BeadId);
        else target.set(beadId, [dependsOn as BeadId]);
      }
    }
    return rows.map((row) => toBead(row, blockedBy.get(row.id) ?? NONE, tracked.get(row.id) ?? NONE));
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

  /**
   * History retention: deletes up to `limit` beads that finished before `before`, oldest first, with
   * their dependencies — except those live work still refers to (`keep`). Returns how many went.
   * The counts by status live in the town row and do not change.
   */
  pruneFinished(before: number, keep: ReadonlySet<string>, limit: number): number {
    // Enough of the oldest that, whichever of them live work still refers to, `limit` can go.
    const candidates = this.sql
      .exec<{ id: string }>("SELECT id FROM beads WHERE archived_seq IS NOT NULL AND updated_at < ? ORDER BY updated_at LIMIT ?", before, limit + keep.size)
      .toArray()
      .map((row) => row.id)
      .filter((id) => !keep.has(id))
      .slice(0, limit);
    for (const ids of chunks(candidates, MAX_PARAMS)) {
      this.sql.exec(`DELETE FROM dependencies WHERE bead_id IN (${marks(ids.length)})`, ...ids);
      this.sql.exec(`DELETE FROM beads WHERE id IN (${marks(ids.length)})`, ...ids);
    }
    return candidates.length;
  }

  /**
   * Writes what changed of each row against what it was (all it may change where that is not known).
   * Returns the ids whose row was written with its archive number, if it has one (see `persist`).
   */
  private updateChanged<Row extends { readonly id: string; readonly archivedSeq?: number }>(
    changed: ReturnType<typeof changedColumnsUpdate<Row>>,
    full: UpdateMany<Row>,
    rows: readonly Row[],
    were: ReadonlyMap<string, Omit<Row, "archivedSeq"> | undefined>,
  ): Set<string> {
    const known: Array<{ row: Row; was: Row }> = [];
    const unknown: Row[] = [];
    for (const row of rows) {
      const was = were.get(row.id);
      if (was) known.push({ row, was: was as Row });
      else unknown.push(row);
    }
    this.updateMany(full, unknown);
    for (const { statement, rows: group } of changed.plan(known)) this.updateMany(statement, group);
    return new Set(known.filter(({ row }) => row.archivedSeq !== undefined).map(({ row }) => row.id));
  }

  private updateMany<Row>(statement: UpdateMany<Row>, rows: readonly Row[]): void {
    for (const chunk of jsonRowChunks(rows.map((row) => statement.params(row)))) this.sql.exec(statement.sql, chunk);
  }
}

const NONE: readonly never[] = Object.freeze([]);

/** Archive numbers for beads leaving the working set, in order after `upTo`, the last number given. */
function archiveNumbers(beads: readonly Bead[], upTo: number): Map<BeadId, number> {
  return new Map(beads.map((bead, i) => [bead.id, upTo + i + 1]));
}

function townRow(town: Town) {
  return {
    id: town.id,
    overrides: town.overrides,
    breaker: town.breaker,
    paused: town.paused,
    budgetStanding: town.budgetStanding,
    progressAt: town.progressAt,
    createdAt: town.createdAt,
    updatedAt: town.updatedAt,
  };
}

function toBead(row: ReturnType<typeof BEAD_ROW.decode>, blockedBy: readonly BeadId[], tracked: readonly BeadId[]): Bead {
  return {
    ...row,
    id: row.id as BeadId,
    rigId: row.rigId as RigId | null,
    type: row.type as BeadType,
    status: row.status as BeadStatus,
    assignee: row.assignee as AgentId | null,
    sourceBeadId: row.sourceBeadId as BeadId | null,
    blockedBy,
    tracked,
    lastFailure: (row.lastFailure as BeadFailure | null) ?? null,
    usage: (row.usage as BeadUsage | null) ?? NO_BEAD_USAGE,
  };
}
