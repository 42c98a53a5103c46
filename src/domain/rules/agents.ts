import { collectionDeadline, graceEnd, heartbeatDeadline, purgeDeadline, reportedSinceDispatch, stallDeadline } from "../deadlines";
import type { Agent } from "../model";
import { isFinished, owesStop } from "../model";
import type { Plan } from "../plan";
import { iso, seconds } from "../format";

/** A working agent whose heartbeats stopped becomes `stalled`. */
export function detectStall(plan: Plan): void {
  const { now, config } = plan;
  for (const agent of plan.agentsWith("working")) {
    if (now < heartbeatDeadline(agent, config) || !plan.claimAgent(agent.id)) continue;
    const last = agent.lastHeartbeatAt === null ? "no heartbeat yet" : `last heartbeat ${iso(agent.lastHeartbeatAt)}`;
    plan.emit("agents.detectStall", `${last}; timeout ${seconds(config.heartbeatTimeoutMs)} after the cold-start grace`, {
      type: "transition_agent",
      agentId: agent.id,
      from: "working",
      to: "stalled",
    });
  }
}

/** A stalled agent that heartbeats again is working again. */
export function resumeHeartbeat(plan: Plan): void {
  for (const agent of plan.agentsWith("stalled")) {
    if (agent.lastHeartbeatAt === null || agent.lastHeartbeatAt <= agent.statusSince) continue;
    if (!plan.claimAgent(agent.id)) continue;
    plan.emit("agents.resumeHeartbeat", `heartbeat at ${iso(agent.lastHeartbeatAt)} after stalling at ${iso(agent.statusSince)}`, {
      type: "transition_agent",
      agentId: agent.id,
      from: "stalled",
      to: "working",
    });
  }
}

/** Stalled for longer than the stall timeout: stop it; its bead is reopened by `beads.reopenOrphaned`. */
export function stopStalled(plan: Plan): void {
  const { now, config } = plan;
  for (const agent of plan.agentsWith("stalled")) {
    if (now < stallDeadline(agent, config) || !plan.claimAgent(agent.id)) continue;
    plan.emit("agents.stopStalled", `stalled since ${iso(agent.statusSince)}, over the ${seconds(config.stallTimeoutMs)} stall timeout`, {
      type: "stop_agent",
      agentId: agent.id,
      from: "stalled",
      generation: agent.generation,
    });
  }
}

/**
 * The container of a live agent exited or errored, or was not found once the cold-start grace is over:
 * the agent is released (no stop call: there is nothing to stop) and the loss counts against the breaker.
 * Only statuses observed since the current dispatch count.
 */
export function recoverLostContainer(plan: Plan): void {
  const { now, config } = plan;
  for (const agent of liveAgents(plan)) {
    const status = agent.containerStatus;
    if (status !== "exited" && status !== "error" && status !== "not_found") continue;
    if (!reportedSinceDispatch(agent)) continue;
    if (status === "not_found" && now < graceEnd(agent, config)) continue;
    if (!plan.claimAgent(agent.id)) continue;
    plan.emit("agents.recoverLostContainer", `container ${status} since ${iso(agent.containerStatusSince!)}`, {
      type: "release_agent",
      agentId: agent.id,
      from: agent.status,
      generation: agent.generation,
    });
  }
}

/** A live agent whose bead was cancelled or finished elsewhere is stopped. */
export function stopOrphaned(plan: Plan): void {
  for (const agent of liveAgents(plan)) {
    if (!agent.hook) continue;
    const bead = plan.state.bead(agent.hook);
    if (bead && !isFinished(bead)) continue;
    if (!plan.claimAgent(agent.id)) continue;
    plan.emit("agents.stopOrphaned", bead ? `its bead ${bead.id} is ${bead.status}` : `its bead ${agent.hook} does not exist`, {
      type: "stop_agent",
      agentId: agent.id,
      from: agent.status,
      generation: agent.generation,
    });
  }
}

/** An idle agent still hooked to a finished bead lets go of it. */
export function unhookTerminal(plan: Plan): void {
  for (const agent of plan.agentsWith("idle")) {
    if (!agent.hook) continue;
    const bead = plan.state.bead(agent.hook);
    if (bead && !isFinished(bead)) continue;
    if (!plan.claimAgent(agent.id)) continue;
    plan.emit("agents.unhookTerminal", bead ? `idle and hooked to ${bead.status} bead` : "idle and hooked to a missing bead", {
      type: "unhook_agent",
      agentId: agent.id,
      beadId: agent.hook,
    });
  }
}

/** Idle agents with no work for a day are garbage-collected (kept as `dead` tombstones). */
export function collectIdle(plan: Plan): void {
  const { now, config } = plan;
  for (const agent of plan.agentsWith("idle")) {
    // One that owes a stop stays until it is confirmed (its old container must not be forgotten).
    if (agent.hook || owesStop(agent) || plan.isAgentClaimed(agent.id) || now < collectionDeadline(agent, config)) continue;
    plan.claimAgent(agent.id);
    plan.emit("agents.collectIdle", `idle since ${iso(agent.statusSince)}`, {
      type: "transition_agent",
      agentId: agent.id,
      from: "idle",
      to: "dead",
    });
  }
}

/**
 * A tombstone past its retention is forgotten. Agent ids are never reused (a rig's sequence only grows),
 * so a late callback from its container is still refused afterwards: as an unknown agent, not a retired one.
 */
export function purgeTombstone(plan: Plan): void {
  const { now, config } = plan;
  for (const agent of plan.agentsWith("dead")) {
    if (owesStop(agent) || now < purgeDeadline(agent, config) || !plan.claimAgent(agent.id)) continue;
    plan.emit("agents.purgeTombstone", `dead since ${iso(agent.statusSince)}, past the ${seconds(config.tombstoneRetentionMs)} retention`, {
      type: "purge_agent",
      agentId: agent.id,
    });
  }
}

/**
 * A stop the service did not confirm is asked for again when its backoff is over, for as long as it
 * takes (DESIGN §4.4): a container the town stopped must not be left running because a call failed.
 */
export function retryStop(plan: Plan): void {
  const { now } = plan;
  for (const agent of plan.agentsInView()) {
    for (const stop of agent.owedStops) {
      if (stop.retryAt === null || now < stop.retryAt) continue;
      plan.emit("agents.retryStop", `stop of generation ${stop.generation} owed since ${iso(stop.since)}; ${stop.attempts} request(s) not confirmed`, {
        type: "request_stop",
        agentId: agent.id,
        generation: stop.generation,
      });
    }
  }
}

function liveAgents(plan: Plan): Agent[] {
  return [...plan.agentsWith("working"), ...plan.agentsWith("stalled")];
}
