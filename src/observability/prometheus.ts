import type { CounterRow } from "../db/counter-store";
import { formatLabels, METRICS, parseLabels, type GaugeFamily, type GaugeKey, type LabelsOf, type MetricFamily } from "./metrics";

/**
 * Prometheus text exposition (version 0.0.4) of the families declared in metrics.ts, in their order.
 * Counters and histograms come from the persisted counters table (so they never go backwards across an
 * eviction); gauges are read from the live town. Every series carries a `town` label.
 */

/** What a gauge reads now: a number (null: nothing to show yet, and the family is left out), or a value per label set. */
export type GaugeReading<F> = F extends GaugeFamily<infer L> ? ([L] extends [never] ? number | null : ReadonlyArray<readonly [LabelsOf<F>, number]>) : never;

/** A point-in-time reading of every declared gauge. */
export type GaugeReadings = { readonly [K in GaugeKey]: GaugeReading<(typeof METRICS)[K]> };

const UNDECLARED_HELP = "Not declared by this version of town-reconciler: a series an earlier version persisted, shown as it was.";

export function renderPrometheus(townId: string, counters: readonly CounterRow[], gauges: GaugeReadings): string {
  const town = formatLabels({ town: townId });
  const withTown = (labels: string) => (labels ? `${labels},${town}` : town);
  const out: string[] = [];
  const header = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  const sample = (name: string, labels: string, value: number) => out.push(`${name}{${labels}} ${formatNumber(value)}`);
  const rows = new Map<string, CounterRow[]>();
  for (const row of counters) {
    const named = rows.get(row.name);
    if (named) named.push(row);
    else rows.set(row.name, [row]);
  }
  const take = (name: string) => {
    const taken = rows.get(name) ?? [];
    rows.delete(name);
    return taken;
  };

  for (const [key, family] of Object.entries(METRICS) as Array<[keyof typeof METRICS, MetricFamily]>) {
    switch (family.type) {
      case "counter": {
        header(family.name, family.type, family.help);
        const series = take(family.name);
        // A counter without labels exists from the start (at 0), so rate() has a series to work on.
        if (series.length === 0 && family.labels.length === 0) sample(family.name, town, 0);
        for (const row of series) sample(family.name, withTown(row.labels), row.value);
        break;
      }
      case "histogram": {
        header(family.name, family.type, family.help);
        for (const { labels, buckets, sum, count } of histogramSeries(
          take(`${family.name}_bucket`),
          take(`${family.name}_sum`),
          take(`${family.name}_count`),
        )) {
          for (const row of buckets) sample(`${family.name}_bucket`, withTown(row.labels), row.value);
          sample(`${family.name}_sum`, withTown(labels), sum);
          sample(`${family.name}_count`, withTown(labels), count);
        }
        break;
      }
      case "gauge": {
        const reading = gauges[key as GaugeKey] as GaugeReading<GaugeFamily<string>> | number | null;
        if (reading === null) break;
        header(family.name, family.type, family.help);
        if (typeof reading === "number") sample(family.name, town, reading);
        else for (const [labels, value] of reading) sample(family.name, withTown(formatLabels(labels)), value);
        break;
      }
    }
  }
  // Never dropped in silence: what no family declares (only an older version can have written it) is shown untyped.
  for (const [name, series] of rows) {
    header(name, "untyped", UNDECLARED_HELP);
    for (const row of series) sample(name, withTown(row.labels), row.value);
  }
  return `${out.join("\n")}\n`;
}

/** A histogram's rows grouped by label set (`le` aside), buckets in `le` order; a missing `_sum` or `_count` reads 0. */
function histogramSeries(buckets: readonly CounterRow[], sums: readonly CounterRow[], counts: readonly CounterRow[]) {
  const series = new Map<string, { labels: string; buckets: CounterRow[]; sum: number; count: number }>();
  const of = (labels: string) => {
    const found = series.get(labels) ?? { labels, buckets: [], sum: 0, count: 0 };
    series.set(labels, found);
    return found;
  };
  for (const row of buckets) {
    const { le: _le, ...labels } = parseLabels(row.labels);
    of(formatLabels(labels)).buckets.push(row);
  }
  for (const row of sums) of(row.labels).sum = row.value;
  for (const row of counts) of(row.labels).count = row.value;
  for (const { buckets: rows } of series.values()) rows.sort((a, b) => bucketBound(a.labels) - bucketBound(b.labels));
  return [...series.values()];
}

function bucketBound(labels: string): number {
  const le = parseLabels(labels).le;
  return le === undefined || le === "+Inf" ? Infinity : Number(le);
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
