import { ACTION_TYPES } from "../domain/actions";
import type { TickViewRow } from "../db/tick-store";
import { SLIM_METRICS, SUMMARY_METRICS, TICK_METRIC_KEYS, tickMetricValues, type SummaryMetricKey } from "../db/tick-metrics";

/**
 * The tick history as served to dashboards: one flat record per tick, and aggregates over a window. The
 * numeric metrics, their order and which of them the slim view and the summary carry come from
 * tick-metrics.ts; the fields here are the tick's identity, its outcome and its details.
 */

export type TickView = ReturnType<typeof tickView>;

export function tickView(tick: TickViewRow) {
  const byType = (tick.actionsByType ?? {}) as Record<string, number>;
  return {
    id: tick.id,
    at: tick.at,
    time: new Date(tick.at).toISOString(),
    result: tick.result,
    error: tick.error,
    ...tickMetricValues(tick),
    // Every action type, zeros included, so a dashboard column always exists.
    actionsByType: Object.fromEntries(ACTION_TYPES.map((type) => [type, byType[type] ?? 0])) as Record<(typeof ACTION_TYPES)[number], number>,
    actionsByRule: (tick.actionsByRule ?? {}) as Record<string, number>,
    breakerStatus: tick.breakerStatus,
    breakerOpen: tick.breakerStatus === "closed" ? 0 : 1,
    nextAlarmAt: tick.nextAlarmAt,
    nextAlarmReason: tick.nextAlarmReason,
    phases: (tick.phases ?? {}) as Record<string, number>,
  };
}

/** The columns pages and dashboards draw (`fields=slim`): a tick's outcome without its details. */
export const SLIM_FIELDS = ["id", "at", "time", "result", ...SLIM_METRICS, "actionsByType", "breakerOpen"] as const satisfies ReadonlyArray<keyof TickView>;

export type SlimTickView = Pick<TickView, (typeof SLIM_FIELDS)[number]>;

export function slimTickView(tick: TickView): SlimTickView {
  return Object.fromEntries(SLIM_FIELDS.map((field) => [field, tick[field]])) as SlimTickView;
}

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
export function summarize(ticks: readonly TickView[]): Record<SummaryMetricKey, Aggregate> {
  const out = {} as Record<SummaryMetricKey, Aggregate>;
  for (const metric of SUMMARY_METRICS) {
    const values = ticks
      .map((t) => t[metric])
      .filter((v): v is number => typeof v === "number")
      .sort((a, b) => a - b);
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

/** The columns of the CSV before the action counts: a tick's identity, its metrics, then its outcome's details. */
const CSV_FIELDS = [
  "id",
  "at",
  "time",
  "result",
  ...TICK_METRIC_KEYS,
  "breakerStatus",
  "breakerOpen",
  "nextAlarmAt",
  "nextAlarmReason",
  "error",
] as const satisfies ReadonlyArray<keyof TickView>;

/** The history as CSV: one header row, action counts flattened to `actions_<type>` columns. */
export function ticksCsv(ticks: readonly TickView[]): string {
  const header = [...CSV_FIELDS, ...ACTION_TYPES.map((type) => `actions_${type}`)];
  const lines = [header.join(",")];
  for (const tick of ticks) {
    const cells = [...CSV_FIELDS.map((key) => tick[key]), ...ACTION_TYPES.map((type) => tick.actionsByType[type])];
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
