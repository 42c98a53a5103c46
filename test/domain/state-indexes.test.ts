import { describe, expect, it } from "vitest";
import type { TownState } from "../../src/domain/state";
import { agent, beadId, convoy, issue, mergeRequest, stateOf, T0, workingAgent } from "./builders";

/** Forgets what was touched so far, as a tick whose last pass changed nothing does. */
function settle(state: TownState): void {
  state.beginPass();
  state.commit();
  state.tickCommitted(T0, { agents: new Set(), beads: new Set() });
}

const touched = (state: TownState) => ({ agents: [...state.changedSinceTick().agents].sort(), beads: [...state.changedSinceTick().beads].sort() });
const dispatchable = (state: TownState) => [...(state.work.rig("web" as never)?.dispatchable ?? [])].map((bead) => bead.id);

describe("the state's indexes", () => {
  it("mark what a hook relates: an agent's change touches its bead, a bead's change touches its agent", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress", assignee: "a1" as never })] });
    settle(state);
    state.putAgent({ ...state.agent("a1" as never)!, lastHeartbeatAt: T0 + 1 });
    expect(touched(state)).toEqual({ agents: ["a1"], beads: ["b1"] });
    settle(state);
    state.putBead({ ...state.bead(beadId("b1"))!, priority: 0 });
    expect(touched(state)).toEqual({ agents: ["a1"], beads: ["b1"] });
  });

  it("touch and recheck the beads a blocker blocks when its status changes", () => {
    const state = stateOf({ beads: [issue("blocker"), issue("waiting", { blockedBy: [beadId("blocker")] })] });
    expect(dispatchable(state)).toEqual(["blocker"]);
    settle(state);
    state.putBead({ ...state.bead(beadId("blocker"))!, status: "closed" });
    expect(touched(state).beads).toEqual(["blocker", "waiting"]);
    expect(dispatchable(state)).toEqual(["waiting"]);
  });

  it("touch the convoys tracking a bead, and the issue of a merge request", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_review" }), mergeRequest("b1:mr:1", "b1"), convoy("c1", ["b1"])] });
    settle(state);
    state.putBead({ ...state.bead(beadId("b1:mr:1"))!, status: "in_progress" });
    expect(touched(state).beads).toEqual(["b1", "b1:mr:1"]);
    settle(state);
    state.putBead({ ...state.bead(beadId("b1"))!, status: "closed" });
    expect(touched(state).beads).toEqual(["b1", "c1"]);
  });

  it("hold a bead back from dispatch while a stop is owed for it, and let it go when the stop is confirmed", () => {
    const state = stateOf({ agents: [agent("a1")], beads: [issue("b1")] });
    settle(state);
    const stop = { generation: 1, beadId: beadId("b1"), since: T0, attempts: 0, retryAt: T0 };
    state.putAgent({ ...state.agent("a1" as never)!, owedStops: [stop] });
    expect(state.stopOwedFor(beadId("b1"))).toBe(true);
    expect(dispatchable(state)).toEqual([]);
    expect(touched(state).beads).toEqual(["b1"]);
    state.putAgent({ ...state.agent("a1" as never)!, owedStops: [] });
    expect(dispatchable(state)).toEqual(["b1"]);
  });

  it("are put back exactly by an undo", () => {
    const state = stateOf({ agents: [agent("a1")], beads: [issue("b1"), issue("b2", { blockedBy: [beadId("b1")] })] });
    const mark = state.mark();
    state.putAgent({ ...state.agent("a1" as never)!, status: "working", hook: beadId("b1") });
    state.putBead({ ...state.bead(beadId("b1"))!, status: "closed", assignee: "a1" as never });
    state.putBead(mergeRequest("b1:mr:1", "b1"));
    expect(state.agentsHookedTo(beadId("b1"))).toEqual(["a1"]);
    expect(dispatchable(state)).toEqual(["b2"]);
    expect(state.mergeRequestsOf(beadId("b1"))).toEqual(["b1:mr:1"]);
    state.rollbackTo(mark);
    expect(state.agentsHookedTo(beadId("b1"))).toEqual([]);
    expect(dispatchable(state)).toEqual(["b1"]);
    expect(state.mergeRequestsOf(beadId("b1"))).toEqual([]);
    expect([...state.agentsWith("idle")].map((a) => a.id)).toEqual(["a1"]);
    expect(state.countWith("closed")).toBe(0);
    expect(state.countOfType("merge_request")).toBe(0);
  });

  it("let an archived bead go, but keep an archived merge request listed with its live issue", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_review" }), mergeRequest("b1:mr:1", "b1", { status: "in_progress" })] });
    settle(state);
    state.putBead({ ...state.bead(beadId("b1:mr:1"))!, status: "failed" });
    settle(state);
    expect(state.liveBead(beadId("b1:mr:1"))).toBeUndefined();
    expect(state.countWith("failed")).toBe(0);
    expect(state.finished.merge_request.failed).toBe(1);
    expect(state.mergeRequestsOf(beadId("b1"))).toEqual(["b1:mr:1"]);
    // Archiving marks nothing: the bead did not change.
    expect(touched(state).beads).toEqual([]);
  });
});
