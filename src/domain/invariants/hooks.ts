import type { BeadId } from "../ids";
import { type Agent, type Bead, isFinished } from "../model";
import type { AgentInvariant, BeadInvariant, Checking, Finding, Repair } from "./invariant";

// Hooks and assignment: what an agent works on, and who works on a bead.

export const HOOK_POINTS_AT_UNFINISHED_BEAD: AgentInvariant = {
  id: 1,
  name: "hookPointsAtUnfinishedBead",
  description: "an agent's hook points at an existing, unfinished bead",
  of: "agent",
  check: hookPointsAtUnfinishedBead,
  repair: unhookFromFinishedBead,
  runbook: "invariants-hooks.md",
};

export const ONE_AGENT_PER_BEAD: BeadInvariant = {
  id: 6,
  name: "oneAgentPerBead",
  description: "at most one agent is hooked to any bead",
  of: "bead",
  check: oneAgentPerBead,
  repair: keepTheAgentHookedFirst,
  runbook: "invariants-hooks.md",
};

export const WORKING_AGENT_HAS_HOOK: AgentInvariant = {
  id: 7,
  name: "workingAgentHasHook",
  description: "a working non-mayor agent has a hook",
  of: "agent",
  check: workingAgentHasHook,
  repair: idleAgentWithoutHook,
  runbook: "invariants-hooks.md",
};

export const ASSIGNEE_IS_HOOKED_AGENT: BeadInvariant = {
  id: 10,
  name: "assigneeIsHookedAgent",
  description: "a bead's assignee is the agent hooked to it",
  of: "bead",
  check: assigneeIsHookedAgent,
  runbook: "invariants-hooks.md",
};

export function hookPointsAtUnfinishedBead(agent: Agent, { state }: Checking): Finding | null {
  if (!agent.hook) return null;
  const bead = state.bead(agent.hook);
  if (bead && !isFinished(bead)) return null;
  return {
    key: agent.id,
    message: `agent ${agent.id} (${agent.status}) is hooked to ${bead ? `${bead.status} bead` : "missing bead"} ${agent.hook}`,
    agentIds: [agent.id],
    beadIds: [agent.hook],
  };
}

/** Nothing is left to do on a finished or missing bead. */
function unhookFromFinishedBead(agent: Agent): Repair[] {
  return [{ reason: "unhook from a finished or missing bead", body: { type: "unhook_agent", agentId: agent.id, beadId: agent.hook! } }];
}

export function oneAgentPerBead(id: BeadId, _bead: Bead | undefined, hooked: readonly Agent[]): Finding | null {
  if (hooked.length <= 1) return null;
  return {
    key: id,
    message: `bead ${id} has ${hooked.length} agents hooked: ${hooked.map((a) => a.id).join(", ")}`,
    agentIds: hooked.map((a) => a.id),
    beadIds: [id],
  };
}

/** The agent hooked earliest keeps the bead: it has worked on it longest. */
function keepTheAgentHookedFirst(id: BeadId, _bead: Bead | undefined, hooked: readonly Agent[]): Repair[] {
  const [keep, ...others] = [...hooked].sort((a, b) => (a.dispatchedAt ?? a.createdAt) - (b.dispatchedAt ?? b.createdAt) || (a.id < b.id ? -1 : 1));
  return others.map((agent) => ({ reason: `keep ${keep!.id}, hooked first`, body: { type: "unhook_agent", agentId: agent.id, beadId: id } }));
}

/** The mayor works without a bead; every other agent works on its hook. */
export function workingAgentHasHook(agent: Agent): Finding | null {
  if (agent.hook || agent.status !== "working" || agent.role === "mayor") return null;
  return { key: agent.id, message: `agent ${agent.id} is working with no hook`, agentIds: [agent.id] };
}

function idleAgentWithoutHook(agent: Agent): Repair[] {
  return [{ reason: "working with nothing to work on", body: { type: "transition_agent", agentId: agent.id, from: "working", to: "idle" } }];
}

/** Seen from either side: a hooked agent that is not the assignee, or an assignee with nothing hooked. */
export function assigneeIsHookedAgent(id: BeadId, bead: Bead | undefined, hooked: readonly Agent[]): Finding | null {
  if (!bead) return null;
  if (hooked.length > 0 && (bead.assignee === null || !hooked.some((a) => a.id === bead.assignee))) {
    return {
      key: id,
      message: `bead ${id} has assignee ${bead.assignee ?? "none"} but hooked agents [${hooked.map((a) => a.id).join(", ")}]`,
      agentIds: [...(bead.assignee ? [bead.assignee] : []), ...hooked.map((a) => a.id)],
      beadIds: [id],
    };
  }
  if (hooked.length === 0 && bead.assignee !== null) {
    return { key: id, message: `bead ${id} has assignee ${bead.assignee} but no agent is hooked to it`, agentIds: [bead.assignee], beadIds: [id] };
  }
  return null;
}
