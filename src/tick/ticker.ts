import { alertError } from "../domain/alerts";
import { isStorageFull } from "../domain/storage";
import type { Wake } from "../domain/plan";
import type { QueueStats } from "../domain/queue";
import type { PruneRun } from "./housekeeping";
import type { OutboxRun } from "../effects/outbox";
import { townSummary } from "../fleet/fleet-report";
import type { TownSummary } from "../fleet/town-summary";
import { CounterDeltas } from "../observability/counters";
import type { Logger } from "../observability/log";
import { METRICS } from "../observability/metrics";
import { measureAfterTick } from "../db/tick-metrics";
import type { Rows } from "../db/row-meter";
import type { TownParts } from "../town/parts";
import type { TownRuntime } from "../town/runtime";
import { deliverAlerts } from "./alerting";
import { FailureStreak } from "./failure-streak";
import { owedWork, type ShellDues } from "./owed";
import { failedTickBackoff } from "./schedule";
import { commitTick, describeError, type TickReport } from "./tick";

/**
 * The steps around a committed tick, each under its own name — the `step` label of
 * `town_reconciler_after_tick_failures_total` — with what it returns when it works and what stands in
 * for its result when it fails.
 */
export interface StepResults {
  /** Agents the container service runs inside the object reported; when they report next. */
  readonly "platform reports": Wake | null;
  readonly alerts: void;
  /** Side effects executed (null: the step failed). */
  readonly "side effects": OutboxRun | null;
  readonly snapshot: void;
  /** What retention deleted (null: not due, or failed). */
  readonly retention: PruneRun | null;
  readonly registration: void;
  /** The next alarm (null: the town owes nothing and sleeps; FAILED: the step failed). */
  readonly schedule: Wake | null | typeof FAILED;
  readonly records: void;
  /** The summary the fleet may be told (null: the step failed). */
  readonly "fleet summary": TownSummary | null;
  /** Whether the registry took the summary (null: it was not due). */
  readonly "fleet report": boolean | null;
}
export type StepName = keyof StepResults;

/** What a failed step that has no result of its own leaves. */
export const FAILED = Symbol("step failed");

/** What the alarm did: the tick's report (null: it threw) and each step's result. */
export interface TickOutcome {
  readonly report: TickReport | null;
  readonly steps: Partial<StepResults>;
  /** The steps that failed, in order. */
  readonly failed: readonly StepName[];
}

/**
 * The town's alarm: let the agents the container service hosts here report, run the transactional
 * tick, then the steps that follow a committed tick — each on its own, so one that fails costs only
 * itself (logged, and counted in `town_reconciler_after_tick_failures_total{step}`): tell Sentry,
 * execute side effects, snapshot, retention, registration, schedule the next alarm, record what the
 * tick did, report to the fleet. Never throws: a failed tick is recorded and retried on our own
 * backoff (a throwing alarm is retried a few times by the platform, then dropped); the streak of
 * failed ticks is kept in storage, so an eviction does not reset the backoff.
 */
export class Ticker {
  private readonly streak: FailureStreak;

  constructor(
    private readonly parts: TownParts,
    storage: DurableObjectStorage,
    private readonly log: Logger,
  ) {
    this.streak = new FailureStreak(storage);
  }

  async tick(runtime: TownRuntime): Promise<TickOutcome> {
    const { clock, platform, schedule } = this.parts;
    const now = clock.now();
    const startedAt = Date.now();
    const log = this.log.with({ townId: runtime.state.town.id });
    schedule.beginTick();
    // What ran since the last tick's record (requests, that record itself) is the requests' part of the bill.
    const sinceLastTick = this.parts.store.rows.take();
    const steps = new Steps(log);
    const platformReport = await steps.run("platform reports", () => platform.takeReports(runtime, now), null);
    let report: TickReport;
    try {
      report = commitTick(runtime, now);
    } catch (error) {
      await this.failed(runtime, now, startedAt, error, log, sinceLastTick);
      return { report: null, steps: steps.results, failed: steps.failed };
    }
    this.streak.ended();
    steps.log = log.with({ tickId: report.tickId });
    // A tick committed its writes: there is room again for new work.
    if (runtime.storageFullSince !== null) {
      steps.log.info("storage has room again: new work is taken", { fullSince: runtime.storageFullSince });
      runtime.storageFullSince = null;
    }
    await this.afterCommit(runtime, report, now, startedAt, platformReport, steps, sinceLastTick);
    return { report, steps: steps.results, failed: steps.failed };
  }

  /** The town was deleted: its next life starts with no streak. */
  reset(): void {
    this.streak.forget();
  }

  /** What the town's alarm must cover beside its state and storage, outside a tick (the watchdog, liveness figures). */
  dues(runtime: TownRuntime, now: number): ShellDues {
    return {
      platformReport: this.parts.platform.nextReport(),
      registrationPending: this.parts.registration.pending(),
      retention: this.parts.housekeeping.owed(runtime, now),
    };
  }

