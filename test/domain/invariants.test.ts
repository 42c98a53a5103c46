import { describe, expect, it } from "vitest";
import { applyAction } from "../../src/domain/apply-action";
import { checkInvariants, invariantFocus } from "../../src/domain/invariants";
import { oldestPendingAge, queueFacts, type QueueFacts } from "../../src/domain/queue";
import { SWEEP_BUCKETS } from "../../src/domain/work-index";
import type { TownState } from "../../src/domain/state";
import { agent, agentId, beadId, convoy, issue, mergeRequest, MINUTE, SECOND, stateOf, T0, workingAgent } from "./builders";

const EMPTY_QUEUE: QueueFacts = { oldestPendingAgeMs: null, dead: 0 };
const check = (state: TownState, queue = EMPTY_QUEUE, now = T0) => checkInvariants(state, now, queue);
const numbers = (state: TownState, queue = EMPTY_QUEUE, now = T0) => check(state, queue, now).map((v) => v.invariant);

/** Applies every repair, then checks again: what remains is what a repair cannot fix. */
function repairAndRecheck(state: TownState, queue = EMPTY_QUEUE) {
  const found = check(state, queue);
  for (const violation of found) for (const action of violation.repairs) expect(applyAction(state, action, T0 + SECOND).applied).toBe(true);
  return check(state, queue, T0 + SECOND);
}

describe("invariants", () => {
  it("finds nothing wrong in a healthy town", () => {
    const state = stateOf({
      agents: [workingAgent("a1", "b1")],
      beads: [issue("b1", { status: "in_progress", assignee: agentId("a1") }), issue("b2", { status: "in_review" }), mergeRequest("b2:mr:1", "b2")],
    });
    expect(check(state)).toEqual([]);
  });

  it("1: an agent hooked to a missing or finished bead is detected and unhooked", () => {
    const state = stateOf({ agents: [agent("a1", { status: "dead", hook: beadId("gone") })] });
    const [violation] = check(state);
    expect(violation).toMatchObject({ invariant: 1, key: "1:a1", agentIds: ["a1"], beadIds: ["gone"] });
    expect(violation!.repairs).toEqual([expect.objectContaining({ type: "unhook_agent", rule: "invariant.1" })]);
    expect(repairAndRecheck(state)).toEqual([]);
  });

  it("2: an in-progress issue without exactly one live agent is detected", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_progress" })] });
    expect(numbers(state)).toEqual([2]);
    expect(check(state)[0]!.repairs).toEqual([]);
  });

  it("3: two merge requests in progress in one rig are detected", () => {
    const state = stateOf({
      agents: [workingAgent("r1", "m1", T0, { role: "refinery" }), workingAgent("r2", "m2", T0, { role: "refinery" })],
      beads: [
        mergeRequest("m1", "b1", { status: "in_progress", assignee: agentId("r1") }),
        mergeRequest("m2", "b2", { status: "in_progress", assignee: agentId("r2") }),
      ],
    });
    expect(check(state)).toEqual([expect.objectContaining({ invariant: 3, key: "3:web", beadIds: ["m1", "m2"] })]);
  });

  it("4: an issue in review with no merge request in play is detected and reopened", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_review" })] });
    expect(numbers(state)).toEqual([4]);
    expect(repairAndRecheck(state)).toEqual([]);
    expect(state.bead(beadId("b1"))?.status).toBe("open");
  });

  it("5: a convoy in an impossible status, or closed over unfinished beads, is detected", () => {
    expect(numbers(stateOf({ beads: [convoy("c1", ["b1"], { status: "in_progress" }), issue("b1")] }))).toEqual([5]);
    expect(numbers(stateOf({ beads: [convoy("c1", ["b1"], { status: "closed" }), issue("b1")] }))).toEqual([5]);
    expect(numbers(stateOf({ beads: [convoy("c1", ["b1"], { status: "closed" }), issue("b1", { status: "failed" })] }))).toEqual([]);
  });

  it("6: two agents on one bead are detected; the one hooked first keeps it", () => {
    const state = stateOf({
      agents: [workingAgent("late", "b1", T0 + MINUTE), workingAgent("early", "b1", T0)],
      beads: [issue("b1", { status: "in_progress", assignee: agentId("early") })],
    });
    const found = check(state);
    expect(found.map((v) => v.invariant)).toEqual([2, 6]);
    expect(found.find((v) => v.invariant === 6)!.repairs).toEqual([expect.objectContaining({ type: "unhook_agent", agentId: "late", rule: "invariant.6" })]);
    // After the repair the late agent works on nothing (7), which its own repair then fixes.
    const afterFirst = repairAndRecheck(state);
    expect(afterFirst.map((v) => v.invariant)).toEqual([7]);
    expect(repairAndRecheck(state)).toEqual([]);
    expect(state.agent(agentId("early"))?.hook).toBe("b1");
  });

  it("7: a working agent with no hook is detected and made idle; a mayor is exempt", () => {
    const state = stateOf({ agents: [agent("a1", { status: "working" }), agent("mayor", { status: "working", role: "mayor" })] });
    expect(check(state)).toEqual([expect.objectContaining({ invariant: 7, key: "7:a1" })]);
    expect(repairAndRecheck(state)).toEqual([]);
    expect(state.agent(agentId("a1"))?.status).toBe("idle");
  });

  it("8: a pending event older than the maximum age is detected, not a moment before", () => {
    const state = stateOf();
    const maxAge = state.town.config.maxEventAgeMs;
    const at = (now: number) => queueFacts({ oldestPendingAt: T0, dead: 0 }, now);
    expect(numbers(state, at(T0 + maxAge), T0 + maxAge)).toEqual([]);
    expect(numbers(state, at(T0 + maxAge + 1), T0 + maxAge + 1)).toEqual([8]);
  });

  it("8: ages a pending event from when it was logged, never below zero, and nothing pending has no age", () => {
    expect(oldestPendingAge(T0, T0 + 1_500)).toBe(1_500);
    expect(oldestPendingAge(T0 + 10, T0)).toBe(0);
    expect(oldestPendingAge(null, T0)).toBeNull();
  });

  it("9: dead-lettered events are detected", () => {
    expect(check(stateOf(), { oldestPendingAgeMs: null, dead: 2 })).toEqual([
      expect.objectContaining({ invariant: 9, message: "2 event(s) are dead-lettered" }),
    ]);
  });

  it("10: an assignee that is not the hooked agent is detected", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress", assignee: agentId("someone-else") })] });
    expect(numbers(state)).toEqual([10]);
  });
});

