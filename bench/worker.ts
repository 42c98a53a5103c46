/**
 * The Worker the benchmark runs (`npm run bench`): the production Worker and town object, plus a
 * `/bench` control surface whose methods build synthetic towns and time the production code paths
 * from inside the object (in local workerd the clock advances during CPU work; in production it does not).
 */
import { asc } from "drizzle-orm";
import { drizzle } from "drizzle-orm/durable-sqlite";
import * as schema from "../src/db/schema";
import type { Env } from "../src/env";
import { TownDO as ProductionTownDO } from "../src/town/town.do";
import production from "../src/index";
import { toNewEvent } from "../src/db/event-rows";
import { commitTick } from "../src/tick/tick";
import { Housekeeping } from "../src/tick/housekeeping";
import type { Clock } from "../src/domain/clock";
import { noFinished, type FinishedCounts } from "../src/domain/archive";
import { snapshotOf, stateFromSnapshot } from "../src/domain/snapshot";
import { packSnapshot, SNAPSHOT_FULL_EVERY_MS } from "../src/db/snapshot-codec";
import { anHourLater, HOUR, rowsChanged, WEEK_HOURS } from "./snapshot-week";
import { bodyOf, seedFinished, titleOf, type HistoryProfile } from "./history";
import { replayWindow } from "../src/replay/replay-window";
import type { BeadId, RigId, TownId } from "../src/domain/ids";
import { syntheticTown } from "./synthetic";

export { TownRegistry } from "./fleet-registry";
import { runFleetBench } from "./fleet-worker";
import { listBeads } from "../src/views/listings";

/** The last load's time, by town. */
const coldLoads = new Map<string, number>();

export class TownDO extends ProductionTownDO {
  /** How far this object's clock runs ahead of the machine's (the calibration run fast-forwards it). */
  private ahead = 0;

  protected override createClock(): Clock {
    return { now: () => Date.now() + (this.ahead ?? 0) };
  }

  protected override load() {
    const started = performance.now();
    const runtime = super.load();
    if (runtime) coldLoads.set(runtime.state.town.id, performance.now() - started);
    return runtime;
  }

  /** A synthetic town of this size, written straight to storage and loaded back (`finishedShare` of its spare beads closed). */
  async benchSeed(townId: string, agents: number, beads: number, finishedShare = 0.8) {
    const started = performance.now();
    // Intake bounds at their ceilings: the ingest parts measure how fast a town takes events, not its flood limits.
    const created = await this.putTown(townId as TownId, {
      maxPolecatsPerRig: 60,
      snapshotIntervalMs: 86_400_000,
      idleAlarmMs: 3_600_000,
      maxPendingEvents: 10_000_000,
      ingestRate: { eventsPerSecond: 1_000_000, burst: 10_000_000 },
    });
    if (!created.ok) throw new Error(JSON.stringify(created.error));
    const town = syntheticTown(agents, beads, Date.now(), finishedShare);
    this.store.transaction(() =>
      this.store.state.persist(
        {
          town: null,
          rigs: town.rigs,
          agents: town.agents,
          beads: town.beads,
          beadsWere: new Map(),
          agentsWere: new Map(),
          createdBeads: town.beads,
          createdAgents: town.agents,
          archived: [],
          revived: [],
          reblocked: [],
          archivedUpTo: 0,
          purgedAgents: [],
          usage: [],
        },
        noFinished(),
      ),
    );
    this.runtime = null;
    this.load();
    await this.ctx.storage.deleteAlarm();
    return { ms: performance.now() - started, agentToken: created.value.created ? created.value.agentToken : null, working: town.working.length };
  }

