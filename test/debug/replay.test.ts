import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RULES } from "../../src/domain/reconcile";
import type { Plan } from "../../src/domain/plan";
import { api, createTown, heartbeat, sling, tick, TOKENS, type TestTown } from "../support/town";

interface Checkpoint {
  at: number;
  summary: unknown;
}

/**
 * A long scripted scenario on the simulated platform: agents work, fail a quarter of the time,
 * heartbeat; beads are slung, blocked, cancelled; a container dies; the town is reconfigured.
 * After every tick the live state is kept as a checkpoint.
 */
async function scriptedTown(): Promise<{ town: TestTown; checkpoints: Checkpoint[] }> {
  const town = await createTown({
    maxPolecatsPerRig: 3,
    // Often enough that the scenario's ticks (a town that owes nothing sleeps) take several snapshots.
    snapshotIntervalMs: 180_000,
    // Work outlasts the cold-start grace, so heartbeats decide who stalls.
    coldStartGraceMs: 20_000,
    heartbeatTimeoutMs: 40_000,
    simulation: { workMs: 45_000, failureRate: 0.25, heartbeatIntervalMs: 15_000 },
  });
  const checkpoints: Checkpoint[] = [];
  const runFor = async (ms: number) => {
    const end = (await town.stub.testNow()) + ms;
    for (;;) {
      const alarmAt = await town.stub.testAlarmAt();
      if (alarmAt === null || alarmAt > end) break;
      await town.stub.testSetTime(Math.max(alarmAt, await town.stub.testNow()));
      await tick(town);
      checkpoints.push({ at: await town.stub.testNow(), summary: await town.stub.testStateSummary() });
    }
    await town.stub.testSetTime(end);
  };
  // Commands come a millisecond after the last tick, so a checkpoint is never ambiguous.
  const later = () => town.stub.testAdvance(1);

  for (let i = 1; i <= 6; i++) await sling(town, { id: `b${i}`, title: `Task ${i}`, priority: i % 3, ...(i === 6 ? { blockedBy: ["b1"] } : {}) });
  await api("POST", `/api/towns/${town.townId}/convoys`, { token: TOKENS.admin, body: { id: "release-1", title: "Release 1", beadIds: ["b1", "b2"] } });
  await runFor(20 * 60_000);

  await later();
  await api("PUT", `/api/towns/${town.townId}`, { token: TOKENS.admin, body: { config: { maxPolecatsPerRig: 5 } } });
  for (let i = 7; i <= 12; i++) await sling(town, { id: `b${i}`, title: `Task ${i}` });
  await api("POST", `/api/towns/${town.townId}/beads/b12/cancel`, { token: TOKENS.admin, body: { status: "closed" } });
  await runFor(30_000);
  // The object is evicted and reloads from storage mid-scenario.
  await evictDurableObject(town.stub);

  // A working agent's container dies: the simulated run is gone, and the platform reports it.
  await later();
  const working = ((await town.stub.testStateSummary()) as any).agents.find((a: any) => a.status === "working");
  await runInDurableObject(town.stub, (_instance, state) => state.storage.sql.exec("DELETE FROM simulated_runs WHERE agent_id = ?", working.id));
  expect((await heartbeat(town, working.id, { generation: working.generation, containerStatus: "exited" })).status).toBe(204);
  await runFor(5 * 60_000);
  // Another container hangs silently: no report, its heartbeats just stop; the agent stalls and is stopped.
  await later();
  for (let i = 13; i <= 16; i++) await sling(town, { id: `b${i}`, title: `Task ${i}` });
  await runFor(20_000);
  await later();
  const silent = ((await town.stub.testStateSummary()) as any).agents.find((a: any) => a.status === "working");
  await runInDurableObject(town.stub, (_instance, state) => state.storage.sql.exec("DELETE FROM simulated_runs WHERE agent_id = ?", silent.id));
  await runFor(40 * 60_000);
  return { town, checkpoints };
}

const replay = (town: TestTown, from: number, to: number) =>
  api("POST", `/api/towns/${town.townId}/debug/replay-events`, { token: TOKENS.debug, body: { from: new Date(from).toISOString(), to: new Date(to).toISOString() } });

describe("replay", () => {
  it("is faithful: any window reproduces the state that was live at its end, with zero divergence", async () => {
    const { town, checkpoints } = await scriptedTown();
    expect(checkpoints.length).toBeGreaterThan(50);
    // The scenario did what it says: failures, a lost container, several snapshots.
    const facts = await runInDurableObject(town.stub, (_instance, state) => ({
      snapshots: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM snapshots").one().n,
      failures: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM town_events WHERE type = 'agent_completed'").one().n,
      released: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM ticks WHERE actions LIKE '%release_agent%'").one().n,
      stalled: state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM ticks WHERE actions LIKE '%agents.stopStalled%'").one().n,
    }));
    expect(facts.snapshots).toBeGreaterThanOrEqual(5);
    expect(facts.failures).toBeGreaterThan(0);
    expect(facts.released).toBe(1);
    expect(facts.stalled).toBe(1);
    const start = checkpoints[0]!.at;
    // Windows of several sizes, starting before, at and between snapshots.
    const ends = [5, 17, 33, checkpoints.length - 20, checkpoints.length - 1].map((i) => checkpoints[Math.min(i, checkpoints.length - 1)]!);
    for (const end of ends) {
      for (const from of [start, end.at - 7 * 60_000, end.at - 60_000]) {
        const window = { from: Math.max(start, from), to: end.at };
        const response = await replay(town, window.from, window.to);
        expect(response.status, JSON.stringify(response.body)).toBe(200);
        expect(response.body.divergence, `window ${window.from}..${window.to}`).toEqual({ ticks: 0, shown: [] });
        expect(response.body.state, `window ending ${window.to}`).toEqual(end.summary);
        expect(response.body.ticksInWindow).toBeGreaterThan(0);
      }
    }
  }, 120_000);

  it("reports the ticks that diverge after a deliberate change to a rule", async () => {
    const { town, checkpoints } = await scriptedTown();
    const rules = RULES as Array<(plan: Plan) => void>;
    const index = rules.findIndex((rule) => rule.name === "dispatchOpenBeads");
    const original = rules[index]!;
    // The changed rule never dispatches more than one bead per pass.
    rules[index] = (plan) => {
      plan.dispatchBudget = Math.min(plan.dispatchBudget, 1);
      original(plan);
    };
    try {
      const response = await replay(town, checkpoints[0]!.at, checkpoints.at(-1)!.at);
      expect(response.status).toBe(200);
      expect(response.body.divergence.ticks).toBeGreaterThan(0);
      const first = response.body.divergence.shown[0];
      expect(first).toMatchObject({ tickId: expect.any(Number), at: expect.any(Number) });
      expect(first.replayed).not.toEqual(first.recorded);
    } finally {
      rules[index] = original;
    }
    // Put back, the same replay agrees with history again.
    expect((await replay(town, checkpoints[0]!.at, checkpoints.at(-1)!.at)).body.divergence.ticks).toBe(0);
  }, 120_000);
});
