import type { TownRuntime } from "./runtime";
import { countsByStatus, tickView } from "./views";

export interface AlarmInfo {
  readonly at: number;
  readonly reason: string;
}

/**
 * getAlarmStatus: what an operator (or Grafana) needs to see whether a town is healthy — when it
 * ticks next and why, what it holds, how its queue drains, the breaker, and the last tick's metrics
 * (read from the tick history, so they survive an eviction).
 */
export function alarmStatus(runtime: TownRuntime, now: number, alarm: AlarmInfo | null) {
  const { state, repo } = runtime;
  const town = state.town;
  const queue = repo.queueStats();
  const last = repo.lastTick();
  const breaker = town.breaker;
  const windowStart = now - town.config.breaker.windowMs;
  return {
    townId: town.id,
    now,
    alarm: alarm
      ? { nextFireAt: alarm.at, inMs: Math.max(0, alarm.at - now), reason: alarm.reason, idleIntervalMs: town.config.idleAlarmMs }
      : { nextFireAt: null, inMs: null, reason: "no alarm scheduled", idleIntervalMs: town.config.idleAlarmMs },
    ...countsByStatus(runtime),
    queue: {
      pending: queue.pending,
      oldestPendingAgeMs: queue.oldestPendingAt === null ? null : Math.max(0, now - queue.oldestPendingAt),
      dead: queue.dead,
    },
    outbox: { pending: repo.outboxSize() },
    breaker: {
      status: breaker.status,
      open: breaker.status !== "closed",
      since: breaker.since,
      recentFailures: breaker.failures.filter((at) => at > windowStart).length,
      failureThreshold: town.config.breaker.failureThreshold,
      lastFailureAt: breaker.lastFailureAt,
      lastSuccessAt: breaker.lastSuccessAt,
    },
    lastTick: last ? tickView(last) : null,
  };
}

export type AlarmStatus = ReturnType<typeof alarmStatus>;
