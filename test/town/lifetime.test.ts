import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { beadRow, seed } from "../support/seed";
import { advance, api, bead, createTown, heartbeat, runUntil, sling, status, tick, TOKENS, type TestTown } from "../support/town";

const DAY = 86_400_000;
/** Simulated agents finish in a second; nothing else wakes the town more than hourly. */
const QUICK = { simulation: { workMs: 1_000, heartbeatIntervalMs: 500 }, idleAlarmMs: 3_600_000 };

const explain = (town: TestTown, beadId: string) => api("GET", `/api/towns/${town.townId}/beads/${beadId}/explain`, { token: TOKENS.read });
const replay = (town: TestTown, from: number, to: number) =>
  api("POST", `/api/towns/${town.townId}/debug/replay-events`, {
    token: TOKENS.debug,
    body: { from: new Date(from).toISOString(), to: new Date(to).toISOString() },
  });
const finished = (closed: number) => (s: any) => s.beads.closed === closed && s.agents.working === 0 && s.queue.pending === 0;

describe("a town's working set", () => {
  it("lets a finished bead leave memory, and still answers for it over HTTP and in explain", async () => {
    const town = await createTown(QUICK);
    await sling(town, { id: "b1", title: "Task", body: "Make it so" });
    await runUntil(town, finished(2));

    // The issue and its merge request finished: neither is held in memory any more.
    expect(await town.stub.testInMemory("b1")).toBe(false);
    expect(await town.stub.testInMemory("b1:mr:1")).toBe(false);
    const sizes = await town.stub.testWorkingSet();
    expect(sizes).toMatchObject({ beads: 0, finished: { issue: { closed: 1 }, merge_request: { closed: 1 } } });

    // Still readable, with its body and merge request, from storage — before and after a cold load.
    for (const cold of [false, true]) {
      if (cold) await evictDurableObject(town.stub);
      const read = await bead(town, "b1");
      expect(read.bead).toMatchObject({ id: "b1", status: "closed", body: "Make it so" });
      expect(read.mergeRequests).toEqual([expect.objectContaining({ id: "b1:mr:1", status: "closed", merged: true })]);
      const why = await explain(town, "b1");
      expect(why.status).toBe(200);
      expect(why.body).toMatchObject({ beadId: "b1", status: "closed", reasons: [expect.objectContaining({ code: "closed" })] });
      expect((await status(town)).beads).toMatchObject({ closed: 2, open: 0 });
    }
    // An id that ever existed cannot be slung again with other content.
    const again = await api("POST", `/api/towns/${town.townId}/beads`, { token: TOKENS.admin, body: { id: "b1", rigId: "web", title: "Other" } });
    expect(again.status).toBe(409);
  });

  it("knows a blocker that finished long ago as finished, without loading it", async () => {
    const town = await createTown(QUICK);
    await sling(town, { id: "old", title: "Done long ago" });
    await runUntil(town, finished(2));
    // A day later, after a cold load, new work blocked by it is dispatched at once.
    await advance(town, DAY);
    await evictDurableObject(town.stub);
    expect(await town.stub.testInMemory("old")).toBe(false);
    await sling(town, { id: "new", title: "Builds on it", blockedBy: ["old"] });
    await advance(town, 100);
    await tick(town);
    expect((await bead(town, "new")).bead.status).toBe("in_progress");
    expect(await town.stub.testInMemory("old")).toBe(false);
    expect((await bead(town, "new")).blockers).toEqual([{ id: "old", status: "closed" }]);
  });

  it("replays across the moment beads leave the working set, with zero divergence", async () => {
    const town = await createTown({ ...QUICK, snapshotIntervalMs: 60_000, maxPolecatsPerRig: 2 });
    const start = await town.stub.testNow();
    for (let i = 1; i <= 4; i++) await sling(town, { id: `b${i}`, title: `Task ${i}`, ...(i === 4 ? { blockedBy: ["b1"] } : {}) });
    await runUntil(town, finished(8), 200);
    await advance(town, 90_000);
    await tick(town);
    for (let i = 5; i <= 6; i++) await sling(town, { id: `b${i}`, title: `Task ${i}`, blockedBy: ["b2"] });
    await runUntil(town, finished(12), 200);
    const end = await town.stub.testNow();
    const live = await town.stub.testStateSummary();

    for (const from of [start, start + 60_000, end - 30_000]) {
      const response = await replay(town, from, end);
      expect(response.status, JSON.stringify(response.body)).toBe(200);
      expect(response.body.divergence).toEqual({ ticks: 0, shown: [] });
      expect(response.body.state).toEqual(live);
      expect(response.body.ticksInWindow).toBeGreaterThan(0);
    }
    expect(live).toMatchObject({ beads: [], finishedBeads: { closed: 12 } });
  });

  it("purges a dead agent's tombstone after its retention, and still refuses its old container", async () => {
    const town = await createTown({ ...QUICK, idleAgentGcMs: 60_000, tombstoneRetentionMs: 120_000 });
    await sling(town, { id: "b1", title: "Task" });
    await runUntil(town, finished(2));
    // Idle for the collection window: both agents become tombstones.
    await advance(town, 61_000);
    await tick(town);
    expect((await status(town)).agents).toMatchObject({ dead: 2, idle: 0 });
    // Its container still reports: refused, and a stop is owed for it — the tombstone stays until it is confirmed.
    expect((await heartbeat(town, "web:polecat:1", { generation: 1 })).status).toBe(409);
    await advance(town, 121_000);
    await tick(town);
    expect((await status(town)).owedStops).toMatchObject({ count: 1, list: [{ agentId: "web:polecat:1", generation: 1 }] });
    // Past the retention, the stop confirmed: forgotten; a late heartbeat is now refused as unknown.
    await advance(town, 1_000);
    await tick(town);
    expect((await status(town)).agents).toMatchObject({ dead: 0, idle: 0, working: 0 });
    const late = await heartbeat(town, "web:polecat:1", { generation: 1 });
    expect(late.status).toBe(404);
    // Agent ids are never reused: new work gets a new polecat.
    await sling(town, { id: "b2", title: "More" });
    await tick(town);
    expect((await bead(town, "b2")).bead.assignee).toBe("web:polecat:3");
  });

  it("deletes finished beads past their retention, keeps those live work refers to, and keeps the counts exact", async () => {
    const town = await createTown({ ...QUICK, finishedBeadRetentionMs: DAY, eventRetentionMs: 60_000, tickRetentionMs: 60_000 });
    await sling(town, { id: "b1", title: "Done" });
    await sling(town, { id: "b2", title: "Also done" });
    await runUntil(town, finished(4));
    // Held, and blocked by b2: live work that refers to a finished bead.
    await sling(town, { id: "b3", title: "Later", blockedBy: ["b2"], held: true });
    await advance(town, 2 * DAY);
    await evictDurableObject(town.stub);
    await tick(town);

    expect((await api("GET", `/api/towns/${town.townId}/beads/b1`, { token: TOKENS.read })).status).toBe(404);
    expect((await api("GET", `/api/towns/${town.townId}/beads/b1:mr:1`, { token: TOKENS.read })).status).toBe(404);
    expect((await bead(town, "b2")).bead.status).toBe("closed");
    expect((await bead(town, "b3")).blockers).toEqual([{ id: "b2", status: "closed" }]);
    expect((await status(town)).beads).toMatchObject({ closed: 4, open: 1 });
  });

  it("archives finished beads an older version left in the working set when it loads", async () => {
    const town = await createTown(QUICK);
    await seed(town, [beadRow("legacy-1", { status: "closed" }), beadRow("legacy-2", { status: "failed" }), beadRow("legacy-3", { status: "open" })]);
    await status(town);
    expect(await town.stub.testInMemory("legacy-1")).toBe(false);
    expect(await town.stub.testInMemory("legacy-3")).toBe(true);
    const archived = await runInDurableObject(town.stub, (_instance, state) =>
      state.storage.sql.exec<{ id: string; seq: number | null }>("SELECT id, archived_seq AS seq FROM beads ORDER BY id").toArray(),
    );
    expect(archived).toEqual([
      { id: "legacy-1", seq: 1 },
      { id: "legacy-2", seq: 2 },
      { id: "legacy-3", seq: null },
    ]);
    expect((await status(town)).beads).toMatchObject({ closed: 1, failed: 1, open: 1 });
  });
});
