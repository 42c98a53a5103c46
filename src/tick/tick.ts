import { advanceTown, describeError, type ActionResult, type Advance } from "../domain/advance";
import { ACTION_TYPES, type ActionType } from "../domain/actions";
import { parseLoggedEvent, type TownEvent } from "../domain/events";
import { enforceInvariants, invariantFocus } from "../domain/invariants";
import { queueFacts } from "../domain/queue";
import type { StoredEvent } from "../db/event-store";
import type { NewTick } from "../db/tick-store";
import type { Alert } from "../domain/alerts";
import { CounterDeltas } from "../observability/counters";
import { METRICS } from "../observability/metrics";
import { measureTick, type TickFacts } from "../db/tick-metrics";
import { trackViolations, type ViolationChanges } from "../domain/violations";
import { shownEventId } from "../db/event-rows";
import { inTransaction, persistChanges, type TownRuntime } from "../town/runtime";
import { storageAlertAt, storageAlertDue } from "../domain/storage";

/** What a tick did (what its metrics are measured on, and more), for the caller to execute effects, schedule the next alarm and report. */
export interface TickReport extends TickFacts {
  /** The events drained, as stored (with their attempts). */
  readonly drained: readonly StoredEvent[];
  readonly tickId: number;
  readonly record: NewTick;
  /** What the tick has to tell Sentry (queued in its transaction, delivered after it). */
  readonly alerts: readonly Alert[];
  /** The database's size as the tick began. */
  readonly storage: { readonly databaseBytes: number };
}

/**
 * A tick, committed: the transaction below, then the bookkeeping that must follow a committed tick and
 * only a committed one (what the next tick looks at, what the platform reported since, the open
 * violations). The alarm and the benchmark both tick through here.
 */
export function commitTick(runtime: TownRuntime, now: number): TickReport {
  const report = inTransaction(runtime, () => runTick(runtime, now));
  runtime.state.tickCommitted(now, report.advance.claimed);
  runtime.observedSinceTick.clear();
  runtime.openViolations = new Map(report.violations.open.map((v) => [v.key, v]));
  if (report.alerts.some((alert) => alert.kind === "storage_high")) runtime.storageAlertedAt = now;
  else if (report.storage.databaseBytes < storageAlertAt(runtime.state.town.config)) runtime.storageAlertedAt = null;
  return report;
}

/**
 * The synchronous heart of a tick, in the order of DESIGN §1: drain a bounded batch of pending events
 * and apply them, reconcile, check the invariants (applying the safe repairs), and persist the state,
 * the events' new status, the outbox, the violations, the counters and the tick record — all in one
 * transaction. A crash anywhere in here leaves storage and memory as they were: no event is lost or
 * applied twice. (A dry run calls it inside a transaction it rolls back.)
 */
export function runTick(runtime: TownRuntime, now: number): TickReport {
  const { store, state } = runtime;
  const config = state.town.config;
  const phases = new PhaseTimer();

  const tickId = store.ticks.nextId();
  const databaseBytes = store.databaseSize;
  const logSeq = store.events.maxSeq();
  const drained = store.events.pending(config.drainBatchSize);
  phases.lap("read");
  // A row that no longer parses (older version, corruption) fails like an event that throws.
  const events: TownEvent[] = [];
  const unparsable: { seq: number; error: string }[] = [];
  for (const row of drained) {
    const parsed = parseLoggedEvent(row);
    if (parsed.ok) events.push(parsed.event);
    else unparsable.push({ seq: row.seq, error: parsed.error });
  }
  phases.lap("drain");

  const advance = advanceTown(state, events, now);
  phases.lap("reconcile");

  const processed: number[] = [];
  const failed = [...unparsable];
  for (const result of advance.events) {
    if (result.outcome === "failed") failed.push({ seq: result.seq, error: result.detail });
    else processed.push(result.seq);
  }
  const deadSeqs = new Set(store.events.settle(processed, failed, now, config.maxEventAttempts));
  const queue = store.events.queueStats();
  phases.lap("settle");

  // What changed since the last tick, the entities of open violations, and one bucket of the sweep.
  const focus = invariantFocus(state, tickId, runtime.openViolations.values());
  const { detected, repairs } = enforceInvariants(state, now, queueFacts(queue, now), focus);
  const violations = trackViolations(runtime.openViolations, detected, now, config.violationReportCooldownMs);
  phases.lap("invariants");

  persistChanges(runtime);
  phases.lap("persist");
  store.outbox.enqueue(advance.effects, now);
  store.violations.save(violations, now);
  // One row for the counters: this tick's increments, and those the previous tick's record held (see TickStore.heldCounters).
  store.counters.add([
    ...tickCounters(drained, processed, failed.length, deadSeqs.size, advance.actions, repairs, violations, now).list(),
    ...store.ticks.heldCounters(),
  ]);
  const deadLettered = drained.filter((row) => deadSeqs.has(row.seq));
  const facts: TickFacts = { at: now, drained, advance, repairs, violations, failed: failed.length, deadLettered: deadLettered.length, queue };
  const record = { ...tickRecord(runtime, facts), id: tickId, logSeq };
  phases.lap("records");
  record.phases = phases.result();
  store.ticks.insert(record);
  // What to tell Sentry waits in storage, with the tick, until Sentry takes it.
  const alerts = tickAlerts(runtime, advance, violations, deadLettered, failed);
  const storageHigh = storageAlertDue(databaseBytes, config, runtime.storageAlertedAt, now);
  if (storageHigh) alerts.push(storageHigh);
  store.alerts.enqueue(alerts, { townId: state.town.id, tickId }, now);

  return { ...facts, drained, tickId, record, alerts, storage: { databaseBytes } };
}

