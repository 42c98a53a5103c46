import type { Action } from "./actions";
import type { TownConfig } from "./config";
import { Plan, type Wake } from "./plan";
import {
  collectIdleAgents,
  detectStalledAgents,
  recoverLostContainers,
  resumeHeartbeatingAgents,
  stopOrphanedAgents,
  stopStalledAgents,
  unhookFinishedWork,
} from "./rules/agents";
import { dispatchOpenBeads, failExhaustedBeads, reopenOrphanedBeads, settleFailedReviews } from "./rules/beads";
import { runCircuitBreaker } from "./rules/breaker";
import { closeFinishedConvoys } from "./rules/convoys";
import { closeMergedSources, dispatchReviews, ensureRefineries } from "./rules/review";
import type { TownState } from "./state";

export interface Reconciliation {
  readonly actions: readonly Action[];
  /** The earliest future moment a rule needs to look again, or null if nothing is pending. */
  readonly wake: Wake | null;
}

/**
 * The rules in the order they run. Level-triggered: each looks at the whole current state and says
 * what should change; none depends on having seen an event. Earlier rules claim the agents and beads
 * they act on, so later rules in the same pass leave them alone.
 */
export const RULES: ReadonlyArray<(plan: Plan) => void> = [
  runCircuitBreaker,
  // agents: what is certain (container gone, work cancelled) before what is inferred from silence
  recoverLostContainers,
  stopOrphanedAgents,
  resumeHeartbeatingAgents,
  detectStalledAgents,
  stopStalledAgents,
  unhookFinishedWork,
  // beads
  reopenOrphanedBeads,
  failExhaustedBeads,
  closeMergedSources,
  settleFailedReviews,
  closeFinishedConvoys,
  // dispatch
  ensureRefineries,
  dispatchReviews,
  dispatchOpenBeads,
  // last, so an agent picked for work is not collected
  collectIdleAgents,
];

/** What should change now, and when to look next. Pure: reads the state, changes nothing. */
export function reconcile(state: TownState, now: number, config: TownConfig): Reconciliation {
  const plan = new Plan(state, now, config);
  for (const rule of RULES) rule(plan);
  return { actions: plan.actions, wake: plan.wake };
}
