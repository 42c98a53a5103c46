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

  /** Adds one observation to a histogram: every cumulative bucket (zeros too, so all exist), `_sum` and `_count`. */
  observe<F extends HistogramFamily>(family: F, labels: LabelsOf<F>, value: number): this {
    return this.observeAll(family, labels, [value]);
  }

  /** Adds many observations at once (one write per bucket, however many values). */
  observeAll<F extends HistogramFamily>(family: F, labels: LabelsOf<F>, values: readonly number[]): this {
    if (values.length === 0) return this;
    const series = declared(family, labels);
    let sum = 0;
    for (const value of values) sum += value;
    for (const le of family.buckets) {
      let within = 0;
      for (const value of values) if (value <= le) within += 1;
      this.put(`${family.name}_bucket`, { ...series, le: String(le) }, within);
    }
    this.put(`${family.name}_bucket`, { ...series, le: "+Inf" }, values.length);
    this.put(`${family.name}_sum`, series, sum);
    this.put(`${family.name}_count`, series, values.length);
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
