/**
 * What a town tells the fleet registry about itself after its ticks: a handful of numbers, so the
 * registry can answer fleet reads and see which towns stopped ticking without waking any town.
 */
export interface TownSummary {
  readonly town: string;
  /** When the town sent it (the town's clock). */
  readonly reportedAt: number;
  /** When its last tick ran (null: none yet). */
  readonly lastTickAt: number | null;
  /** Wall clock of that tick (Date.now advances only across I/O in production: CPU-only work reads 0). */
  readonly tickWallClockMs: number;
  /** When it will tick next; null when it owes nothing and sleeps (it is then never overdue). */
  readonly nextAlarmAt: number | null;
  readonly queueDepth: number;
  /** When the oldest pending event arrived (null: none pending). */
  readonly oldestPendingAt: number | null;
  readonly deadLetters: number;
  /** 1 while the breaker is open or half-open. */
  readonly breakerOpen: number;
  readonly violationsOpen: number;
  /** 1 while invariant 11 (work moves) is violated. */
  readonly stuckWork: number;
  /** 1 while the town is paused (by an operator or its budget): it dispatches nothing. */
  readonly paused: number;
  /** Container seconds its agents used in the UTC day of `reportedAt`, the running ones included (DESIGN §4.7). */
  readonly containerSecondsToday: number;
}

/** The summary a town is registered with, before it ever reports: due to tick at once, nothing else known. */
export function registrationSummary(town: string, createdAt: number): TownSummary {
  return {
    town,
    reportedAt: createdAt,
    lastTickAt: null,
    tickWallClockMs: 0,
    nextAlarmAt: createdAt,
    queueDepth: 0,
    oldestPendingAt: null,
    deadLetters: 0,
    breakerOpen: 0,
    violationsOpen: 0,
    stuckWork: 0,
    paused: 0,
    containerSecondsToday: 0,
  };
}
