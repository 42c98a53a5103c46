import { asc } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import type { CounterDelta } from "../observability/counters";
import * as schema from "./schema";

const ADD_TO_COUNTER = `INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value`;

/** Cumulative counters and histogram buckets (Prometheus), persisted so they never go backwards. */
export class CounterStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly db: DrizzleSqliteDODatabase<typeof schema>,
  ) {}

  /** Adds increments (creating a series on first use). */
  add(deltas: readonly CounterDelta[]): void {
    for (const delta of deltas) this.sql.exec(ADD_TO_COUNTER, delta.name, delta.labels, delta.by);
  }

  all(): Array<{ name: string; labels: string; value: number }> {
    return this.db.select().from(schema.counters).orderBy(asc(schema.counters.name), asc(schema.counters.labels)).all();
  }
}
