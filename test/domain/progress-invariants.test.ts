import { describe, expect, it } from "vitest";
import { advanceTown } from "../../src/domain/advance";
import { explainBead } from "../../src/domain/explain";
import { checkInvariants } from "../../src/domain/invariants";
import type { QueueFacts } from "../../src/domain/queue";
import { setBeadStatus } from "../../src/domain/mutations";
import type { TownState } from "../../src/domain/state";
import { snapshotOf, stateFromSnapshot } from "../../src/domain/snapshot";
import { agentId, beadId, HOUR, issue, MINUTE, SECOND, stateOf, T0, town, workingAgent } from "./builders";

const EMPTY_QUEUE: QueueFacts = { oldestPendingAgeMs: null, dead: 0 };
const found = (state: TownState, now: number, invariant: number) => checkInvariants(state, now, EMPTY_QUEUE).filter((v) => v.invariant === invariant);

/** A rig at its cap of one polecat, busy for good on `busy`, with `waiting` queued behind it. */
function busyRig(waiting = ["queued"]) {
  return stateOf({
    town: town({ maxPolecatsPerRig: 1, progressWindowMs: 30 * MINUTE }),
    agents: [workingAgent("web:polecat:1", "busy")],
    beads: [issue("busy", { status: "in_progress", assignee: agentId("web:polecat:1") }), ...waiting.map((id) => issue(id))],
  });
}

/** The bead goes in progress and back to open at each of `times` (as a lost agent sends it back). */
function reopenAt(state: TownState, id: string, times: number[]) {
  for (const at of times) {
    setBeadStatus(state, state.bead(beadId(id))!, "in_progress", at - SECOND);
    setBeadStatus(state, state.bead(beadId(id))!, "open", at);
  }
  state.commit();
}

describe("invariant 11: work moves", () => {
  it("fires when work has waited longer than the progress window with no bead changing status, and says where", () => {
    const state = busyRig(["q1", "q2"]);
    expect(found(state, T0 + 30 * MINUTE, 11)).toEqual([]);
    const [violation] = found(state, T0 + 30 * MINUTE + 1, 11);
    expect(violation).toMatchObject({ key: "11:town", beadIds: ["q1"], message: expect.stringContaining("2 bead(s) wait to be dispatched or reviewed") });
  });

  it("wakes the town exactly when the window runs out, so a quiet town still notices", () => {
    const state = busyRig();
    // The working agent's heartbeat deadline comes first; once it is past, the progress window is next.
    expect(state.nextDeadline(T0 + 10 * MINUTE)).toMatchObject({ kind: "progress", at: T0 + 30 * MINUTE + 1 });
  });

  it("resolves as soon as a bead changes status", () => {
    const state = busyRig();
    const late = T0 + 31 * MINUTE;
    expect(found(state, late, 11)).toHaveLength(1);
    setBeadStatus(state, state.bead(beadId("busy"))!, "in_review", late);
    expect(found(state, late + SECOND, 11)).toEqual([]);
    expect(state.town.progressAt).toBe(late);
  });

  it("counts the window from when work began to wait, not from an old last move", () => {
    // Nothing moved for a day, then work arrives: it has waited only as long as it has been here.
    const state = stateOf({
      town: town({ maxPolecatsPerRig: 1, progressWindowMs: 30 * MINUTE }),
      agents: [workingAgent("web:polecat:1", "busy")],
      beads: [
        issue("busy", { status: "in_progress", assignee: agentId("web:polecat:1") }),
        issue("late", { createdAt: T0 + 24 * HOUR, updatedAt: T0 + 24 * HOUR }),
      ],
    });
    expect(found(state, T0 + 24 * HOUR + 29 * MINUTE, 11)).toEqual([]);
    expect(found(state, T0 + 24 * HOUR + 31 * MINUTE, 11)).toHaveLength(1);
  });

  it("holds back while the breaker is open (dispatching is suspended on purpose) and when nothing waits", () => {
    const open = busyRig();
    open.setTown({ ...open.town, breaker: { ...open.town.breaker, status: "open", since: T0 } });
    expect(found(open, T0 + 2 * HOUR, 11)).toEqual([]);
    expect(found(busyRig([]), T0 + 2 * HOUR, 11)).toEqual([]);
  });

  it("is an explain reason on the beads that wait", () => {
    const state = busyRig();
    const reasons = explainBead(state, state.bead(beadId("queued"))!, T0 + 31 * MINUTE).reasons.map((r) => r.code);
    expect(reasons).toContain("work_not_moving");
    expect(explainBead(state, state.bead(beadId("queued"))!, T0 + 29 * MINUTE).reasons.map((r) => r.code)).not.toContain("work_not_moving");
  });

  it("is seen by a tick that runs when nothing else happens", () => {
    const state = busyRig();
    // The agent heartbeats all along, so nothing but the window itself is due.
    state.replaceObserved({ ...state.agent(agentId("web:polecat:1"))!, lastHeartbeatAt: T0 + 40 * MINUTE });
    const advance = advanceTown(state, [], T0 + 30 * MINUTE + 1);
    expect(advance.actions).toEqual([]);
    expect(found(state, T0 + 30 * MINUTE + 1, 11)).toHaveLength(1);
  });
});

