import type { TownConfig } from "../domain/config";
import { WORK_MOVES } from "../domain/invariants";
import { SLOW_TICK_MS } from "./fleet-alerts";
import { shardStub, type FleetBindings } from "./shards";
import { rememberPlace, samePlace, townPlace } from "./registration";
import type { TownSummary } from "./town-summary";
import type { QueueStats } from "../domain/queue";
import type { TownRuntime } from "../town/runtime";

/** The town's summary for the fleet registry at `now`: its last tick, its next, and its queue as the caller read it. */
export function townSummary(
  runtime: TownRuntime,
  now: number,
  lastTick: { at: number; durationMs: number } | null,
  nextAlarmAt: number | null,
  queue: QueueStats,
): TownSummary {
  let stuckWork = 0;
  for (const violation of runtime.openViolations.values()) if (violation.invariant === WORK_MOVES.id) stuckWork = 1;
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
    paused: runtime.state.town.paused ? 1 : 0,
    containerSecondsToday: Math.floor(runtime.state.usageToday(now).containerMs / 1000),
  };
}

/**
 * Pushes the town's summary to its registry shard after ticks, at most once per
 * `fleetSummaryIntervalMs` while the town keeps ticking: a busy town ticking twenty times a second
 * reports every ten seconds, an idle one not at all. Inside the interval a tick reports only news (see
 * `isNews`), and only when the next tick comes after the interval ends or never (otherwise that tick
 * decides again). So the registry ends up with the town's last word (in particular "asleep, owing
 * nothing"), no tick is ever run just to report, and a tick that changed nothing the registry reads
 * costs no call to it.
 */
export class FleetReporter {
  /** The last summary the registry took in this life of the object (null: none yet). */
  private last: TownSummary | null = null;

  constructor(
    private readonly env: FleetBindings,
    private readonly storage: DurableObjectStorage,
  ) {}

  /** Whether the summary of the tick just run goes to the registry now. */
  dueAfterTick(summary: TownSummary, config: TownConfig): boolean {
    if (this.last === null || this.moving(summary.town)) return true;
    const intervalEnds = this.last.reportedAt + config.fleetSummaryIntervalMs;
    if (summary.reportedAt >= intervalEnds) return true;
    if (!isNews(this.last, summary, config.fleetSummaryIntervalMs)) return false;
    return summary.nextAlarmAt === null || summary.nextAlarmAt > intervalEnds;
  }

  /**
   * Sends the summary to the town's shard. When the shard count changed and with it the town's shard,
   * the summary enters the town in its new shard (registered and summarised in one call); the old
   * shard hands its row over and drops it by itself (TownRegistry.rebalance), and fleet reads prefer
   * the new shard's row meanwhile (src/fleet/reads.ts).
   */
  async push(summary: TownSummary, createdAt: number): Promise<void> {
    const { listed, due } = townPlace(this.storage, this.env, summary.town);
    const shard = shardStub(this.env, due.index);
    if (samePlace(listed, due)) await shard.report(summary);
    else if (await shard.enter(summary.town, createdAt, summary, due.shards)) rememberPlace(this.storage, due);
    this.last = summary;
  }

  /** Whether the town's shard changed with the count and its next summary is to move it. */
  private moving(townId: string): boolean {
    const { listed, due } = townPlace(this.storage, this.env, townId);
    return !samePlace(listed, due);
  }

  /** The town was deleted: its next life reports from scratch. */
  reset(): void {
    this.last = null;
  }
}

/** Fields that say when (and how long), compared apart: every other field is news whenever it changes. */
// Container time grows with every running container: reported with the next news or interval, not news itself.
const TIMING: ReadonlySet<string> = new Set<keyof TownSummary>(["reportedAt", "lastTickAt", "tickWallClockMs", "nextAlarmAt", "containerSecondsToday"]);

/**
 * Whether `next` tells the registry anything `last` did not. Counts and states are news when they
 * change. The tick's own timing is not (the registry's ages may lag by an interval), unless the tick's
 * wall clock crosses the slow-tick alert; nor is a next alarm moved by less than an interval (far inside
 * the watchdog's grace), unless the town goes to sleep or wakes from it.
 */
export function isNews(last: TownSummary, next: TownSummary, intervalMs: number): boolean {
  for (const key of Object.keys(next) as Array<keyof TownSummary>) {
    if (!TIMING.has(key) && next[key] !== last[key]) return true;
  }
  if (next.tickWallClockMs > SLOW_TICK_MS !== last.tickWallClockMs > SLOW_TICK_MS) return true;
  if (next.nextAlarmAt === null || last.nextAlarmAt === null) return next.nextAlarmAt !== last.nextAlarmAt;
  return Math.abs(next.nextAlarmAt - last.nextAlarmAt) >= intervalMs;
}
