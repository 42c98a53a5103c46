import { describe, expect, it } from "vitest";
import { applyAction } from "../../src/domain/apply-action";
import type { Action } from "../../src/domain/actions";
import { snapshotOf, stateFromSnapshot } from "../../src/domain/snapshot";
import { agent, agentId, beadId, issue, SECOND, stateOf, T0, workingAgent } from "./builders";

const act = (body: Record<string, unknown>): Action => ({ rule: "beads.dispatch", reason: "test", ...body }) as unknown as Action;

describe("applyAction", () => {
  it("dispatches: bead in progress and assigned, agent working with a new generation, and a dispatch effect", () => {
    const state = stateOf({ agents: [agent("a1", { generation: 2 })], beads: [issue("b1")] });
    const outcome = applyAction(state, act({ type: "dispatch_agent", agentId: "a1", beadId: "b1", generation: 3 }), T0 + SECOND);
    expect(outcome).toEqual({
      applied: true,
      effects: [{ id: "a1@3:dispatch", kind: "dispatch", agentId: "a1", role: "polecat", rigId: "web", beadId: "b1", generation: 3 }],
    });
    expect(state.bead(beadId("b1"))).toMatchObject({ status: "in_progress", assignee: "a1", dispatchAttempts: 1, lastDispatchAt: T0 + SECOND });
    expect(state.agent(agentId("a1"))).toMatchObject({ status: "working", hook: "b1", generation: 3, dispatchedAt: T0 + SECOND });
  });

  it("refuses a transition whose expected status no longer holds, and changes nothing", () => {
    const state = stateOf({ beads: [issue("b1", { status: "closed" })] });
    const outcome = applyAction(state, act({ type: "transition_bead", beadId: "b1", from: "in_progress", to: "open" }), T0);
    expect(outcome).toEqual({ applied: false, refusal: "bead b1 is closed, expected in_progress" });
    expect(state.hasChanges).toBe(false);
  });

  it("refuses a transition the state machine does not allow", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_review" })] });
    const outcome = applyAction(state, act({ type: "transition_bead", beadId: "b1", from: "in_review", to: "in_progress" }), T0);
    expect(outcome).toMatchObject({ applied: false, refusal: expect.stringContaining("not an allowed transition") });
    expect(state.bead(beadId("b1"))?.status).toBe("in_review");
  });

  it("stops an agent: idle, unhooked, the bead's assignee cleared, and a stop effect", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress", assignee: agentId("a1") })] });
    const outcome = applyAction(state, act({ type: "stop_agent", agentId: "a1", from: "working", generation: 1 }), T0 + SECOND);
    expect(outcome).toMatchObject({ applied: true, effects: [{ kind: "stop", id: "a1@1:stop" }] });
    expect(state.agent(agentId("a1"))).toMatchObject({ status: "idle", hook: null });
    expect(state.bead(beadId("b1"))?.assignee).toBeNull();
  });
});

describe("TownState journal", () => {
  it("rolls back to a mark, restoring entities and the hook index", () => {
    const state = stateOf({ agents: [agent("a1")], beads: [issue("b1")] });
    const mark = state.mark();
    applyAction(state, act({ type: "dispatch_agent", agentId: "a1", beadId: "b1", generation: 1 }), T0);
    expect(state.agentsHookedTo(beadId("b1"))).toEqual(["a1"]);
    state.rollbackTo(mark);
    expect(state.agent(agentId("a1"))?.status).toBe("idle");
    expect(state.bead(beadId("b1"))?.status).toBe("open");
    expect(state.agentsHookedTo(beadId("b1"))).toEqual([]);
    expect(state.hasChanges).toBe(false);
  });

  it("reports net changes and which beads are new", () => {
    const state = stateOf({ beads: [issue("b1")] });
    state.putBead(issue("b2"));
    state.putBead({ ...state.bead(beadId("b2"))!, title: "renamed" });
    state.putBead({ ...state.bead(beadId("b1"))!, held: true });
    const changes = state.changes();
    expect(changes.beads.map((b) => b.id).sort()).toEqual(["b1", "b2"]);
    expect(changes.createdBeads.map((b) => b.id)).toEqual(["b2"]);
    expect(changes.beads.find((b) => b.id === "b2")?.title).toBe("renamed");
  });
});

describe("snapshots from older versions", () => {
  it("loads agents written before owed stops existed as owing none, and they can be dispatched", () => {
    const old = JSON.parse(JSON.stringify(snapshotOf(stateOf({ agents: [agent("a1")], beads: [issue("b1")] }))));
    for (const saved of old.agents) delete saved.owedStops;
    const loaded = stateFromSnapshot(old);
    expect(loaded.agent(agentId("a1"))?.owedStops).toEqual([]);
    expect(applyAction(loaded, act({ type: "dispatch_agent", agentId: "a1", beadId: "b1", generation: 1 }), T0).applied).toBe(true);
  });
});
