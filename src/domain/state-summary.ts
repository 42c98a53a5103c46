import { isFinished } from "./model";
import type { TownState } from "./state";

/**
 * The state in brief, as replay reports it and as tests compare it: every agent and every bead still
 * in play (observation times left out: they arrive between ticks), with counts of the finished ones.
 */
export function stateSummary(state: TownState) {
  const agents = [...state.agents()]
    .map((a) => ({
      id: a.id,
      rigId: a.rigId,
      role: a.role,
      status: a.status,
      statusSince: a.statusSince,
      hook: a.hook,
      generation: a.generation,
      dispatchAttempts: a.dispatchAttempts,
      containerStatus: a.containerStatus,
      owedStops: a.owedStops.map((stop) => stop.generation),
      runningSince: a.runningSince,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const beads = [...state.beads()]
    .filter((b) => !isFinished(b))
    .map((b) => ({
      id: b.id,
      type: b.type,
      status: b.status,
      assignee: b.assignee,
      priority: b.priority,
      dispatchAttempts: b.dispatchAttempts,
      lastDispatchAt: b.lastDispatchAt,
      held: b.held,
      blockedBy: b.blockedBy,
      usage: b.usage,
    }))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const finished = { closed: state.countWith("closed"), failed: state.countWith("failed") };
  for (const byStatus of Object.values(state.finished)) {
    finished.closed += byStatus.closed;
    finished.failed += byStatus.failed;
  }
  // What the usage meter counted ever (closed intervals), summed: replay must count the same.
  const usage = { containerMs: 0, dispatches: 0 };
  for (const row of state.usageAllTime()) {
    usage.containerMs += row.containerMs;
    usage.dispatches += row.dispatches;
  }
  return { breaker: state.town.breaker.status, paused: state.town.paused?.by ?? null, agents, beads, finishedBeads: finished, usage };
}
