import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { applyDelta, deltaOf, pendingOfRuns, rowsOf, snapshotBase, snapshotFrame, textOf } from "../../src/db/snapshot-codec";
import { TownStore } from "../../src/db/town-store";
import { captureErrorLogs } from "../support/error-logs";
import { advance, api, createTown, expectFaithfulReplay, runUntil, sling, tick, TOKENS, type TestTown } from "../support/town";

/** The error lines its tests cause on purpose (injected faults): asserted, not printed. */
const logged = captureErrorLogs();

const HOUR = 3_600_000;
/** Simulated agents finish in a second; the town snapshots every minute. */
const BUSY = { simulation: { workMs: 1_000, heartbeatIntervalMs: 500 }, snapshotIntervalMs: 60_000, maxPolecatsPerRig: 2 };

type SnapshotRowFacts = {
  id: number;
  taken_at: number;
  base_id: number | null;
  encoding: string;
  pending: string;
  first_pending_seq: number | null;
};

const snapshotRows = (town: TestTown) =>
  runInDurableObject(town.stub, (_instance, state) =>
    state.storage.sql.exec<SnapshotRowFacts>("SELECT id, taken_at, base_id, encoding, pending, first_pending_seq FROM snapshots ORDER BY id").toArray(),
  );

const replay = (town: TestTown, from: number, to: number) =>
  api("POST", `/api/towns/${town.townId}/debug/replay-events`, {
    token: TOKENS.debug,
    body: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
  });

/** A tick now, even of a town that sleeps (nothing owed): the snapshot step runs in every tick. */
async function wakeAndTick(town: TestTown) {
  await town.stub.testWake();
  await tick(town);
}

/** Held work: a backlog that does not move, the bulk of a busy town's state, as it is in production. */
async function backlog(town: TestTown, count: number) {
  for (let i = 0; i < count; i++) await sling(town, { id: `backlog-${i}`, title: `Later ${i}`, body: "Waits its turn", held: true });
}

const finished = (closed: number) => (s: any) => s.beads.closed === closed && s.agents.working === 0 && s.queue.pending === 0;

describe("a snapshot's delta", () => {
  const base = {
    town: { id: "t", updatedAt: 1 },
    agents: [
      { id: "a1", status: "idle" },
      { id: "a2", status: "working" },
    ],
    beads: [
      { id: "b1", status: "open" },
      { id: "b2", status: "open" },
      { id: "b3", status: "held" },
    ],
    finished: { issue: { closed: 1 } },
  };

  it("holds the rows changed, added and gone, and gives back the state exactly", () => {
    const state = {
      town: { id: "t", updatedAt: 2 },
      agents: [
        { id: "a1", status: "idle" },
        { id: "a2", status: "working", lastHeartbeatAt: 5 },
      ],
      beads: [
        { id: "b1", status: "in_progress" },
        { id: "b3", status: "held" },
        { id: "b4", status: "open" },
      ],
      finished: { issue: { closed: 2 } },
    };
    const rows = rowsOf(state);
    const json = textOf(state, rows);
    expect(json).toBe(JSON.stringify(state));
    const delta = deltaOf(snapshotBase(1, 0, rowsOf(base)), state, rows)!;
    expect(Object.fromEntries(delta.members)).toEqual({
      town: { whole: state.town },
      agents: { list: { put: [state.agents[1]], removed: [] } },
      beads: { list: { put: [state.beads[0], state.beads[2]], removed: ["b2"] } },
      finished: { whole: state.finished },
    });
    // Applied to the base as storage gives it back (parsed), it gives back the state's JSON.
    expect(JSON.stringify(applyDelta(JSON.parse(JSON.stringify(base)), delta))).toBe(json);
    expect(snapshotFrame(state, rows, json, [], snapshotBase(1, 0, rowsOf(base)), Number.POSITIVE_INFINITY).delta).toBe(true);
  });

  it("is not stored when it would not give back the state's order (a row that left and came back)", () => {
    // b1 left the working set and came back (a retried bead): it is last now, and a delta would put it first.
    const state = { ...base, beads: [base.beads[1], base.beads[2], base.beads[0]] };
    const rows = rowsOf(state);
    expect(deltaOf(snapshotBase(1, 0, rowsOf(base)), state, rows)).toBeNull();
    const frame = snapshotFrame(state, rows, textOf(state, rows), [], snapshotBase(1, 0, rowsOf(base)), Number.POSITIVE_INFINITY);
    expect(frame.delta).toBe(false);
    expect(JSON.parse(frame.text).state).toEqual(state);
  });

  it("gives the pending list back from its runs of consecutive seqs with the same attempts", () => {
    expect(
      pendingOfRuns([
        [3, 4, 0],
        [5, 5, 1],
        [9, 10, 0],
      ]),
    ).toEqual([
      [3, 0],
      [4, 0],
      [5, 1],
      [9, 0],
      [10, 0],
    ]);
  });
});

