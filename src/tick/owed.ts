import type { QueueStats } from "../domain/queue";
import { deadlineReason } from "../domain/deadlines";
import type { TownRuntime } from "../town/runtime";
import type { Wake } from "../domain/plan";

/** What the shell knows beside the state and its storage: the moments the town's alarm must also cover. */
export interface ShellDues {
  /** The next report of agents the container service runs inside the object (the simulated ones; null: none). */
  readonly platformReport: Wake | null;
  /** The town list does not know the town yet: registering is retried. */
  readonly registrationPending: boolean;
  /** Retention owed: past a bound, behind, or the oldest kept aging out (null: nothing will be due). */
  readonly retention: Wake | null;
}

/**
 * Everything the town owes, each with the moment it falls due: the candidates of its next alarm.
 * Events waiting, side effects and alerts due, simulated reports, a deadline of the rules (`deadline`: what the
 * tick just computed, or — when no tick ran, as for the watchdog — the first deadline after the last
 * tick), a look at open violations (so they are re-checked, and reminded on their cooldown), a
 * registration to retry, retention (past a bound, or when the oldest kept ages out). Empty: the town owes nothing and may sleep.
 */
export function owedWork(runtime: TownRuntime, now: number, queue: QueueStats, deadline: Wake | null, dues: ShellDues): Wake[] {
  const config = runtime.state.town.config;
  const owed: Wake[] = [];
  if (deadline) owed.push(deadline);
  // Owed since the oldest arrived (the alarm itself is never set sooner than "soon").
  if (queue.pending > 0) owed.push({ at: queue.oldestPendingAt ?? now, reason: `${queue.pending} event(s) pending` });
  const effectAt = runtime.store.outbox.nextAt();
  if (effectAt !== null) owed.push({ at: effectAt, reason: "side effect due" });
  const alertAt = runtime.store.alerts.nextAt();
  if (alertAt !== null) owed.push({ at: alertAt, reason: "alert to send again" });
  if (dues.platformReport) owed.push(dues.platformReport);
  if (runtime.openViolations.size > 0)
    owed.push({ at: now + config.idleAlarmMs, reason: `${runtime.openViolations.size} invariant violation(s) open: looking again` });
  if (dues.registrationPending) owed.push({ at: now + config.idleAlarmMs, reason: "registering with the town list again" });
  if (dues.retention) owed.push(dues.retention);
  return owed;
}

/** The first deadline of the rules after the last tick: what a tick that never came would have had to handle. */
export function deadlineSinceLastTick(runtime: TownRuntime, lastTickAt: number | null): Wake | null {
  const next = runtime.state.nextDeadline(lastTickAt ?? -Infinity);
  return next ? { at: next.at, reason: deadlineReason(next) } : null;
}

/** The earliest of what is owed, or null. */
export function earliest(owed: readonly Wake[]): Wake | null {
  let first: Wake | null = null;
  for (const item of owed) if (!first || item.at < first.at) first = item;
  return first;
}