  private async afterCommit(
    runtime: TownRuntime,
    report: TickReport,
    now: number,
    startedAt: number,
    platformReport: Wake | null,
    steps: Steps,
    sinceLastTick: Rows,
  ): Promise<void> {
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
    const wake = await steps.run(
      "schedule",
      () => {
        queue = store.events.queueStats();
        const dues = { platformReport, registrationPending: registration.pending(), retention: housekeeping.owed(runtime, now) };
        return schedule.next(town.config, owedWork(runtime, now, queue, report.advance.wake, dues));
      },
      FAILED,
    );
    const next = wake === FAILED ? null : wake;
    const durationMs = Date.now() - startedAt;
    await steps.run(
      "records",
      () => {
        const rows = store.rows.take();
        const counters = new CounterDeltas().observe(METRICS.tickDuration, {}, durationMs / 1000);
        countRows(counters, rows, sinceLastTick);
        for (const { kind, outcome } of effects?.outcomes ?? []) counters.add(METRICS.sideEffects, { kind, outcome });
        for (const step of steps.failed) counters.add(METRICS.afterTickFailures, { step });
        for (const [reason, n] of runtime.refusedSinceTick) counters.add(METRICS.eventsRefused, { reason }, n);
        // The counters ride in the record's one row; the next tick adds them to the totals.
        store.ticks.finish(
          report.tickId,
          {
            ...measureAfterTick({ durationMs, effects, rows }),
            nextAlarmAt: next?.at ?? null,
            nextAlarmReason: next?.reason ?? (wake === null ? "none: the town owes nothing and sleeps" : null),
          },
          counters.list(),
        );
        runtime.refusedSinceTick.clear();
      },
      undefined,
    );
    // Whatever failed above, the town must wake again.
    if (wake === FAILED) await schedule.set(now + failedTickBackoff(1, town.config), "retry after a failed schedule");
    // Within the interval since the last summary, one goes to the fleet only with news and only when the next tick comes after the interval ends.
    const summary = await steps.run(
      "fleet summary",
      () => townSummary(runtime, now, { at: now, durationMs }, wake === FAILED ? now : (next?.at ?? null), queue ?? store.events.queueStats()),
      null,
    );
    if (summary === null || !reporter.dueAfterTick(summary, town.config)) return;
    const sent = await steps.run(
      "fleet report",
      async () => {
        await reporter.push(summary, town.createdAt);
        return true;
      },
      false,
    );
    // The registry must get the town's last word: try again — not sooner than the idle poll, so a
    // registry that is down is not hammered by every town at once.
    if (!sent) await schedule.byLatest(now + Math.max(town.config.fleetSummaryIntervalMs, town.config.idleAlarmMs), "fleet summary retry");
  }

  /** A tick that threw: nothing it did is kept; that it failed is recorded, reported (first of a streak, then per cooldown) and retried on backoff. */
  private async failed(runtime: TownRuntime, now: number, startedAt: number, error: unknown, log: Logger, sinceLastTick: Rows): Promise<void> {
    const { store, alerts, schedule } = this.parts;
    const config = runtime.state.town.config;
    const { failures, report } = this.streak.failed(now, config.violationReportCooldownMs);
    const delay = failedTickBackoff(failures, config);
    const reason = `retry after failed tick (${failures} in a row)`;
    log.error("tick failed", { error, consecutiveFailures: failures });
    // Full: new work is refused from now on, so the room retention makes goes to what the town holds.
    if (isStorageFull(error)) runtime.storageFullSince ??= now;
    try {
      store.transaction(() => {
        // A rolled-back transaction's rows were still read and written: they are billed. With them, what
        // the previous tick's record held (this record becomes the newest).
        store.counters.add([
          ...countRows(new CounterDeltas().add(METRICS.ticks, { result: "error" }), store.rows.take(), sinceLastTick).list(),
          ...store.ticks.heldCounters(),
        ]);
        store.ticks.insertFailed(
          now,
          describeError(error),
          Date.now() - startedAt,
          runtime.state.town.breaker.status,
          now + delay,
          reason,
          store.events.queueStats(),
        );
        if (report)
          store.alerts.enqueue(
            [{ kind: "tick_failed", error: alertError(error), consecutiveFailures: failures }],
            { townId: runtime.state.town.id, tickId: null },
            now,
          );
      });
      if (report) this.streak.reported(now);
      await deliverAlerts(store, alerts, config.alertRetry, now, log);
    } catch (recordError) {
      log.error("could not record the failed tick", { error: recordError });
    }
    await schedule.set(now + delay, reason);
  }
}

/** The rows of a tick and of what ran since the one before, into the counters the tick records. */
function countRows(counters: CounterDeltas, tick: Rows, requests: Rows): CounterDeltas {
  return counters
    .add(METRICS.rowsRead, { part: "tick" }, tick.read)
    .add(METRICS.rowsWritten, { part: "tick" }, tick.written)
    .add(METRICS.rowsRead, { part: "requests" }, requests.read)
    .add(METRICS.rowsWritten, { part: "requests" }, requests.written);
}

/** Steps that must not take each other down: each result is kept under its name; a failure is logged and remembered (for the counters), and the step's fallback used. */
class Steps {
  readonly results: { -readonly [K in StepName]?: StepResults[K] } = {};
  readonly failed: StepName[] = [];

  constructor(public log: Logger) {}

  async run<K extends StepName>(name: K, work: () => StepResults[K] | Promise<StepResults[K]>, fallback: StepResults[K]): Promise<StepResults[K]> {
    if (name in this.results) throw new Error(`step ${name} ran twice in one tick`);
    let result: StepResults[K];
    try {
      result = await work();
    } catch (error) {
      this.failed.push(name);
      this.log.error(`${name} failed`, { error });
      result = fallback;
    }
    this.results[name] = result;
    return result;
  }
}
