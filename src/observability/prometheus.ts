import type { CounterRow } from "../db/counter-store";
import { bucketHits } from "./counters";
import { formatLabels, METRICS, parseLabels, type GaugeFamily, type GaugeKey, type HistogramFamily, type LabelsOf, type MetricFamily } from "./metrics";

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
          family,
          { buckets: take(`${family.name}_bucket`), counts: take(`${family.name}_count`) },
          take(bucketHits(family)),
          take(`${family.name}_sum`),
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

/**
 * A histogram's series by label set (`le` aside), its cumulative buckets in `le` order — every declared
 * bound and `+Inf` — and its count. Observations are stored by the one bucket each fell in (`hits`); an
 * earlier version stored cumulative buckets and `_count` (`cumulative`), which are added in, so a series
 * never goes backwards across the change. A missing `_sum` reads 0.
 */
function histogramSeries(
  family: HistogramFamily,
  cumulative: { readonly buckets: readonly CounterRow[]; readonly counts: readonly CounterRow[] },
  hits: readonly CounterRow[],
  sums: readonly CounterRow[],
) {
  const bounds = [...family.buckets.map(String), "+Inf"];
  const series = new Map<string, { labels: string; byBound: number[]; sum: number; count: number }>();
  const of = (labels: string) => {
    const found = series.get(labels) ?? { labels, byBound: bounds.map(() => 0), sum: 0, count: 0 };
    series.set(labels, found);
    return found;
  };
  for (const row of cumulative.buckets) {
    const { le, ...labels } = parseLabels(row.labels);
    const at = bounds.indexOf(le ?? "+Inf");
    // A bucket no longer declared: its observations are in the next declared one's cumulative count.
    if (at >= 0) of(formatLabels(labels)).byBound[at]! += row.value;
  }
  for (const row of cumulative.counts) of(row.labels).count += row.value;
  for (const row of hits) {
    const { le, ...labels } = parseLabels(row.labels);
    const found = of(formatLabels(labels));
    const at = bounds.indexOf(le ?? "+Inf");
    // Every bucket at or above the one an observation fell in counts it.
    for (let i = Math.max(0, at); i < bounds.length; i++) found.byBound[i]! += row.value;
    found.count += row.value;
  }
  for (const row of sums) of(row.labels).sum = row.value;
  return [...series.values()].map(({ labels, byBound, sum, count }) => {
    const parsed = parseLabels(labels);
    const buckets = bounds.map((le, i) => ({ labels: formatLabels({ ...parsed, le }), value: byBound[i]! }));
    return { labels, buckets, sum, count };
  });
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
