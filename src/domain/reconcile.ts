import type { Action } from "./actions";
import type { TownConfig } from "./config";
import { deadlineReason } from "./deadlines";
import { Plan, type Wake } from "./plan";
import * as agents from "./rules/agents";
import * as beads from "./rules/beads";
import * as breaker from "./rules/breaker";
import * as budget from "./rules/budget";
import * as convoys from "./rules/convoys";
import * as review from "./rules/review";
import type { TownState } from "./state";
import type { Touched, Focus } from "./focus";

export interface Reconciliation {
  readonly actions: readonly Action[];
  /** The earliest future moment a rule needs to look again, or null if nothing is pending. */
  readonly wake: Wake | null;
  /** What the rules claimed (acted on, or meant to). */
  readonly claimed: Touched;
}

/**
 * The rules in the order they run. Level-triggered: each looks at the whole current state and says
 * what should change; none depends on having seen an event. Earlier rules claim the agents and beads
 * they act on, so later rules in the same pass leave them alone. A rule's id is where it lives: the
 * actions of `beads.exhaustAttempts` come from `exhaustAttempts` in rules/beads.ts.
 */
export const RULES: ReadonlyArray<(plan: Plan) => void> = [
  // the budget first: a town it pauses dispatches nothing more in this pass
  budget.judge,
  budget.pause,
  budget.resume,
  // its transitions are the rules breaker.trip, breaker.halfOpen, breaker.reopen and breaker.close
  breaker.transition,
  // stops owed since an earlier tick, asked for again
  agents.retryStop,
  // agents: what is certain (container gone, work cancelled) before what is inferred from silence
  agents.recoverLostContainer,
  agents.stopOrphaned,
  agents.resumeHeartbeat,
  agents.detectStall,
  agents.stopStalled,
  agents.unhookTerminal,
  // beads
  beads.reopenOrphaned,
  beads.exhaustAttempts,
  review.closeMergedSource,
  beads.settleReview,
  convoys.close,
  // dispatch
  review.ensureRefinery,
  review.dispatch,
  beads.dispatch,
  // last, so an agent picked for work is not collected
  agents.collectIdle,
  agents.purgeTombstone,
];

/**
 * What should change now, and when to look next. Pure: reads the state, changes nothing.
 *
 * `focus` is what the rules about single agents and beads look at (default: everything). A tick passes
 * what changed and what fell due; since nothing else can have a different answer, the actions are the
 * same as with everything in focus — the property tests check exactly that.
 *
 * Each rule's actions are put in a canonical order (by the agent, else the bead they concern), so the
 * result does not depend on the order the state happens to hold its entities in — a reloaded town and
 * a replay decide exactly alike.
 */
export function reconcile(state: TownState, now: number, config: TownConfig, focus: Focus = "all"): Reconciliation {
  const plan = new Plan(state, now, config, focus);
  for (const rule of RULES) {
    const first = plan.actions.length;
    rule(plan);
    if (plan.actions.length - first > 1) {
      const emitted = plan.actions.splice(first).sort(byEntity);
      plan.actions.push(...emitted);
    }
  }
  return { actions: plan.actions, wake: nextWake(state, now), claimed: plan.claimed };
}

const entityOf = (action: Action): string => ("agentId" in action ? action.agentId : "beadId" in action ? action.beadId : "");
const byEntity = (a: Action, b: Action): number => {
  const x = entityOf(a);
  const y = entityOf(b);
  return x < y ? -1 : x > y ? 1 : 0;
};

/** The earliest moment after `now` at which a rule may act on its own. */
export function nextWake(state: TownState, now: number): Wake | null {
  const next = state.nextDeadline(now);
  return next ? { at: next.at, reason: deadlineReason(next) } : null;
}
