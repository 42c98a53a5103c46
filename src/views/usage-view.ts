import { HOUR_MS, limitMs, verdictOf } from "../domain/budget";
import type { Bead } from "../domain/model";
import type { TownState } from "../domain/state";
import { dayStart, DAY_MS, utcDay } from "../domain/usage";
import type { CounterRow } from "../db/counter-store";
import { formatLabels, METRICS } from "../observability/metrics";

const seconds = (ms: number): number => Math.round(ms) / 1000;

/**
 * What the town used today against its budget (`status.usage`, DESIGN §4.7): container seconds of the
 * UTC day, the containers still running included, the dispatches that started one, the budget and its
 * verdict.
 */
export function usageView(state: TownState, now: number) {
  const today = state.usageToday(now);
  const budget = state.town.config.budget;
  const standing = state.town.budgetStanding;
  const day = utcDay(now);
  return {
    day,
    today: { containerSeconds: seconds(today.containerMs), containerHours: today.containerMs / HOUR_MS, dispatches: today.dispatches, running: today.running },
    budget: budget ? { ...budget, usedShare: today.containerMs / limitMs(budget) } : null,
    verdict: verdictOf(today.containerMs, budget),
    // An operator resumed the town from the budget's pause: the rest of today's budget is waived.
    waived: standing?.day === day && standing.waived,
    resetsAt: dayStart(now) + DAY_MS,
  };
}

/** A bead's usage as the API shows it (`bead.usage`). */
export const beadUsageView = (bead: Bead) => ({ containerSeconds: seconds(bead.usage.containerMs), dispatches: bead.usage.dispatches });

/**
 * `town_reconciler_container_seconds_total{rig,role}`: container seconds ever, the containers still
 * running included (so it rises while they run and never goes back when one stops), as counter rows for
 * the exposition.
 */
export function containerSecondsRows(state: TownState, now: number): CounterRow[] {
  const ms = new Map<string, number>();
  const add = (rig: string, role: string, value: number) => {
    const labels = formatLabels({ rig, role });
    ms.set(labels, (ms.get(labels) ?? 0) + value);
  };
  for (const row of state.usageAllTime()) add(row.rigId, row.role, row.containerMs);
  for (const agent of state.metered()) add(agent.rigId, agent.role, Math.max(0, now - agent.runningSince!));
  return [...ms].map(([labels, value]) => ({ name: METRICS.containerSeconds.name, labels, value: seconds(value) }));
}