  /**
   * The calibration: a real town (simulated platform, clock fast-forwarded from alarm to alarm) takes
   * `issues` issues from sling to merged. What it left behind per finished issue is the profile the
   * lifetime towns are seeded with.
   */
  async benchCalibrate(townId: string, issues: number, bodyChars: number): Promise<HistoryProfile> {
    // Agents work a minute and report running half-way through: that first report is an event (a tick),
    // as a real platform's is. Later heartbeats are left out: the simulation has to wake the town to make
    // each one, where a real platform's are written as they arrive without a tick, so counting them would
    // give the town ticks no real town has.
    const created = await this.putTown(townId as TownId, {
      maxPolecatsPerRig: 20,
      snapshotIntervalMs: 86_400_000,
      simulation: { workMs: 60_000, heartbeatIntervalMs: 30_000 },
    });
    if (!created.ok) throw new Error(JSON.stringify(created.error));
    await this.addRig({ id: "rig-0" as RigId, name: "rig-0", gitUrl: "https://git.example/rig-0.git" });
    const sizeBefore = this.store.databaseSize;
    // Every statement of the run counted by the part of the town it writes (the simulated platform's own rows apart).
    const counted = await this.countRows(async () => {
      for (let i = 0; i < issues; i++) {
        const blocked = i % 10 === 9 ? { blockedBy: [`done-${i - 1}` as BeadId] } : {};
        const slung = await this.slingBead({
          id: `done-${i}` as BeadId,
          rigId: "rig-0" as RigId,
          title: titleOf(i),
          body: bodyOf(i, bodyChars),
          priority: i % 5,
          ...blocked,
        });
        if (!slung.ok) throw new Error(JSON.stringify(slung.error));
      }
      let alarms = 0;
      for (let round = 0; round < 200_000; round++) {
        const runtime = this.runtime!;
        if (
          runtime.state.finished.merge_request.closed >= issues &&
          runtime.state.countAgentsWith("working") === 0 &&
          this.store.events.queueStats().pending === 0
        )
          break;
        const at = await this.ctx.storage.getAlarm();
        if (at === null) throw new Error("the calibration town stopped scheduling ticks");
        this.ahead += Math.max(0, at - this.clock.now());
        await this.alarm();
        alarms += 1;
      }
      return alarms;
    });
    const alarms = counted.value;
    await this.ctx.storage.deleteAlarm();
    const finished = this.runtime!.state.finished;
    if (finished.issue.closed !== issues) throw new Error(`calibration: ${finished.issue.closed} of ${issues} issues closed`);
    const sql = this.ctx.storage.sql;
    const eventsPerIssue: Record<string, number> = {};
    const eventTemplates: HistoryProfile["eventTemplates"] = {};
    for (const row of sql.exec<{ type: string; n: number }>("SELECT type, count(*) AS n FROM town_events GROUP BY type").toArray()) {
      eventsPerIssue[row.type] = row.n / issues;
      const sample = sql
        .exec<{ agent_id: string | null; bead_id: string | null; payload: string }>(
          "SELECT agent_id, bead_id, payload FROM town_events WHERE type = ? ORDER BY seq DESC LIMIT 1",
          row.type,
        )
        .one();
      eventTemplates[row.type] = { agentId: sample.agent_id, beadId: sample.bead_id, payload: sample.payload };
    }
    // Whole rows, replay's columns included: they are the templates the seeding writes.
    const ticks = drizzle(this.ctx.storage, { schema }).select().from(schema.ticks).orderBy(asc(schema.ticks.id)).all();
    return {
      issues,
      eventsPerIssue,
      eventTemplates,
      ticksPerIssue: ticks.length / issues,
      tickTemplates: ticks.filter((t) => t.actionsEmitted > 0).slice(-100),
      bytesPerIssue: (this.store.databaseSize - sizeBefore) / issues,
      bodyChars,
      // What a real town writes: the simulated platform's rows are not the town's (a real platform keeps its own).
      rowsWrittenPerIssue: (counted.written - (counted.byPart[SIMULATION] ?? 0)) / issues,
      rowsReadPerIssue: counted.read / issues,
      rowsWrittenByPart: Object.fromEntries(Object.entries(counted.byPart).map(([part, n]) => [part, n / issues])),
      alarmsPerIssue: alarms / issues,
      // Where those rows go, statement by statement (bench/probe-rows.ts prints them), per issue.
      statements: counted.statements.slice(0, 40).map((st) => ({ ...st, calls: st.calls / issues, read: st.read / issues, written: st.written / issues })),
    };
  }

  /** Finished issues `from … from+count-1` of a history of `total` behind this town (see history.ts). */
  async benchSeedHistory(from: number, count: number, total: number, profile: HistoryProfile) {
    const runtime = this.runtime!;
    const config = runtime.state.town.config;
    const started = performance.now();
    const finished = seedFinished(
      this.store,
      {
        from,
        count,
        total,
        rigs: runtime.state.size.rigs,
        now: Date.now(),
        finished: this.finishedSoFar(),
        eventRetentionMs: config.eventRetentionMs,
        tickRetentionMs: config.tickRetentionMs,
      },
      profile,
    );
    this.seededFinished = finished;
    return { ms: performance.now() - started };
  }

