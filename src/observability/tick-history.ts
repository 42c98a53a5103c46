import { ACTION_TYPES } from "../domain/actions";
import type { TickRow } from "../db/tick-store";

/** The tick history as served to dashboards: one flat record per tick, and aggregates over a window. */

export type TickView = ReturnType<typeof tickView>;

export function tickView(tick: TickRow) {
  const byType = (tick.actionsByType ?? {}) as Record<string, number>;
  return {
    id: tick.id,
    at: tick.at,
    time: new Date(tick.at).toISOString(),
    result: tick.result,
    error: tick.error,
    durationMs: tick.durationMs,
    passes: tick.passes,
    eventsDrained: tick.eventsDrained,
    eventsApplied: tick.eventsApplied,
    eventsIgnored: tick.eventsIgnored,
    eventsFailed: tick.eventsFailed,
    eventsDeadLettered: tick.eventsDeadLettered,
    actionsEmitted: tick.actionsEmitted,
    actionsRefused: tick.actionsRefused,
    // Every action type, zeros included, so a dashboard column always exists.
    actionsByType: Object.fromEntries(ACTION_TYPES.map((type) => [type, byType[type] ?? 0])) as Record<(typeof ACTION_TYPES)[number], number>,
    actionsByRule: (tick.actionsByRule ?? {}) as Record<string, number>,
    repairs: tick.repairs,
    effectsEnqueued: tick.effectsEnqueued,
    effectsAttempted: tick.effectsAttempted,
    effectsSucceeded: tick.effectsSucceeded,
    effectsFailed: tick.effectsFailed,
    queueDepth: tick.queueDepth,
    oldestPendingAgeMs: tick.oldestPendingAgeMs,
    deadLetters: tick.deadLetters,
    violationsOpen: tick.violationsOpen,
    violationsNew: tick.violationsNew,
    breakerStatus: tick.breakerStatus,
    breakerOpen: tick.breakerStatus === "closed" ? 0 : 1,
    nextAlarmAt: tick.nextAlarmAt,
    nextAlarmReason: tick.nextAlarmReason,
    phases: (tick.phases ?? {}) as Record<string, number>,
  };
}

/** The columns pages and dashboards draw (`fields=slim`): a tick's outcome without its details. */
export const SLIM_FIELDS = [
  "id", "at", "time", "result", "durationMs", "eventsDrained", "eventsFailed", "actionsEmitted", "actionsByType",
  "effectsAttempted", "effectsSucceeded", "effectsFailed", "queueDepth", "deadLetters", "violationsOpen", "breakerOpen",
] as const satisfies ReadonlyArray<keyof TickView>;

export type SlimTickView = Pick<TickView, (typeof SLIM_FIELDS)[number]>;

export function slimTickView(tick: TickView): SlimTickView {
  return Object.fromEntries(SLIM_FIELDS.map((field) => [field, tick[field]])) as SlimTickView;
}

/** The numeric metrics a window can be summarized over. */
export const SUMMARY_METRICS = [
  "durationMs",
  "passes",
  "eventsDrained",
  "eventsApplied",
  "eventsFailed",
  "actionsEmitted",
  "actionsRefused",
  "repairs",
  "effectsAttempted",
  "effectsSucceeded",
  "effectsFailed",
  "queueDepth",
  "oldestPendingAgeMs",
  "deadLetters",
  "violationsOpen",
  "violationsNew",
] as const;

export interface Aggregate {
  sum: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  count: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** sum, avg, min, max, count and nearest-rank percentiles of each metric (nulls are skipped). */
export function summarize(ticks: readonly TickView[]): Record<(typeof SUMMARY_METRICS)[number], Aggregate> {
  const out = {} as Record<(typeof SUMMARY_METRICS)[number], Aggregate>;
  for (const metric of SUMMARY_METRICS) {
    const values = ticks.map((t) => t[metric]).filter((v): v is number => typeof v === "number").sort((a, b) => a - b);
    const sum = values.reduce((a, b) => a + b, 0);
    const rank = (p: number) => (values.length === 0 ? null : values[Math.max(0, Math.ceil((p / 100) * values.length) - 1)]!);
    out[metric] = {
      sum,
      avg: values.length === 0 ? null : sum / values.length,
      min: values[0] ?? null,
      max: values.at(-1) ?? null,
      count: values.length,
      p50: rank(50),
      p95: rank(95),
      p99: rank(99),
    };
  }
  return out;
}

/** The history as CSV: one header row, action counts flattened to `actions_<type>` columns. */
export function ticksCsv(ticks: readonly TickView[]): string {
  const scalar = [
    "id", "at", "time", "result", "durationMs", "passes", "eventsDrained", "eventsApplied", "eventsIgnored", "eventsFailed",
    "eventsDeadLettered", "actionsEmitted", "actionsRefused", "repairs", "effectsEnqueued", "effectsAttempted", "effectsSucceeded",
    "effectsFailed", "queueDepth", "oldestPendingAgeMs", "deadLetters", "violationsOpen", "violationsNew", "breakerStatus", "breakerOpen",
    "nextAlarmAt", "nextAlarmReason", "error",
  ] as const;
  const header = [...scalar, ...ACTION_TYPES.map((type) => `actions_${type}`)];
  const lines = [header.join(",")];
  for (const tick of ticks) {
    const cells = [...scalar.map((key) => tick[key]), ...ACTION_TYPES.map((type) => tick.actionsByType[type])];
    lines.push(cells.map(csvCell).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  // A text cell a spreadsheet would run as a formula (=, +, -, @, or a leading tab or CR) gets a quote
  // in front, so it is shown, not run. Numbers are left alone: they are numbers.
  const text = typeof value === "string" && /^[=+\-@\t\r]/.test(value) ? `'${value}` : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
