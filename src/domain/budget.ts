import type { TownConfig } from "./config";
import type { Deadline } from "./deadlines";
import type { Agent, Verdict } from "./model";
import { DAY_MS, dayStart, utcDay, type UsageSum } from "./usage";

/**
 * A town's budget (DESIGN §4.7): container hours per UTC day. Below `warnAt` of it the verdict is
 * `continue`; from there `warn` (one Sentry warning that day); at the budget `stop`, which pauses the
 * town (`onExceeded: "pause"`, by "budget", until the next UTC day or an operator's resume) or only
 * warns (`"warn"`). The budget stops a loop of successful dispatches the way the breaker stops a loop of
 * failed ones.
 */

export type Budget = NonNullable<TownConfig["budget"]>;

export const HOUR_MS = 3_600_000;

export const limitMs = (budget: Budget): number => budget.containerHoursPerDay * HOUR_MS;

export function verdictOf(usedMs: number, budget: Budget | null): Verdict {
  if (!budget) return "continue";
  if (usedMs >= limitMs(budget)) return "stop";
  return usedMs >= budget.warnAt * limitMs(budget) ? "warn" : "continue";
}

/** The metered agents' open intervals, within the UTC day of `now`: what is running and not yet counted. */
export function runningToday(agents: Iterable<Agent>, now: number): { containerMs: number; running: number } {
  const from = dayStart(now);
  let containerMs = 0;
  let running = 0;
  for (const agent of agents) {
    if (agent.runningSince === null) continue;
    running += 1;
    containerMs += Math.max(0, now - Math.max(agent.runningSince, from));
  }
  return { containerMs, running };
}

/**
 * When the budget next needs a look with nothing else changing: the next UTC day for a town its budget
 * paused; else, while containers run, the moment they reach the next threshold (warn, then the budget).
 */
export function budgetDeadline(budget: Budget | null, pausedByBudget: boolean, used: UsageSum, running: number, now: number): Deadline | null {
  if (pausedByBudget) return { at: dayStart(now) + DAY_MS, kind: "budget", id: "town" };
  if (!budget || running === 0) return null;
  const limit = limitMs(budget);
  const next = used.containerMs < budget.warnAt * limit ? budget.warnAt * limit : used.containerMs < limit ? limit : null;
  if (next === null) return null;
  // Reached by every running container together, or at midnight, when the day's count starts over.
  return { at: Math.min(now + Math.ceil((next - used.containerMs) / running), dayStart(now) + DAY_MS), kind: "budget", id: "town" };
}

/** Hours with two decimals, as the figures are shown. */
export const hours = (ms: number): string => (ms / HOUR_MS).toFixed(2);

/** What the town used today against its budget, in words. */
export function budgetFigures(usedMs: number, budget: Budget, now: number): string {
  return `${hours(usedMs)} of ${budget.containerHoursPerDay} container hours used on ${utcDay(now)} (warns at ${Math.round(budget.warnAt * 100)}%)`;
}
