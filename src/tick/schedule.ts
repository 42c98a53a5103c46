import { doublingDelay } from "../domain/backoff";
import type { TownConfig } from "../domain/config";
import type { Wake } from "../domain/plan";
import type { Clock } from "../domain/clock";
import type { RowMeter } from "../db/row-meter";

const ALARM_KEY = "alarm";

/**
 * When the town ticks next, and why. One alarm per object: it is set to the earliest moment anything
 * needs the town (what it owes — events waiting, a side effect due, a simulated report, a deadline of
 * the rules, a reminder of an open violation, a summary for the fleet — or a wake-up asked for); a new
 * event pulls it forward, never back. A town that owes nothing sets no alarm and sleeps until a caller
 * wakes it: the watchdog (src/fleet/watchdog.ts) is the safety net for an alarm that is lost.
 */
export class AlarmSchedule {
  /** A wake-up asked for while a tick was running: the tick's own schedule must not push it back. */
  private requested: Wake | null = null;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly clock: Clock,
    private readonly rows: RowMeter,
    /** The alarm the newest tick set and why, as its record keeps it (TickStore.lastNextAlarm). */
    private readonly recorded: () => Wake | null,
  ) {}

  /** A tick starts: from here on, wake-ups asked for are kept for its schedule. */
  beginTick(): void {
    this.requested = null;
  }

  /** After a tick: the earliest of what the candidates need (nothing sooner than "soon"), or no alarm at all when nothing is owed. */
  async next(config: TownConfig, candidates: ReadonlyArray<Wake | null>): Promise<Wake | null> {
    const now = this.clock.now();
    let next: Wake | null = null;
    for (const candidate of [...candidates, this.requested]) {
      if (!candidate) continue;
      // Nothing sooner than "soon": a burst of work shares one tick.
      const at = candidate === this.requested ? candidate.at : Math.max(candidate.at, now + config.soonMs);
      if (!next || at < next.at) next = { at, reason: candidate.reason };
    }
    // The reason goes into the tick's record (its caller writes it), so the alarm alone is set here:
    // a key beside it would be one more row written every tick.
    if (next) await this.arm(next.at);
    else await this.clear();
    return next;
  }

  /** Pulls the alarm forward to "soon" (never pushes it back). */
  async soon(config: TownConfig, reason: string): Promise<void> {
    const at = this.clock.now() + config.soonMs;
    if (!this.requested || at < this.requested.at) this.requested = { at, reason };
    await this.byLatest(at, reason);
  }

  /** Makes sure the alarm fires at `at` or sooner (never pushes it back). */
  async byLatest(at: number, reason: string): Promise<void> {
    const current = await this.storage.getAlarm();
    if (current !== null && current <= at) return;
    await this.set(at, reason);
  }

  /** Sets the alarm outside a tick's schedule, with its reason kept beside it (no tick record says it). */
  async set(at: number, reason: string): Promise<void> {
    await this.storage.put<Wake>(ALARM_KEY, { at, reason });
    // Not SQL, and billed as a row written: the reason's key (the alarm is counted by arm).
    this.rows.writtenOutsideSql(1);
    await this.arm(at);
  }

  private async arm(at: number): Promise<void> {
    await this.storage.setAlarm(at);
    this.rows.writtenOutsideSql(1);
  }

  /** The alarm as set, with why: from the tick that set it, or from the key of whatever set it since. */
  async current(): Promise<Wake | null> {
    const at = await this.storage.getAlarm();
    if (at === null) return null;
    const byTick = this.recorded();
    if (byTick?.at === at) return { at, reason: byTick.reason };
    const info = await this.storage.get<Wake>(ALARM_KEY);
    return { at, reason: info && info.at === at ? info.reason : "scheduled" };
  }

  async clear(): Promise<void> {
    this.requested = null;
    await this.storage.deleteAlarm();
    await this.storage.delete(ALARM_KEY);
  }
}

/** How long to wait after the n-th failed tick in a row: doubling from `failedTickBackoffBaseMs`, never beyond `idleAlarmMs`. */
export const failedTickBackoff = (failures: number, config: TownConfig): number => doublingDelay(failures, config.failedTickBackoffBaseMs, config.idleAlarmMs);
