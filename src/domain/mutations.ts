import { stopRetryDelay } from "./deadlines";
import { withReopen } from "./flapping";
import type { AgentId, BeadId } from "./ids";
import { MAX_ERROR_TEXT } from "./format";
import type { Agent, AgentStatus, Bead, BeadFailure, BeadStatus, FailureCode, OwedStop, PausedBy } from "./model";
import { isLive } from "./model";
import { byDay, utcDay } from "./usage";
import type { TownState } from "./state";
import { canTransitionAgent, canTransitionBead } from "./transitions";

/**
 * The small writes that events and actions share. Each one checks the state machine; callers check
 * the expected `from` status before calling.
 */

export class TransitionRefused extends Error {}

export function setBeadStatus(state: TownState, bead: Bead, to: BeadStatus, now: number, patch: Partial<Bead> = {}): Bead {
  if (!canTransitionBead(bead.type, bead.status, to)) {
    throw new TransitionRefused(`${bead.type} ${bead.id}: ${bead.status} → ${to} is not an allowed transition`);
  }
  const reopenedAt = to === "open" && bead.status !== "open" ? withReopen(bead, now, state.town.config) : bead.reopenedAt;
  const next: Bead = { ...bead, ...patch, status: to, reopenedAt, updatedAt: now };
  state.putBead(next);
  markProgress(state, now);
  return next;
}

/** Work moved (a bead changed status): invariant 11 measures its window from here. */
export function markProgress(state: TownState, now: number): void {
  if (state.town.progressAt !== now) state.setTown({ ...state.town, progressAt: now });
}

/** Why a bead (or its attempt) failed, at `now`. */
export function failure(code: FailureCode, message: string, now: number, by: { rule?: string; agentId?: AgentId; generation?: number } = {}): BeadFailure {
  return { at: now, code, message: message.slice(0, MAX_ERROR_TEXT), rule: by.rule ?? null, agentId: by.agentId ?? null, generation: by.generation ?? null };
}

export function setAgentStatus(state: TownState, agent: Agent, to: AgentStatus, now: number, patch: Partial<Agent> = {}): Agent {
  if (!canTransitionAgent(agent.status, to)) {
    throw new TransitionRefused(`agent ${agent.id}: ${agent.status} → ${to} is not an allowed transition`);
  }
  // Leaving working/stalled ends the metered interval, in this same change.
  const metered = isLive(agent) && to !== "working" && to !== "stalled" ? stopMeter(state, agent, now) : agent;
  const next: Agent = { ...metered, ...patch, status: to, statusSince: now, updatedAt: now };
  state.putAgent(next);
  return next;
}

/** The agent lets go of its bead; the bead's assignee follows its hook (invariant 10). */
export function unhookAgent(state: TownState, agent: Agent, now: number): Agent {
  if (agent.hook) {
    const bead = state.bead(agent.hook);
    if (bead && bead.assignee === agent.id) state.putBead({ ...bead, assignee: null, updatedAt: now });
  }
  const next: Agent = { ...agent, hook: null, updatedAt: now };
  state.putAgent(next);
  return next;
}

/** A live agent stops working: its container time is metered, it lets go of its bead and goes idle. */
export function idleAgent(state: TownState, agent: Agent, now: number): Agent {
  return setAgentStatus(state, unhookAgent(state, stopMeter(state, agent, now), now), "idle", now);
}

/**
 * The agent's container runs from `since` (its dispatch succeeded): the meter counts it from then, and
 * the dispatch counts for the day, rig, role and bead. Once per dispatch: a meter already running stays.
 */
export function startMeter(state: TownState, agent: Agent, since: number): Agent {
  if (agent.runningSince !== null || !isLive(agent)) return agent;
  state.recordUsage({ day: utcDay(since), rigId: agent.rigId, role: agent.role, containerMs: 0, dispatches: 1 });
  const bead = agent.hook ? state.liveBead(agent.hook) : undefined;
  if (bead) state.putBead({ ...bead, usage: { ...bead.usage, dispatches: bead.usage.dispatches + 1 } });
  const next: Agent = { ...agent, runningSince: since };
  state.putAgent(next);
  return next;
}

