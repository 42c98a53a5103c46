import { describe, expect, it } from "vitest";
import { DEFAULT_TOWN_CONFIG as C } from "../../src/domain/config";
import { reconcile } from "../../src/domain/reconcile";
import { dispatchBackoff } from "../../src/domain/rules/beads";
import type { TownState } from "../../src/domain/state";
import { agent, beadId, issue, mergeRequest, MINUTE, rig, SECOND, stateOf, T0, town, workingAgent } from "./builders";

const actionsAt = (state: TownState, now: number) => reconcile(state, now, state.town.config).actions;
const byRule = (state: TownState, now: number, rule: string) => actionsAt(state, now).filter((a) => a.rule === rule);
const dispatches = (state: TownState, now: number) => actionsAt(state, now).filter((a) => a.type === "dispatch_agent");

describe("beads.dispatch", () => {
  it("creates a polecat and dispatches an open issue to it, with the rule and reason attached", () => {
    const state = stateOf({ beads: [issue("b1")] });
    expect(byRule(state, T0, "beads.dispatch")).toEqual([
      {
        type: "create_agent",
        agentId: "web:polecat:1",
        rigId: "web",
        role: "polecat",
        rule: "beads.dispatch",
        reason: expect.stringContaining("no idle polecat"),
      },
      {
        type: "dispatch_agent",
        agentId: "web:polecat:1",
        beadId: "b1",
        generation: 1,
        rule: "beads.dispatch",
        reason: "open, unblocked, unheld; attempt 1 of 5",
      },
    ]);
  });

  it("prefers an idle polecat over creating one, and dispatches the most urgent issue first", () => {
    const state = stateOf({
      agents: [agent("web:polecat:1", { generation: 3 })],
      beads: [issue("low", { priority: 3 }), issue("urgent", { priority: 0, createdAt: T0 + SECOND })],
      town: town({ maxPolecatsPerRig: 1 }),
    });
    expect(dispatches(state, T0 + MINUTE)).toEqual([expect.objectContaining({ agentId: "web:polecat:1", beadId: "urgent", generation: 4 })]);
  });

  it("creates polecats only up to the rig's cap", () => {
    const state = stateOf({ beads: ["a", "b", "c", "d"].map((id) => issue(id)), town: town({ maxPolecatsPerRig: 2 }) });
    const actions = actionsAt(state, T0);
    expect(actions.filter((a) => a.type === "create_agent").map((a) => a.type === "create_agent" && a.agentId)).toEqual(["web:polecat:1", "web:polecat:2"]);
    expect(actions.filter((a) => a.type === "dispatch_agent")).toHaveLength(2);
  });

  it("leaves held and blocked issues alone until they are released or their blockers close", () => {
    const held = issue("held", { held: true });
    const blocked = issue("blocked", { blockedBy: [beadId("blocker")] });
    const blocker = issue("blocker", { status: "in_progress" });
    expect(dispatches(stateOf({ beads: [held, blocked, blocker], agents: [workingAgent("w", "blocker")] }), T0)).toEqual([]);
    const released = stateOf({ beads: [{ ...held, held: false }, blocked, { ...blocker, status: "closed" }] });
    expect(
      dispatches(released, T0)
        .map((a) => a.type === "dispatch_agent" && a.beadId)
        .sort(),
    ).toEqual(["blocked", "held"]);
  });

  it("waits out the exponential backoff after a failed attempt, and dispatches the moment it ends", () => {
    const lastAttempt = T0 + 10 * MINUTE;
    const state = stateOf({ beads: [issue("b1", { dispatchAttempts: 3, lastDispatchAt: lastAttempt })] });
    const backoff = dispatchBackoff(3, C);
    expect(backoff).toBe(4 * C.dispatchBackoffBaseMs);
    expect(dispatches(state, lastAttempt + backoff - 1)).toEqual([]);
    expect(reconcile(state, lastAttempt + backoff - 1, C).wake).toEqual({ at: lastAttempt + backoff, reason: "dispatch backoff of b1 expires" });
    expect(dispatches(state, lastAttempt + backoff)).toHaveLength(1);
  });

  it("caps the backoff at the configured maximum", () => {
    expect(dispatchBackoff(30, C)).toBe(C.dispatchBackoffMaxMs);
  });

  it("does not dispatch while the breaker is open", () => {
    const state = stateOf({
      beads: [issue("b1")],
      town: town({}, { breaker: { status: "open", since: T0, failures: [], lastFailureAt: T0, lastSuccessAt: null, probeAt: null } }),
    });
    expect(dispatches(state, T0 + SECOND)).toEqual([]);
  });
});

describe("beads.exhaustAttempts", () => {
  it("fails an open issue that used all its dispatch attempts", () => {
    const state = stateOf({ beads: [issue("b1", { dispatchAttempts: C.maxDispatchAttempts, lastDispatchAt: T0 })] });
    expect(byRule(state, T0 + 100 * MINUTE, "beads.exhaustAttempts")).toEqual([
      expect.objectContaining({ type: "transition_bead", beadId: "b1", from: "open", to: "failed" }),
    ]);
    expect(dispatches(state, T0 + 100 * MINUTE)).toEqual([]);
  });
});

