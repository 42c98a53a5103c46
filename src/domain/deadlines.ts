import { doublingDelay } from "./backoff";
import type { TownConfig } from "./config";
import { flappingEnds } from "./flapping";
import type { Agent, Bead, Town } from "./model";

/**
 * When a rule may next act on an entity on its own, with nothing else changing: the moments time alone
 * brings (a heartbeat timeout, a stall timeout, the end of a cold-start grace, a backoff, a collection).
 * Pure functions of the entity and the config, so the state keeps them in an index as entities change,
 * a tick looks only at entities whose moment came, and the next alarm is the earliest moment to come.
 * The rules use these same functions for their "not yet" checks: the two cannot drift apart.
 */

export type DeadlineKind = "heartbeat" | "stall" | "grace" | "collect" | "purge" | "stop" | "backoff" | "flapping" | "breaker" | "progress" | "budget";

/** The kind that sorts first (range queries start from it). */
export const FIRST_KIND: DeadlineKind = "backoff";

const AGENT_KINDS: ReadonlySet<DeadlineKind> = new Set(["heartbeat", "stall", "grace", "collect", "purge", "stop"]);

export interface Deadline {
  readonly at: number;
  readonly kind: DeadlineKind;
  /** The agent or bead it belongs to ("town" for the breaker and the progress window). */
  readonly id: string;
}

const TOWN_KINDS: ReadonlySet<DeadlineKind> = new Set(["breaker", "progress", "budget"]);

/** Whether a deadline belongs to an agent (else to a bead, or the town). */
export const isAgentDeadline = (deadline: Deadline): boolean => AGENT_KINDS.has(deadline.kind);

/** Whether a deadline belongs to the town itself (its breaker, its progress window, its budget). */
export const isTownDeadline = (deadline: Deadline): boolean => TOWN_KINDS.has(deadline.kind);

/** When a working agent must have sent a heartbeat by: its last one plus the timeout, never inside the cold-start grace. */
export function heartbeatDeadline(agent: Agent, config: TownConfig): number {
  const fromHeartbeat = agent.lastHeartbeatAt === null ? -Infinity : agent.lastHeartbeatAt + config.heartbeatTimeoutMs;
  const fromDispatch = (agent.dispatchedAt ?? agent.statusSince) + config.coldStartGraceMs;
  return Math.max(fromHeartbeat, fromDispatch);
}

/** When a stalled agent is stopped. */
export const stallDeadline = (agent: Agent, config: TownConfig): number => agent.statusSince + config.stallTimeoutMs;

/** When an idle agent with nothing to do is collected. */
export const collectionDeadline = (agent: Agent, config: TownConfig): number => agent.statusSince + config.idleAgentGcMs;

/** When a dead agent's tombstone is forgotten. */
export const purgeDeadline = (agent: Agent, config: TownConfig): number => agent.statusSince + config.tombstoneRetentionMs;

/** When a live agent's cold-start grace ends (a container reported `not_found` during it is only then held against it). */
export const graceEnd = (agent: Agent, config: TownConfig): number => (agent.dispatchedAt ?? 0) + config.coldStartGraceMs;

/** A `not_found` (or failure) report about the current dispatch's container, as opposed to an older one. */
export const reportedSinceDispatch = (agent: Agent): boolean =>
  agent.containerStatusSince !== null && agent.dispatchedAt !== null && agent.containerStatusSince >= agent.dispatchedAt;

/** How long to wait after the n-th dispatch before the next one. */
export function dispatchBackoff(attempts: number, config: TownConfig): number {
  return doublingDelay(attempts, config.dispatchBackoffBaseMs, config.dispatchBackoffMaxMs);
}

/** When an open bead's backoff after its last dispatch ends (null: it was never dispatched). */
export const backoffEnd = (bead: Bead, config: TownConfig): number | null =>
  bead.lastDispatchAt === null ? null : bead.lastDispatchAt + dispatchBackoff(bead.dispatchAttempts, config);

/** How long to wait after the n-th failed request to stop a container. */
export const stopRetryDelay = (attempts: number, config: TownConfig): number =>
  doublingDelay(Math.max(1, attempts), config.stopRetryBaseMs, config.stopRetryMaxMs);

