import type { BeadId } from "../domain/ids";
import { AGENT_STATUSES, BEAD_STATUSES, BEAD_TYPES, type Agent, type Bead, type Town } from "../domain/model";
import type { TownRuntime } from "./runtime";

/** How entities look in API responses (camelCase JSON, times in epoch milliseconds). */

export function townView(town: Town) {
  return { id: town.id, config: town.config, overrides: town.overrides, createdAt: town.createdAt, updatedAt: town.updatedAt };
}

export function beadView(bead: Bead) {
  return {
    id: bead.id,
    rigId: bead.rigId,
    type: bead.type,
    status: bead.status,
    title: bead.title,
    priority: bead.priority,
    assignee: bead.assignee,
    held: bead.held,
    dispatchAttempts: bead.dispatchAttempts,
    lastDispatchAt: bead.lastDispatchAt,
    blockedBy: bead.blockedBy,
    ...(bead.type === "merge_request" ? { sourceBeadId: bead.sourceBeadId, branch: bead.branch, prUrl: bead.prUrl, merged: bead.merged } : {}),
    ...(bead.type === "convoy" ? { tracked: bead.tracked } : {}),
    createdAt: bead.createdAt,
    updatedAt: bead.updatedAt,
  };
}

export function agentView(agent: Agent) {
  return { ...agent };
}

/** A bead with what surrounds it: its body, its agent, its blockers, its merge requests or tracked beads. */
export function beadDetails(runtime: TownRuntime, bead: Bead) {
  const { state, repo } = runtime;
  const brief = (id: BeadId) => {
    const other = state.bead(id);
    return { id, status: other?.status ?? "missing" };
  };
  const agent = bead.assignee ? state.agent(bead.assignee) : undefined;
  return {
    bead: { ...beadView(bead), body: repo.beadBody(bead.id) },
    agent: agent ? agentView(agent) : null,
    blockers: bead.blockedBy.map(brief),
    mergeRequests: state.mergeRequestsOf(bead.id).flatMap((id) => {
      const mr = state.bead(id);
      return mr ? [{ id, status: mr.status, merged: mr.merged, branch: mr.branch, prUrl: mr.prUrl }] : [];
    }),
    ...(bead.type === "convoy" ? { tracked: bead.tracked.map(brief) } : {}),
  };
}

/** Agents and beads counted by status (every status present, zeros included, so dashboards see stable fields). */
export function countsByStatus(runtime: TownRuntime) {
  const agents = Object.fromEntries(AGENT_STATUSES.map((s) => [s, 0])) as Record<(typeof AGENT_STATUSES)[number], number>;
  const beads = Object.fromEntries(BEAD_STATUSES.map((s) => [s, 0])) as Record<(typeof BEAD_STATUSES)[number], number>;
  const beadsByType = Object.fromEntries(BEAD_TYPES.map((t) => [t, 0])) as Record<(typeof BEAD_TYPES)[number], number>;
  for (const agent of runtime.state.agents()) agents[agent.status] += 1;
  for (const bead of runtime.state.beads()) {
    beads[bead.status] += 1;
    beadsByType[bead.type] += 1;
  }
  return { agents, beads, beadsByType };
}