  /**
   * A page of failed beads as `GET …/beads?status=failed&limit=` answers it: `runs` samples, each the
   * mean of 20 listings (one takes well under the clock's millisecond).
   */
  async benchListFailed(limit: number, runs: number) {
    const times: number[] = [];
    let beads = 0;
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      for (let j = 0; j < 20; j++) {
        const page = listBeads(this.runtime!, { status: "failed", limit });
        if (!page.ok) throw new Error(page.error.message);
        beads = page.value.beads.length;
      }
      times.push((performance.now() - started) / 20);
    }
    return { times, beads };
  }

  /** Snapshots as hourly snapshotting leaves them (the working set's, as the town takes them), `olderThan` hours back. */
  async benchSeedSnapshots(count: number, olderThan: number) {
    const now = Date.now();
    const state = snapshotOf(this.runtime!.state);
    const packed = await packSnapshot(JSON.stringify({ pending: [], state }));
    const bytes = new TextEncoder().encode(JSON.stringify(state)).length;
    for (let i = 1; i <= count; i++) {
      const takenAt = now - (olderThan + i) * 3_600_000;
      this.store.transaction(() =>
        this.store.snapshots.save({ takenAt, tickId: 0, logSeq: this.store.events.maxSeq(), firstPendingSeq: null, baseId: null, bytes }, packed),
      );
    }
    return { snapshots: count };
  }

  /**
   * Loads the town again from storage, as the object does after an eviction (after seeding behind its
   * back). Its working agents heartbeat meanwhile, as real ones do: seeding a long history takes minutes,
   * longer than the heartbeat timeout.
   */
  async benchReload() {
    this.ctx.storage.sql.exec("UPDATE agents SET last_heartbeat_at = ? WHERE status = 'working'", Date.now());
    this.runtime = null;
    this.seededFinished = null;
    this.load();
    return { beads: this.runtime!.state.size.beads };
  }

  private seededFinished: FinishedCounts | null = null;

  private finishedSoFar(): FinishedCounts {
    return this.seededFinished ?? this.runtime!.state.finished;
  }

  /** Snapshots taken as the alarm's are: one housekeeping, which keeps the newest full snapshot's rows for the next delta. */
  private readonly housekeeping = new Housekeeping();

  /** Takes a snapshot the way the alarm does, timed; returns its JSON's size and what it takes stored (compressed). */
  async benchSnapshot() {
    const started = performance.now();
    const { bytes, storedBytes } = await this.housekeeping.takeSnapshot(this.runtime!, Date.now(), 0);
    const ms = performance.now() - started;
    return { ms, bytes, storedBytes };
  }

  /**
   * The week of snapshots as the town stores them, and its share of the database: the snapshots seeded
   * (full, hourly, as before incremental snapshots) are replaced by a week and a day of hourly ones
   * taken the way the alarm takes them (Housekeeping.takeSnapshot: the newest full one read back as the
   * base, the delta checked, the frame compressed) of the working set changing between them as
   * bench/snapshot-week.ts describes, with retention pruning as it does. The database without its
   * snapshots is its size less what the seeded ones took stored (their chunks' bytes; page overhead is
   * left with the rest), so freed pages do not flatter the share.
   */
  async benchSnapshotWeek(finishedPerHour: number) {
    const store = this.store;
    const runtime = this.runtime!;
    const seeded = store.snapshots.storedSize();
    const databaseBefore = store.databaseSize;
    const withoutSnapshots = databaseBefore - seeded.bytes;
    for (const table of ["snapshot_chunks", "snapshot_parts", "snapshots"]) this.ctx.storage.sql.exec(`DELETE FROM ${table}`);
    const housekeeping = new Housekeeping();
    const retention = Math.min(runtime.state.town.config.eventRetentionMs, runtime.state.town.config.tickRetentionMs);
    const start = Date.now();
    let snapshot = snapshotOf(runtime.state);
    let changed = { agents: 0, beads: 0 };
    const hours = WEEK_HOURS + SNAPSHOT_FULL_EVERY_MS / HOUR;
    const taking: number[] = [];
    for (let hour = 1; hour <= hours; hour++) {
      const at = start + hour * HOUR;
      const next = anHourLater(snapshot, hour, at, finishedPerHour);
      if (hour === 1) changed = rowsChanged(snapshot, next);
      snapshot = next;
      const town = { ...runtime, state: stateFromSnapshot(snapshot), openViolations: new Map() };
      const started = performance.now();
      await housekeeping.takeSnapshot(town, at, 0);
      taking.push(performance.now() - started);
      store.transaction(() => store.snapshots.prune(at - retention));
    }
    const week = store.snapshots.storedSize();
    return {
      finishedPerHour,
      rowsChangedPerHour: changed,
      before: { snapshots: seeded.full + seeded.deltas, bytes: seeded.bytes, databaseBytes: databaseBefore, share: seeded.bytes / databaseBefore },
      after: {
        full: week.full,
        deltas: week.deltas,
        bytes: week.bytes,
        databaseBytes: withoutSnapshots + week.bytes,
        share: week.bytes / (withoutSnapshots + week.bytes),
      },
      /** Taking one, as the alarm does (the base read back, the delta checked, compressed, written): median and slowest. */
      snapshotMs: { median: taking.sort((a, b) => a - b)[Math.floor(hours / 2)]!, max: taking.at(-1)! },
    };
  }

  /** The working set as a snapshot's JSON (Node builds the state from it to weigh it). */
  async benchWorkingSet() {
    return { json: JSON.stringify(snapshotOf(this.runtime!.state)), size: this.runtime!.state.size };
  }

  /** The town's database size in bytes, and rows per table. */
  async benchStorage() {
    const sql = this.ctx.storage.sql;
    const rows: Record<string, number> = {};
    for (const table of ["beads", "dependencies", "town_events", "ticks", "snapshots", "snapshot_chunks", "agents"]) {
      rows[table] = sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n;
    }
    return { bytes: this.store.databaseSize, rows };
  }

  /** Appends `count` pending container status changes for working agents (each changes one agent). */
  async benchPending(count: number) {
    const runtime = this.runtime!;
    const working = [...runtime.state.agents()].filter((a) => a.status === "working" && a.role === "polecat");
    const now = Date.now();
    const rows = Array.from({ length: count }, (_, i) => {
      const agent = working[i % working.length]!;
      const status = agent.containerStatus === "starting" ? (i < working.length ? "running" : "starting") : i < working.length ? "starting" : "running";
      return toNewEvent(`bench:${now}:${i}`, { type: "container_status", agentId: agent.id, beadId: null, payload: { generation: 1, status } }, now);
    });
    this.store.transaction(() => this.store.events.append(rows));
    return { appended: rows.length };
  }

  /**
   * One tick's transactional core, as the alarm runs it (drain, apply, reconcile, invariants, persist),
   * `count` times in a row: `ms` is the mean of them. The local clock moves in whole milliseconds, so one
   * tick of a few ms reads as 1 or 2; the mean of several (their starts fall anywhere within a
   * millisecond) reads the fraction, and the median is then taken over such means.
   * `pending`: that many events are appended before each tick, outside the time taken. `phases`: the
   * mean of the tick record's phases (each in whole milliseconds, so only a mean of many reads finer).
   */
  async benchTick(count = 1, pending = 0) {
    const runtime = this.runtime!;
    let ms = 0;
    let drained = 0;
    let actions = 0;
    let violations = 0;
    const phases: Record<string, number> = {};
    for (let i = 0; i < count; i++) {
      if (pending > 0) await this.benchPending(pending);
      const started = performance.now();
      const report = commitTick(runtime, Date.now());
      ms += performance.now() - started;
      drained += report.drained.length;
      actions += report.advance.actions.length;
      violations += report.violations.open.length;
      for (const [phase, phaseMs] of Object.entries(report.record.phases ?? {})) phases[phase] = (phases[phase] ?? 0) + phaseMs / count;
    }
    return { ms: ms / count, drained: drained / count, actions, violations, phases };
  }

  /** The whole alarm: simulated platform, the tick, Sentry, side effects, snapshot check, scheduling, records. */
  async benchAlarm() {
    const started = performance.now();
    await this.alarm();
    const ms = performance.now() - started;
    await this.ctx.storage.deleteAlarm();
    return { ms };
  }

  /**
   * The floor: the SQLite work a tick with `events` pending cannot avoid, with the DO SQL API and
   * nothing else — read the pending events, mark them processed, write each changed agent row once —
   * each done the cheapest way we know, so that the tick is held to no slack: the drained seqs are one
   * run, so one range update; the agents' rows go in one statement, bound as one JSON value.
   */
  async benchFloor(count = 1, pending = 1_000) {
    let ms = 0;
    for (let i = 0; i < count; i++) {
      await this.benchPending(pending);
      ms += this.floorOnce();
    }
    return { ms: ms / count };
  }

  private floorOnce(): number {
    const sql = this.ctx.storage.sql;
    const started = performance.now();
    this.ctx.storage.transactionSync(() => {
      const rows = sql
        .exec<{ seq: number; agent_id: string; payload: string }>(
          "SELECT seq, agent_id, payload FROM town_events WHERE status = 'pending' ORDER BY seq LIMIT 1000",
        )
        .toArray();
      const latest = new Map<string, string>();
      for (const row of rows) latest.set(row.agent_id, (JSON.parse(row.payload) as { status: string }).status);
      const now = Date.now();
      sql.exec("UPDATE town_events SET status = 'processed', processed_at = ? WHERE seq BETWEEN ? AND ?", now, rows[0]!.seq, rows.at(-1)!.seq);
      sql.exec(
        "UPDATE agents SET container_status = r.value ->> 1, container_status_since = ?, updated_at = ? FROM json_each(?) AS r WHERE agents.id = r.value ->> 0",
        now,
        now,
        JSON.stringify([...latest]),
      );
    });
    return performance.now() - started;
  }

  /** Resets the object: the next call constructs it afresh and loads the town from storage. */
  /**
   * A cold load, in place: the working set dropped and loaded again from SQLite, timed — what a new
   * object does after an eviction (migration check, every rig, agent, bead and dependency, open
   * violations), without resetting the object (how the local runtime takes a reset of one object among
   * many in one isolate differs between machines, and sometimes takes the runtime down).
   */
  async benchColdLoad() {
    this.runtime = null;
    this.load();
    return { ms: coldLoads.get(this.runtime!.state.town.id) ?? null };
  }

  /**
   * Rows read and written by one step (`tick`, `busy-tick`: 1,000 events pending first, `alarm`,
   * `busy-alarm`), as the town's row meter counts them, and by statement: where a tick's rows go.
   */
  async benchRows(step: string) {
    if (step === "busy-tick" || step === "busy-alarm") await this.benchPending(1_000);
    const counted = await this.countRows(async () => {
      if (step === "tick" || step === "busy-tick") commitTick(this.runtime!, Date.now());
      else if (step === "alarm" || step === "busy-alarm") {
        await this.alarm();
        await this.ctx.storage.deleteAlarm();
      } else throw new Error(`unknown rows step ${step}`);
    });
    return { read: counted.read, written: counted.written, byPart: counted.byPart, statements: counted.statements };
  }

  /**
   * The rows `work` reads and writes, every statement counted from its cursor (the tick's own `take`
   * of the town's meter does not hide them) and what goes outside SQL (an alarm set, a key put), by the
   * part of the town they are for.
   */
  private async countRows<T>(work: () => Promise<T> | T): Promise<CountedRows<T>> {
    const sql = this.ctx.storage.sql as SqlStorage & { exec: SqlStorage["exec"] };
    const original = sql.exec;
    const cursors: Array<{ query: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> }> = [];
    sql.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
      const cursor = original.call(this, query, ...bindings);
      cursors.push({ query, cursor });
      return cursor;
    } as SqlStorage["exec"];
    const meter = this.store.rows;
    const outside = meter.writtenOutsideSql;
    let outsideSql = 0;
    meter.writtenOutsideSql = (written: number) => {
      outsideSql += written;
      outside.call(meter, written);
    };
    let value: T;
    try {
      value = await work();
    } finally {
      sql.exec = original;
      meter.writtenOutsideSql = outside;
    }
    const byStatement = new Map<string, { calls: number; read: number; written: number }>();
    const byPart: Record<string, number> = { "alarm and its key (outside SQL)": outsideSql };
    let read = 0;
    let written = outsideSql;
    for (const { query, cursor } of cursors) {
      const key = query
        .replace(/\s+/g, " ")
        .replace(/(\?, )+\?/g, "?…")
        .slice(0, 160);
      const entry = byStatement.get(key) ?? { calls: 0, read: 0, written: 0 };
      entry.calls += 1;
      entry.read += cursor.rowsRead;
      entry.written += cursor.rowsWritten;
      byStatement.set(key, entry);
      read += cursor.rowsRead;
      written += cursor.rowsWritten;
      if (cursor.rowsWritten > 0) byPart[partOf(query)] = (byPart[partOf(query)] ?? 0) + cursor.rowsWritten;
    }
    const statements = [...byStatement].map(([query, e]) => ({ query, ...e })).sort((a, b) => b.written - a.written || b.read - a.read);
    return { value: value!, read, written, byPart, statements };
  }

  /**
   * The figures of the cost table, rows counted from every statement's cursor (deterministic, unlike
   * times): a steady alarm, a 1,000-event alarm, ingesting 1,000 events through the production command,
   * a heartbeat, a snapshot — and their floors, the SQL the change itself needs run against the same
   * tables and indexes in a transaction that is then rolled back.
   */
  async benchCost() {
    const runtime = this.runtime!;
    const working = [...runtime.state.agents()].filter((a) => a.status === "working" && a.role === "polecat");
    // Steady: one alarm first, so the series it writes exist (a series' first write also writes its index).
    await this.benchAlarm();
    const steady = await this.countRows(() => this.benchAlarm());
    await this.benchPending(1_000);
    const changedAgents = new Set((await this.pendingAgents()).values()).size;
    const busy = await this.countRows(() => this.benchAlarm());
    const { IngestBody } = await import("../src/api/schemas");
    const { ingestEvents, observeAgent } = await import("../src/commands/ingest");
    const stamp = Date.now();
    const body = IngestBody.parse({
      events: Array.from({ length: 1_000 }, (_, i) => ({
        eventId: `cost-${stamp}-${i}`,
        type: "container_status",
        agentId: working[i % working.length]!.id,
        payload: { generation: working[i % working.length]!.generation, status: i < working.length ? "running" : "starting" },
      })),
    });
    const ingest = await this.countRows(() => {
      const result = ingestEvents(runtime, body, Date.now());
      if (!result.ok) throw new Error(JSON.stringify(result.error));
    });
    const drain = await this.countRows(() => this.benchAlarm());
    const agent = working[0]!;
    observeAgent(runtime, agent.id, { generation: agent.generation, containerStatus: "running" }, Date.now());
    const heartbeat = await this.countRows(() => observeAgent(runtime, agent.id, { generation: agent.generation, containerStatus: "running" }, Date.now()));
    const snapshot = await this.countRows(() => new Housekeeping().takeSnapshot(runtime, Date.now(), 0));

    // Floors, rolled back: the rows the change itself needs, with the indexes it touches.
    const sql = this.ctx.storage.sql;
    const rolledBack = <T>(work: () => T): T => {
      let out: T | undefined;
      try {
        this.ctx.storage.transactionSync(() => {
          out = work();
          throw ROLLBACK;
        });
      } catch (error) {
        if (error !== ROLLBACK) throw error;
      }
      return out!;
    };
    const written = (query: string, ...bindings: unknown[]) => {
      const cursor = sql.exec(query, ...bindings);
      cursor.toArray();
      return cursor.rowsWritten;
    };
    const now = Date.now();
    const floor = rolledBack(() => {
      // 1,000 events inserted, 24 to a statement (4 parameters each, under the limit of 100), as a container status of a working agent.
      let insert = 0;
      for (let i = 0; i < 1_000; i += 24) {
        const n = Math.min(24, 1_000 - i);
        const values = Array.from({ length: n }, () => "(?, 'container_status', ?, NULL, ?, ?, 'pending', 0)").join(", ");
        insert += written(
          `INSERT INTO town_events (event_id, type, agent_id, bead_id, payload, created_at, status, attempts) VALUES ${values}`,
          ...Array.from({ length: n }, (_, j) => [
            `floor-${now}-${i + j}`,
            working[(i + j) % working.length]!.id,
            '{"generation":1,"status":"running"}',
            now,
          ]).flat(),
        );
      }
      const processed = written("UPDATE town_events SET status = 'processed', processed_at = ? WHERE status = 'pending'", now);
      // Each changed agent once: its container status columns (no index covers them).
      let agents = 0;
      for (const a of working.slice(0, changedAgents))
        agents += written("UPDATE agents SET container_status = ?, container_status_since = ?, updated_at = ? WHERE id = ?", "running", now, now, a.id);
      const ticks = sql.exec<{ n: number }>("SELECT count(*) AS n FROM pragma_index_list('ticks')").one().n;
      const heartbeatRow = written("UPDATE agents SET last_heartbeat_at = ?, observed_at = ? WHERE id = ?", now + 1, now + 1, agent.id);
      // Retention's share: a processed event and a tick record deleted, each with its indexes.
      const processedEvents = sql.exec<{ n: number }>("SELECT count(*) AS n FROM town_events WHERE status = 'processed'").one().n;
      const eventDeletes = written("DELETE FROM town_events WHERE status = 'processed'");
      const tickRows = sql.exec<{ n: number }>("SELECT count(*) AS n FROM ticks").one().n;
      const tickDeletes = written("DELETE FROM ticks");
      const beadIndexes = sql.exec<{ n: number }>("SELECT count(*) AS n FROM pragma_index_list('beads')").one().n;
      // A bead's status change: its row and the index entries its status and change time are in.
      const live = sql.exec<{ id: string }>("SELECT id FROM beads WHERE archived_seq IS NULL AND status = 'open' LIMIT 1").toArray()[0];
      const beadTransition = live ? written("UPDATE beads SET status = 'in_progress', updated_at = ? WHERE id = ?", now + 2, live.id) : 0;
      // Its last change as it leaves the working set (closed, its archive number): what that adds to a change.
      const beadLeaving = live
        ? written("UPDATE beads SET status = 'closed', updated_at = ?, archived_seq = ? WHERE id = ?", now + 3, 1e12, live.id) - beadTransition
        : 0;
      // The usage meter's share of a container interval: its day's row and the total's, each already there.
      const usageKey = ["1970-01-01", "floor-rig", "polecat"];
      const addUsage =
        "INSERT INTO usage (day, rig_id, role, container_ms, dispatches) VALUES (?, ?, ?, 1, 1) ON CONFLICT (day, rig_id, role) DO UPDATE SET container_ms = container_ms + 1";
      written(addUsage, ...usageKey);
      written(addUsage, "total", usageKey[1], usageKey[2]);
      const usageInterval = written(addUsage, ...usageKey) + written(addUsage, "total", usageKey[1], usageKey[2]);
      return {
        insert,
        processed,
        agents,
        tickRecord: 1 + ticks,
        heartbeat: heartbeatRow,
        eventDelete: eventDeletes / Math.max(1, processedEvents),
        tickDelete: tickDeletes / Math.max(1, tickRows),
        beadInsert: 1 + beadIndexes,
        beadTransition,
        beadLeaving,
        usageInterval,
      };
    });
    const snapshotRows = sql.exec<{ n: number }>("SELECT count(*) AS n FROM pragma_index_list('snapshots')").one().n + 1;
    const chunks = snapshot.statements.filter((s) => /snapshot_(chunks|parts)/.test(s.query)).reduce((n, s) => n + s.written, 0);
    const show = (c: CountedRows<unknown>) => ({ read: c.read, written: c.written, byPart: c.byPart, statements: c.statements.slice(0, 12) });
    return {
      changedAgents,
      steady: show(steady),
      busy: show(busy),
      ingest: show(ingest),
      drain: show(drain),
      heartbeat: show(heartbeat),
      snapshot: { ...show(snapshot), storedBytes: snapshot.value.storedBytes },
      floor: { ...floor, alarm: 1, snapshot: snapshotRows + chunks },
    };
  }

  /**
   * A town with nothing to do (no rig, no agent): the rows one of its alarms writes, and when it would
   * wake next (null: it sleeps until a request or the watchdog wakes it).
   */
  async benchIdle(townId: string) {
    const created = await this.putTown(townId as TownId, {});
    if (!created.ok) throw new Error(JSON.stringify(created.error));
    await this.alarm();
    const counted = await this.countRows(async () => {
      await this.alarm();
      return this.ctx.storage.getAlarm();
    });
    await this.ctx.storage.deleteAlarm();
    return {
      read: counted.read,
      written: counted.written,
      byPart: counted.byPart,
      wakeAfterMs: counted.value === null ? null : Math.max(0, counted.value - Date.now()),
      databaseSize: this.store.databaseSize,
    };
  }

  /** The agents the pending events change, by event. */
  private async pendingAgents(): Promise<string[]> {
    return this.ctx.storage.sql
      .exec<{ agent_id: string }>("SELECT agent_id FROM town_events WHERE status = 'pending' AND agent_id IS NOT NULL")
      .toArray()
      .map((r) => r.agent_id);
  }

  /** Builds a history of `events` events, `perTick` at a time, each batch drained by a real tick. */
  async benchHistory(events: number, perTick: number) {
    const started = performance.now();
    const runtime = this.runtime!;
    for (let done = 0; done < events; done += perTick) {
      await this.benchPending(Math.min(perTick, events - done));
      commitTick(runtime, Date.now());
    }
    return { ms: performance.now() - started };
  }

  async benchReplay(from: number, to: number) {
    const started = performance.now();
    const result = await replayWindow(this.store, from, to, Date.now());
    if (!result.ok) throw new Error(JSON.stringify(result.error));
    return {
      ms: performance.now() - started,
      eventsReplayed: result.value.eventsReplayed,
      ticks: result.value.ticksReplayed,
      divergent: result.value.divergence.ticks,
    };
  }

  /** Average of `count` steady ticks run back to back (no request between them). */
  async benchTickLoop(count: number) {
    const runtime = this.runtime!;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      commitTick(runtime, Date.now());
    }
    return { msPerTick: (performance.now() - started) / count };
  }

  /** The town's side of ingest alone (validation with the API schema, the checks, the insert), `batches` × `size`. */
  async benchIngestInObject(size: number, batches: number) {
    const { IngestBody } = await import("../src/api/schemas");
    const { parseIngestBody } = await import("../src/api/ingest-body");
    const { ingestEvents } = await import("../src/commands/ingest");
    const agentId = [...this.runtime!.state.agents()][1]!.id;
    const stamp = Date.now();
    const bodies = Array.from({ length: batches }, (_, b) =>
      JSON.stringify({
        events: Array.from({ length: size }, (_, i) => ({
          eventId: `io-${stamp}-${b}-${i}`,
          type: "container_status",
          agentId,
          payload: { generation: 1, status: i % 2 ? "running" : "starting" },
        })),
      }),
    );
    const started = performance.now();
    // The Worker's share (JSON, zod) and the town's (the checks, the insert), apart: in the HTTP path the Worker does the first.
    let parseMs = 0;
    for (const text of bodies) {
      const parsing = performance.now();
      // As the route validates: the quick path, the schema for what it leaves (src/http/body.ts).
      const value: unknown = JSON.parse(text);
      const input = parseIngestBody(value) ?? IngestBody.parse(value);
      parseMs += performance.now() - parsing;
      const result = ingestEvents(this.runtime!, input, Date.now());
      if (!result.ok) throw new Error(JSON.stringify(result.error));
    }
    const ms = performance.now() - started;
    return { eventsPerSecond: (size * batches) / (ms / 1000), parseShare: parseMs / ms };
  }

  /** Where a steady-state reconcile pass spends its time, rule by rule (50 passes each). */
  async benchProfileRules() {
    const runtime = this.runtime!;
    const { RULES } = await import("../src/domain/reconcile");
    const { Plan } = await import("../src/domain/plan");
    const { checkInvariants } = await import("../src/domain/invariants");
    const now = Date.now();
    const out: Record<string, number> = {};
    const rounds = 50;
    for (const rule of RULES) {
      const started = performance.now();
      for (let i = 0; i < rounds; i++) {
        rule(new Plan(runtime.state, now, runtime.state.town.config));
      }
      out[rule.name] = (performance.now() - started) / rounds;
    }
    let started = performance.now();
    for (let i = 0; i < rounds; i++) checkInvariants(runtime.state, now, { oldestPendingAgeMs: null, dead: 0 });
    out["(invariants)"] = (performance.now() - started) / rounds;
    const { reconcile } = await import("../src/domain/reconcile");
    started = performance.now();
    for (let i = 0; i < rounds; i++) reconcile(runtime.state, now, runtime.state.town.config);
    out["(reconcile)"] = (performance.now() - started) / rounds;
    return out;
  }
}