describe("invariant 12: no flapping", () => {
  // A long progress window: these beads wait, and invariant 11 is not what is tested here.
  const config = { flapping: { maxReopens: 3, windowMs: HOUR }, progressWindowMs: 7 * 24 * HOUR };

  it("fires when a bead goes back to open more often than the limit within the window", () => {
    const state = stateOf({ town: town(config), beads: [issue("b1")] });
    reopenAt(state, "b1", [T0 + 1 * MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE]);
    expect(found(state, T0 + 4 * MINUTE, 12)).toEqual([]);
    reopenAt(state, "b1", [T0 + 5 * MINUTE]);
    expect(found(state, T0 + 6 * MINUTE, 12)).toEqual([
      expect.objectContaining({ key: "12:b1", beadIds: ["b1"], message: "bead b1 went back to open 4 times within 60 min (limit 3)" }),
    ]);
  });

  it("resolves when the oldest counted reopen leaves the window, which is one of the bead's deadlines", () => {
    const state = stateOf({ town: town(config), beads: [issue("b1")] });
    reopenAt(state, "b1", [T0 + 1 * MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE, T0 + 5 * MINUTE]);
    const ends = T0 + 1 * MINUTE + HOUR;
    expect(state.nextDeadline(T0 + 10 * MINUTE)).toMatchObject({ kind: "flapping", id: "b1", at: ends });
    expect(found(state, ends - 1, 12)).toHaveLength(1);
    expect(found(state, ends, 12)).toEqual([]);
  });

  it("resolves when the bead finishes", () => {
    const state = stateOf({ town: town(config), beads: [issue("b1")] });
    reopenAt(state, "b1", [T0 + 1 * MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE, T0 + 5 * MINUTE]);
    setBeadStatus(state, state.bead(beadId("b1"))!, "failed", T0 + 6 * MINUTE);
    expect(found(state, T0 + 7 * MINUTE, 12)).toEqual([]);
  });

  it("keeps only what it needs: the reopens within the window, one past the limit at most", () => {
    const state = stateOf({ town: town(config), beads: [issue("b1")] });
    reopenAt(
      state,
      "b1",
      Array.from({ length: 10 }, (_, i) => T0 + (i + 1) * MINUTE),
    );
    expect(state.bead(beadId("b1"))!.reopenedAt).toEqual([7, 8, 9, 10].map((m) => T0 + m * MINUTE));
    reopenAt(state, "b1", [T0 + 3 * HOUR]);
    expect(state.bead(beadId("b1"))!.reopenedAt).toEqual([T0 + 3 * HOUR]);
  });

  it("is an explain reason, until it lapses", () => {
    const state = stateOf({ town: town(config), beads: [issue("b1")] });
    reopenAt(state, "b1", [T0 + 1 * MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE, T0 + 5 * MINUTE]);
    const reason = explainBead(state, state.bead(beadId("b1"))!, T0 + 6 * MINUTE).reasons.find((r) => r.code === "flapping");
    expect(reason).toMatchObject({ until: T0 + 1 * MINUTE + HOUR, message: expect.stringContaining("went back to open 4 times") });
  });

  it("survives a snapshot (the reopens are part of the bead)", () => {
    const state = stateOf({ town: town(config), beads: [issue("b1")] });
    reopenAt(state, "b1", [T0 + 1 * MINUTE, T0 + 2 * MINUTE, T0 + 3 * MINUTE, T0 + 5 * MINUTE]);
    const restored = stateFromSnapshot(JSON.parse(JSON.stringify(snapshotOf(state))));
    expect(found(restored, T0 + 6 * MINUTE, 12)).toHaveLength(1);
    expect(restored.town.progressAt).toBe(T0 + 5 * MINUTE);
  });
});