/** An agent's moments: by its status, and when each stop it owes is to be asked for again. */
export function agentDeadlines(agent: Agent, config: TownConfig): Deadline[] {
  const out = statusDeadlines(agent, config);
  for (const stop of agent.owedStops) if (stop.retryAt !== null) out.push({ at: stop.retryAt, kind: "stop", id: agent.id });
  return out;
}

function statusDeadlines(agent: Agent, config: TownConfig): Deadline[] {
  const id = agent.id;
  switch (agent.status) {
    case "working":
    case "stalled": {
      const out: Deadline[] =
        agent.status === "working"
          ? [{ at: heartbeatDeadline(agent, config), kind: "heartbeat", id }]
          : [{ at: stallDeadline(agent, config), kind: "stall", id }];
      if (agent.containerStatus === "not_found" && reportedSinceDispatch(agent)) out.push({ at: graceEnd(agent, config), kind: "grace", id });
      return out;
    }
    case "idle":
      return agent.hook === null ? [{ at: collectionDeadline(agent, config), kind: "collect", id }] : [];
    case "dead":
      return [{ at: purgeDeadline(agent, config), kind: "purge", id }];
  }
}

/**
 * A bead's moments: the end of its dispatch backoff, while it waits to be dispatched again; and, when
 * it has reopened often enough to flap, the moment it stops (invariant 12 resolves then).
 */
export function beadDeadlines(bead: Bead, config: TownConfig): Deadline[] {
  const out: Deadline[] = [];
  if (bead.status === "open" && bead.type !== "convoy" && !bead.held && bead.dispatchAttempts < config.maxDispatchAttempts) {
    const at = backoffEnd(bead, config);
    if (at !== null) out.push({ at, kind: "backoff", id: bead.id });
  }
  if (bead.status !== "closed" && bead.status !== "failed") {
    const ends = flappingEnds(bead, config);
    if (ends !== null) out.push({ at: ends, kind: "flapping", id: bead.id });
  }
  return out;
}

/** The town's own moment: an open breaker's cool-down ends. */
export function breakerDeadline(town: Town): Deadline | null {
  return town.breaker.status === "open" ? { at: town.breaker.since + town.config.breaker.cooldownMs, kind: "breaker", id: "town" } : null;
}

/**
 * The town's progress window (invariant 11): work waits to be taken (`oldestWaiting`, unchanged since
 * it began to wait) and the breaker is closed, so unless some bead changes status first, the window
 * runs out at this moment. Null when nothing waits, the breaker is not closed or the town is paused.
 */
export function progressDeadline(town: Town, oldestWaiting: Bead | undefined): Deadline | null {
  // A paused town dispatches nothing on purpose: its work is not stuck.
  if (town.breaker.status !== "closed" || town.paused || oldestWaiting === undefined) return null;
  return { at: stalledSince(town, oldestWaiting) + town.config.progressWindowMs + 1, kind: "progress", id: "town" };
}

/** Since when work has waited with nothing moving: the later of the last status change and the oldest waiting bead's last change. */
export const stalledSince = (town: Town, oldestWaiting: Bead): number => Math.max(town.progressAt, oldestWaiting.updatedAt);

/** Why the town wakes at a deadline, in the words the alarm status shows. */
export function deadlineReason(deadline: Deadline): string {
  switch (deadline.kind) {
    case "heartbeat":
      return `heartbeat deadline of ${deadline.id}`;
    case "stall":
      return `stall timeout of ${deadline.id}`;
    case "grace":
      return `cold-start grace of ${deadline.id} ends (container not found)`;
    case "collect":
      return `idle agent ${deadline.id} is due for collection`;
    case "purge":
      return `tombstone of ${deadline.id} is due for purging`;
    case "stop":
      return `a stop owed by ${deadline.id} is due to be asked for again`;
    case "backoff":
      return `dispatch backoff of ${deadline.id} expires`;
    case "flapping":
      return `bead ${deadline.id} stops flapping (its oldest counted reopen leaves the window)`;
    case "breaker":
      return "breaker cool-down ends";
    case "progress":
      return "the progress window runs out: no bead changed status while work waited (invariant 11)";
    case "budget":
      return "the budget needs a look: its next threshold is reached, or a new UTC day begins";
  }
}

/** Deadlines in time order; ties by kind, then entity, so every run picks the same one. */
export function byDeadline(a: Deadline, b: Deadline): number {
  return a.at - b.at || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
