import { effectId, type Action, type Effect } from "./actions";
import { type Agent, type FailureCode, isFinished, newAgent } from "./model";
import { failure, idleAgent, oweStop, pause, recordDispatchFailure, resume, setAgentStatus, setBeadStatus, TransitionRefused, unhookAgent } from "./mutations";
import type { TownState } from "./state";
import { canTransitionBreaker } from "./transitions";

export type ActionOutcome = { readonly applied: true; readonly effects: readonly Effect[] } | { readonly applied: false; readonly refusal: string };

const applied = (effects: readonly Effect[] = []): ActionOutcome => ({ applied: true, effects });
const refused = (refusal: string): ActionOutcome => ({ applied: false, refusal });

/** The rules whose action means a bead (or its attempt) failed, and how: what `bead.lastFailure` says. */
const FAILURE_BY_RULE: Readonly<Partial<Record<Action["rule"], FailureCode>>> = {
  "beads.exhaustAttempts": "attempts_exhausted",
  "beads.settleReview": "review_failed",
  "agents.recoverLostContainer": "container_lost",
  "agents.stopStalled": "agent_stalled",
};

/** The bead an agent worked on records why the attempt ended, when a rule ended it for a failure. */
function recordAttemptFailure(state: TownState, agent: Agent, action: Action, now: number): void {
  const code = FAILURE_BY_RULE[action.rule];
  const bead = code && agent.hook ? state.liveBead(agent.hook) : undefined;
  if (!code || !bead || isFinished(bead)) return;
  state.putBead({
    ...bead,
    lastFailure: failure(code, action.reason, now, { rule: action.rule, agentId: agent.id, generation: agent.generation }),
    updatedAt: now,
  });
}

/**
 * Applies one action to the state. An action whose expectations no longer hold (the state moved since
 * the rule looked at it) is refused and changes nothing.
 */
export function applyAction(state: TownState, action: Action, now: number): ActionOutcome {
  const mark = state.mark();
  try {
    return apply(state, action, now);
  } catch (error) {
    if (!(error instanceof TransitionRefused)) throw error;
    state.rollbackTo(mark);
    return refused(error.message);
  }
}

