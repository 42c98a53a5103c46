import type { Action, ActionBody } from "./actions";
import type { ActionResult } from "./advance";
import { applyAction } from "./apply-action";
import { isFlapping, reopensWithin } from "./flapping";
import { stalledWork } from "./progress";
import type { AgentId, BeadId } from "./ids";
import { isLive, isFinished, type Agent } from "./model";
import type { QueueFacts } from "./queue";
import type { TownState } from "./state";
import type { Touched, Focus } from "./focus";
import { SWEEP_BUCKETS } from "./work-index";

export interface Violation {
  readonly invariant: number;
  /** Stable identity: the same problem in the next tick has the same key. */
  readonly key: string;
  readonly message: string;
  readonly agentIds: readonly AgentId[];
  readonly beadIds: readonly BeadId[];
  /** Actions that put it right, where that is safe (invariants 1, 4, 6, 7). */
  readonly repairs: readonly Action[];
}

export const INVARIANTS: Readonly<Record<number, string>> = {
  1: "an agent's hook points at an existing, non-terminal bead",
  2: "an in-progress issue has exactly one hooked agent that is working or stalled",
  3: "at most one merge request is in progress per rig",
  4: "an in-review issue has at least one open or in-progress merge request",
  5: "a convoy's status is valid, and a closed convoy tracks only terminal beads",
  6: "at most one agent is hooked to any bead",
  7: "a working non-mayor agent has a hook",
  8: "no pending event is older than the maximum event age",
  9: "there are no dead-lettered events",
  10: "a bead's assignee is the agent hooked to it",
  11: "work moves: while work waits and the breaker is closed, some bead changes status within the progress window",
  12: "no flapping: a bead goes back to open at most the set number of times within the flapping window",
};

/**
 * Checks the invariants of DESIGN §4.5. Pure: the caller applies the repairs and decides what to report.
 * Rules should never leave a violation behind; these catch what they missed.
 *
 * `focus` is what to look at (default: the whole working set). A tick checks what changed since the
 * last tick with what that touched, the entities of violations still open (so a resolution is seen),
 * and one bucket of the rolling sweep (so a violation made outside any tick is found within
 * SWEEP_BUCKETS ticks). Per-rig, queue and town invariants (3, 8, 9, 11) are checked every time: they
 * cost nothing. Invariant 12 is about one bead, and a bead that reopens has changed, so it is in focus.
 */
