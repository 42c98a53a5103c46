import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { recordable } from "../../src/domain/actions";
import { advanceTown, type Advance } from "../../src/domain/advance";
import { applyEvent } from "../../src/domain/apply-event";
import type { EventBody, TownEvent } from "../../src/domain/events";
import type { AgentId, BeadId } from "../../src/domain/ids";
import { checkInvariants, enforceInvariants, invariantFocus, type Violation } from "../../src/domain/invariants";
import { isLive, isFinished } from "../../src/domain/model";
import { reconcile } from "../../src/domain/reconcile";
import type { TownState } from "../../src/domain/state";
import { MemoryArchive } from "../../src/domain/archive";
import { snapshotOf, stateFromSnapshot } from "../../src/domain/snapshot";
import { SECOND, stateOf, town } from "../domain/builders";

/**
 * Properties of random but valid histories — beads slung (some blocked), grouped in convoys and
 * cancelled, agents reporting done, failure, container trouble, heartbeats, PRs merged or closed,
 * dispatches failing, the object reloaded from a snapshot — over many ticks and days:
 *
 * 1. every structural invariant holds after each tick (the reconciler never leaves one broken that its
 *    repairs do not fix); the two that watch progress over time — 11 (work moves) and 12 (no flapping),
 *    which random agents failing at random can break — are found by the focused tick exactly when a
 *    check of the whole town finds them, and both do happen;
 * 2. a tick that looks only at what changed and what fell due decides exactly what a tick looking at the
 *    whole town decides, and leaves the same state — finished beads leaving memory included;
 * 3. between a tick and the wake it schedules, nothing would happen: the wake is never late;
 * 4. re-running the same history from the same start reproduces the same state.
 */
type Step =
  | { kind: "sling"; priority: number; blockedOn: number | null }
  | { kind: "convoy"; beads: number[] }
  | { kind: "cancel"; bead: number }
  | { kind: "done"; agent: number }
  | { kind: "fail"; agent: number }
  | { kind: "completed"; agent: number }
  | { kind: "container"; agent: number; status: "running" | "exited" | "not_found" | "error" }
  | { kind: "heartbeat"; agent: number }
  | { kind: "pr"; bead: number; merged: boolean }
  | { kind: "dispatchFailed"; agent: number }
  | { kind: "dispatchTimedOut"; agent: number }
  | { kind: "stopResult"; agent: number; ok: boolean }
  | { kind: "unwantedReport"; agent: number; older: boolean }
  | { kind: "reload" }
  | { kind: "tick"; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("sling" as const), priority: fc.integer({ min: 0, max: 4 }), blockedOn: fc.option(fc.nat(20), { nil: null }) }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("convoy" as const), beads: fc.array(fc.nat(40), { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("cancel" as const), bead: fc.nat(50) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("done" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("fail" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("completed" as const), agent: fc.nat(20) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("container" as const), agent: fc.nat(20), status: fc.constantFrom("running", "exited", "not_found", "error") }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("heartbeat" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("pr" as const), bead: fc.nat(50), merged: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dispatchFailed" as const), agent: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dispatchTimedOut" as const), agent: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("stopResult" as const), agent: fc.nat(20), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("unwantedReport" as const), agent: fc.nat(20), older: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: "reload" as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("tick" as const), ms: fc.constantFrom(1_000, 10_000, 60_000, 200_000, 400_000, 1_500_000) }) },
);

/** The history as it happened: commands applied at once, and ticks with the events and heartbeats they saw. */
type Entry = { kind: "command"; event: TownEvent } | { kind: "tick"; now: number; events: TownEvent[]; heartbeats: Array<[AgentId, number]> };

const pick = <T>(items: readonly T[], index: number): T | undefined => (items.length === 0 ? undefined : items[index % items.length]);
const NO_QUEUE = { oldestPendingAgeMs: null, dead: 0 };
/** The invariants about progress over time (the rest are structural: a tick never leaves them broken). */
const WATCHING_PROGRESS = new Set([11, 12]);
const progressViolations = (violations: readonly Violation[]) => violations.filter((v) => WATCHING_PROGRESS.has(v.invariant)).map((v) => v.key);

