import { advanceTown, describeError, type Advance } from "../domain/advance";
import type { Action, ActionType } from "../domain/actions";
import { parseStoredEvent } from "./event-log";
import type { TownEvent } from "../domain/events";
import type { NewTick, QueueStats, StoredEvent } from "../db/repository";
import type { TownRuntime } from "./runtime";

/** What a tick did, for the caller to execute effects, schedule the next alarm and report. */
export interface TickReport {
  readonly tickId: number;
  readonly at: number;
  readonly drained: readonly StoredEvent[];
  readonly advance: Advance;
  readonly deadLettered: readonly StoredEvent[];
  readonly queue: QueueStats;
  readonly record: NewTick;
}

/**
 * The synchronous heart of a tick: drain a bounded batch of pending events, apply them, reconcile,
 * and persist the state changes, the events' new status, the outbox and the tick record — all in the
 * one transaction. A crash anywhere in here leaves storage and memory as they were before the tick:
 * no event is lost or applied twice.
 */
export function runTick(runtime: TownRuntime, now: number): TickReport {
  const { repo, state } = runtime;
  const config = state.town.config;
  const drained = repo.pendingEvents(config.drainBatchSize);

  // A row that no longer parses (older version, corruption) fails like an event that throws.
  const events: TownEvent[] = [];
  const unparsable: { seq: number; error: string }[] = [];
  for (const row of drained) {
    const parsed = parseStoredEvent(row);
    if (parsed.ok) events.push(parsed.event);
    else unparsable.push({ seq: row.seq, error: parsed.error });
  }

  const advance = advanceTown(state, events, now);
  repo.persist(state.changes());

  const processed: number[] = [];
  const failed = [...unparsable];
  for (const result of advance.events) {
    if (result.outcome === "failed") failed.push({ seq: result.seq, error: result.detail });
    else processed.push(result.seq);
  }
  const deadSeqs = new Set(repo.settleEvents(processed, failed, now, config.maxEventAttempts));
  repo.enqueueEffects(advance.effects, now);

  const queue = repo.queueStats();
  const record = tickRecord(runtime, now, drained, advance, deadSeqs.size, failed.length, queue);
  const tickId = repo.insertTick(record);
  return {
    tickId,
    at: now,
    drained,
    advance,
    deadLettered: drained.filter((row) => deadSeqs.has(row.seq)).map((row) => ({ ...row, status: "dead" as const })),
    queue,
    record,
  };
}

function tickRecord(
  runtime: TownRuntime,
  now: number,
  drained: readonly StoredEvent[],
  advance: Advance,
  deadLettered: number,
  failed: number,
  queue: QueueStats,
): NewTick {
  const byType: Partial<Record<ActionType, number>> = {};
  const byRule: Record<string, number> = {};
  let refused = 0;
  for (const { action, refusal } of advance.actions) {
    byType[action.type] = (byType[action.type] ?? 0) + 1;
    byRule[action.rule] = (byRule[action.rule] ?? 0) + 1;
    if (refusal !== null) refused += 1;
  }
  const count = (outcome: string) => advance.events.filter((e) => e.outcome === outcome).length;
  return {
    at: now,
    result: "ok",
    durationMs: 0,
    passes: advance.passes,
    eventsDrained: drained.length,
    eventsApplied: count("applied"),
    eventsIgnored: count("ignored"),
    eventsFailed: failed,
    eventsDeadLettered: deadLettered,
    firstSeq: drained[0]?.seq ?? null,
    lastSeq: drained.at(-1)?.seq ?? null,
    actionsEmitted: advance.actions.length,
    actionsRefused: refused,
    actionsByType: byType,
    actionsByRule: byRule,
    effectsEnqueued: advance.effects.length,
    effectsAttempted: 0,
    effectsSucceeded: 0,
    effectsFailed: 0,
    queueDepth: queue.pending,
    oldestPendingAgeMs: queue.oldestPendingAt === null ? null : Math.max(0, now - queue.oldestPendingAt),
    deadLetters: queue.dead,
    breakerStatus: runtime.state.town.breaker.status,
    nextAlarmAt: advance.wake?.at ?? null,
    nextAlarmReason: advance.wake?.reason ?? null,
    actions: advance.actions.map(({ action }) => compactAction(action)),
    observations: observationsSince(runtime, runtime.lastTickAt),
  };
}

/** The action without its human reason: what replay compares. */
function compactAction(action: Action): Omit<Action, "reason"> {
  const { reason: _reason, ...rest } = action;
  return rest;
}

/** Heartbeats that arrived since the previous tick, as `[agentId, lastHeartbeatAt]`. */
function observationsSince(runtime: TownRuntime, since: number): Array<[string, number | null]> {
  const seen: Array<[string, number | null]> = [];
  for (const [agentId, observation] of runtime.observations) {
    if (observation.observedAt !== null && observation.observedAt > since) {
      seen.push([agentId, runtime.state.agent(agentId)?.lastHeartbeatAt ?? null]);
    }
  }
  return seen;
}

export { describeError };