describe("incremental snapshots", () => {
  it("stores the snapshots after a full one as deltas from it, and replays from a delta with zero divergence", async () => {
    const town = await createTown(BUSY);
    await backlog(town, 40);
    // Three rounds of work, a snapshot after each.
    for (const round of [1, 2, 3]) {
      for (const n of [1, 2]) await sling(town, { id: `b${round}-${n}`, title: `Task ${round}.${n}`, ...(n === 2 ? { blockedBy: [`b${round}-1`] } : {}) });
      await runUntil(town, finished(4 * round), 200);
      await advance(town, 61_000);
      await tick(town);
    }
    // The creation snapshot is full, and so is the next (the backlog came after it: all of it new). Those
    // after it are deltas from it, their pending lists in their chunks.
    const rows = await snapshotRows(town);
    const full = rows.filter((r) => r.base_id === null);
    const deltas = rows.filter((r) => r.base_id !== null);
    expect(full.map((r) => r.id)).toEqual([rows[0]!.id, rows[1]!.id]);
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(deltas.every((r) => r.base_id === rows[1]!.id && r.encoding === "frame" && r.pending === "[]")).toBe(true);

    // Replay starts from a delta (its base read with it), before and after a cold start.
    const from = deltas[0]!.taken_at;
    const to = await town.stub.testNow();
    expect((await replay(town, from, to)).body.snapshot.id).toBe(deltas[0]!.id);
    await expectFaithfulReplay(town, from);
    await evictDurableObject(town.stub);
    await expectFaithfulReplay(town, from);
  });

  it("takes a full snapshot again after a day, and never prunes a base a kept delta needs", async () => {
    const town = await createTown({ snapshotIntervalMs: HOUR, eventRetentionMs: 2 * HOUR, tickRetentionMs: 2 * HOUR, idleAlarmMs: HOUR });
    await backlog(town, 40);
    // Five hours, a snapshot each: the creation snapshot and five deltas from it; retention keeps two hours.
    for (let hour = 1; hour <= 5; hour++) {
      // Half-way the object starts again: the next delta is taken against the base as storage gives it back.
      if (hour === 3) await evictDurableObject(town.stub);
      await advance(town, HOUR);
      await wakeAndTick(town);
    }
    let rows = await snapshotRows(town);
    const base = rows[0]!;
    expect(base.base_id).toBeNull();
    // The deltas older than retention went, the newest of them kept (the oldest windows start there), and their base with it.
    expect(rows.length).toBeLessThan(6);
    expect(rows.slice(1).every((r) => r.base_id === base.id)).toBe(true);
    const read = await runInDurableObject(town.stub, async (_instance, state) => {
      const snapshots = new TownStore(state.storage).snapshots;
      const oldest = snapshots.refAtOrBefore(rows[1]!.taken_at)!;
      return { ref: oldest, state: (await snapshots.read(oldest)).state as { beads: Array<{ id: string }> } };
    });
    expect(read.ref.baseId).toBe(base.id);
    expect(read.state.beads).toHaveLength(40);
    await expectFaithfulReplay(town, rows.at(-1)!.taken_at);

    // A day after the base, the next snapshot is full; the old base goes once retention drops the last delta from it.
    for (let hour = 6; hour <= 29; hour++) {
      await advance(town, HOUR);
      await wakeAndTick(town);
    }
    rows = await snapshotRows(town);
    expect(rows.some((r) => r.id === base.id)).toBe(false);
    const full = rows.filter((r) => r.base_id === null);
    expect(full).toHaveLength(1);
    expect(rows.filter((r) => r.id > full[0]!.id).every((r) => r.base_id === full[0]!.id)).toBe(true);
  });
});

