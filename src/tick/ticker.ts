import { alertError } from "../domain/alerts";
import { CounterDeltas } from "../observability/counters";
import type { QueueStats } from "../domain/queue";
import type { Logger } from "../observability/log";
import { METRICS } from "../observability/metrics";
import { measureAfterTick } from "../db/tick-metrics";
import { deliverAlerts } from "./alerting";
import { townSummary } from "../fleet/fleet-report";
import { owedWork, type ShellDues } from "./owed";
import type { TownParts } from "../town/parts";
import type { TownRuntime } from "../town/runtime";
import type { Wake } from "../domain/plan";
import { failedTickBackoff } from "./schedule";
import { commitTick, describeError, type TickReport } from "./tick";

/** What a failed schedule step leaves (null is a schedule too: no alarm, nothing owed). */
const SCHEDULE_FAILED = Symbol("schedule failed");

/**
 * The town's alarm: let the (simulated) platform report, run the transactional tick, then the steps
 * that follow a committed tick — each on its own, so one that fails costs only itself (logged, and
 * counted in `town_reconciler_after_tick_failures_total{step}`): tell Sentry, execute side effects,
 * snapshot, retention, registration, schedule the next alarm, record what the tick did, report to the
 * fleet. Never throws: a failed tick is recorded and retried on our own backoff (a throwing alarm is
 * retried a few times by the platform, then dropped).
 */
export class Ticker {
  /** Failed ticks in a row, and when the streak was last reported. */
  private failures = 0;
  private lastFailureReportAt = 0;

  constructor(
    private readonly parts: TownParts,
    private readonly log: Logger,
  ) {}

  async tick(runtime: TownRuntime): Promise<void> {
    const { clock, platform, schedule } = this.parts;
    const now = clock.now();
    const startedAt = Date.now();
    const log = this.log.with({ townId: runtime.state.town.id });
    schedule.beginTick();
    const before = new Steps(log);
    const simulatedAt = await before.run("simulated platform", () => platform.reportSimulated(runtime, now), null);
    let report: TickReport;
    try {
      report = commitTick(runtime, now);
    } catch (error) {
      await this.failed(runtime, now, startedAt, error, log);
      return;
    }
    this.failures = 0;
    await this.afterCommit(runtime, report, now, startedAt, simulatedAt, new Steps(log.with({ tickId: report.tickId }), before.failed));
  }

  /** What the town's alarm must cover beside its state and storage, outside a tick (the watchdog, liveness figures). */
  dues(): ShellDues {
    return { simulatedAt: this.parts.platform.nextSimulatedReport(), registrationPending: this.parts.registration.pending() };
  }

  /** The town was deleted: its next life starts with no streak. */
  reset(): void {
    this.failures = 0;
    this.lastFailureReportAt = 0;
  }

