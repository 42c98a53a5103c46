import { describe, expect, it } from "vitest";
import { DEFAULT_TOWN_CONFIG as C } from "../../src/domain/config";
import { reconcile } from "../../src/domain/reconcile";
import type { TownState } from "../../src/domain/state";
import { agent, DAY, HOUR, issue, MINUTE, SECOND, stateOf, T0, workingAgent } from "./builders";

const actionsAt = (state: TownState, now: number) => reconcile(state, now, state.town.config).actions;
const byRule = (state: TownState, now: number, rule: string) => actionsAt(state, now).filter((a) => a.rule === rule);

describe("agents.detectStall", () => {
  it("does not stall a freshly dispatched agent during the cold-start grace, and stalls it the moment the grace ends", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "in_progress", assignee: "a1" as never })] });
    const graceEnd = T0 + C.coldStartGraceMs;
    expect(byRule(state, graceEnd - 1, "agents.detectStall")).toEqual([]);
    expect(reconcile(state, graceEnd - 1, state.town.config).wake).toEqual({ at: graceEnd, reason: "heartbeat deadline of a1" });
    expect(byRule(state, graceEnd, "agents.detectStall")).toEqual([
      expect.objectContaining({ type: "transition_agent", agentId: "a1", from: "working", to: "stalled" }),
    ]);
  });

  it("stalls an agent exactly one heartbeat timeout after its last heartbeat", () => {
    const lastBeat = T0 + 10 * MINUTE;
    const state = stateOf({ agents: [workingAgent("a1", "b1", T0, { lastHeartbeatAt: lastBeat })], beads: [issue("b1", { status: "in_progress" })] });
    expect(byRule(state, lastBeat + C.heartbeatTimeoutMs - 1, "agents.detectStall")).toEqual([]);
    expect(byRule(state, lastBeat + C.heartbeatTimeoutMs, "agents.detectStall")).toHaveLength(1);
  });
});

describe("agents.resumeHeartbeat", () => {
  it("puts a stalled agent back to working when a heartbeat arrives after it stalled", () => {
    const stalledAt = T0 + 5 * MINUTE;
    const stalled = workingAgent("a1", "b1", T0, { status: "stalled", statusSince: stalledAt, lastHeartbeatAt: stalledAt - MINUTE });
    expect(byRule(stateOf({ agents: [stalled], beads: [issue("b1", { status: "in_progress" })] }), stalledAt + 1, "agents.resumeHeartbeat")).toEqual([]);
    const beating = { ...stalled, lastHeartbeatAt: stalledAt + SECOND };
    expect(byRule(stateOf({ agents: [beating], beads: [issue("b1", { status: "in_progress" })] }), stalledAt + 2 * SECOND, "agents.resumeHeartbeat")).toEqual([
      expect.objectContaining({ type: "transition_agent", from: "stalled", to: "working" }),
    ]);
  });
});

describe("agents.stopStalled", () => {
  it("stops an agent that stayed stalled for the stall timeout, not a moment before", () => {
    const stalledAt = T0 + 3 * MINUTE;
    const state = stateOf({
      agents: [workingAgent("a1", "b1", T0, { status: "stalled", statusSince: stalledAt })],
      beads: [issue("b1", { status: "in_progress" })],
    });
    expect(byRule(state, stalledAt + C.stallTimeoutMs - 1, "agents.stopStalled")).toEqual([]);
    expect(byRule(state, stalledAt + C.stallTimeoutMs, "agents.stopStalled")).toEqual([
      expect.objectContaining({ type: "stop_agent", agentId: "a1", from: "stalled", generation: 1 }),
    ]);
  });
});

describe("agents.recoverLostContainer", () => {
  const beads = [issue("b1", { status: "in_progress" })];

  it("releases an agent whose container exited, at once", () => {
    const a = workingAgent("a1", "b1", T0, { containerStatus: "exited", containerStatusSince: T0 + SECOND });
    expect(byRule(stateOf({ agents: [a], beads }), T0 + 2 * SECOND, "agents.recoverLostContainer")).toEqual([
      expect.objectContaining({ type: "release_agent", agentId: "a1", from: "working", generation: 1 }),
    ]);
  });

  it("waits out the cold-start grace before acting on a container that is not found", () => {
    const a = workingAgent("a1", "b1", T0, { containerStatus: "not_found", containerStatusSince: T0 + 10 * SECOND });
    const state = stateOf({ agents: [a], beads });
    expect(byRule(state, T0 + C.coldStartGraceMs - 1, "agents.recoverLostContainer")).toEqual([]);
    expect(byRule(state, T0 + C.coldStartGraceMs, "agents.recoverLostContainer")).toHaveLength(1);
  });

  it("ignores a container status observed before the current dispatch", () => {
    const a = workingAgent("a1", "b1", T0 + MINUTE, { containerStatus: "exited", containerStatusSince: T0 });
    expect(byRule(stateOf({ agents: [a], beads }), T0 + 2 * MINUTE, "agents.recoverLostContainer")).toEqual([]);
  });
});

describe("agents.stopOrphaned and agents.unhookTerminal", () => {
  it("stops a working agent whose bead was cancelled", () => {
    const state = stateOf({ agents: [workingAgent("a1", "b1")], beads: [issue("b1", { status: "failed" })] });
    expect(byRule(state, T0 + SECOND, "agents.stopOrphaned")).toEqual([expect.objectContaining({ type: "stop_agent", agentId: "a1" })]);
  });

  it("unhooks an idle agent still hooked to a closed bead", () => {
    const state = stateOf({ agents: [agent("a1", { hook: "b1" as never })], beads: [issue("b1", { status: "closed" })] });
    expect(byRule(state, T0 + SECOND, "agents.unhookTerminal")).toEqual([expect.objectContaining({ type: "unhook_agent", agentId: "a1", beadId: "b1" })]);
  });
});

describe("agents.collectIdle", () => {
  it("retires an agent idle with no hook for a day, not a moment before", () => {
    const state = stateOf({ agents: [agent("a1", { statusSince: T0 })] });
    expect(byRule(state, T0 + C.idleAgentGcMs - 1, "agents.collectIdle")).toEqual([]);
    expect(byRule(state, T0 + C.idleAgentGcMs, "agents.collectIdle")).toEqual([
      expect.objectContaining({ type: "transition_agent", agentId: "a1", from: "idle", to: "dead" }),
    ]);
    expect(C.idleAgentGcMs).toBe(DAY);
    void HOUR;
  });
});