describe("a snapshot under a flood", () => {
  it("saves 200,000 pending events in bounded parts and replays from them with zero divergence", async () => {
    const town = await createTown({ snapshotIntervalMs: 60_000 });
    // 200,000 callbacks for an agent that does not exist (each applied as ignored), every seventh
    // already failed once: the list does not collapse into a few runs.
    await runInDurableObject(town.stub, (_instance, state) => {
      state.storage.sql.exec(
        `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
         INSERT INTO town_events (event_id, type, agent_id, payload, created_at, status, attempts)
         SELECT 'flood-' || i, 'container_status', 'ghost', '{"status":"running"}', 4102444800000, 'pending', CASE WHEN i % 7 = 0 THEN 1 ELSE 0 END FROM n`,
      );
    });
    await advance(town, 61_000);
    const from = await town.stub.testNow();
    await tick(town);

    // The snapshot of that tick holds what was still pending (a batch was drained), in chunks under the row limit.
    const rows = await snapshotRows(town);
    const snapshot = rows.at(-1)!;
    expect(snapshot).toMatchObject({ encoding: "frame", pending: "[]", taken_at: from });
    const stored = await runInDurableObject(town.stub, async (_instance, state) => {
      const snapshots = new TownStore(state.storage).snapshots;
      const read = await snapshots.read(snapshots.refAtOrBefore(from)!);
      const chunks = state.storage.sql.exec<{ size: number }>("SELECT length(data) AS size FROM snapshot_chunks WHERE snapshot_id = ?", snapshot.id).toArray();
      // No tick ran since: what is pending now is what was pending then.
      const stillPending = state.storage.sql
        .exec<{ seq: number; attempts: number }>("SELECT seq, attempts FROM town_events WHERE status = 'pending' ORDER BY seq")
        .toArray()
        .map((row) => [row.seq, row.attempts]);
      return {
        same: JSON.stringify(read.pending) === JSON.stringify(stillPending),
        pending: read.pending.length,
        retried: read.pending.filter(([, attempts]) => attempts === 1).length,
        first: read.pending[0],
        chunks,
      };
    });
    expect(stored.same).toBe(true);
    expect(stored.pending).toBeGreaterThan(190_000);
    expect(stored.retried).toBeGreaterThan(27_000);
    expect(snapshot.first_pending_seq).toBe(stored.first![0]);
    expect(stored.chunks.every((c) => c.size <= 1_000_000)).toBe(true);

    // Two more ticks drain more of it; replay from the snapshot reproduces them and the state.
    for (let i = 0; i < 2; i++) {
      await advance(town, 1_000);
      await tick(town);
    }
    await expectFaithfulReplay(town, from);
  }, 120_000);

  it("backs off after a failed snapshot instead of trying it again every tick", async () => {
    const town = await createTown({ snapshotIntervalMs: 600_000 });
    // Every snapshot row is refused as too big, as a pending list past the row limit was; the attempts are counted.
    await runInDurableObject(town.stub, (_instance, state) => {
      const sql = state.storage.sql as SqlStorage & { refused?: number; unfaulted?: SqlStorage["exec"] };
      const original = sql.exec;
      sql.refused = 0;
      sql.unfaulted = original;
      sql.exec = function (this: SqlStorage, query: string, ...bindings: unknown[]) {
        if (query.toLowerCase().startsWith('insert into "snapshots"')) {
          sql.refused! += 1;
          throw new Error("injected fault: string or blob too big: SQLITE_TOOBIG");
        }
        return original.call(this, query, ...bindings);
      } as SqlStorage["exec"];
    });
    const refused = () => runInDurableObject(town.stub, (_instance, state) => (state.storage.sql as SqlStorage & { refused: number }).refused);

    // Due: the first attempt fails. Then a tick every 10 s for four minutes: tried again after 1 min, then after 2 more.
    await advance(town, 601_000);
    await wakeAndTick(town);
    expect(await refused()).toBe(1);
    for (let i = 0; i < 24; i++) {
      await advance(town, 10_000);
      await wakeAndTick(town);
    }
    expect(await refused()).toBe(3);
    expect(logged.expect("snapshot failed")).toHaveLength(3);

    // Room again: the next attempt (4 min after the third) succeeds, and the one after comes an interval later.
    await runInDurableObject(town.stub, (_instance, state) => {
      const sql = state.storage.sql as SqlStorage & { unfaulted?: SqlStorage["exec"] };
      sql.exec = sql.unfaulted!;
    });
    const before = (await snapshotRows(town)).length;
    for (let i = 0; i < 6; i++) {
      await advance(town, 30_000);
      await wakeAndTick(town);
    }
    expect((await snapshotRows(town)).length).toBe(before + 1);
  });
});