  private async afterCommit(runtime: TownRuntime, report: TickReport, now: number, startedAt: number, simulatedAt: number | null, steps: Steps): Promise<void> {
    const { store, alerts, platform, housekeeping, registration, reporter, schedule } = this.parts;
    const town = runtime.state.town;
    for (const alert of report.alerts) {
      if (alert.kind === "event_dead_lettered") steps.log.error("event dead-lettered", { seq: alert.seq, eventId: alert.eventId, type: alert.type });
    }
    await steps.run("alerts", () => deliverAlerts(store, alerts, town.config.alertRetry, now, steps.log), undefined);
    const effects = await steps.run("side effects", () => platform.runEffects(runtime), null);
    await steps.run("snapshot", () => housekeeping.snapshotIfDue(runtime, now, report.tickId), undefined);
    await steps.run("retention", () => housekeeping.pruneIfDue(runtime, now), null);
    await steps.run("registration", () => registration.retryIfPending(town.id, town.createdAt), undefined);
    // The queue after side effects (their results are events), read once for the schedule and the summary: nothing in between logs one.
    let queue: QueueStats | undefined;
    const wake = await steps.run<Wake | null | typeof SCHEDULE_FAILED>(
      "schedule",
      () => {
        queue = store.events.queueStats();
        const dues = { simulatedAt, registrationPending: registration.pending() };
        return schedule.next(town.config, owedWork(runtime, now, queue, report.advance.wake, dues));
      },
      SCHEDULE_FAILED,
    );
    const next = wake === SCHEDULE_FAILED ? null : wake;
    const durationMs = Date.now() - startedAt;
    await steps.run("records", () => {
      const counters = new CounterDeltas().observe(METRICS.tickDuration, {}, durationMs / 1000);
      for (const { kind, outcome } of effects?.outcomes ?? []) counters.add(METRICS.sideEffects, { kind, outcome });
      for (const step of steps.failed) counters.add(METRICS.afterTickFailures, { step });
      store.transaction(() => {
        store.ticks.finish(report.tickId, {
          ...measureAfterTick({ durationMs, effects }),
          nextAlarmAt: next?.at ?? null,
          nextAlarmReason: next?.reason ?? (wake === null ? "none: the town owes nothing and sleeps" : null),
        });
        store.counters.add(counters.list());
      });
    }, undefined);
    // Whatever failed above, the town must wake again.
    if (wake === SCHEDULE_FAILED) await schedule.set(now + failedTickBackoff(1, town.config), "retry after a failed schedule");
    // Within the interval since the last summary, one goes to the fleet only with news and only when the next tick comes after the interval ends.
    const summary = await steps.run(
      "fleet summary",
      () => townSummary(runtime, now, { at: now, durationMs }, wake === SCHEDULE_FAILED ? now : (next?.at ?? null), queue ?? store.events.queueStats()),
      null,
    );
    if (summary !== null && reporter.dueAfterTick(summary, town.config)) {
      const sent = await steps.run("fleet summary", async () => {
        await reporter.push(summary);
        return true;
      }, false);
      // The registry must get the town's last word: try again — not sooner than the idle poll, so a
      // registry that is down is not hammered by every town at once.
      if (!sent) await schedule.byLatest(now + Math.max(town.config.fleetSummaryIntervalMs, town.config.idleAlarmMs), "fleet summary retry");
    }
  }

  /** A tick that threw: nothing it did is kept; that it failed is recorded, reported (first of a streak, then per cooldown) and retried on backoff. */
  private async failed(runtime: TownRuntime, now: number, startedAt: number, error: unknown, log: Logger): Promise<void> {
    const { store, alerts, schedule } = this.parts;
    this.failures += 1;
    const config = runtime.state.town.config;
    const delay = failedTickBackoff(this.failures, config);
    const reason = `retry after failed tick (${this.failures} in a row)`;
    log.error("tick failed", { error, consecutiveFailures: this.failures });
    const report = this.failures === 1 || now - this.lastFailureReportAt >= config.violationReportCooldownMs;
    try {
      store.transaction(() => {
        store.ticks.insertFailed(now, describeError(error), Date.now() - startedAt, runtime.state.town.breaker.status, now + delay, reason, store.events.queueStats());
        store.counters.add(new CounterDeltas().add(METRICS.ticks, { result: "error" }).list());
        if (report) store.alerts.enqueue([{ kind: "tick_failed", error: alertError(error), consecutiveFailures: this.failures }], { townId: runtime.state.town.id, tickId: null }, now);
      });
      if (report) this.lastFailureReportAt = now;
      await deliverAlerts(store, alerts, config.alertRetry, now, log);
    } catch (recordError) {
      log.error("could not record the failed tick", { error: recordError });
    }
    await schedule.set(now + delay, reason);
  }
}

/** Steps that must not take each other down: a failure is logged and remembered (for the counters), and the step's fallback used. */
class Steps {
  constructor(
    readonly log: Logger,
    readonly failed: string[] = [],
  ) {}

  async run<T>(name: string, work: () => T | Promise<T>, fallback: T): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.failed.push(name);
      this.log.error(`${name} failed`, { error });
      return fallback;
    }
  }
}
