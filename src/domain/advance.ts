import type { Action, Effect } from "./actions";
import { applyAction } from "./apply-action";
import { applyEvent } from "./apply-event";
import type { TownEvent } from "./events";
import type { Wake } from "./plan";
import { nextWake, reconcile } from "./reconcile";
import type { TownState } from "./state";
import type { Touched } from "./focus";

export type EventResult =
  | { readonly seq: number; readonly outcome: "applied" }
  | { readonly seq: number; readonly outcome: "ignored"; readonly detail: string }
  | { readonly seq: number; readonly outcome: "failed"; readonly detail: string };

export interface ActionResult {
  readonly action: Action;
  /** Why it was refused (the state moved since the rule looked), or null if it was applied. */
  readonly refusal: string | null;
}

export interface Advance {
  readonly events: readonly EventResult[];
  readonly actions: readonly ActionResult[];
  readonly effects: readonly Effect[];
  readonly wake: Wake | null;
  readonly passes: number;
  /**
   * What the last pass claimed: a rule meant to look at these, and if they did not change (an action
   * refused, a claim with nothing to do) the next tick must look at them again.
   */
  readonly claimed: Touched;
}

/**
 * One step of a town, as a tick takes it: apply the drained events in order, then reconcile until
 * nothing more follows (at most `maxReconcilePasses` passes), applying each pass's actions. The first
 * pass looks at what changed since the last tick and what fell due; each later pass at what the one
 * before it changed or claimed.
 *
 * An event that throws is rolled back alone and reported as failed; the events behind it still apply.
 * Deterministic: the same state, events and `now` always give the same result, which is what makes
 * dry-run equal to a real tick and replay faithful.
 */
export function advanceTown(state: TownState, events: readonly TownEvent[], now: number): Advance {
  const eventResults: EventResult[] = [];
  for (const event of events) {
    const mark = state.mark();
    try {
      const outcome = applyEvent(state, event, now);
      eventResults.push(outcome.applied ? { seq: event.seq, outcome: "applied" } : { seq: event.seq, outcome: "ignored", detail: outcome.ignored });
    } catch (error) {
      state.rollbackTo(mark);
      eventResults.push({ seq: event.seq, outcome: "failed", detail: describeError(error) });
    }
  }

  const config = state.town.config;
  const actions: ActionResult[] = [];
  const effects: Effect[] = [];
  let focus = state.focusFor(now);
  let passes = 0;
  let settled = false;
  let claimed: Touched = { agents: new Set(), beads: new Set() };
  while (passes < config.maxReconcilePasses) {
    passes += 1;
    state.beginPass();
    const plan = reconcile(state, now, state.town.config, focus);
    claimed = plan.claimed;
    if (plan.actions.length === 0) {
      settled = true;
      break;
    }
    let appliedAny = false;
    for (const action of plan.actions) {
      const outcome = applyAction(state, action, now);
      actions.push({ action, refusal: outcome.applied ? null : outcome.refusal });
      if (!outcome.applied) continue;
      appliedAny = true;
      effects.push(...outcome.effects);
    }
    // Refused actions would only be refused again: looking once more cannot help.
    if (!appliedAny) {
      settled = true;
      break;
    }
    focus = state.nextPassFocus(plan.claimed);
  }
  // Actions were applied after the last look: what they changed needs another look soon.
  const wake = settled ? nextWake(state, now) : { at: now, reason: `reconcile did not settle in ${passes} passes` };
  return { events: eventResults, actions, effects, wake, passes, claimed };
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