/** Milliseconds per phase. In production `Date.now()` only advances across I/O, so CPU-only phases read 0. */
class PhaseTimer {
  private readonly phases: Record<string, number> = {};
  private last = Date.now();
  lap(name: string): void {
    const now = Date.now();
    this.phases[name] = now - this.last;
    this.last = now;
  }
  result(): Record<string, number> {
    return { ...this.phases };
  }
}

function tickCounters(
  drained: readonly StoredEvent[],
  processed: readonly number[],
  failures: number,
  deadLettered: number,
  actions: readonly ActionResult[],
  repairs: readonly ActionResult[],
  violations: ViolationChanges,
  now: number,
): CounterDeltas {
  const deltas = new CounterDeltas().add(METRICS.ticks, { result: "ok" });
  // Counted first, labelled once per series: a tick may drain a thousand events.
  const byType = new Map<string, number>();
  const waited: number[] = [];
  const processedSeqs = new Set(processed);
  for (const row of drained) {
    byType.set(row.type, (byType.get(row.type) ?? 0) + 1);
    if (processedSeqs.has(row.seq)) waited.push(Math.max(0, now - row.createdAt) / 1000);
  }
  for (const [type, n] of byType) deltas.add(METRICS.eventsDrained, { type }, n);
  deltas.observeAll(METRICS.eventQueueDuration, {}, waited);
  deltas.add(METRICS.eventRetries, {}, failures);
  deltas.add(METRICS.eventsDeadLettered, {}, deadLettered);
  const emitted = new Map<string, { type: string; rule: string; n: number; refused: number }>();
  for (const { action, refusal } of [...actions, ...repairs]) {
    const key = `${action.type} ${action.rule}`;
    const entry = emitted.get(key) ?? { type: action.type, rule: action.rule, n: 0, refused: 0 };
    entry.n += 1;
    if (refusal !== null) entry.refused += 1;
    emitted.set(key, entry);
  }
  for (const { type, rule, n, refused } of emitted.values()) {
    deltas.add(METRICS.actions, { type, rule }, n);
    deltas.add(METRICS.actionsRefused, { type, rule }, refused);
  }
  for (const { action } of repairs) deltas.add(METRICS.repairs, { invariant: action.rule.slice("invariant.".length) });
  for (const violation of violations.started) deltas.add(METRICS.invariantViolations, { invariant: String(violation.invariant) });
  return deltas;
}

function tickAlerts(
  runtime: TownRuntime,
  advance: Advance,
  violations: ViolationChanges,
  deadLettered: readonly StoredEvent[],
  failed: ReadonlyArray<{ seq: number; error: string }>,
): Alert[] {
  const alerts: Alert[] = [
    ...violations.started.map((violation) => ({ kind: "violation_started" as const, violation })),
    ...violations.reminders.map((violation) => ({ kind: "violation_open" as const, violation })),
    ...violations.resolved.map((violation) => ({ kind: "violation_resolved" as const, violation })),
  ];
  const errors = new Map(failed.map((f) => [f.seq, f.error]));
  for (const row of deadLettered) {
    alerts.push({
      kind: "event_dead_lettered",
      seq: row.seq,
      eventId: shownEventId(row.eventId).eventId,
      type: row.type,
      error: errors.get(row.seq) ?? "unknown",
    });
  }
  for (const { action, refusal } of advance.actions) {
    if (refusal === null && action.type === "set_breaker" && action.to === "open") {
      const breaker = runtime.state.town.breaker;
      alerts.push({ kind: "breaker_opened", reason: action.reason, recentFailures: breaker.failures.length });
    }
    // Within a day the verdict only rises (usage only grows), so each of these goes once a day.
    if (refusal === null && action.type === "judge_budget" && action.verdict !== "continue") {
      const { day, usedMs, limitMs } = action;
      const onExceeded = runtime.state.town.config.budget?.onExceeded ?? "pause";
      alerts.push({ kind: action.verdict === "warn" ? "budget_warning" : "budget_exhausted", day, usedMs, limitMs, onExceeded });
    }
  }
  return alerts;
}

function tickRecord(runtime: TownRuntime, facts: TickFacts): NewTick {
  const { at, drained, advance, repairs } = facts;
  const byType = Object.fromEntries(ACTION_TYPES.map((type) => [type, 0])) as Record<ActionType, number>;
  const byRule: Record<string, number> = {};
  for (const { action } of advance.actions) {
    byType[action.type] += 1;
    byRule[action.rule] = (byRule[action.rule] ?? 0) + 1;
  }
  return {
    at,
    result: "ok",
    ...measureTick(facts),
    firstSeq: drained[0]?.seq ?? null,
    lastSeq: drained.at(-1)?.seq ?? null,
    drainedSeqs: drained.map((row) => row.seq),
    actionsByType: byType,
    actionsByRule: byRule,
    breakerStatus: runtime.state.town.breaker.status,
    nextAlarmAt: advance.wake?.at ?? null,
    nextAlarmReason: advance.wake?.reason ?? null,
    // With their reasons: a bead's history shows why a rule acted (replay compares them without).
    actions: [...advance.actions, ...repairs].map(({ action }) => action),
    observations: observedSinceTick(runtime),
  };
}

/** What the platform reported since the previous tick, as `[agentId, lastHeartbeatAt]` (replay re-applies it). */
function observedSinceTick(runtime: TownRuntime): Array<[string, number | null]> {
  return [...runtime.observedSinceTick].sort().map((agentId) => [agentId, runtime.state.agent(agentId)?.lastHeartbeatAt ?? null]);
}

export { describeError };
