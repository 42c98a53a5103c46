import { describe, expect, it } from "vitest";
import { DEFAULT_TOWN_CONFIG as C } from "../../src/domain/config";
import { advance, api, createTown, heartbeat, sling, tick, TOKENS, type TestTown } from "../support/town";

/**
 * Fixture: a bead stuck in progress because its agent's container vanished during the cold-start
 * grace. The platform reported `not_found` ten seconds after dispatch; the alarm that should have come
 * at the end of the grace never ran (a lost alarm, an outage), so at the "stuck moment" the bead still
 * shows in_progress with an agent that no longer exists anywhere.
 */
async function stuckTown(): Promise<{ town: TestTown; dispatchedAt: number; stuckAt: number }> {
  const town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 }, idleAlarmMs: 86_400_000 });
  await sling(town, { id: "stuck", title: "The stuck one" });
  await tick(town);
  const dispatchedAt = await town.stub.testNow();
  await advance(town, 10_000);
  expect((await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "not_found" })).status).toBe(204);
  await tick(town);
  // Time passes well beyond the grace, and no tick runs.
  await advance(town, C.coldStartGraceMs + 5 * 60_000);
  return { town, dispatchedAt, stuckAt: await town.stub.testNow() };
}

describe("a bead stuck in progress after its container vanished in the cold-start grace", () => {
  it("replaying the window up to the stuck moment returns the recovery actions", async () => {
    const { town, dispatchedAt, stuckAt } = await stuckTown();
    const response = await api("POST", `/api/towns/${town.townId}/debug/replay-events`, {
      token: TOKENS.debug,
      body: { from: new Date(dispatchedAt).toISOString(), to: new Date(stuckAt).toISOString() },
    });
    expect(response.status).toBe(200);
    const { actions, state, divergence } = response.body;
    expect(divergence.ticks).toBe(0);
    // The state at that moment: the bead in progress, the agent hooked to it with its container gone.
    expect(state.beads).toEqual([expect.objectContaining({ id: "stuck", status: "in_progress", assignee: "web:polecat:1" })]);
    expect(state.agents).toEqual([expect.objectContaining({ id: "web:polecat:1", status: "working", hook: "stuck", containerStatus: "not_found" })]);
    // What a tick then does: release the agent, reopen the bead, dispatch it again.
    expect(actions.map((a: any) => `${a.rule} ${a.type}`)).toEqual([
      "agents.recoverLostContainer release_agent",
      "beads.reopenOrphaned transition_bead",
      "beads.dispatch dispatch_agent",
    ]);
    expect(actions[0].reason).toContain("container not_found since");
  });

  it("explain says why the bead waits: inside the grace, then overdue for recovery", async () => {
    const town = await createTown({ simulation: { workMs: 86_400_000, heartbeatIntervalMs: 86_400_000 }, idleAlarmMs: 86_400_000 });
    await sling(town, { id: "stuck", title: "The stuck one" });
    await tick(town);
    await advance(town, 10_000);
    await heartbeat(town, "web:polecat:1", { generation: 1, containerStatus: "not_found" });
    await tick(town);
    const during = (await api("GET", `/api/towns/${town.townId}/beads/stuck/explain`, { token: TOKENS.read })).body;
    expect(during).toMatchObject({ beadId: "stuck", status: "in_progress" });
    expect(during.reasons).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ code: "working", message: expect.stringContaining("agent web:polecat:1 (generation 1) is working on it") }),
        expect.objectContaining({
          code: "container_not_found",
          message: expect.stringContaining("the cold-start grace runs until"),
          until: expect.any(Number),
        }),
      ]),
    );
    await advance(town, C.coldStartGraceMs);
    const after = (await api("GET", `/api/towns/${town.townId}/beads/stuck/explain`, { token: TOKENS.read })).body;
    expect(after.reasons[0]).toMatchObject({ code: "next_tick", message: expect.stringContaining("release agent (agents.recoverLostContainer") });
  });
});
