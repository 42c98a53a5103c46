import type { TownConfig } from "../domain/config";
import type { Env } from "../env";
import { registryOf } from "../fleet/shards";
import type { TownSummary } from "../fleet/summary";
import type { TownRuntime } from "./runtime";

/** The town's summary for the fleet registry, as of a tick at `now` that lasted `tickWallClockMs`. */
export function townSummary(runtime: TownRuntime, now: number, lastTick: { at: number; durationMs: number } | null, nextAlarmAt: number | null): TownSummary {
  const queue = runtime.store.events.queueStats();
  let stuckWork = 0;
  for (const violation of runtime.openViolations.values()) if (violation.invariant === 11) stuckWork = 1;
  return {
    town: runtime.state.town.id,
    reportedAt: now,
    lastTickAt: lastTick?.at ?? null,
    tickWallClockMs: lastTick?.durationMs ?? 0,
    nextAlarmAt,
    queueDepth: queue.pending,
    oldestPendingAt: queue.oldestPendingAt,
    deadLetters: queue.dead,
    breakerOpen: runtime.state.town.breaker.status === "closed" ? 0 : 1,
    violationsOpen: runtime.openViolations.size,
    stuckWork,
  };
}

/**
 * Pushes the town's summary to its registry shard after ticks, at most once per
 * `fleetSummaryIntervalMs` while the town keeps ticking: a busy town ticking twenty times a second
 * reports every ten seconds, an idle one not at all. A tick holds its summary back only when the next
 * tick comes before the interval ends (that tick decides again); a tick after which the town sleeps, or
 * waits past the interval, always reports. So the registry ends up with the town's last word (in
 * particular "asleep, owing nothing") and no tick is ever run just to report.
 */
export class FleetReporter {
  private lastPushAt = -Infinity;

  constructor(private readonly env: Env) {}

  /** Whether a tick at `now` reports, given when the town ticks next (null: it sleeps). */
  dueAfterTick(now: number, nextTickAt: number | null, config: TownConfig): boolean {
    const intervalEnds = this.lastPushAt + config.fleetSummaryIntervalMs;
    return now >= intervalEnds || nextTickAt === null || nextTickAt > intervalEnds;
  }

  async push(summary: TownSummary): Promise<void> {
    await registryOf(this.env, summary.town).report(summary);
    this.lastPushAt = summary.reportedAt;
  }

  /** The town was deleted: its next life reports from scratch. */
  reset(): void {
    this.lastPushAt = -Infinity;
  }
}
