import { asc, eq } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import * as schema from "./schema";

/** A persisted series: its name (a counter's, or a histogram's `_bucket_hits`, `_sum`), its labels in canonical text, its total. */
export interface CounterRow {
  readonly name: string;
  readonly labels: string;
  readonly value: number;
}

/** The one row of `counter_totals`. */
const TOTALS_ID = 1;
const WRITE_TOTALS = "INSERT INTO counter_totals (id, series) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET series = excluded.series";

/**
 * Cumulative counters and histogram buckets (Prometheus), persisted so they never go backwards. Rows
 * only: which series exist and how they are labelled is observability's (CounterDeltas, CounterReadings).
 *
 * The totals are one row (`counter_totals`): however many series a tick raises, it writes one row, where
 * a row per series wrote one for each — and a series' first write its index entry too. What earlier
 * versions wrote to `counters`, a row per series, is read and added in.
 */
export class CounterStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly db: DrizzleSqliteDODatabase<typeof schema>,
    /** Increments counted but not yet in the totals: the newest tick's, held in its record until the next tick adds them. */
    private readonly held: () => readonly CounterRow[],
  ) {}

  /** Adds increments (creating a series on first use); only declared families make them (see CounterDeltas). */
  add(increments: readonly CounterRow[]): void {
    if (increments.length === 0) return;
    const totals = this.totals();
    for (const { name, labels, value } of increments) {
      const key = seriesKey(name, labels);
      totals[key] = (totals[key] ?? 0) + value;
    }
    this.sql.exec(WRITE_TOTALS, TOTALS_ID, JSON.stringify(totals));
  }

  /** Every persisted series, by name and labels. */
  rows(): CounterRow[] {
    const merged = new Map<string, CounterRow>();
    for (const row of this.db.select().from(schema.counters).orderBy(asc(schema.counters.name), asc(schema.counters.labels)).all())
      merged.set(seriesKey(row.name, row.labels), row);
    for (const [key, value] of Object.entries(this.totals())) add(key, value);
    for (const row of this.held()) add(seriesKey(row.name, row.labels), row.value);
    return [...merged.values()].sort((a, b) => compare(a.name, b.name) || compare(a.labels, b.labels));

    function add(key: string, value: number): void {
      const { name, labels } = parseSeriesKey(key);
      merged.set(key, { name, labels, value: (merged.get(key)?.value ?? 0) + value });
    }
  }

  private totals(): Record<string, number> {
    const row = this.db.select().from(schema.counterTotals).where(eq(schema.counterTotals.id, TOTALS_ID)).get();
    return row ? (JSON.parse(row.series) as Record<string, number>) : {};
  }
}

/** Increments as one JSON-able object, a series' text to its value (how the totals row and a tick's held increments keep them). */
export function encodeSeries(rows: readonly CounterRow[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { name, labels, value } of rows) out[seriesKey(name, labels)] = (out[seriesKey(name, labels)] ?? 0) + value;
  return out;
}

export function decodeSeries(encoded: Readonly<Record<string, number>>): CounterRow[] {
  return Object.entries(encoded).map(([key, value]) => ({ ...parseSeriesKey(key), value }));
}

/** A series as one text: `name{labels}` (a name has no `{`). */
const seriesKey = (name: string, labels: string): string => `${name}{${labels}}`;

function parseSeriesKey(key: string): { name: string; labels: string } {
  const open = key.indexOf("{");
  return { name: key.slice(0, open), labels: key.slice(open + 1, -1) };
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