/** The metered interval ends now: its time goes to each UTC day it touched, and to the agent's bead. */
export function stopMeter(state: TownState, agent: Agent, now: number): Agent {
  if (agent.runningSince === null) return agent;
  const from = Math.min(agent.runningSince, now);
  for (const [day, containerMs] of byDay(from, now)) state.recordUsage({ day, rigId: agent.rigId, role: agent.role, containerMs, dispatches: 0 });
  const bead = agent.hook ? state.liveBead(agent.hook) : undefined;
  if (bead) state.putBead({ ...bead, usage: { ...bead.usage, containerMs: bead.usage.containerMs + (now - from) } });
  const next: Agent = { ...agent, runningSince: null };
  state.putAgent(next);
  return next;
}

/** The town pauses (nothing is dispatched while it lasts). An operator's pause outranks the budget's. */
export function pause(state: TownState, by: PausedBy, reason: string, now: number): boolean {
  const town = state.town;
  if (town.paused && (town.paused.by === "operator" || by === "budget")) return false;
  state.setTown({ ...town, paused: { at: now, by, reason }, updatedAt: now });
  return true;
}

/**
 * The town resumes. Only an operator lifts an operator's pause; an operator who lifts the budget's waives
 * the budget for the rest of that UTC day (the next day's budget holds again).
 */
export function resume(state: TownState, by: PausedBy, now: number): string | null {
  const town = state.town;
  if (!town.paused) return "the town is not paused";
  if (town.paused.by === "operator" && by === "budget") return "an operator paused the town: only an operator resumes it";
  const waived = town.paused.by === "budget" && by === "operator";
  const budgetStanding = waived ? { day: utcDay(now), verdict: town.budgetStanding?.verdict ?? "stop", waived: true } : town.budgetStanding;
  state.setTown({ ...town, paused: null, budgetStanding, updatedAt: now });
  // Work may move again: the progress window (invariant 11) starts over.
  markProgress(state, now);
  return null;
}

/** Dispatch failures feed the circuit breaker; only those inside its window are kept. */
export function recordDispatchFailure(state: TownState, now: number): void {
  const town = state.town;
  const windowStart = now - town.config.breaker.windowMs;
  const failures = [...town.breaker.failures.filter((at) => at > windowStart), now];
  state.setTown({ ...town, breaker: { ...town.breaker, failures, lastFailureAt: now }, updatedAt: now });
}

export function recordDispatchSuccess(state: TownState, now: number): void {
  const town = state.town;
  state.setTown({ ...town, breaker: { ...town.breaker, lastSuccessAt: now }, updatedAt: now });
}

/**
 * The agent owes a stop of this generation's container (unless it already does). `requested`: the
 * stop is being asked for now (in flight); else it is due at once (a rule asks for it).
 */
export function oweStop(state: TownState, agent: Agent, generation: number, beadId: BeadId | null, now: number, requested: boolean): Agent {
  if (agent.owedStops.some((stop) => stop.generation === generation)) return agent;
  const stop: OwedStop = { generation, beadId, since: now, attempts: 0, retryAt: requested ? null : now };
  const next: Agent = { ...agent, owedStops: [...agent.owedStops, stop], updatedAt: now };
  state.putAgent(next);
  return next;
}

/** What the service said to a stop: confirmed, it is no longer owed; else it is asked for again later. */
export function settleStop(state: TownState, agent: Agent, generation: number, confirmed: boolean, now: number): boolean {
  const owed = agent.owedStops.find((stop) => stop.generation === generation);
  if (!owed) return false;
  const owedStops = confirmed
    ? agent.owedStops.filter((stop) => stop !== owed)
    : agent.owedStops.map((stop) =>
        stop === owed ? { ...stop, attempts: stop.attempts + 1, retryAt: now + stopRetryDelay(stop.attempts + 1, state.town.config) } : stop,
      );
  state.putAgent({ ...agent, owedStops, updatedAt: now });
  return true;
}
