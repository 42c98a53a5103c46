import { describe, expect, it } from "vitest";
import { effectId, type Effect } from "../../src/domain/actions";
import { isStillWanted } from "../../src/domain/effects";
import { agent, agentId, beadId, issue, rigId, stateOf, workingAgent } from "./builders";

/** The effect an earlier tick decided for agent a1 at `generation`, on bead b1. */
const effect = (kind: Effect["kind"], generation = 1): Effect => ({
  id: effectId(agentId("a1"), generation, kind),
  kind,
  agentId: agentId("a1"),
  role: "polecat",
  rigId: rigId("web"),
  beadId: beadId("b1"),
  generation,
});
const bead = issue("b1", { status: "in_progress" });

describe("whether a side effect is still wanted when its turn comes", () => {
  it("wants a dispatch while its agent is still at that generation, hooked to that bead and at work", () => {
    expect(isStillWanted(stateOf({ agents: [workingAgent("a1", "b1")], beads: [bead] }), effect("dispatch"))).toBe(true);
  });

  it("drops a dispatch whose agent moved on: re-dispatched, hooked elsewhere, gone idle, or gone", () => {
    expect(isStillWanted(stateOf({ agents: [workingAgent("a1", "b1", undefined, { generation: 2 })], beads: [bead] }), effect("dispatch", 1))).toBe(false);
    expect(isStillWanted(stateOf({ agents: [workingAgent("a1", "b2")], beads: [bead, issue("b2")] }), effect("dispatch"))).toBe(false);
    expect(isStillWanted(stateOf({ agents: [agent("a1", { generation: 1 })], beads: [bead] }), effect("dispatch"))).toBe(false);
    expect(isStillWanted(stateOf({ beads: [bead] }), effect("dispatch"))).toBe(false);
  });

  it("drops a dispatch whose bead or rig is no longer in the town", () => {
    expect(isStillWanted(stateOf({ agents: [workingAgent("a1", "b1")] }), effect("dispatch"))).toBe(false);
    expect(isStillWanted(stateOf({ rigs: [], agents: [workingAgent("a1", "b1")], beads: [bead] }), effect("dispatch"))).toBe(false);
  });

  it("always wants a stop: a container that may be running is never left behind", () => {
    expect(isStillWanted(stateOf({ agents: [agent("a1", { generation: 3 })] }), effect("stop", 1))).toBe(true);
    expect(isStillWanted(stateOf(), effect("stop"))).toBe(true);
  });
});
