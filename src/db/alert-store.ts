import { asc, count, eq, lte, min } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import type { Alert, AlertContext } from "../domain/alerts";
import * as schema from "./schema";

export interface PendingAlert {
  readonly id: number;
  readonly alert: Alert;
  readonly context: AlertContext;
  readonly attempts: number;
}

/** Alerts waiting for Sentry (see the `alert_outbox` table). */
export class AlertStore {
  constructor(private readonly db: DrizzleSqliteDODatabase<typeof schema>) {}

  enqueue(alerts: readonly Alert[], context: AlertContext, now: number): void {
    for (const alert of alerts) {
      this.db.insert(schema.alertOutbox).values({ kind: alert.kind, alert, context, attempts: 0, nextAttemptAt: now, createdAt: now }).run();
    }
  }

  due(now: number, limit: number): PendingAlert[] {
    return this.db
      .select()
      .from(schema.alertOutbox)
      .where(lte(schema.alertOutbox.nextAttemptAt, now))
      .orderBy(asc(schema.alertOutbox.nextAttemptAt), asc(schema.alertOutbox.id))
      .limit(limit)
      .all()
      .map((row) => ({ id: row.id, alert: row.alert as Alert, context: row.context as AlertContext, attempts: row.attempts }));
  }

  remove(id: number): void {
    this.db.delete(schema.alertOutbox).where(eq(schema.alertOutbox.id, id)).run();
  }

  retryAt(id: number, attempts: number, nextAttemptAt: number): void {
    this.db.update(schema.alertOutbox).set({ attempts, nextAttemptAt }).where(eq(schema.alertOutbox.id, id)).run();
  }

  nextAt(): number | null {
    return (
      this.db
        .select({ at: min(schema.alertOutbox.nextAttemptAt) })
        .from(schema.alertOutbox)
        .get()?.at ?? null
    );
  }

  size(): number {
    return this.db.select({ n: count() }).from(schema.alertOutbox).get()?.n ?? 0;
  }
}
