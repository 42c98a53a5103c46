import { WORK_MOVES } from "../domain/invariants";
import { METRICS, selector } from "../observability/metrics";

/**
 * The fleet's alert conditions, one per numeric field of `GET /api/fleet/status`: each is one Grafana
 * rule on that route (grafana/provisioning/alerting/fleet.yaml, every town its own alert instance) and
 * one Prometheus rule on the towns' own metrics (grafana/prometheus/town-reconciler.rules.yaml). The
 * tests hold both files to this list.
 */
export interface FleetAlert {
  /** Names the Grafana rule (`tr-fleet-<id>`) and the Prometheus alert (`TownReconciler<Id>`). */
  readonly id: string;
  /** The field of a fleet status row. */
  readonly field: FleetAlertField;
  /** The alert fires while the field is above this. */
  readonly above: number;
  /** The series the Prometheus rule compares (a selector of a declared family), and its threshold in the metric's unit. */
  readonly metric: string;
  readonly metricAbove: number;
  readonly summary: string;
  /** Its page in docs/runbooks/. */
  readonly runbook: string;
}

/** A tick slower than this (wall clock) is a problem (the WallClock alert). */
export const SLOW_TICK_MS = 500;

export type FleetAlertField =
  | "silent"
  | "violationsOpen"
  | "stuckWork"
  | "queueDepth"
  | "oldestPendingAgeSeconds"
  | "deadLetters"
  | "breakerOpen"
  | "tickWallClockMs";

export const FLEET_ALERTS: readonly FleetAlert[] = [
  {
    id: "Silent",
    field: "silent",
    above: 0,
    metric: selector(METRICS.tickOverdue),
    metricAbove: 300,
    summary: "The town owes a tick and has not ticked for more than 5 minutes past its alarm",
    runbook: "town-silent.md",
  },
  {
    id: "ViolationsOpen",
    field: "violationsOpen",
    above: 0,
    metric: selector(METRICS.invariantViolationsOpen),
    metricAbove: 0,
    summary: "Invariant violations are open",
    runbook: "invariant-violations.md",
  },
  {
    id: "WorkNotMoving",
    field: "stuckWork",
    above: 0,
    metric: selector(METRICS.invariantViolationsOpen, { invariant: String(WORK_MOVES.id) }),
    metricAbove: 0,
    summary: `Work waits and nothing has moved for longer than the progress window (invariant ${WORK_MOVES.id})`,
    runbook: "work-not-moving.md",
  },
  {
    id: "QueueDepth",
    field: "queueDepth",
    above: 50,
    metric: selector(METRICS.eventQueueDepth),
    metricAbove: 50,
    summary: "More than 50 events are waiting",
    runbook: "queue-depth.md",
  },
  {
    id: "QueueAge",
    field: "oldestPendingAgeSeconds",
    above: 300,
    metric: selector(METRICS.eventQueueOldestAge),
    metricAbove: 300,
    summary: "An event has waited more than 5 minutes",
    runbook: "queue-depth.md",
  },
  {
    id: "DeadLetters",
    field: "deadLetters",
    above: 0,
    metric: selector(METRICS.deadLetters),
    metricAbove: 0,
    summary: "Events were dead-lettered",
    runbook: "dead-letters.md",
  },
  {
    id: "BreakerOpen",
    field: "breakerOpen",
    above: 0,
    metric: selector(METRICS.breakerOpen),
    metricAbove: 0,
    summary: "Dispatching is suspended: the circuit breaker is open",
    runbook: "breaker-open.md",
  },
  {
    id: "WallClock",
    field: "tickWallClockMs",
    above: SLOW_TICK_MS,
    metric: selector(METRICS.lastTickDuration),
    metricAbove: SLOW_TICK_MS / 1000,
    summary: `The last tick took more than ${SLOW_TICK_MS} ms`,
    runbook: "wall-clock.md",
  },
];
