import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { advanceTown } from "../../src/domain/advance";
import { applyEvent } from "../../src/domain/apply-event";
import type { EventBody, TownEvent } from "../../src/domain/events";
import type { AgentId, BeadId } from "../../src/domain/ids";
import { checkInvariants, enforceInvariants } from "../../src/domain/invariants";
import { isLive } from "../../src/domain/model";
import type { TownState } from "../../src/domain/state";
import { snapshotOf } from "../../src/domain/snapshot";
import { SECOND, stateOf, town } from "../domain/builders";

/**
 * Property: random but valid histories — beads slung and cancelled, agents reporting done, failure,
 * container trouble, heartbeats, PRs merged or closed, dispatches failing — over many ticks keep every
 * invariant true after each tick (the reconciler never leaves one broken that its repairs do not fix),
 * and re-running the same history from the same start reproduces the same state.
 */
type Step =
  | { kind: "sling"; priority: number; blockedOn: number | null }
  | { kind: "cancel"; bead: number }
  | { kind: "done"; agent: number }
  | { kind: "fail"; agent: number }
  | { kind: "completed"; agent: number }
  | { kind: "container"; agent: number; status: "running" | "exited" | "not_found" | "error" }
  | { kind: "heartbeat"; agent: number }
  | { kind: "pr"; bead: number; merged: boolean }
  | { kind: "dispatchFailed"; agent: number }
  | { kind: "tick"; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("sling" as const), priority: fc.integer({ min: 0, max: 4 }), blockedOn: fc.option(fc.nat(20), { nil: null }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), bead: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("done" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fail" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("completed" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("container" as const), agent: fc.nat(20), status: fc.constantFrom("running", "exited", "not_found", "error") }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("heartbeat" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pr" as const), bead: fc.nat(50), merged: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dispatchFailed" as const), agent: fc.nat(20) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.constantFrom(1_000, 10_000, 60_000, 200_000, 400_000) }) },
);

/** The history as it happened: commands applied at once, and ticks with the events and heartbeats they saw. */
type Entry = { kind: "command"; event: TownEvent } | { kind: "tick"; now: number; events: TownEvent[]; heartbeats: Array<[AgentId, number]> };

const pick = <T>(items: readonly T[], index: number): T | undefined => (items.length === 0 ? undefined : items[index % items.length]);

/** Turns steps into ticks against the state as it evolves (ids always refer to things that exist). */
function run(steps: readonly Step[]): { state: TownState; history: Entry[]; checks: number } {
  const state = freshTown();
  const history: Entry[] = [];
  let now = state.town.createdAt;
  let seq = 0;
  let pending: TownEvent[] = [];
  let heartbeats: Array<[AgentId, number]> = [];
  const command = (e: TownEvent) => {
    history.push({ kind: "command", event: e });
    applyEvent(state, e, now);
  };
  let checks = 0;
  const event = (body: EventBody): TownEvent => ({ ...body, seq: ++seq, eventId: `e${seq}`, createdAt: now }) as TownEvent;
  const agents = () => [...state.agents()].filter(isLive);
  const beads = (type: string) => [...state.beads()].filter((b) => b.type === type);

  for (const s of [...steps, { kind: "tick", ms: 1_000 } as Step]) {
    switch (s.kind) {
      case "sling": {
        const issues = beads("issue");
        const blocker = s.blockedOn === null ? undefined : pick(issues, s.blockedOn);
        // Commands apply at once, as the API does.
        command(event({ type: "bead_created", agentId: null, beadId: `b${seq + 1}` as BeadId, payload: { rigId: "web" as never, title: "t", priority: s.priority, blockedBy: blocker ? [blocker.id] : [], held: false } }));
        break;
      }
      case "cancel": {
        const bead = pick([...state.beads()].filter((b) => b.status !== "closed" && b.status !== "failed"), s.bead);
        if (bead) command(event({ type: "bead_cancelled", agentId: null, beadId: bead.id, payload: { status: "failed" } }));
        break;
      }
      case "done":
      case "fail":
      case "completed":
      case "container":
      case "dispatchFailed": {
        const agent = pick(agents(), s.agent);
        if (!agent) break;
        if (s.kind === "done") pending.push(event({ type: "agent_done", agentId: agent.id, beadId: null, payload: { generation: agent.generation, branch: "b" } }));
        if (s.kind === "fail") pending.push(event({ type: "agent_completed", agentId: agent.id, beadId: null, payload: { generation: agent.generation, status: "failed" } }));
        if (s.kind === "completed") pending.push(event({ type: "agent_completed", agentId: agent.id, beadId: null, payload: { status: "completed" } }));
        if (s.kind === "container") pending.push(event({ type: "container_status", agentId: agent.id, beadId: null, payload: { status: s.status } }));
        if (s.kind === "dispatchFailed") {
          pending.push(event({ type: "dispatch_result", agentId: agent.id, beadId: null, payload: { effectId: "x", kind: "dispatch", generation: agent.generation, outcome: "failed" } }));
        }
        break;
      }
      case "heartbeat": {
        const agent = pick(agents(), s.agent);
        if (agent) {
          state.replaceObserved({ ...agent, lastHeartbeatAt: now });
          heartbeats.push([agent.id, now]);
        }
        break;
      }
      case "pr": {
        const mr = pick(beads("merge_request").filter((b) => b.status !== "closed" && b.status !== "failed"), s.bead);
        if (mr) pending.push(event({ type: "pr_status_changed", agentId: null, beadId: mr.id, payload: { status: s.merged ? "merged" : "closed" } }));
        break;
      }
      case "tick": {
        now += s.ms;
        history.push({ kind: "tick", now, events: pending, heartbeats });
        tickAt(state, now, pending);
        pending = [];
        heartbeats = [];
        // After a tick (and its repairs) no invariant may be broken.
        const broken = checkInvariants(state, now, { oldestPendingAt: null, dead: 0 });
        expect(broken, `after the tick at +${now - state.town.createdAt} ms`).toEqual([]);
        checks += 1;
        break;
      }
    }
  }
  return { state, history, checks };
}

function tickAt(state: TownState, now: number, events: readonly TownEvent[]): void {
  advanceTown(state, events, now);
  enforceInvariants(state, now, { oldestPendingAt: null, dead: 0 });
  state.commit();
}

/** Runs a recorded history again from a fresh town. */
function replay(history: readonly Entry[]): TownState {
  const state = freshTown();
  for (const entry of history) {
    if (entry.kind === "command") {
      applyEvent(state, entry.event, entry.event.createdAt);
      continue;
    }
    for (const [agentId, at] of entry.heartbeats) {
      const agent = state.agent(agentId);
      if (agent) state.replaceObserved({ ...agent, lastHeartbeatAt: at });
    }
    tickAt(state, entry.now, entry.events);
  }
  return state;
}

function freshTown(): TownState {
  return stateOf({ town: town({ maxPolecatsPerRig: 3, dispatchBackoffBaseMs: 5 * SECOND }) });
}

describe("random histories", () => {
  it("keep every invariant after every tick, and replay to the same state", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 120 }), (steps) => {
        const live = run(steps);
        expect(live.checks).toBeGreaterThan(0);
        // Replaying the log (commands, and each tick's events and heartbeats) reproduces the state exactly.
        expect(snapshotOf(replay(live.history))).toEqual(snapshotOf(live.state));
      }),
      { seed: 20261122, numRuns: 150 },
    );
  });
});
