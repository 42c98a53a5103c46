import type { CounterRow } from "../db/counter-store";
import { formatLabels, parseLabels, type CounterFamily, type HistogramFamily, type LabelsOf } from "./metrics";

/**
 * Cumulative counters and histograms, persisted in the town's SQLite so they never go backwards across
 * an eviction. A tick computes increments (`CounterDeltas`, only through the declared families of
 * metrics.ts) and writes them in its own transaction; Prometheus and the status route read the totals
 * back (`CounterReadings`).
 */

export class CounterDeltas {
  private readonly deltas = new Map<string, { name: string; labels: string; by: number }>();

  add<F extends CounterFamily>(family: F, labels: LabelsOf<F>, by = 1): this {
    return by === 0 ? this : this.put(family.name, declared(family, labels), by);
  }

  /** Adds one observation to a histogram (see `observeAll`). */
  observe<F extends HistogramFamily>(family: F, labels: LabelsOf<F>, value: number): this {
    return this.observeAll(family, labels, [value]);
  }

  /**
   * Adds observations to a histogram: each to the one bucket it falls in (`_bucket_hits`, not cumulative)
   * and their total to `_sum` — a row per bucket hit and one for the sum, where cumulative buckets would
   * rewrite every bucket each time. The exposition derives the cumulative buckets and `_count` from them
   * (src/observability/prometheus.ts).
   */
  observeAll<F extends HistogramFamily>(family: F, labels: LabelsOf<F>, values: readonly number[]): this {
    if (values.length === 0) return this;
    const series = declared(family, labels);
    let sum = 0;
    // Counted by bucket first: a tick observes a thousand queue waits, and labelling a series costs more than counting.
    const hits = new Map<string, number>();
    for (const value of values) {
      sum += value;
      const bound = family.buckets.find((b) => value <= b);
      const le = bound === undefined ? "+Inf" : String(bound);
      hits.set(le, (hits.get(le) ?? 0) + 1);
    }
    for (const [le, n] of hits) this.put(bucketHits(family), { ...series, le }, n);
    this.put(`${family.name}_sum`, series, sum);
    return this;
  }

  list(): CounterRow[] {
    return [...this.deltas.values()].map(({ name, labels, by }) => ({ name, labels, value: by }));
  }

  private put(name: string, labels: Readonly<Record<string, string>>, by: number): this {
    const text = formatLabels(labels);
    const key = `${name}{${text}}`;
    const current = this.deltas.get(key);
    if (current) current.by += by;
    else this.deltas.set(key, { name, labels: text, by });
    return this;
  }
}

/** The persisted series of a histogram's observations by the bucket they fell in (its lowest bound at or above them). */
export const bucketHits = (family: HistogramFamily): string => `${family.name}_bucket_hits`;

/** Only the family's own labels, whatever else the object carries: a series is never written under a label the family does not declare. */
function declared(family: CounterFamily | HistogramFamily, labels: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of family.labels) {
    const value = labels[name];
    // Only a cast gets past the types to here; a series with a hole in its labels would be a wrong series.
    if (typeof value !== "string") throw new Error(`${family.name} needs its label ${name}`);
    out[name] = value;
  }
  return out;
}

/** The persisted totals, read through the declared families. */
export class CounterReadings {
  constructor(readonly rows: readonly CounterRow[]) {}

  /** A counter's total over its series whose labels have the given values (all series when none are given). */
  sum<F extends CounterFamily>(family: F, where: Partial<LabelsOf<F>> = {}): number {
    const wanted = Object.entries(where as Record<string, string>);
    let total = 0;
    for (const row of this.rows) {
      if (row.name !== family.name) continue;
      const labels = wanted.length === 0 ? {} : parseLabels(row.labels);
      if (wanted.every(([key, value]) => labels[key] === value)) total += row.value;
    }
    return total;
  }
}
