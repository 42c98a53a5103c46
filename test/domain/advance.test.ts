import { describe, expect, it } from "vitest";
import { advanceTown } from "../../src/domain/advance";
import type { TownEvent } from "../../src/domain/events";
import { beadId, issue, SECOND, stateOf, T0, workingAgent } from "./builders";

const event = (seq: number, body: Record<string, unknown>): TownEvent =>
  ({ agentId: null, beadId: null, seq, eventId: `e${seq}`, createdAt: T0, ...body }) as unknown as TownEvent;

describe("advanceTown", () => {
  it("rolls back only the event that throws; the events behind it still apply", () => {
    const state = stateOf({ beads: [issue("b1"), issue("b2")] });
    // A payload that passed no validation (status undefined) makes the state machine throw.
    const events = [
      event(1, { type: "bead_cancelled", beadId: "b1", payload: { status: "closed" } }),
      event(2, { type: "bead_cancelled", beadId: "b2", payload: { status: "bogus" } }),
      event(3, { type: "bead_cancelled", beadId: "b2", payload: { status: "failed" } }),
    ];
    const result = advanceTown(state, events, T0);
    expect(result.events).toEqual([
      { seq: 1, outcome: "applied" },
      { seq: 2, outcome: "failed", detail: expect.stringContaining("not an allowed transition") },
      { seq: 3, outcome: "applied" },
    ]);
    expect(state.bead(beadId("b1"))?.status).toBe("closed");
    expect(state.bead(beadId("b2"))?.status).toBe("failed");
  });

  it("reconciles in passes until nothing follows: a stalled-out agent is stopped and its bead reopened, and redispatched once the stop is confirmed", () => {
    const stalledAt = T0;
    const state = stateOf({
      agents: [workingAgent("web:polecat:1", "b1", T0 - 10 * SECOND, { status: "stalled", statusSince: stalledAt })],
      beads: [issue("b1", { status: "in_progress", dispatchAttempts: 1, lastDispatchAt: T0 - 10 * SECOND })],
    });
    const stoppedAt = stalledAt + state.town.config.stallTimeoutMs;
    const result = advanceTown(state, [], stoppedAt);
    expect(result.actions.map(({ action }) => `${action.rule}:${action.type}`)).toEqual([
      "agents.stopStalled:stop_agent",
      "beads.reopenOrphaned:transition_bead",
    ]);
    // Two passes act, the third finds nothing more to do: the old container may still run, so the bead waits.
    expect(result.passes).toBe(3);
    expect(result.wake?.reason).not.toContain("did not settle");
    expect(result.effects.map((e) => e.kind)).toEqual(["stop"]);
    expect(state.bead(beadId("b1"))).toMatchObject({ status: "open", dispatchAttempts: 1 });
    // The service confirms the stop: the next tick dispatches the bead again.
    state.commit();
    const confirmed = {
      type: "dispatch_result",
      agentId: "web:polecat:1",
      payload: { effectId: "web:polecat:1@1:stop", kind: "stop", generation: 1, outcome: "ok" },
    };
    const next = advanceTown(state, [event(1, confirmed)], stoppedAt + SECOND);
    expect(next.actions.map(({ action }) => `${action.rule}:${action.type}`)).toEqual(["beads.dispatch:dispatch_agent"]);
    expect(state.bead(beadId("b1"))).toMatchObject({ status: "in_progress", dispatchAttempts: 2 });
  });

  it("is deterministic: the same state, events and time give the same actions", () => {
    const build = () => stateOf({ beads: [issue("b1"), issue("b2", { priority: 0 })] });
    const a = advanceTown(build(), [], T0);
    const b = advanceTown(build(), [], T0);
    expect(a).toEqual(b);
    expect(a.actions.length).toBeGreaterThan(0);
  });
});
