import type { ColumnBuilderBase } from "drizzle-orm";
import { integer } from "drizzle-orm/sqlite-core";
import type { LoggedEvent } from "../domain/events";
import { oldestPendingAge, type QueueStats } from "../domain/queue";
import type { ActionResult, Advance } from "../domain/advance";
import type { ViolationChanges } from "../domain/violations";
import type { Rows } from "./row-meter";

/**
 * The numeric metrics of a tick, declared once. Each entry is a column of the `ticks` table (the schema
 * spreads them in), where its value comes from — the tick's transaction, the steps after it, or a tick that
 * failed — and where it is shown. From the entry alone a metric reaches the tick record, a failed tick's
 * row, the JSON history (`tickView`), `/ticks/summary`, the CSV columns (in this order) and, flagged
 * `slim`, `fields=slim`. A new one needs its entry here and a migration (`npm run db:generate`): a column
 * added to a table with rows must have a default (`.notNull().default(0)`) or be nullable.
 */

/** What a tick knows when its transaction writes its record. */
export interface TickFacts {
  readonly at: number;
  readonly drained: readonly LoggedEvent[];
  readonly advance: Advance;
  /** Actions that repaired invariant violations. */
  readonly repairs: readonly ActionResult[];
  readonly violations: ViolationChanges;
  /** Drained events that failed (threw, or no longer parse), and those of them dead-lettered now. */
  readonly failed: number;
  readonly deadLettered: number;
  /** The queue after the drained events settled. */
  readonly queue: QueueStats;
}

/** What is known only once the steps after the tick's transaction are done. */
export interface AfterTickFacts {
  readonly durationMs: number;
  /** Side effects executed after the commit (null: that step failed). */
  readonly effects: { readonly attempted: number; readonly succeeded: number; readonly failed: number } | null;
  /** SQLite rows the tick read and wrote, from its start to its record (each index update a row, `setAlarm` one written). */
  readonly rows: Rows;
}

/** A tick that threw: nothing it did was kept, but when and how long it took, and the queue it left, are known. */
export interface FailedTickFacts {
  readonly at: number;
  readonly durationMs: number;
  readonly queue: QueueStats;
}

type ValueOf<C> = C extends { _: { notNull: true } } ? number : number | null;

type Source<V> =
  /** Measured by the tick's transaction. */
  | { readonly inTick: (tick: TickFacts) => V; readonly afterTick?: never }
  /** Measured once the steps after the tick are done (0 in the record until then). */
  | { readonly afterTick: (after: AfterTickFacts) => V; readonly inTick?: never };

type TickMetricSpec<V> = Source<V> & {
  /** Its value in a failed tick's row; 0 when not given (nothing the tick did was kept). */
  readonly onFailure?: (failed: FailedTickFacts) => V;
  /** One of the columns pages and dashboards draw (`fields=slim`). */
  readonly slim?: true;
  /** Not aggregated by `/ticks/summary`. */
  readonly summary?: false;
};

/** A declared tick metric, its flags and sources as optional members. */
export type TickMetric<C extends ColumnBuilderBase = ColumnBuilderBase> = TickMetricSpec<ValueOf<C>> & { readonly column: C };

const metric = <C extends ColumnBuilderBase, const S extends TickMetricSpec<ValueOf<C>>>(column: C, spec: S): S & { readonly column: C } => ({
  ...spec,
  column,
});

const ageMs = (queue: QueueStats, now: number) => oldestPendingAge(queue.oldestPendingAt, now);

