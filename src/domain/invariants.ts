import type { Action, ActionBody } from "./actions";
import type { ActionResult } from "./advance";
import { applyAction } from "./apply-action";
import type { AgentId, BeadId } from "./ids";
import { isLive, isTerminal, type Agent } from "./model";
import type { TownState } from "./state";

/** What the queue looks like, for the invariants about it (the log is not part of the state). */
export interface QueueFacts {
  readonly oldestPendingAt: number | null;
  readonly dead: number;
}

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
};

/**
 * Checks every invariant of DESIGN §4.5 against the state. Pure: the caller applies the repairs and
 * decides what to report. Rules should never leave a violation behind; these catch what they missed.
 */
export function checkInvariants(state: TownState, now: number, queue: QueueFacts): Violation[] {
  const out: Violation[] = [];
  const violation = (invariant: number, key: string, message: string, ids: { agents?: AgentId[]; beads?: BeadId[] }, repairs: Action[] = []) =>
    out.push({ invariant, key: `${invariant}:${key}`, message, agentIds: ids.agents ?? [], beadIds: ids.beads ?? [], repairs });

  // 1 and 7: agents.
  for (const agent of state.agents()) {
    if (agent.hook) {
      const bead = state.bead(agent.hook);
      if (!bead || isTerminal(bead)) {
        violation(1, agent.id, `agent ${agent.id} (${agent.status}) is hooked to ${bead ? `${bead.status} bead` : "missing bead"} ${agent.hook}`, { agents: [agent.id], beads: [agent.hook] }, [
          repair(1, "unhook from a finished or missing bead", { type: "unhook_agent", agentId: agent.id, beadId: agent.hook }),
        ]);
      }
    } else if (agent.status === "working" && agent.role !== "mayor") {
      violation(7, agent.id, `agent ${agent.id} is working with no hook`, { agents: [agent.id] }, [
        repair(7, "working with nothing to work on", { type: "transition_agent", agentId: agent.id, from: "working", to: "idle" }),
      ]);
    }
  }

  const hookedTo = (beadId: BeadId): Agent[] =>
    state.agentsHookedTo(beadId).map((id) => state.agent(id)).filter((a): a is Agent => a !== undefined);

  // 2: an in-progress issue has exactly one live agent. 3: one merge request in progress per rig.
  const inProgressByRig = new Map<string, BeadId[]>();
  for (const bead of state.beadsWith("in_progress")) {
    if (bead.type === "issue") {
      const live = hookedTo(bead.id).filter(isLive);
      if (live.length !== 1) {
        violation(2, bead.id, `in-progress issue ${bead.id} has ${live.length} live agents hooked`, { beads: [bead.id], agents: live.map((a) => a.id) });
      }
    } else if (bead.type === "merge_request" && bead.rigId) {
      const list = inProgressByRig.get(bead.rigId) ?? [];
      list.push(bead.id);
      inProgressByRig.set(bead.rigId, list);
    } else if (bead.type === "convoy") {
      violation(5, bead.id, `convoy ${bead.id} has status in_progress, which convoys never take`, { beads: [bead.id] });
    }
  }
  for (const [rigId, beads] of inProgressByRig) {
    if (beads.length > 1) violation(3, rigId, `rig ${rigId} has ${beads.length} merge requests in progress: ${beads.join(", ")}`, { beads });
  }

  // 4: an issue in review has a merge request still in play.
  for (const bead of state.beadsWith("in_review")) {
    if (bead.type === "convoy") {
      violation(5, bead.id, `convoy ${bead.id} has status in_review, which convoys never take`, { beads: [bead.id] });
      continue;
    }
    if (bead.type !== "issue") continue;
    const active = state.mergeRequestsOf(bead.id).some((id) => {
      const status = state.bead(id)?.status;
      return status === "open" || status === "in_progress";
    });
    if (!active) {
      violation(4, bead.id, `issue ${bead.id} is in review with no open or in-progress merge request`, { beads: [bead.id] }, [
        repair(4, "in review with nothing to review", { type: "transition_bead", beadId: bead.id, from: "in_review", to: "open" }),
      ]);
    }
  }


  // 6: one agent per bead, keeping the one hooked earliest. 10 (hooked side): the assignee is a hooked agent.
  for (const beadId of state.hookedBeads()) {
    const bead = state.bead(beadId);
    const hooked = hookedTo(beadId);
    if (hooked.length > 1) {
      const [keep, ...others] = [...hooked].sort((a, b) => (a.dispatchedAt ?? a.createdAt) - (b.dispatchedAt ?? b.createdAt) || (a.id < b.id ? -1 : 1));
      violation(
        6,
        beadId,
        `bead ${beadId} has ${hooked.length} agents hooked: ${hooked.map((a) => a.id).join(", ")}`,
        { beads: [beadId], agents: hooked.map((a) => a.id) },
        others.map((agent) => repair(6, `keep ${keep!.id}, hooked first`, { type: "unhook_agent", agentId: agent.id, beadId })),
      );
    }
    if (bead && (bead.assignee === null || !hooked.some((a) => a.id === bead.assignee))) {
      violation(10, beadId, `bead ${beadId} has assignee ${bead.assignee ?? "none"} but hooked agents [${hooked.map((a) => a.id).join(", ")}]`, {
        beads: [beadId],
        agents: [...(bead.assignee ? [bead.assignee] : []), ...hooked.map((a) => a.id)],
      });
    }
  }
  // One pass over every bead, with cheap checks first: 10 (assignee side), and 5 for closed convoys.
  for (const bead of state.beads()) {
    if (bead.assignee !== null && state.agentsHookedTo(bead.id).length === 0) {
      violation(10, bead.id, `bead ${bead.id} has assignee ${bead.assignee} but no agent is hooked to it`, { beads: [bead.id], agents: [bead.assignee] });
    }
    if (bead.type === "convoy" && bead.status === "closed") {
      const unfinished = bead.tracked.filter((id) => {
        const tracked = state.bead(id);
        return !tracked || !isTerminal(tracked);
      });
      if (unfinished.length > 0) {
        violation(5, bead.id, `closed convoy ${bead.id} tracks unfinished beads ${unfinished.join(", ")}`, { beads: [bead.id, ...unfinished] });
      }
    }
  }

  // 8 and 9: the queue.
  const maxAge = state.town.config.maxEventAgeMs;
  if (queue.oldestPendingAt !== null && now - queue.oldestPendingAt > maxAge) {
    violation(8, "queue", `the oldest pending event waited ${Math.round((now - queue.oldestPendingAt) / 1000)}s (limit ${maxAge / 1000}s)`, {});
  }
  if (queue.dead > 0) violation(9, "dead", `${queue.dead} event(s) are dead-lettered`, {});

  return out.sort((a, b) => a.invariant - b.invariant || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function repair(invariant: number, reason: string, body: ActionBody): Action {
  return { ...body, rule: `invariant.${invariant}`, reason } as Action;
}

/** Checks the invariants, then applies the safe repairs (what a tick does after its rules). */
export function enforceInvariants(state: TownState, now: number, queue: QueueFacts): { detected: Violation[]; repairs: ActionResult[] } {
  const detected = checkInvariants(state, now, queue);
  const repairs = detected.flatMap((v) => v.repairs).map((action) => {
    const outcome = applyAction(state, action, now);
    return { action, refusal: outcome.applied ? null : outcome.refusal };
  });
  return { detected, repairs };
}
