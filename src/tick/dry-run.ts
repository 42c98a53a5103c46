import type { TickRow } from "../db/tick-store";
import { tickView } from "../views/tick-history";
import type { TownRuntime } from "../town/runtime";
import { runTick, type TickReport } from "./tick";

/** Thrown to roll a dry run back. */
const DRY_RUN = Symbol("dry run");

/**
 * What the next tick would do: the very tick code (same drain, same config, same rules), inside a
 * transaction that is rolled back, with the in-memory state rolled back with it. Changes nothing.
 */
export function dryRun(runtime: TownRuntime, now: number) {
  const mark = runtime.state.mark();
  const restoreFocus = runtime.state.saveFocus();
  let report: TickReport | undefined;
  try {
    runtime.store.transaction(() => {
      report = runTick(runtime, now);
      throw DRY_RUN;
    });
  } catch (error) {
    if (error !== DRY_RUN) throw error;
  } finally {
    runtime.state.rollbackTo(mark);
    restoreFocus();
  }
  const tick = report!;
  const outcomes = new Map(tick.advance.events.map((e) => [e.seq, e]));
  return {
    townId: runtime.state.town.id,
    now,
    events: tick.drained.map((row) => ({
      seq: row.seq,
      eventId: row.eventId,
      type: row.type,
      agentId: row.agentId,
      beadId: row.beadId,
      createdAt: row.createdAt,
      attempts: row.attempts,
      outcome: outcomes.get(row.seq) ?? { seq: row.seq, outcome: "failed", detail: "unparsable" },
    })),
    actions: tick.advance.actions.map(({ action, refusal }) => (refusal === null ? action : { ...action, refused: refusal })),
    repairs: tick.repairs.map(({ action }) => action),
    effects: tick.advance.effects,
    violations: { open: tick.violations.open.length, started: tick.violations.started, resolved: tick.violations.resolved.map((v) => v.key) },
    metrics: { ...tickView({ ...tick.record, id: tick.tickId } as TickRow), id: null },
    wake: tick.advance.wake,
  };
}
