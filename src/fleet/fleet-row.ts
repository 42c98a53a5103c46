import { oldestPendingAge } from "../domain/queue";
import { FLEET_ALERTS } from "./fleet-alerts";
import type { TownSummary } from "./town-summary";

/** How late a town's next tick may be before the watchdog asks it to make sure its alarm is armed. */
export const OVERDUE_GRACE_MS = 60_000;
/** How late before the registry marks it as stopped reporting (the watchdog had several sweeps to mend it). */
export const SILENT_AFTER_MS = 300_000;

/**
 * One row of `GET /api/fleet/status`: the town and numbers only — no nulls — one field per alert
 * condition (src/fleet/fleet-alerts.ts) plus what an operator reads beside them, shaped for Grafana's
 * multi-dimensional alerting (a `town` string and a number per rule).
 */
export interface FleetRow {
  readonly town: string;
  /** How many alert conditions hold: the fleet table sorts worst first by it. */
  readonly problems: number;
  /** 1 when the town owes a tick and is more than SILENT_AFTER_MS past it: it stopped reporting. */
  readonly silent: number;
  /** How far past its next alarm the town is, by its last summary (0 when asleep or not yet due). */
  readonly overdueSeconds: number;
  /** Since its last tick (since it was registered, if it never ticked). A sleeping town's grows, and that is fine. */
  readonly lastTickAgeSeconds: number;
  readonly violationsOpen: number;
  readonly stuckWork: number;
  readonly queueDepth: number;
  readonly oldestPendingAgeSeconds: number;
  readonly deadLetters: number;
  readonly breakerOpen: number;
  readonly tickWallClockMs: number;
  /** Since its last summary arrived. */
  readonly summaryAgeSeconds: number;
  /** 1 while the town is paused (not a problem by itself: an operator or its budget chose it). */
  readonly paused: number;
  /** Container seconds used today (UTC), as of its last summary. */
  readonly containerSecondsToday: number;
}

const seconds = (ms: number): number => Math.max(0, Math.floor(ms / 1000));

/** A town's row at `now`, from its last summary (`registeredAt`: when it joined the list). */
export function fleetRow(summary: TownSummary, registeredAt: number, now: number): FleetRow {
  const overdueMs = summary.nextAlarmAt === null ? 0 : Math.max(0, now - summary.nextAlarmAt);
  const row = {
    town: summary.town,
    problems: 0,
    silent: overdueMs > SILENT_AFTER_MS ? 1 : 0,
    overdueSeconds: seconds(overdueMs),
    lastTickAgeSeconds: seconds(now - (summary.lastTickAt ?? registeredAt)),
    violationsOpen: summary.violationsOpen,
    stuckWork: summary.stuckWork,
    queueDepth: summary.queueDepth,
    // Still pending as far as the registry knows: the age keeps growing until a summary says otherwise.
    oldestPendingAgeSeconds: seconds(oldestPendingAge(summary.oldestPendingAt, now) ?? 0),
    deadLetters: summary.deadLetters,
    breakerOpen: summary.breakerOpen,
    tickWallClockMs: summary.tickWallClockMs,
    summaryAgeSeconds: seconds(now - summary.reportedAt),
    paused: summary.paused,
    containerSecondsToday: summary.containerSecondsToday,
  };
  return { ...row, problems: FLEET_ALERTS.filter((alert) => row[alert.field] > alert.above).length };
}

/** Worst first: most conditions holding, then most overdue, then by town id. */
export const worstFirst = (a: FleetRow, b: FleetRow): number =>
  b.problems - a.problems || b.overdueSeconds - a.overdueSeconds || (a.town < b.town ? -1 : a.town > b.town ? 1 : 0);