type BenchStub = DurableObjectStub<TownDO>;

const ROLLBACK = new Error("rolled back on purpose: the floor's rows are counted, not kept");

interface CountedRows<T> {
  value: T;
  read: number;
  written: number;
  /** Rows written by the part of the town they are for. */
  byPart: Record<string, number>;
  statements: Array<{ query: string; calls: number; read: number; written: number }>;
}

const SIMULATION = "simulated platform (not the town's)";

/** The part of the town a statement's rows are for, from the table it names first. */
function partOf(query: string): string {
  const table = /\b(?:into|update|from)\s+"?(\w+)"?/i.exec(query)?.[1] ?? "other";
  if (table === "town_events") return "events";
  if (table === "simulated_runs") return SIMULATION;
  if (["agents", "beads", "rigs", "dependencies", "usage", "towns"].includes(table)) return "state";
  if (table === "ticks") return "tick record";
  if (table === "counters" || table === "counter_totals") return "counters";
  if (table.startsWith("snapshot")) return "snapshots";
  return table;
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    const fleet = /^\/bench\/fleet\/([a-z-]+)$/.exec(url.pathname);
    if (fleet) {
      const body = (await request.json().catch(() => ({}))) as Record<string, number>;
      return runFleetBench(env, fleet[1]!, body).then(
        (result) => Response.json(result),
        (error) => Response.json({ error: String(error) }, { status: 500 }),
      );
    }
    const match = /^\/bench\/towns\/([^/]+)\/([a-z-]+)$/.exec(url.pathname);
    if (!match) return production.fetch(request as Request<unknown, IncomingRequestCfProperties>, env, ctx);
    const [, townId, action] = match as unknown as [string, string, string];
    const stub = env.TOWN.getByName(townId) as unknown as BenchStub;
    const body = request.method === "POST" ? ((await request.json().catch(() => ({}))) as Record<string, number>) : {};
    try {
      const result = await run(stub, townId, action, body);
      return Response.json(result ?? {});
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 500 });
    }
  },
};

