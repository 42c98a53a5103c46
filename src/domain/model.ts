import { resolveConfig, type TownConfig, type TownConfigOverrides } from "./config";
import type { AgentId, BeadId, RigId, TownId } from "./ids";

/** Entities of a town. Plain, immutable data: the state replaces an entity, it never edits one in place. */

export const BEAD_TYPES = ["issue", "merge_request", "convoy"] as const;
export type BeadType = (typeof BEAD_TYPES)[number];

export const BEAD_STATUSES = ["open", "in_progress", "in_review", "closed", "failed"] as const;
export type BeadStatus = (typeof BEAD_STATUSES)[number];

export const AGENT_ROLES = ["polecat", "refinery", "mayor"] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

export const AGENT_STATUSES = ["idle", "working", "stalled", "dead"] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

export const CONTAINER_STATUSES = ["running", "starting", "exited", "not_found", "error"] as const;
export type ContainerStatus = (typeof CONTAINER_STATUSES)[number];

export const BREAKER_STATUSES = ["closed", "open", "half_open"] as const;
export type BreakerStatus = (typeof BREAKER_STATUSES)[number];

export interface Rig {
  readonly id: RigId;
  readonly name: string;
  readonly gitUrl: string;
  readonly defaultBranch: string;
  /** Agents created in this rig so far; the next agent's id is derived from it (never reused, even after a delete). */
  readonly agentSeq: number;
  /** When it was deleted (null: it is in use). A deleted rig is kept for its agent sequence; added again, it counts on. */
  readonly deletedAt: number | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/**
 * A container the town wants stopped and the service has not confirmed stopping: a stop is owed until
 * it is confirmed (DESIGN §4.4). While it is, the bead that generation worked on goes to no other one.
 */
export interface OwedStop {
  readonly generation: number;
  /** The bead that generation worked on, when known. */
  readonly beadId: BeadId | null;
  readonly since: number;
  /** Requests the service failed or did not answer. */
  readonly attempts: number;
  /** When to ask again; null while a request is out. */
  readonly retryAt: number | null;
}

export interface Agent {
  readonly id: AgentId;
  readonly rigId: RigId;
  readonly role: AgentRole;
  readonly status: AgentStatus;
  /** When `status` last changed (stalled since, idle since, ...). */
  readonly statusSince: number;
  /** The bead this agent is bound to. */
  readonly hook: BeadId | null;
  /** Bumped on every dispatch; callbacks carrying an older generation come from a stale container. */
  readonly generation: number;
  readonly dispatchAttempts: number;
  readonly dispatchedAt: number | null;
  /**
   * Since when the usage meter counts its container (the dispatch's success; null while none is
   * counted): the time is added to the day, rig, role and bead when it leaves working/stalled.
   */
  readonly runningSince: number | null;
  /** Observations (heartbeats, container status) reported by the agent platform. */
  readonly lastHeartbeatAt: number | null;
  readonly containerStatus: ContainerStatus | null;
  readonly containerStatusSince: number | null;
  /** Containers of this agent the town wants stopped, not yet confirmed stopped. */
  readonly owedStops: readonly OwedStop[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface Bead {
  readonly id: BeadId;
  /** Null only for convoys, which may track beads of several rigs. */
  readonly rigId: RigId | null;
  readonly type: BeadType;
  readonly status: BeadStatus;
  readonly title: string;
  /** 0 is the most urgent. */
  readonly priority: number;
  /** The agent hooked to this bead, if any (invariant 10). */
  readonly assignee: AgentId | null;
  readonly dispatchAttempts: number;
  readonly lastDispatchAt: number | null;
  readonly held: boolean;
  /** Beads that must be closed before this one may be dispatched. */
  readonly blockedBy: readonly BeadId[];
  /** Merge requests: the issue they deliver, the branch and the PR, and whether they merged. */
  readonly sourceBeadId: BeadId | null;
  readonly branch: string | null;
  readonly prUrl: string | null;
  readonly merged: boolean;
  /** Convoys: the beads they track. */
  readonly tracked: readonly BeadId[];
  /**
   * When it last went back to open (oldest first), kept within the flapping window and at most
   * `flapping.maxReopens + 1` long: invariant 12 counts them.
   */
  readonly reopenedAt: readonly number[];
  /** Why it last failed, or why its last attempt did (null: never). Kept after a retry, until the next failure. */
  readonly lastFailure: BeadFailure | null;
  /** Container time spent on it, over all its attempts, and the dispatches that started a container. */
  readonly usage: BeadUsage;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface BeadUsage {
  readonly containerMs: number;
  readonly dispatches: number;
}

export const NO_BEAD_USAGE: BeadUsage = Object.freeze({ containerMs: 0, dispatches: 0 });

/** A bead as a snapshot, a bundle or an archive of an older version recorded it. */
export type RecordedBead = Omit<Bead, "reopenedAt" | "lastFailure" | "usage"> & Partial<Pick<Bead, "reopenedAt" | "lastFailure" | "usage">>;

/**
 * Beads recorded before a field existed had never done what it counts: been counted reopening
 * (invariant 12), failed with a reason, or used containers.
 */
export const upgradedBead = (bead: RecordedBead): Bead => ({
  ...bead,
  reopenedAt: bead.reopenedAt ?? [],
  lastFailure: bead.lastFailure ?? null,
  usage: bead.usage ?? NO_BEAD_USAGE,
});

export interface Breaker {
  readonly status: BreakerStatus;
  readonly since: number;
  /** Times of recent dispatch failures (inside the window only). */
  readonly failures: readonly number[];
  readonly lastFailureAt: number | null;
  readonly lastSuccessAt: number | null;
  /** In half-open: when the single probe dispatch was sent. */
  readonly probeAt: number | null;
}

/** How a bead (or its last attempt) failed. */
export const FAILURE_CODES = [
  /** Its dispatch attempts ran out (rule beads.exhaustAttempts). */
  "attempts_exhausted",
  /** Its agent reported failure (`agent_completed` with status failed). */
  "agent_failed",
  /** An operator cancelled it as failed (or deleted its rig with its work). */
  "cancelled",
  /** A merge request's pull request was closed without merging. */
  "pr_closed",
  /** The container service refused or failed the dispatch. */
  "dispatch_failed",
  /** The container service did not answer the dispatch in time. */
  "dispatch_timeout",
  /** Its container exited, errored or was not found (rule agents.recoverLostContainer). */
  "container_lost",
  /** Its agent stopped heartbeating and was stopped (rule agents.stopStalled). */
  "agent_stalled",
  /** Every merge request of the issue failed (rule beads.settleReview). */
  "review_failed",
] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

export interface BeadFailure {
  readonly at: number;
  readonly code: FailureCode;
  /** What happened, in words (the agent's reason, the service's error, the rule's reason). */
  readonly message: string;
  /** The rule that acted, when a rule did. */
  readonly rule: string | null;
  /** The agent and generation of the attempt, when there was one. */
  readonly agentId: AgentId | null;
  readonly generation: number | null;
}

/** The budget's verdicts (DESIGN §4.7): below `warnAt`, from it, at the budget. */
export const VERDICTS = ["continue", "warn", "stop"] as const;
export type Verdict = (typeof VERDICTS)[number];

/** The verdict the town last acted on, on which day, and whether an operator waived that day's budget. */
export interface BudgetStanding {
  readonly day: string;
  readonly verdict: Verdict;
  /** An operator resumed the town from the budget's pause: it dispatches for the rest of that day. */
  readonly waived: boolean;
}

/** Who paused a town: an operator, or its budget (which resumes it at the next UTC day). */
export const PAUSERS = ["operator", "budget"] as const;
export type PausedBy = (typeof PAUSERS)[number];

/** A pause: nothing is dispatched while it lasts; everything else goes on. */
export interface Pause {
  readonly at: number;
  readonly by: PausedBy;
  readonly reason: string;
}

export interface Town {
  readonly id: TownId;
  readonly overrides: TownConfigOverrides;
  readonly config: TownConfig;
  readonly breaker: Breaker;
  /** While set, nothing is dispatched (DESIGN §4.6); only an operator lifts an operator's pause. */
  readonly paused: Pause | null;
  /** When work last moved: the last time any bead changed status (invariant 11 measures from it). */
  readonly progressAt: number;
  /** The budget's verdict the town last acted on (null: it never judged one). */
  readonly budgetStanding: BudgetStanding | null;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** A finished bead is closed or failed: nothing more happens to it unless an operator retries it. */
export const FINISHED_BEAD_STATUSES: ReadonlySet<BeadStatus> = new Set(["closed", "failed"]);

export const isFinished = (bead: Bead): boolean => FINISHED_BEAD_STATUSES.has(bead.status);

/** An agent that is (supposed to be) running a container. */
export const isLive = (agent: Agent): boolean => agent.status === "working" || agent.status === "stalled";

/** An agent that owes a stop: no new work for it until its old container is confirmed stopped. */
export const owesStop = (agent: Agent): boolean => agent.owedStops.length > 0;

/**
 * A container of `generation` that is not the agent's live one reports `status`: why that owes no stop,
 * or null when it does (DESIGN §4.4) — it says it runs, it is not of a generation the town never
 * dispatched, and its stop is not owed already. The domain applies it; the heartbeat route asks it
 * before logging the report, so both agree.
 */
export function noStopOwedFor(agent: Agent, generation: number, status: ContainerStatus): string | null {
  if ((status !== "running" && status !== "starting") || generation > agent.generation) return "a container the town does not run reported a status";
  if (agent.owedStops.some((stop) => stop.generation === generation)) return `the stop of ${agent.id}@${generation} is already owed`;
  return null;
}

export const CLOSED_BREAKER: Breaker = {
  status: "closed",
  since: 0,
  failures: [],
  lastFailureAt: null,
  lastSuccessAt: null,
  probeAt: null,
};

/** A new bead: open, unassigned, never dispatched, with these fields laid over. */
export function newBead(fields: Pick<Bead, "id" | "rigId" | "type" | "title"> & Partial<Bead>, now: number): Bead {
  return {
    status: "open",
    priority: 2,
    assignee: null,
    dispatchAttempts: 0,
    lastDispatchAt: null,
    held: false,
    blockedBy: [],
    sourceBeadId: null,
    branch: null,
    prUrl: null,
    merged: false,
    tracked: [],
    reopenedAt: [],
    lastFailure: null,
    usage: NO_BEAD_USAGE,
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
}

/** A new town: its config resolved from its overrides, breaker closed, not paused, nothing judged or moved yet. */
export function newTown(id: TownId, overrides: TownConfigOverrides, now: number): Town {
  return {
    id,
    overrides,
    config: resolveConfig(overrides),
    breaker: { ...CLOSED_BREAKER, since: now },
    paused: null,
    budgetStanding: null,
    progressAt: now,
    createdAt: now,
    updatedAt: now,
  };
}

/** A new agent: idle, unhooked, never dispatched, never observed, with these fields laid over. */
export function newAgent(fields: Pick<Agent, "id" | "rigId" | "role"> & Partial<Agent>, now: number): Agent {
  return {
    status: "idle",
    statusSince: now,
    hook: null,
    generation: 0,
    dispatchAttempts: 0,
    dispatchedAt: null,
    runningSince: null,
    lastHeartbeatAt: null,
    containerStatus: null,
    containerStatusSince: null,
    owedStops: [],
    createdAt: now,
    updatedAt: now,
    ...fields,
  };
}