/**
 * A tick as the town object runs it: looking at what changed and what fell due, and re-checking the
 * violations still open (`open`, as the town keeps them across ticks and reloads).
 */
function focusedTick(
  state: TownState,
  now: number,
  events: readonly TownEvent[],
  tickId: number,
  open: readonly Violation[] = [],
): Advance & { repairs: unknown[]; detected: Violation[] } {
  const advance = advanceTown(state, events, now);
  const { repairs, detected } = enforceInvariants(state, now, NO_QUEUE, invariantFocus(state, tickId, open));
  state.commit();
  state.tickCommitted(now, advance.claimed);
  return { ...advance, repairs, detected };
}

/** The same tick looking at everything: the state is never told a tick committed, so its focus stays the whole town. */
function wholeTownTick(state: TownState, now: number, events: readonly TownEvent[]): Advance & { repairs: unknown[] } {
  const advance = advanceTown(state, events, now);
  const { repairs } = enforceInvariants(state, now, NO_QUEUE);
  state.commit();
  return { ...advance, repairs };
}

/** A snapshot without the focus bookkeeping (which differs by design between the two ways of ticking). */
const content = (state: TownState) => {
  const { focus: _focus, ...rest } = snapshotOf(state);
  return rest;
};

function freshTown(archive = new MemoryArchive()): TownState {
  return stateOf({
    town: town({
      maxPolecatsPerRig: 3,
      dispatchBackoffBaseMs: 5 * SECOND,
      idleAgentGcMs: 600 * SECOND,
      tombstoneRetentionMs: 1_200 * SECOND,
      progressWindowMs: 120 * SECOND,
      flapping: { maxReopens: 2, windowMs: 3_600 * SECOND },
    }),
    archive,
  });
}

