import { oldestPendingAge } from "../domain/queue";
import { INVARIANTS } from "../domain/invariants";
import { AGENT_STATUSES, BEAD_STATUSES, PAUSERS } from "../domain/model";
import { renderPrometheus } from "../observability/prometheus";
import { livenessOf } from "../tick/liveness";
import type { ShellDues } from "../tick/owed";
import type { TownRuntime } from "../town/runtime";
import type { Wake } from "../domain/plan";
import { countsByStatus } from "./entity-views";
import { containerSecondsRows } from "./usage-view";
import { limitMs } from "../domain/budget";

/**
 * The town's Prometheus exposition: its persisted counters and histograms, and every declared gauge as
 * the town reads now (a gauge added to metrics.ts is a type error here until it is read).
 */
export function townMetrics(runtime: TownRuntime, now: number, alarm: Wake | null, dues: ShellDues): string {
  const { state, store } = runtime;
  const queue = store.events.queueStats();
  const { agents, beads } = countsByStatus(state);
  const violationsOpen: Record<string, number> = {};
  for (const v of runtime.openViolations.values()) violationsOpen[v.invariant] = (violationsOpen[v.invariant] ?? 0) + 1;
  const lastTick = store.ticks.last();
  const liveness = livenessOf(runtime, now, alarm, lastTick?.at ?? null, queue, dues);
  const budget = state.town.config.budget;
  return renderPrometheus(state.town.id, [...store.counters.rows(), ...containerSecondsRows(state, now)], {
    eventQueueDepth: queue.pending,
    eventQueueOldestAge: (oldestPendingAge(queue.oldestPendingAt, now) ?? 0) / 1000,
    deadLetters: queue.dead,
    outboxDepth: store.outbox.size(),
    owedStops: [...state.owedStops()].length,
    alertsPending: store.alerts.size(),
    breakerOpen: state.town.breaker.status === "closed" ? 0 : 1,
    budgetUsed: budget ? state.usageToday(now).containerMs / limitMs(budget) : null,
    paused: PAUSERS.map((by) => [{ by }, state.town.paused?.by === by ? 1 : 0]),
    invariantViolationsOpen: INVARIANTS.map(({ id }) => [{ invariant: String(id) }, violationsOpen[id] ?? 0]),
    agents: AGENT_STATUSES.map((status) => [{ status }, agents[status]]),
    beads: BEAD_STATUSES.map((status) => [{ status }, beads[status]]),
    lastTickTimestamp: lastTick ? lastTick.at / 1000 : null,
    lastTickAge: liveness.lastTickAgeMs === null ? null : liveness.lastTickAgeMs / 1000,
    lastTickDuration: lastTick ? lastTick.durationMs / 1000 : null,
    tickOverdue: liveness.overdueMs / 1000,
    storageDatabaseBytes: store.databaseSize,
    storageFull: runtime.storageFullSince === null ? 0 : 1,
  });
}