async function run(stub: BenchStub, townId: string, action: string, body: Record<string, number>) {
  switch (action) {
    case "seed":
      return stub.benchSeed(townId, body.agents!, body.beads!, body.finishedShare);
    case "calibrate":
      return stub.benchCalibrate(townId, body.issues!, body.bodyChars!);
    case "seed-history":
      return stub.benchSeedHistory(body.from!, body.count!, body.total!, body.profile as unknown as HistoryProfile);
    case "list-failed":
      return stub.benchListFailed(body.limit!, body.runs!);
    case "seed-snapshots":
      return stub.benchSeedSnapshots(body.count!, body.olderThan ?? 0);
    case "reload":
      return stub.benchReload();
    case "snapshot":
      return stub.benchSnapshot();
    case "snapshot-week":
      return stub.benchSnapshotWeek(body.finishedPerHour ?? 42);
    case "working-set":
      return stub.benchWorkingSet();
    case "storage":
      return stub.benchStorage();
    case "pending":
      return stub.benchPending(body.count!);
    case "tick":
      return stub.benchTick(body.count, body.pending);
    case "alarm":
      return stub.benchAlarm();
    case "floor":
      return stub.benchFloor(body.count, body.pending);
    case "cold-load":
      return stub.benchColdLoad();
    case "history":
      return stub.benchHistory(body.events!, body.perTick!);
    case "replay":
      return stub.benchReplay(body.from!, body.to!);
    case "ingest-in-object":
      return stub.benchIngestInObject(body.size!, body.batches!);
    case "tick-loop":
      return stub.benchTickLoop(body.count ?? 20);
    case "cost":
      return stub.benchCost();
    case "idle":
      return stub.benchIdle(townId);
    case "rows":
      return stub.benchRows(body.step as unknown as string);
    case "profile-rules":
      return stub.benchProfileRules();
    default:
      throw new Error(`unknown bench action ${action}`);
  }
}