/** Turns steps into ticks against the state as it evolves (ids always refer to things that exist). */
function run(steps: readonly Step[]): { state: TownState; history: Entry[]; checks: number; seen: Set<number> } {
  const archive = new MemoryArchive();
  let state = freshTown(archive);
  const whole = freshTown();
  const history: Entry[] = [];
  let now = state.town.createdAt;
  let seq = 0;
  let tickId = 0;
  let pending: TownEvent[] = [];
  let heartbeats: Array<[AgentId, number]> = [];
  const command = (e: TownEvent) => {
    history.push({ kind: "command", event: e });
    applyEvent(state, e, now);
    applyEvent(whole, e, now);
    for (const s of [state, whole]) s.commit();
  };
  let checks = 0;
  /** Violations open after the last tick (the town stores them; they outlive a reload). */
  let open: Violation[] = [];
  const seen = new Set<number>();
  const event = (body: EventBody): TownEvent => ({ ...body, seq: ++seq, eventId: `e${seq}`, createdAt: now }) as TownEvent;
  const agents = () => [...state.agents()].filter(isLive);
  const beads = (type: string) => [...state.beads()].filter((b) => b.type === type);

  for (const s of [...steps, { kind: "tick", ms: 1_000 } as Step]) {
    switch (s.kind) {
      case "sling": {
        // Blockers may be long finished (and out of memory): they are found in the archive.
        const issues = [...beads("issue"), ...[...Array(seq).keys()].map((i) => state.bead(`b${i}` as BeadId)).filter((b) => b?.type === "issue")];
        const blocker = s.blockedOn === null ? undefined : pick(issues, s.blockedOn);
        command(
          event({
            type: "bead_created",
            agentId: null,
            beadId: `b${seq + 1}` as BeadId,
            payload: { rigId: "web" as never, title: "t", priority: s.priority, blockedBy: blocker ? [blocker.id] : [], held: false },
          }),
        );
        break;
      }
      case "convoy": {
        const all = [...Array(seq + 1).keys()].map((i) => state.bead(`b${i}` as BeadId)).filter((b) => b !== undefined && b.type === "issue");
        const tracked = [...new Set(s.beads.flatMap((i) => pick(all, i)?.id ?? []))];
        if (tracked.length > 0)
          command(event({ type: "convoy_created", agentId: null, beadId: `c${seq + 1}` as BeadId, payload: { title: "c", beadIds: tracked } }));
        break;
      }
      case "cancel": {
        const bead = pick(
          [...state.beads()].filter((b) => !isFinished(b)),
          s.bead,
        );
        // As the API checks: a convoy closes only over finished work (cancelled otherwise as failed).
        const unfinished = bead?.tracked.some((id) => !isFinished(state.bead(id)!));
        if (bead)
          command(event({ type: "bead_cancelled", agentId: null, beadId: bead.id, payload: { status: s.bead % 2 || unfinished ? "failed" : "closed" } }));
        break;
      }
      case "done":
      case "fail":
      case "completed":
      case "container":
      case "dispatchFailed": {
        const agent = pick(agents(), s.agent);
        if (!agent) break;
        if (s.kind === "done")
          pending.push(event({ type: "agent_done", agentId: agent.id, beadId: null, payload: { generation: agent.generation, branch: "b" } }));
        if (s.kind === "fail")
          pending.push(event({ type: "agent_completed", agentId: agent.id, beadId: null, payload: { generation: agent.generation, status: "failed" } }));
        if (s.kind === "completed") pending.push(event({ type: "agent_completed", agentId: agent.id, beadId: null, payload: { status: "completed" } }));
        if (s.kind === "container") pending.push(event({ type: "container_status", agentId: agent.id, beadId: null, payload: { status: s.status } }));
        if (s.kind === "dispatchFailed") {
          pending.push(
            event({
              type: "dispatch_result",
              agentId: agent.id,
              beadId: null,
              payload: { effectId: "x", kind: "dispatch", generation: agent.generation, outcome: "failed" },
            }),
          );
        }
        break;
      }
      case "dispatchTimedOut": {
        const agent = pick(agents(), s.agent);
        if (agent)
          pending.push(
            event({
              type: "dispatch_result",
              agentId: agent.id,
              beadId: null,
              payload: { effectId: "x", kind: "dispatch", generation: agent.generation, outcome: "timeout", beadId: agent.hook },
            }),
          );
        break;
      }
      case "stopResult": {
        // The service answers a stop the town owes (confirmed, or not).
        const owing = [...state.agents()].filter((a) => a.owedStops.length > 0);
        const agent = pick(owing, s.agent);
        const stop = agent?.owedStops[0];
        if (agent && stop)
          pending.push(
            event({
              type: "dispatch_result",
              agentId: agent.id,
              beadId: null,
              payload: { effectId: "x", kind: "stop", generation: stop.generation, outcome: s.ok ? "ok" : "failed" },
            }),
          );
        break;
      }
      case "unwantedReport": {
        // A container the town does not run says it does: an idle agent's, or an older generation's.
        const agent = pick(
          [...state.agents()].filter((a) => a.generation > 0 && (s.older ? a.generation > 1 : !isLive(a))),
          s.agent,
        );
        if (agent)
          pending.push(
            event({
              type: "container_status",
              agentId: agent.id,
              beadId: null,
              payload: { generation: s.older ? agent.generation - 1 : agent.generation, status: "running" },
            }),
          );
        break;
      }
      case "heartbeat": {
        const agent = pick(agents(), s.agent);
        if (agent) {
          state.replaceObserved({ ...agent, lastHeartbeatAt: now });
          whole.replaceObserved({ ...whole.agent(agent.id)!, lastHeartbeatAt: now });
          heartbeats.push([agent.id, now]);
        }
        break;
      }
      case "pr": {
        const mr = pick(
          beads("merge_request").filter((b) => !isFinished(b)),
          s.bead,
        );
        if (mr) pending.push(event({ type: "pr_status_changed", agentId: null, beadId: mr.id, payload: { status: s.merged ? "merged" : "closed" } }));
        break;
      }
      case "reload": {
        // The object is evicted and loads its working set again (finished beads stay in the archive).
        state = stateFromSnapshot(JSON.parse(JSON.stringify(snapshotOf(state))), archive);
        break;
      }
      case "tick": {
        now += s.ms;
        history.push({ kind: "tick", now, events: pending, heartbeats });
        const focused = focusedTick(state, now, pending, ++tickId, open);
        open = focused.detected;
        stopsOwed += focused.actions.filter(({ action }) => action.type === "request_stop" || action.type === "stop_agent").length;
        const everything = wholeTownTick(whole, now, pending);
        // Looking at what changed and what fell due decides what looking at everything decides.
        expect(recordable(focused.actions), `actions of the tick at +${now - state.town.createdAt} ms`).toEqual(recordable(everything.actions));
        expect(focused.wake, "wake").toEqual(everything.wake);
        expect(content(state)).toEqual(content(whole));
        pending = [];
        heartbeats = [];
        // While a stop is owed for a bead's old container, no new generation works on that bead.
        for (const agent of state.agents()) {
          for (const stop of agent.owedStops) {
            if (stop.beadId)
              expect(state.bead(stop.beadId)?.status, `bead ${stop.beadId} while ${agent.id}@${stop.generation} owes a stop`).not.toBe("in_progress");
          }
        }
        // After a tick (and its repairs) no structural invariant may be broken; the progress ones are
        // found by the focused tick exactly as a look at the whole town finds them.
        const found = checkInvariants(state, now, NO_QUEUE);
        expect(
          found.filter((v) => !WATCHING_PROGRESS.has(v.invariant)),
          `after the tick at +${now - state.town.createdAt} ms`,
        ).toEqual([]);
        expect(progressViolations(focused.detected), `progress invariants at +${now - state.town.createdAt} ms`).toEqual(progressViolations(found));
        for (const v of found) seen.add(v.invariant);
        // The wake is never late: before it, a tick would find nothing to do.
        const last = focused.actions.at(-1);
        if (focused.wake && focused.wake.at > now + 1 && (!last || last.refusal === null)) {
          expect(reconcile(state, now + 1, state.town.config).actions, "just after the tick").toEqual([]);
          expect(reconcile(state, focused.wake.at - 1, state.town.config).actions, `just before the wake (${focused.wake.reason})`).toEqual([]);
        }
        checks += 1;
        break;
      }
    }
  }
  return { state, history, checks, seen };
}