export function checkInvariants(state: TownState, now: number, queue: QueueFacts, focus: Focus = "all"): Violation[] {
  const out: Violation[] = [];
  const config = state.town.config;
  const violation = (invariant: number, key: string, message: string, ids: { agents?: AgentId[]; beads?: BeadId[] }, repairs: Action[] = []) =>
    out.push({ invariant, key: `${invariant}:${key}`, message, agentIds: ids.agents ?? [], beadIds: ids.beads ?? [], repairs });
  const hookedTo = (beadId: BeadId): Agent[] =>
    state
      .agentsHookedTo(beadId)
      .map((id) => state.agent(id))
      .filter((a): a is Agent => a !== undefined);

  // The agents and beads to look at: a bead is looked at with the agents hooked to it, and the other way round.
  const agents = new Set<AgentId>();
  const beads = new Set<BeadId>();
  if (focus === "all") {
    for (const agent of state.agents()) agents.add(agent.id);
    for (const bead of state.beads()) beads.add(bead.id);
    for (const id of state.hookedBeads()) beads.add(id);
  } else {
    for (const id of focus.agents) agents.add(id);
    for (const id of focus.beads) beads.add(id);
  }
  for (const id of agents) {
    const hook = state.agent(id)?.hook;
    if (hook) beads.add(hook);
  }

  // 1 and 7: agents.
  for (const id of agents) {
    const agent = state.agent(id);
    if (!agent) continue;
    if (agent.hook) {
      const bead = state.bead(agent.hook);
      if (!bead || isFinished(bead)) {
        violation(
          1,
          agent.id,
          `agent ${agent.id} (${agent.status}) is hooked to ${bead ? `${bead.status} bead` : "missing bead"} ${agent.hook}`,
          { agents: [agent.id], beads: [agent.hook] },
          [repair(1, "unhook from a finished or missing bead", { type: "unhook_agent", agentId: agent.id, beadId: agent.hook })],
        );
      }
    } else if (agent.status === "working" && agent.role !== "mayor") {
      violation(7, agent.id, `agent ${agent.id} is working with no hook`, { agents: [agent.id] }, [
        repair(7, "working with nothing to work on", { type: "transition_agent", agentId: agent.id, from: "working", to: "idle" }),
      ]);
    }
  }

  for (const id of beads) {
    const hooked = hookedTo(id);
    // 6: one agent per bead, keeping the one hooked earliest.
    if (hooked.length > 1) {
      const [keep, ...others] = [...hooked].sort((a, b) => (a.dispatchedAt ?? a.createdAt) - (b.dispatchedAt ?? b.createdAt) || (a.id < b.id ? -1 : 1));
      violation(
        6,
        id,
        `bead ${id} has ${hooked.length} agents hooked: ${hooked.map((a) => a.id).join(", ")}`,
        { beads: [id], agents: hooked.map((a) => a.id) },
        others.map((agent) => repair(6, `keep ${keep!.id}, hooked first`, { type: "unhook_agent", agentId: agent.id, beadId: id })),
      );
    }
    const bead = state.bead(id);
    if (!bead) continue;
    // 12: a bead going round in circles.
    if (isFlapping(bead, now, config)) {
      const { maxReopens, windowMs } = config.flapping;
      violation(12, id, `bead ${id} went back to open ${reopensWithin(bead, now, config)} times within ${minutes(windowMs)} min (limit ${maxReopens})`, {
        beads: [id],
      });
    }
    // 10: the assignee is the agent hooked to the bead, from either side.
    if (hooked.length > 0 && (bead.assignee === null || !hooked.some((a) => a.id === bead.assignee))) {
      violation(10, id, `bead ${id} has assignee ${bead.assignee ?? "none"} but hooked agents [${hooked.map((a) => a.id).join(", ")}]`, {
        beads: [id],
        agents: [...(bead.assignee ? [bead.assignee] : []), ...hooked.map((a) => a.id)],
      });
    } else if (hooked.length === 0 && bead.assignee !== null) {
      violation(10, id, `bead ${id} has assignee ${bead.assignee} but no agent is hooked to it`, { beads: [id], agents: [bead.assignee] });
    }
    if (bead.type === "convoy") {
      // 5: convoys are open or finished, and a closed one tracks only finished beads.
      if (bead.status === "in_progress" || bead.status === "in_review") {
        violation(5, id, `convoy ${id} has status ${bead.status}, which convoys never take`, { beads: [id] });
      } else if (bead.status === "closed") {
        const unfinished = state.unfinishedTracked(bead);
        if (unfinished.length > 0) {
          violation(5, id, `closed convoy ${id} tracks unfinished beads ${unfinished.join(", ")}`, { beads: [id, ...unfinished] });
        }
      }
    } else if (bead.type === "issue" && bead.status === "in_progress") {
      // 2: an in-progress issue has exactly one live agent.
      const live = hooked.filter(isLive);
      if (live.length !== 1) {
        violation(2, id, `in-progress issue ${id} has ${live.length} live agents hooked`, { beads: [id], agents: live.map((a) => a.id) });
      }
    } else if (bead.type === "issue" && bead.status === "in_review") {
      // 4: an issue in review has a merge request still in play.
      const active = state.mergeRequestsOf(id).some((mr) => {
        const status = state.bead(mr)?.status;
        return status === "open" || status === "in_progress";
      });
      if (!active) {
        violation(4, id, `issue ${id} is in review with no open or in-progress merge request`, { beads: [id] }, [
          repair(4, "in review with nothing to review", { type: "transition_bead", beadId: id, from: "in_review", to: "open" }),
        ]);
      }
    }
  }

  // 3: one merge request in progress per rig.
  for (const rigId of state.work.rigIds()) {
    const reviewing = [...state.work.rig(rigId)!.reviewing].map((mr) => mr.id);
    if (reviewing.length > 1)
      violation(3, rigId, `rig ${rigId} has ${reviewing.length} merge requests in progress: ${reviewing.join(", ")}`, { beads: reviewing });
  }

  // 8 and 9: the queue.
  const maxAge = state.town.config.maxEventAgeMs;
  if (queue.oldestPendingAgeMs !== null && queue.oldestPendingAgeMs > maxAge) {
    violation(8, "queue", `the oldest pending event waited ${Math.round(queue.oldestPendingAgeMs / 1000)}s (limit ${maxAge / 1000}s)`, {});
  }
  if (queue.dead > 0) violation(9, "dead", `${queue.dead} event(s) are dead-lettered`, {});

  // 11: the town as a whole — work waits, nothing moves.
  const stalled = stalledWork(state, now);
  if (stalled) {
    violation(
      11,
      "town",
      `${stalled.waiting} bead(s) wait to be dispatched or reviewed and no bead has changed status for ${minutes(now - stalled.since)} min (window ${minutes(config.progressWindowMs)} min); longest waiting: ${stalled.oldest.id}`,
      { beads: [stalled.oldest.id] },
    );
  }

  return out.sort((a, b) => a.invariant - b.invariant || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/**
 * What a tick checks: what changed since the last tick (with what that touched), the entities of the
 * violations still open, and bucket `tickId mod SWEEP_BUCKETS` of the rolling sweep.
 */
export function invariantFocus(
  state: TownState,
  tickId: number,
  open: Iterable<{ readonly agentIds: readonly string[]; readonly beadIds: readonly string[] }>,
): Touched {
  const changed = state.changedSinceTick();
  const bucket = ((tickId % SWEEP_BUCKETS) + SWEEP_BUCKETS) % SWEEP_BUCKETS;
  const agents = new Set<AgentId>(changed.agents);
  const beads = new Set<BeadId>(changed.beads);
  for (const id of state.work.agentsInBucket(bucket)) agents.add(id);
  for (const id of state.work.beadsInBucket(bucket)) beads.add(id);
  for (const violation of open) {
    for (const id of violation.agentIds) agents.add(id as AgentId);
    for (const id of violation.beadIds) beads.add(id as BeadId);
  }
  return { agents, beads };
}

const minutes = (ms: number): number => Math.round(ms / 6_000) / 10;

function repair(invariant: number, reason: string, body: ActionBody): Action {
  return { ...body, rule: `invariant.${invariant}`, reason } as Action;
}

/** Checks the invariants, then applies the safe repairs (what a tick does after its rules). */
export function enforceInvariants(state: TownState, now: number, queue: QueueFacts, focus: Focus = "all"): { detected: Violation[]; repairs: ActionResult[] } {
  const detected = checkInvariants(state, now, queue, focus);
  const repairs = detected
    .flatMap((v) => v.repairs)
    .map((action) => {
      const outcome = applyAction(state, action, now);
      return { action, refusal: outcome.applied ? null : outcome.refusal };
    });
  return { detected, repairs };
}