describe("beads.reopenOrphaned", () => {
  it("reopens an in-progress issue whose agent is no longer hooked to it", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_progress" })], agents: [agent("a1")] });
    expect(byRule(state, T0, "beads.reopenOrphaned")).toEqual([
      expect.objectContaining({ type: "transition_bead", beadId: "b1", from: "in_progress", to: "open" }),
    ]);
  });

  it("leaves an in-progress issue with a live agent alone", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_progress" })], agents: [workingAgent("a1", "b1")] });
    expect(byRule(state, T0, "beads.reopenOrphaned")).toEqual([]);
  });
});

describe("beads.settleReview and review.closeMergedSource", () => {
  it("closes an issue whose merge request merged", () => {
    const state = stateOf({ beads: [issue("b1", { status: "in_review" }), mergeRequest("b1:mr:1", "b1", { status: "closed", merged: true })] });
    expect(byRule(state, T0, "review.closeMergedSource")).toEqual([expect.objectContaining({ beadId: "b1", from: "in_review", to: "closed" })]);
  });

  it("reopens an issue whose merge requests all failed", () => {
    const state = stateOf({
      beads: [issue("b1", { status: "in_review" }), mergeRequest("b1:mr:1", "b1", { status: "failed" }), mergeRequest("b1:mr:2", "b1", { status: "failed" })],
    });
    expect(byRule(state, T0, "beads.settleReview")).toEqual([expect.objectContaining({ beadId: "b1", from: "in_review", to: "open" })]);
  });

  it("waits while a merge request is still open", () => {
    const state = stateOf({
      beads: [issue("b1", { status: "in_review" }), mergeRequest("b1:mr:1", "b1", { status: "failed" }), mergeRequest("b1:mr:2", "b1")],
    });
    expect(byRule(state, T0, "beads.settleReview")).toEqual([]);
    expect(byRule(state, T0, "review.closeMergedSource")).toEqual([]);
  });
});

describe("review queue", () => {
  it("creates the rig's refinery and hands it the oldest open merge request", () => {
    const state = stateOf({
      beads: [
        issue("b1", { status: "in_review" }),
        issue("b2", { status: "in_review" }),
        mergeRequest("b2:mr:1", "b2", { createdAt: T0 + 2 * SECOND }),
        mergeRequest("b1:mr:1", "b1", { createdAt: T0 + SECOND }),
      ],
    });
    const actions = actionsAt(state, T0 + MINUTE);
    expect(actions.filter((a) => a.rule.startsWith("review."))).toEqual([
      expect.objectContaining({ type: "create_agent", agentId: "web:refinery:1", role: "refinery", rule: "review.ensureRefinery" }),
      expect.objectContaining({ type: "dispatch_agent", agentId: "web:refinery:1", beadId: "b1:mr:1", generation: 1, rule: "review.dispatch" }),
    ]);
  });

  it("keeps at most one merge request in progress per rig", () => {
    const state = stateOf({
      agents: [workingAgent("web:refinery:1", "b1:mr:1", T0, { role: "refinery" }), agent("web:refinery:2", { role: "refinery" })],
      beads: [mergeRequest("b1:mr:1", "b1", { status: "in_progress" }), mergeRequest("b2:mr:1", "b2")],
    });
    expect(byRule(state, T0, "review.dispatch")).toEqual([]);
  });

  it("reviews each rig's queue independently", () => {
    const state = stateOf({
      rigs: [rig("web"), rig("api")],
      beads: [mergeRequest("w:mr:1", "w"), mergeRequest("a:mr:1", "a", { rigId: "api" as never })],
    });
    expect(
      byRule(state, T0, "review.dispatch")
        .map((a) => a.type === "dispatch_agent" && a.agentId)
        .sort(),
    ).toEqual(["api:refinery:1", "web:refinery:1"]);
  });
});

describe("isReady and beadHolds", () => {
  it("agree on every bead: the dispatch rule's quick check and explain's reasons never drift apart", async () => {
    const { beadHolds, isReady } = await import("../../src/domain/rules/beads");
    const { Plan } = await import("../../src/domain/plan");
    const now = T0 + 10 * MINUTE;
    const candidates = [
      issue("plain"),
      issue("held", { held: true }),
      issue("blocked-open", { blockedBy: [beadId("plain")] }),
      issue("blocked-closed", { blockedBy: [beadId("done")] }),
      issue("blocked-failed", { blockedBy: [beadId("gone")] }),
      issue("blocked-missing", { blockedBy: [beadId("nowhere")] }),
      issue("backing-off", { dispatchAttempts: 2, lastDispatchAt: now - SECOND }),
      issue("backed-off", { dispatchAttempts: 2, lastDispatchAt: now - 10 * MINUTE }),
      issue("exhausted", { dispatchAttempts: C.maxDispatchAttempts, lastDispatchAt: T0 }),
    ];
    const state = stateOf({ beads: [...candidates, issue("done", { status: "closed" }), issue("gone", { status: "failed" })] });
    const plan = new Plan(state, now, state.town.config);
    const verdicts = candidates.map((bead) => [bead.id, isReady(plan, bead), beadHolds(plan, bead).length === 0]);
    for (const [id, quick, explained] of verdicts) expect(quick, String(id)).toBe(explained);
    expect(verdicts.filter(([, ready]) => ready).map(([id]) => id)).toEqual(["plain", "blocked-closed", "backed-off"]);
  });
});