/** Runs a recorded history again from a fresh town. */
function replay(history: readonly Entry[]): TownState {
  const state = freshTown();
  let tickId = 0;
  for (const entry of history) {
    if (entry.kind === "command") {
      applyEvent(state, entry.event, entry.event.createdAt);
      state.commit();
      continue;
    }
    for (const [agentId, at] of entry.heartbeats) {
      const agent = state.agent(agentId);
      if (agent) state.replaceObserved({ ...agent, lastHeartbeatAt: at });
    }
    focusedTick(state, entry.now, entry.events, ++tickId);
  }
  return state;
}

let stopsOwed = 0;

describe("random histories", () => {
  it("keep every invariant, decide alike whether a tick looks at what changed or at everything, never wake late, and replay to the same state", () => {
    let finished = 0;
    stopsOwed = 0;
    const seen = new Set<number>();
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 160 }), (steps) => {
        const live = run(steps);
        expect(live.checks).toBeGreaterThan(0);
        finished += Object.values(live.state.finished).reduce((n, c) => n + c.closed + c.failed, 0);
        for (const invariant of live.seen) seen.add(invariant);
        // Replaying the log (commands, and each tick's events and heartbeats) reproduces the state exactly.
        expect(content(replay(live.history))).toEqual(content(live.state));
      }),
      { seed: 20261122, numRuns: 150 },
    );
    // The histories did take beads all the way out of memory, owed (and settled) stops, and broke both progress invariants.
    expect(finished).toBeGreaterThan(100);
    expect(stopsOwed).toBeGreaterThan(20);
    expect([...seen].sort()).toEqual([11, 12]);
  });
});
