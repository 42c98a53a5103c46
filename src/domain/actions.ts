import type { AgentId, BeadId, RigId } from "./ids";
import type { AgentRole, AgentStatus, BeadStatus, BreakerStatus, Verdict } from "./model";

/** Every rule of the reconciler, by id. An action names the rule that produced it. */
export const RULE_IDS = [
  "agents.detectStall",
  "agents.resumeHeartbeat",
  "agents.stopStalled",
  "agents.recoverLostContainer",
  "agents.stopOrphaned",
  "agents.unhookTerminal",
  "agents.collectIdle",
  "agents.purgeTombstone",
  "agents.retryStop",
  "beads.reopenOrphaned",
  "beads.exhaustAttempts",
  "beads.dispatch",
  "beads.settleReview",
  "review.closeMergedSource",
  "review.ensureRefinery",
  "review.dispatch",
  "convoys.close",
  "breaker.trip",
  "breaker.halfOpen",
  "breaker.close",
  "breaker.reopen",
  "budget.judge",
  "budget.pause",
  "budget.resume",
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export type ActionBody =
  /** A new idle agent in a rig (polecats up to the cap, one refinery). */
  | { readonly type: "create_agent"; readonly agentId: AgentId; readonly rigId: RigId; readonly role: AgentRole }
  /** Bind an idle agent to an open bead and start its container (side effect). */
  | { readonly type: "dispatch_agent"; readonly agentId: AgentId; readonly beadId: BeadId; readonly generation: number }
  /** Stop a live agent's container (side effect); the agent goes idle and lets go of its bead. */
  | {
      readonly type: "stop_agent";
      readonly agentId: AgentId;
      readonly from: AgentStatus;
      readonly generation: number;
    }
  /** The container is gone: the agent goes idle without a stop call, and it counts as a dispatch failure. */
  | { readonly type: "release_agent"; readonly agentId: AgentId; readonly from: AgentStatus; readonly generation: number }
  | { readonly type: "transition_agent"; readonly agentId: AgentId; readonly from: AgentStatus; readonly to: AgentStatus }
  | { readonly type: "unhook_agent"; readonly agentId: AgentId; readonly beadId: BeadId }
  | { readonly type: "transition_bead"; readonly beadId: BeadId; readonly from: BeadStatus; readonly to: BeadStatus }
  | { readonly type: "set_breaker"; readonly from: BreakerStatus; readonly to: BreakerStatus }
  /** Ask the service again to stop a container whose stop is owed (side effect). */
  | { readonly type: "request_stop"; readonly agentId: AgentId; readonly generation: number }
  /** Forget a dead agent's tombstone for good. */
  | { readonly type: "purge_agent"; readonly agentId: AgentId }
  /** The budget's verdict for a UTC day changed (from `warn` on, Sentry hears of it). */
  | { readonly type: "judge_budget"; readonly day: string; readonly verdict: Verdict; readonly usedMs: number; readonly limitMs: number }
  /** The budget pauses the town (DESIGN §4.7), or lifts its own pause (a new UTC day, a larger budget). */
  | { readonly type: "pause_town"; readonly by: "budget" }
  | { readonly type: "resume_town"; readonly by: "budget" };

export type ActionType = ActionBody["type"];

/** An action with where it came from: a rule, or the repair of an invariant (`invariant.N`). */
export type Action = ActionBody & { readonly rule: RuleId | `invariant.${number}`; readonly reason: string };

export const ACTION_TYPES: readonly ActionType[] = [
  "create_agent",
  "dispatch_agent",
  "stop_agent",
  "release_agent",
  "transition_agent",
  "unhook_agent",
  "transition_bead",
  "set_breaker",
  "purge_agent",
  "request_stop",
  "judge_budget",
  "pause_town",
  "resume_town",
];

/** A call to the container service, written to the outbox with the state change that caused it. */
export interface Effect {
  /** Idempotency key: the agent, its generation and what to do. */
  readonly id: string;
  readonly kind: "dispatch" | "stop";
  readonly agentId: AgentId;
  readonly role: AgentRole;
  readonly rigId: RigId;
  readonly beadId: BeadId | null;
  readonly generation: number;
}

export const effectId = (agentId: AgentId, generation: number, kind: Effect["kind"]): string => `${agentId}@${generation}:${kind}`;

/** Actions as replay compares them: without their human reasons (a new build may word a reason anew). */
export function recordable(results: ReadonlyArray<{ readonly action: Action }>): Array<Omit<Action, "reason">> {
  return results.map(({ action }) => withoutReason(action));
}

/** An action (or a recorded one, which older ticks stored without its reason) without its reason. */
export function withoutReason<A extends object>(action: A): Omit<A, "reason"> {
  if (!("reason" in action)) return action;
  const { reason: _reason, ...rest } = action as A & { reason: unknown };
  return rest;
}
