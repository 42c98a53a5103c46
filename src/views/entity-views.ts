import type { StoredEvent } from "../db/event-store";
import type { BeadId } from "../domain/ids";
import { AGENT_STATUSES, BEAD_STATUSES, BEAD_TYPES, type Agent, type Bead, type Rig, type Town } from "../domain/model";
import type { TownState } from "../domain/state";
import { shownEventId } from "../db/event-rows";
import type { TownRuntime } from "../town/runtime";
import { beadUsageView } from "./usage-view";

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
    /** When it went back to open, within the flapping window (invariant 12). */
    reopenedAt: bead.reopenedAt,
    blockedBy: bead.blockedBy,
    /** Why it (or its last attempt) last failed: `{ at, code, message, rule, agentId, generation }`, or null. */
    lastFailure: bead.lastFailure,
    /** Container seconds of its finished attempts (a running one counts when it ends) and the dispatches that started a container. */
    usage: beadUsageView(bead),
    ...(bead.type === "merge_request" ? { sourceBeadId: bead.sourceBeadId, branch: bead.branch, prUrl: bead.prUrl, merged: bead.merged } : {}),
    ...(bead.type === "convoy" ? { tracked: bead.tracked } : {}),
    createdAt: bead.createdAt,
    updatedAt: bead.updatedAt,
  };
}

export function rigView(rig: Rig) {
  return { id: rig.id, name: rig.name, gitUrl: rig.gitUrl, defaultBranch: rig.defaultBranch, createdAt: rig.createdAt, updatedAt: rig.updatedAt };
}

export function agentView(agent: Agent) {
  return { ...agent };
}

/** A bead with what surrounds it: its body, its agent, its blockers, its merge requests or tracked beads. */
export function beadDetails(runtime: TownRuntime, bead: Bead, body: string | null) {
  const { state } = runtime;
  const brief = (id: BeadId) => {
    const other = state.bead(id);
    return { id, status: other?.status ?? "missing" };
  };
  const agent = bead.assignee ? state.agent(bead.assignee) : undefined;
  // A finished issue's merge requests are no longer indexed in memory: storage lists them.
  const mergeRequests = state.liveBead(bead.id)
    ? state.mergeRequestsOf(bead.id).flatMap((id) => state.bead(id) ?? [])
    : bead.type === "issue"
      ? runtime.store.state.mergeRequestsOf(bead.id)
      : [];
  return {
    bead: { ...beadView(bead), body },
    agent: agent ? agentView(agent) : null,
    blockers: bead.blockedBy.map(brief),
    mergeRequests: mergeRequests.map((mr) => ({ id: mr.id, status: mr.status, merged: mr.merged, branch: mr.branch, prUrl: mr.prUrl })),
    ...(bead.type === "convoy" ? { tracked: bead.tracked.map(brief) } : {}),
  };
}

/**
 * Agents and beads counted by status and beads by type (every status present, zeros included, so
 * dashboards see stable fields): the working set's indexes plus the archive's counts, no walk.
 */
export function countsByStatus(state: TownState) {
  const agents = Object.fromEntries(AGENT_STATUSES.map((s) => [s, state.countAgentsWith(s)])) as Record<(typeof AGENT_STATUSES)[number], number>;
  const beads = Object.fromEntries(BEAD_STATUSES.map((s) => [s, state.countWith(s)])) as Record<(typeof BEAD_STATUSES)[number], number>;
  const beadsByType = Object.fromEntries(BEAD_TYPES.map((t) => [t, state.countOfType(t)])) as Record<(typeof BEAD_TYPES)[number], number>;
  for (const type of BEAD_TYPES) {
    const finished = state.finished[type];
    beads.closed += finished.closed;
    beads.failed += finished.failed;
    beadsByType[type] += finished.closed + finished.failed;
  }
  return { agents, beads, beadsByType };
}

/** A logged event as the debug listing shows it: the id as its author knows it, the payload parsed where it parses. */
export function loggedEventView(event: StoredEvent) {
  return { ...event, ...shownEventId(event.eventId), payload: parsedOrText(event.payload) };
}

function parsedOrText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
