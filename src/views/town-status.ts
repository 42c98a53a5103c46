import { oldestPendingAge } from "../domain/queue";
import type { QueueStats } from "../domain/queue";
import { livenessOf } from "../tick/liveness";
import type { ShellDues } from "../tick/owed";
import type { TownRuntime } from "../town/runtime";
import type { Wake } from "../domain/plan";
import { CounterReadings } from "../observability/counters";
import { METRICS } from "../observability/metrics";
import { tickView } from "./tick-history";
import { countsByStatus } from "./entity-views";
import { usageView } from "./usage-view";
import { STORAGE_LIMIT_BYTES, storageAlertAt } from "../domain/storage";

/**
 * The status route's answer (getAlarmStatus): what an operator (or Grafana) needs to see whether a town
 * is healthy — when it ticks next and why, what it holds, how its queue drains, the breaker, the last
 * tick's metrics (read from the tick history, so they survive an eviction) and its liveness. Each
 * storage read is made once.
 */
export function townStatus(runtime: TownRuntime, now: number, alarm: Wake | null, dues: ShellDues) {
  const seen = { queue: runtime.store.events.queueStats(), counters: new CounterReadings(runtime.store.counters.rows()) };
  const status = alarmStatus(runtime, now, alarm, seen);
  const liveness = livenessOf(runtime, now, alarm, status.lastTick?.at ?? null, seen.queue, dues);
  return { ...status, liveness: { ...liveness, alarmRearms: seen.counters.sum(METRICS.alarmRearmed) } };
}

function alarmStatus(runtime: TownRuntime, now: number, alarm: Wake | null, seen: { queue: QueueStats; counters: CounterReadings }) {
  const { state, store } = runtime;
  const town = state.town;
  const { queue, counters } = seen;
  const last = store.ticks.last();
  const breaker = town.breaker;
  const windowStart = now - town.config.breaker.windowMs;
  return {
    townId: town.id,
    now,
    alarm: alarm
      ? { nextFireAt: alarm.at, inMs: Math.max(0, alarm.at - now), reason: alarm.reason, idleIntervalMs: town.config.idleAlarmMs }
      : { nextFireAt: null, inMs: null, reason: "no alarm scheduled", idleIntervalMs: town.config.idleAlarmMs },
    ...countsByStatus(state),
    queue: {
      pending: queue.pending,
      oldestPendingAgeMs: oldestPendingAge(queue.oldestPendingAt, now),
      dead: queue.dead,
    },
    // Null, or who paused the town, when and why: nothing is dispatched while it lasts.
    paused: town.paused,
    // Container time today against the budget (DESIGN §4.7).
    usage: usageView(state, now),
    outbox: { pending: store.outbox.size() },
    // Containers the town asked to stop and the service has not confirmed: asked for again until it does.
    owedStops: owedStops(state),
    // Alerts Sentry has not accepted yet (tried again with backoff).
    alerts: { pending: store.alerts.size() },
    breaker: {
      status: breaker.status,
      // 0 or 1 (a number, so Grafana can alert on it): open or half-open.
      open: breaker.status === "closed" ? 0 : 1,
      since: breaker.since,
      recentFailures: breaker.failures.filter((at) => at > windowStart).length,
      failureThreshold: town.config.breaker.failureThreshold,
      lastFailureAt: breaker.lastFailureAt,
      lastSuccessAt: breaker.lastSuccessAt,
    },
    violations: {
      open: runtime.openViolations.size,
      list: [...runtime.openViolations.values()].slice(0, 50).map((v) => ({
        invariant: v.invariant,
        key: v.key,
        message: v.message,
        agentIds: v.agentIds,
        beadIds: v.beadIds,
        since: v.firstSeenAt,
        lastReportedAt: v.lastReportedAt,
      })),
    },
    // The database's size beside the object's limit (DESIGN §4.7).
    // Full (`since`: when a write first found it so; null while there is room): new work is refused with 507.
    storage: {
      databaseBytes: store.databaseSize,
      limitBytes: STORAGE_LIMIT_BYTES,
      alertAtBytes: storageAlertAt(town.config),
      full: runtime.storageFullSince === null ? null : { since: runtime.storageFullSince },
    },
    totals: counterTotals(counters),
    lastTick: last ? tickView(last) : null,
  };
}

/** Cumulative counters (persisted, so they never go backwards), summed over their labels. */
function counterTotals(counters: CounterReadings) {
  return {
    ticks: counters.sum(METRICS.ticks),
    ticksFailed: counters.sum(METRICS.ticks, { result: "error" }),
    eventsDrained: counters.sum(METRICS.eventsDrained),
    eventRetries: counters.sum(METRICS.eventRetries),
    eventsDeadLettered: counters.sum(METRICS.eventsDeadLettered),
    actions: counters.sum(METRICS.actions),
    actionsRefused: counters.sum(METRICS.actionsRefused),
    repairs: counters.sum(METRICS.repairs),
    violations: counters.sum(METRICS.invariantViolations),
    sideEffects: counters.sum(METRICS.sideEffects),
    sideEffectsFailed: counters.sum(METRICS.sideEffects) - counters.sum(METRICS.sideEffects, { outcome: "ok" }),
    alertsSent: counters.sum(METRICS.alertsSent),
    alertsDropped: counters.sum(METRICS.alertsDropped),
  };
}

export type AlarmStatus = ReturnType<typeof alarmStatus>;

function owedStops(state: TownRuntime["state"]) {
  const list = [...state.owedStops()].map(({ agent, stop }) => ({
    agentId: agent.id,
    generation: stop.generation,
    beadId: stop.beadId,
    since: stop.since,
    attempts: stop.attempts,
    nextRequestAt: stop.retryAt,
  }));
  return { count: list.length, list: list.slice(0, 50) };
}