export const TICK_METRICS = {
  /** Wall clock of the tick, its side effects included. In production `Date.now()` only advances across I/O: pure CPU time reads as 0. */
  durationMs: metric(integer("duration_ms").notNull(), { afterTick: (a) => a.durationMs, onFailure: (f) => f.durationMs, slim: true }),
  /** Reconcile passes until nothing more followed. */
  passes: metric(integer("passes").notNull(), { inTick: (t) => t.advance.passes }),
  eventsDrained: metric(integer("events_drained").notNull(), { inTick: (t) => t.drained.length, slim: true }),
  eventsApplied: metric(integer("events_applied").notNull(), { inTick: (t) => t.advance.events.filter((e) => e.outcome === "applied").length }),
  eventsIgnored: metric(integer("events_ignored").notNull(), { inTick: (t) => t.advance.events.filter((e) => e.outcome === "ignored").length, summary: false }),
  eventsFailed: metric(integer("events_failed").notNull(), { inTick: (t) => t.failed, slim: true }),
  eventsDeadLettered: metric(integer("events_dead_lettered").notNull(), { inTick: (t) => t.deadLettered, summary: false }),
  actionsEmitted: metric(integer("actions_emitted").notNull(), { inTick: (t) => t.advance.actions.length, slim: true }),
  /** Actions refused because the state moved since the rule looked. */
  actionsRefused: metric(integer("actions_refused").notNull(), { inTick: (t) => t.advance.actions.filter((a) => a.refusal !== null).length }),
  /** Actions that repaired an invariant (also in the action counts, under rule `invariant.N`). */
  repairs: metric(integer("repairs").notNull().default(0), { inTick: (t) => t.repairs.length }),
  effectsEnqueued: metric(integer("effects_enqueued").notNull(), { inTick: (t) => t.advance.effects.length, summary: false }),
  effectsAttempted: metric(integer("effects_attempted").notNull(), { afterTick: (a) => a.effects?.attempted ?? 0, slim: true }),
  effectsSucceeded: metric(integer("effects_succeeded").notNull(), { afterTick: (a) => a.effects?.succeeded ?? 0, slim: true }),
  /** Honest: a failed dispatch is a failure. */
  effectsFailed: metric(integer("effects_failed").notNull(), { afterTick: (a) => a.effects?.failed ?? 0, slim: true }),
  queueDepth: metric(integer("queue_depth").notNull(), { inTick: (t) => t.queue.pending, onFailure: (f) => f.queue.pending, slim: true }),
  oldestPendingAgeMs: metric(integer("oldest_pending_age_ms"), { inTick: (t) => ageMs(t.queue, t.at), onFailure: (f) => ageMs(f.queue, f.at) }),
  deadLetters: metric(integer("dead_letters").notNull(), { inTick: (t) => t.queue.dead, onFailure: (f) => f.queue.dead, slim: true }),
  violationsOpen: metric(integer("violations_open").notNull().default(0), { inTick: (t) => t.violations.open.length, slim: true }),
  violationsNew: metric(integer("violations_new").notNull().default(0), { inTick: (t) => t.violations.started.length }),
  /** What the tick costs (DESIGN §4.7): rows read and written, as Durable Object SQLite bills them. */
  rowsRead: metric(integer("rows_read").notNull().default(0), { afterTick: (a) => a.rows.read }),
  rowsWritten: metric(integer("rows_written").notNull().default(0), { afterTick: (a) => a.rows.written }),
};

type Declared = typeof TICK_METRICS;
export type TickMetricKey = keyof Declared;
/** A tick's metric values, as stored and served. */
export type TickMetricValues = { [K in TickMetricKey]: ValueOf<Declared[K]["column"]> };
export type SlimMetricKey = { [K in TickMetricKey]: Declared[K] extends { slim: true } ? K : never }[TickMetricKey];
export type SummaryMetricKey = { [K in TickMetricKey]: Declared[K] extends { summary: false } ? never : K }[TickMetricKey];

const entries = Object.entries(TICK_METRICS) as Array<[TickMetricKey, TickMetric]>;

/** Every tick metric, in declaration order (the order of the CSV columns). */
export const TICK_METRIC_KEYS: readonly TickMetricKey[] = entries.map(([key]) => key);
export const SLIM_METRICS = entries.filter(([, m]) => m.slim).map(([key]) => key) as SlimMetricKey[];
/** The metrics a window of ticks is summarized over. */
export const SUMMARY_METRICS = entries.filter(([, m]) => m.summary !== false).map(([key]) => key) as SummaryMetricKey[];

/** The `ticks` table's metric columns (src/db/schema.ts spreads them in). */
export const tickMetricColumns = () => Object.fromEntries(entries.map(([key, m]) => [key, m.column])) as { [K in TickMetricKey]: Declared[K]["column"] };

/** The values a tick's transaction records; those measured after it read 0 until `measureAfterTick` sets them. */
export function measureTick(tick: TickFacts): TickMetricValues {
  return collect((m) => (m.inTick ? m.inTick(tick) : 0));
}

/** The values measured after the tick's transaction (to update its record with). */
export function measureAfterTick(after: AfterTickFacts): Partial<TickMetricValues> {
  return Object.fromEntries(entries.filter(([, m]) => m.afterTick).map(([key, m]) => [key, m.afterTick!(after)]));
}

/** A failed tick's values. */
export function measureFailedTick(failed: FailedTickFacts): TickMetricValues {
  return collect((m) => (m.onFailure ? m.onFailure(failed) : 0));
}

/** Only the declared metrics of a row. */
export function tickMetricValues(row: TickMetricValues): TickMetricValues {
  return collect((_, key) => row[key]);
}

function collect(value: (metric: TickMetric, key: TickMetricKey) => number | null): TickMetricValues {
  const out: Record<string, number | null> = {};
  for (const [key, m] of entries) out[key] = value(m, key);
  return out as TickMetricValues;
}
