/**
 * Cumulative counters and histograms, persisted in the town's SQLite so they never go backwards across
 * an eviction. A tick computes increments (`CounterDeltas`) and writes them in its own transaction;
 * Prometheus reads the totals back.
 */

export type Labels = Readonly<Record<string, string>>;

export interface CounterDelta {
  readonly name: string;
  readonly labels: string;
  readonly by: number;
}

/** Seconds; upper bounds of the histogram buckets (Prometheus `le`). */
export const TICK_DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
export const QUEUE_DURATION_BUCKETS = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

/** Labels in one canonical text form: `a="x",b="y"`, keys sorted, values escaped for Prometheus. */
export function formatLabels(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((key) => `${key}="${labels[key]!.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`)
    .join(",");
}

export class CounterDeltas {
  private readonly deltas = new Map<string, { name: string; labels: string; by: number }>();

  add(name: string, labels: Labels, by = 1): this {
    return by === 0 ? this : this.put(name, labels, by);
  }

  /** Adds one observation to a histogram: every cumulative bucket (zeros too, so all exist), `_sum` and `_count`. */
  observe(name: string, labels: Labels, value: number, buckets: readonly number[]): this {
    return this.observeAll(name, labels, [value], buckets);
  }

  /** Adds many observations at once (one write per bucket, however many values). */
  observeAll(name: string, labels: Labels, values: readonly number[], buckets: readonly number[]): this {
    if (values.length === 0) return this;
    let sum = 0;
    for (const value of values) sum += value;
    for (const le of buckets) {
      let within = 0;
      for (const value of values) if (value <= le) within += 1;
      this.put(`${name}_bucket`, { ...labels, le: String(le) }, within);
    }
    this.put(`${name}_bucket`, { ...labels, le: "+Inf" }, values.length);
    this.put(`${name}_sum`, labels, sum);
    this.put(`${name}_count`, labels, values.length);
    return this;
  }

  list(): CounterDelta[] {
    return [...this.deltas.values()];
  }

  private put(name: string, labels: Labels, by: number): this {
    const text = formatLabels(labels);
    const key = `${name}{${text}}`;
    const current = this.deltas.get(key);
    if (current) current.by += by;
    else this.deltas.set(key, { name, labels: text, by });
    return this;
  }
}
