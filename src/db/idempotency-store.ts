import { eq } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import * as schema from "./schema";
import { changes } from "./sql";

export type IdempotencyRecord = typeof schema.idempotencyKeys.$inferSelect;

/** The first answers of creating requests, by their `Idempotency-Key`. */
export class IdempotencyStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly db: DrizzleSqliteDODatabase<typeof schema>,
  ) {}

  find(key: string): IdempotencyRecord | undefined {
    return this.db.select().from(schema.idempotencyKeys).where(eq(schema.idempotencyKeys.key, key)).get();
  }

  save(record: IdempotencyRecord): void {
    this.db.insert(schema.idempotencyKeys).values(record).run();
  }

  /** Keys older than `before` go, at most `limit` per call. */
  prune(before: number, limit: number): number {
    this.sql.exec(
      "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?)",
      before,
      limit,
    );
    return changes(this.sql);
  }
}