function apply(state: TownState, action: Action, now: number): ActionOutcome {
  switch (action.type) {
    case "create_agent": {
      const rig = state.rig(action.rigId);
      if (!rig) return refused(`rig ${action.rigId} does not exist`);
      if (state.agent(action.agentId)) return refused(`agent ${action.agentId} already exists`);
      state.putRig({ ...rig, agentSeq: rig.agentSeq + 1, updatedAt: now });
      state.putAgent(newAgent({ id: action.agentId, rigId: action.rigId, role: action.role }, now));
      return applied();
    }
    case "dispatch_agent": {
      const agent = state.agent(action.agentId);
      const bead = state.bead(action.beadId);
      if (!agent || !bead) return refused("agent or bead does not exist");
      if (agent.status !== "idle" || agent.hook) return refused(`agent ${agent.id} is ${agent.status}, not idle and free`);
      if (bead.status !== "open") return refused(`bead ${bead.id} is ${bead.status}, not open`);
      if (action.generation !== agent.generation + 1) return refused(`agent ${agent.id} generation moved`);
      setBeadStatus(state, bead, "in_progress", now, {
        assignee: agent.id,
        dispatchAttempts: bead.dispatchAttempts + 1,
        lastDispatchAt: now,
      });
      setAgentStatus(state, agent, "working", now, {
        hook: bead.id,
        generation: action.generation,
        dispatchAttempts: agent.dispatchAttempts + 1,
        dispatchedAt: now,
      });
      const town = state.town;
      if (town.breaker.status === "half_open") {
        state.setTown({ ...town, breaker: { ...town.breaker, probeAt: now }, updatedAt: now });
      }
      return applied([effect(agent, "dispatch", action.generation, bead.id)]);
    }
    case "stop_agent": {
      const agent = state.agent(action.agentId);
      if (!agent) return refused(`agent ${action.agentId} does not exist`);
      if (agent.status !== action.from || agent.generation !== action.generation) {
        return refused(`agent ${agent.id} is ${agent.status}@${agent.generation}, expected ${action.from}@${action.generation}`);
      }
      const beadId = agent.hook;
      recordAttemptFailure(state, agent, action, now);
      // Owed until the service confirms it: until then its bead goes to no other generation.
      oweStop(state, idleAgent(state, agent, now), agent.generation, beadId, now, true);
      return applied([effect(agent, "stop", agent.generation, beadId)]);
    }
    case "request_stop": {
      const agent = state.agent(action.agentId);
      const owed = agent?.owedStops.find((stop) => stop.generation === action.generation);
      if (!agent || !owed) return refused(`agent ${action.agentId} owes no stop of generation ${action.generation}`);
      if (owed.retryAt === null) return refused(`the stop of ${agent.id}@${owed.generation} is already being asked for`);
      state.putAgent({ ...agent, owedStops: agent.owedStops.map((stop) => (stop === owed ? { ...stop, retryAt: null } : stop)), updatedAt: now });
      return applied([effect(agent, "stop", owed.generation, owed.beadId)]);
    }
    case "release_agent": {
      const agent = state.agent(action.agentId);
      if (!agent) return refused(`agent ${action.agentId} does not exist`);
      if (agent.status !== action.from || agent.generation !== action.generation) {
        return refused(`agent ${agent.id} is ${agent.status}@${agent.generation}, expected ${action.from}@${action.generation}`);
      }
      recordAttemptFailure(state, agent, action, now);
      idleAgent(state, state.agent(agent.id)!, now);
      recordDispatchFailure(state, now);
      return applied();
    }
    case "transition_agent": {
      const agent = state.agent(action.agentId);
      if (!agent) return refused(`agent ${action.agentId} does not exist`);
      if (agent.status !== action.from) return refused(`agent ${agent.id} is ${agent.status}, expected ${action.from}`);
      if (action.to === "idle" && agent.hook) unhookAgent(state, agent, now);
      setAgentStatus(state, state.agent(action.agentId)!, action.to, now);
      return applied();
    }
    case "unhook_agent": {
      const agent = state.agent(action.agentId);
      if (!agent) return refused(`agent ${action.agentId} does not exist`);
      if (agent.hook !== action.beadId) return refused(`agent ${agent.id} is not hooked to ${action.beadId}`);
      unhookAgent(state, agent, now);
      return applied();
    }
    case "transition_bead": {
      const bead = state.bead(action.beadId);
      if (!bead) return refused(`bead ${action.beadId} does not exist`);
      if (bead.status !== action.from) return refused(`bead ${bead.id} is ${bead.status}, expected ${action.from}`);
      // Leaving in_progress for open means its agent is gone: the assignee follows the hook.
      const assignee = action.to === "open" ? null : bead.assignee;
      const code = FAILURE_BY_RULE[action.rule];
      // Out of attempts: say what the last one died of, and whose it was.
      const last = code === "attempts_exhausted" ? bead.lastFailure : null;
      const lastFailure = code
        ? failure(code, last ? `${action.reason}; the last attempt: ${last.message}` : action.reason, now, {
            rule: action.rule,
            ...(last?.agentId ? { agentId: last.agentId } : {}),
            ...(typeof last?.generation === "number" ? { generation: last.generation } : {}),
          })
        : bead.lastFailure;
      setBeadStatus(state, bead, action.to, now, { assignee, lastFailure });
      return applied();
    }
    case "purge_agent": {
      const agent = state.agent(action.agentId);
      if (!agent) return refused(`agent ${action.agentId} does not exist`);
      if (agent.status !== "dead") return refused(`agent ${agent.id} is ${agent.status}, not dead`);
      if (agent.owedStops.length > 0) return refused(`agent ${agent.id} still owes a stop`);
      state.removeAgent(agent.id);
      return applied();
    }
    case "judge_budget": {
      const town = state.town;
      const was = town.budgetStanding;
      // A waiver holds for the day it was given.
      const waived = was?.day === action.day && was.waived;
      state.setTown({ ...town, budgetStanding: { day: action.day, verdict: action.verdict, waived }, updatedAt: now });
      return applied();
    }
    case "pause_town":
      return pause(state, action.by, action.reason, now) ? applied() : refused(`the town is paused already (by ${state.town.paused?.by})`);
    case "resume_town": {
      if (state.town.paused?.by !== "budget") return refused("the budget did not pause the town");
      const refusal = resume(state, action.by, now);
      return refusal === null ? applied() : refused(refusal);
    }
    case "set_breaker": {
      const town = state.town;
      const breaker = town.breaker;
      if (breaker.status !== action.from) return refused(`breaker is ${breaker.status}, expected ${action.from}`);
      if (!canTransitionBreaker(action.from, action.to)) return refused(`breaker ${action.from} → ${action.to} is not allowed`);
      state.setTown({
        ...town,
        breaker: {
          ...breaker,
          status: action.to,
          since: now,
          probeAt: null,
          failures: action.to === "closed" ? [] : breaker.failures,
        },
        updatedAt: now,
      });
      return applied();
    }
  }
}

function effect(agent: Agent, kind: Effect["kind"], generation: number, beadId: Effect["beadId"]): Effect {
  return { id: effectId(agent.id, generation, kind), kind, agentId: agent.id, role: agent.role, rigId: agent.rigId, beadId, generation };
}