describe("the rolling sweep", () => {
  it("finds a violation nothing touched within SWEEP_BUCKETS ticks, checking a slice of the town each tick", () => {
    // Forty healthy open beads and one in progress with no agent, as a bug or a hand edit would leave it.
    const beads = [...Array.from({ length: 40 }, (_, i) => issue(`ok-${i}`, { held: true })), issue("broken", { status: "in_progress" })];
    const state = stateOf({ beads });
    // A tick committed: nothing is left to look at but the sweep.
    state.tickCommitted(T0, { agents: new Set(), beads: new Set() });
    const found: number[] = [];
    let largest = 0;
    for (let tickId = 1; tickId <= SWEEP_BUCKETS; tickId++) {
      const focus = invariantFocus(state, tickId, []);
      largest = Math.max(largest, focus.beads.size);
      if (checkInvariants(state, T0, EMPTY_QUEUE, focus).some((v) => v.key === "2:broken")) found.push(tickId);
    }
    // Found exactly once per cycle, while no tick looked at more than a part of the town.
    expect(found).toHaveLength(1);
    expect(largest).toBeLessThan(beads.length / 2);
    // And a tick that touches it finds it at once, whatever the bucket.
    state.touch({ agents: new Set(), beads: new Set([beadId("broken")]) });
    const other = found[0]! + 1;
    expect(checkInvariants(state, T0, EMPTY_QUEUE, invariantFocus(state, other, [])).map((v) => v.key)).toEqual(["2:broken"]);
  });
});
