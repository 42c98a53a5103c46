import { asc } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import * as schema from "./schema";

const ADD_TO_COUNTER = `INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value`;

/** A persisted series: its name (a counter's, or a histogram's `_bucket`, `_sum`, `_count`), its labels in canonical text, its total. */
export interface CounterRow {
  readonly name: string;
  readonly labels: string;
  readonly value: number;
}

/**
 * Cumulative counters and histogram buckets (Prometheus), persisted so they never go backwards. Rows
 * only: which series exist and how they are labelled is observability's (CounterDeltas, CounterReadings).
 */
export class CounterStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly db: DrizzleSqliteDODatabase<typeof schema>,
  ) {}

  /** Adds increments (creating a series on first use); only declared families make them (see CounterDeltas). */
  add(increments: readonly CounterRow[]): void {
    for (const delta of increments) this.sql.exec(ADD_TO_COUNTER, delta.name, delta.labels, delta.value);
  }

  /** Every persisted series, by name and labels. */
  rows(): CounterRow[] {
    return this.db.select().from(schema.counters).orderBy(asc(schema.counters.name), asc(schema.counters.labels)).all();
  }
}
