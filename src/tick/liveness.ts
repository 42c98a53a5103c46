import { CounterDeltas } from "../observability/counters";
import { METRICS } from "../observability/metrics";
import { OVERDUE_GRACE_MS } from "../fleet/fleet-row";
import { deadlineSinceLastTick, earliest, owedWork, type ShellDues } from "./owed";
import type { QueueStats } from "../domain/queue";
import type { TownRuntime } from "../town/runtime";
import type { Wake } from "../domain/plan";
import type { AlarmSchedule } from "./schedule";

export type AlarmCheck =
  /** An alarm is set, in time for what is owed. */
  | { readonly outcome: "armed"; readonly alarm: Wake }
  /** Work was owed and the alarm was missing (or late): it is set again, and counted. */
  | { readonly outcome: "rearmed"; readonly alarm: Wake; readonly owed: Wake }
  /** Nothing is owed and no alarm is set: the town sleeps, as it should. */
  | { readonly outcome: "asleep" };

/**
 * The watchdog's question to a town: is your alarm armed for what you owe? An alarm can be lost — dropped
 * by the platform after its retries, or never set again after an exception before `setAlarm` — and a
 * town whose alarm is lost sleeps until some caller writes to it. Here the town works out what it owes
 * (as its schedule would after a tick) and, if it owes something and no alarm covers it, sets the alarm
 * again and counts it (`METRICS.alarmRearmed`).
 */
export async function ensureArmed(
  runtime: TownRuntime,
  now: number,
  schedule: AlarmSchedule,
  seen: { lastTickAt: number | null; queue: QueueStats },
  dues: ShellDues,
): Promise<AlarmCheck> {
  const { store, state } = runtime;
  const owed = earliest(owedWork(runtime, now, seen.queue, deadlineSinceLastTick(runtime, seen.lastTickAt), dues));
  const current = await schedule.current();
  if (!owed) return current ? { outcome: "armed", alarm: current } : { outcome: "asleep" };
  const dueAt = Math.max(owed.at, now + state.town.config.soonMs);
  if (current && current.at <= dueAt + OVERDUE_GRACE_MS) return { outcome: "armed", alarm: current };
  const alarm = { at: dueAt, reason: `re-armed by the watchdog: ${owed.reason}` };
  await schedule.set(alarm.at, alarm.reason);
  store.counters.add(new CounterDeltas().add(METRICS.alarmRearmed, {}).list());
  return { outcome: "rearmed", alarm, owed };
}

/** Liveness as status and metrics show it: the last tick, its age, and how late the next one is. */
export interface Liveness {
  readonly lastTickAt: number | null;
  /** Since the last tick (null: none yet). A sleeping town's grows, and that is fine: see `overdueMs`. */
  readonly lastTickAgeMs: number | null;
  /** How far past due the town's next tick is: past its alarm, or — with no alarm — past what it owes. 0 when on time or asleep. */
  readonly overdueMs: number;
  /** Whether the town owes anything (else it sleeps with no alarm). */
  readonly owesWork: boolean;
}

/** Liveness at `now`, from the alarm, the last tick's time and the queue as the caller read them. */
export function livenessOf(runtime: TownRuntime, now: number, alarm: Wake | null, lastTickAt: number | null, queue: QueueStats, dues: ShellDues): Liveness {
  const owed = earliest(owedWork(runtime, now, queue, deadlineSinceLastTick(runtime, lastTickAt), dues));
  const dueAt = alarm ? alarm.at : owed ? owed.at : null;
  return {
    lastTickAt,
    lastTickAgeMs: lastTickAt === null ? null : Math.max(0, now - lastTickAt),
    overdueMs: dueAt === null ? 0 : Math.max(0, now - dueAt),
    owesWork: owed !== null,
  };
}
