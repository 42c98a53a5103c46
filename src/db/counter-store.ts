import { asc } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { CounterReadings, type CounterDeltas } from "../observability/counters";
import * as schema from "./schema";

const ADD_TO_COUNTER = `INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value`;

/** Cumulative counters and histogram buckets (Prometheus), persisted so they never go backwards. */
export class CounterStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly db: DrizzleSqliteDODatabase<typeof schema>,
  ) {}

  /** Adds increments (creating a series on first use); only declared families make them (see CounterDeltas). */
  add(deltas: CounterDeltas): void {
    for (const delta of deltas.list()) this.sql.exec(ADD_TO_COUNTER, delta.name, delta.labels, delta.value);
  }

  /** Every persisted series, by name and labels. */
  readings(): CounterReadings {
    return new CounterReadings(this.db.select().from(schema.counters).orderBy(asc(schema.counters.name), asc(schema.counters.labels)).all());
  }
}
