import { describe, expect, it } from "vitest";
import { DEFAULT_TOWN_CONFIG as C } from "../../src/domain/config";
import type { Breaker } from "../../src/domain/model";
import { reconcile } from "../../src/domain/reconcile";
import type { TownState } from "../../src/domain/state";
import { convoy, issue, MINUTE, SECOND, stateOf, T0, town } from "./builders";

const byRule = (state: TownState, now: number, rule: string) => reconcile(state, now, state.town.config).actions.filter((a) => a.rule === rule);

describe("convoys.close", () => {
  it("closes a convoy once every tracked bead is closed or failed, and not before", () => {
    const open = stateOf({ beads: [issue("a", { status: "closed" }), issue("b", { status: "in_progress" }), convoy("c", ["a", "b"])] });
    expect(byRule(open, T0, "convoys.close")).toEqual([]);
    const done = stateOf({ beads: [issue("a", { status: "closed" }), issue("b", { status: "failed" }), convoy("c", ["a", "b"])] });
    expect(byRule(done, T0, "convoys.close")).toEqual([expect.objectContaining({ type: "transition_bead", beadId: "c", from: "open", to: "closed" })]);
  });
});

const breaker = (patch: Partial<Breaker>): Breaker => ({
  status: "closed",
  since: T0,
  failures: [],
  lastFailureAt: null,
  lastSuccessAt: null,
  probeAt: null,
  ...patch,
});
const withBreaker = (b: Breaker, beads = [issue("b1")]) => stateOf({ town: town({}, { breaker: b }), beads });
const dispatchCount = (state: TownState, now: number) => reconcile(state, now, state.town.config).actions.filter((a) => a.type === "dispatch_agent").length;

describe("circuit breaker", () => {
  const threshold = C.breaker.failureThreshold;

  it("opens at the failure threshold within the window, not one failure before", () => {
    const failures = (n: number) => Array.from({ length: n }, (_, i) => T0 + i * SECOND);
    expect(byRule(withBreaker(breaker({ failures: failures(threshold - 1) })), T0 + MINUTE, "breaker.trip")).toEqual([]);
    const tripped = withBreaker(breaker({ failures: failures(threshold) }));
    expect(byRule(tripped, T0 + MINUTE, "breaker.trip")).toEqual([expect.objectContaining({ type: "set_breaker", from: "closed", to: "open" })]);
    // The pass that trips the breaker dispatches nothing.
    expect(dispatchCount(tripped, T0 + MINUTE)).toBe(0);
  });

  it("forgets failures that fell out of the window", () => {
    const old = Array.from({ length: threshold }, (_, i) => T0 + i);
    expect(byRule(withBreaker(breaker({ failures: old })), T0 + C.breaker.windowMs + threshold, "breaker.trip")).toEqual([]);
  });

  it("goes half-open after the cool-down and allows exactly one probe", () => {
    const open = withBreaker(breaker({ status: "open", since: T0 }), [issue("b1"), issue("b2")]);
    expect(byRule(open, T0 + C.breaker.cooldownMs - 1, "breaker.halfOpen")).toEqual([]);
    expect(reconcile(open, T0 + C.breaker.cooldownMs - 1, C).wake?.at).toBe(T0 + C.breaker.cooldownMs);
    expect(byRule(open, T0 + C.breaker.cooldownMs, "breaker.halfOpen")).toHaveLength(1);
    expect(dispatchCount(open, T0 + C.breaker.cooldownMs)).toBe(1);
    const probing = withBreaker(breaker({ status: "half_open", since: T0, probeAt: T0 + SECOND }), [issue("b1"), issue("b2")]);
    expect(dispatchCount(probing, T0 + 2 * SECOND)).toBe(0);
  });

  it("closes after a successful probe and reopens after a failed one", () => {
    const ok = withBreaker(breaker({ status: "half_open", since: T0, probeAt: T0 + SECOND, lastSuccessAt: T0 + 2 * SECOND }));
    expect(byRule(ok, T0 + 3 * SECOND, "breaker.close")).toEqual([expect.objectContaining({ from: "half_open", to: "closed" })]);
    const failed = withBreaker(breaker({ status: "half_open", since: T0, probeAt: T0 + SECOND, lastFailureAt: T0 + 2 * SECOND }));
    expect(byRule(failed, T0 + 3 * SECOND, "breaker.reopen")).toEqual([expect.objectContaining({ from: "half_open", to: "open" })]);
  });
});
