import { describe, expect, it } from "vitest";
import { applyEvent } from "../../src/domain/apply-event";
import type { TownEvent } from "../../src/domain/events";
import { agentId, beadId, issue, mergeRequest, SECOND, stateOf, T0, workingAgent, agent } from "./builders";

let seq = 0;
const event = (body: Record<string, unknown>): TownEvent =>
  ({ agentId: null, beadId: null, seq: ++seq, eventId: `e${seq}`, createdAt: T0, ...body }) as unknown as TownEvent;

describe("applyEvent", () => {
  it("turns a polecat's done report into a merge request and puts the issue in review", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress", assignee: agentId("a1") })] });
    const outcome = applyEvent(
      state,
      event({ type: "agent_done", agentId: "a1", payload: { generation: 1, branch: "feat/b1", prUrl: "https://git.test/pr/1" } }),
      T0 + SECOND,
    );
    expect(outcome).toEqual({ applied: true });
    expect(state.bead(beadId("b1"))).toMatchObject({ status: "in_review", assignee: null });
    expect(state.bead(beadId("b1:mr:1"))).toMatchObject({
      type: "merge_request",
      status: "open",
      sourceBeadId: "b1",
      branch: "feat/b1",
      prUrl: "https://git.test/pr/1",
    });
    expect(state.agent(agentId("a1"))).toMatchObject({ status: "idle", hook: null });
  });

  it("merges a merge request when its refinery reports done", () => {
    const state = stateOf({
      agents: [workingAgent("r1", "b1:mr:1", T0, { role: "refinery" })],
      beads: [issue("b1", { status: "in_review" }), mergeRequest("b1:mr:1", "b1", { status: "in_progress", assignee: agentId("r1") })],
    });
    applyEvent(state, event({ type: "agent_done", agentId: "r1", payload: { branch: "b/b1" } }), T0 + SECOND);
    expect(state.bead(beadId("b1:mr:1"))).toMatchObject({ status: "closed", merged: true });
  });

  it("retries a bead its command recorded before the usage meter existed, and meters its next run", () => {
    // A retry logged by an older version carries the bead without `usage`: replay and a restart apply it as it is.
    const { usage: _absent, ...recorded } = issue("b1", { status: "failed" });
    const state = stateOf();
    applyEvent(state, event({ type: "bead_retried", beadId: "b1", payload: { bead: recorded } }), T0);
    expect(state.bead(beadId("b1"))).toMatchObject({ status: "open", usage: { containerMs: 0, dispatches: 0 } });
    const polecat = workingAgent("a1", "b1");
    state.putAgent(polecat);
    state.putBead({ ...state.bead(beadId("b1"))!, status: "in_progress", assignee: polecat.id });
    const outcome = applyEvent(
      state,
      event({ type: "dispatch_result", agentId: "a1", payload: { effectId: "fx1", kind: "dispatch", outcome: "ok", generation: 1 } }),
      T0 + SECOND,
    );
    expect(outcome).toEqual({ applied: true });
    expect(state.bead(beadId("b1"))?.usage).toEqual({ containerMs: 0, dispatches: 1 });
  });

  it("ignores a callback from a stale generation", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1", T0, { generation: 3 })], beads: [issue("b1", { status: "in_progress" })] });
    const outcome = applyEvent(state, event({ type: "agent_done", agentId: "a1", payload: { generation: 2, branch: "x" } }), T0 + SECOND);
    expect(outcome).toEqual({ applied: false, ignored: expect.stringContaining("stale callback from generation 2") });
    expect(state.bead(beadId("b1"))?.status).toBe("in_progress");
  });

  it("fails the bead when the agent reports failure", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress" })] });
    applyEvent(state, event({ type: "agent_completed", agentId: "a1", payload: { status: "failed", reason: "tests red" } }), T0 + SECOND);
    expect(state.bead(beadId("b1"))?.status).toBe("failed");
    expect(state.agent(agentId("a1"))?.status).toBe("idle");
  });

  it("records a container status change with the time it was observed", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress" })] });
    applyEvent(state, event({ type: "container_status", agentId: "a1", createdAt: T0 + 5 * SECOND, payload: { status: "exited" } }), T0 + 9 * SECOND);
    expect(state.agent(agentId("a1"))).toMatchObject({ containerStatus: "exited", containerStatusSince: T0 + 5 * SECOND });
  });

  it("counts a failed dispatch against the breaker and lets the agent go", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress" })] });
    applyEvent(
      state,
      event({ type: "dispatch_result", agentId: "a1", payload: { effectId: "a1@1:dispatch", kind: "dispatch", generation: 1, outcome: "timeout" } }),
      T0 + SECOND,
    );
    expect(state.town.breaker.failures).toEqual([T0 + SECOND]);
    expect(state.agent(agentId("a1"))).toMatchObject({ status: "idle", hook: null });
  });

  it("closes or fails a merge request when its PR is merged or closed", () => {
    const state = stateOf({ beads: [mergeRequest("m1", "b1"), mergeRequest("m2", "b2")] });
    applyEvent(state, event({ type: "pr_status_changed", beadId: "m1", payload: { status: "merged" } }), T0);
    applyEvent(state, event({ type: "pr_status_changed", beadId: "m2", payload: { status: "closed" } }), T0);
    expect(state.bead(beadId("m1"))).toMatchObject({ status: "closed", merged: true });
    expect(state.bead(beadId("m2"))).toMatchObject({ status: "failed", merged: false });
  });

  it("cancels a bead, and ignores cancelling one that is already finished", () => {
    const state = stateOf({ beads: [issue("b1"), issue("b2", { status: "closed" })] });
    expect(applyEvent(state, event({ type: "bead_cancelled", beadId: "b1", payload: { status: "failed" } }), T0)).toEqual({ applied: true });
    expect(applyEvent(state, event({ type: "bead_cancelled", beadId: "b2", payload: { status: "failed" } }), T0)).toMatchObject({ applied: false });
    expect(state.bead(beadId("b2"))?.status).toBe("closed");
  });

  it("ignores events about agents that do not exist", () => {
    const state = stateOf({ agents: [agent("a1")] });
    expect(applyEvent(state, event({ type: "agent_done", agentId: "ghost", payload: { branch: "x" } }), T0)).toMatchObject({ applied: false });
  });
});
