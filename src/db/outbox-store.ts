import { clipError } from "../domain/format";
import { asc, count, eq, lte, min } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import type { Effect } from "../domain/actions";
import * as schema from "./schema";

export interface OutboxEntry {
  readonly effect: Effect;
  readonly attempts: number;
  readonly nextAttemptAt: number;
  /** When this request was decided (a stop owed for long is decided again: each is its own request). */
  readonly createdAt: number;
}

/** Side effects, written with the state change that decided them and executed after it commits. */
export class OutboxStore {
  constructor(private readonly db: DrizzleSqliteDODatabase<typeof schema>) {}

  enqueue(effects: readonly Effect[], now: number): void {
    for (const effect of effects) {
      this.db
        .insert(schema.outbox)
        .values({ id: effect.id, kind: effect.kind, agentId: effect.agentId, payload: effect, attempts: 0, nextAttemptAt: now, createdAt: now, updatedAt: now })
        .onConflictDoNothing()
        .run();
    }
  }

  due(now: number, limit: number): OutboxEntry[] {
    return this.db
      .select()
      .from(schema.outbox)
      .where(lte(schema.outbox.nextAttemptAt, now))
      .orderBy(asc(schema.outbox.nextAttemptAt), asc(schema.outbox.createdAt))
      .limit(limit)
      .all()
      .map((row) => ({ effect: row.payload as Effect, attempts: row.attempts, nextAttemptAt: row.nextAttemptAt, createdAt: row.createdAt }));
  }

  nextAt(): number | null {
    return (
      this.db
        .select({ at: min(schema.outbox.nextAttemptAt) })
        .from(schema.outbox)
        .get()?.at ?? null
    );
  }

  size(): number {
    return this.db.select({ n: count() }).from(schema.outbox).get()?.n ?? 0;
  }

  complete(id: string): void {
    this.db.delete(schema.outbox).where(eq(schema.outbox.id, id)).run();
  }

  defer(id: string, attempts: number, nextAttemptAt: number, error: string, now: number): void {
    this.db
      .update(schema.outbox)
      .set({ attempts, nextAttemptAt, lastError: clipError(error), updatedAt: now })
      .where(eq(schema.outbox.id, id))
      .run();
  }
}
