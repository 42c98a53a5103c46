import { asc, desc, eq, isNotNull, isNull, lte } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import type { OpenViolation, ViolationChanges } from "../domain/violations";
import * as schema from "./schema";

/** Invariant violations: the open ones, and a bounded history of resolved ones. */
export class ViolationStore {
  constructor(private readonly db: DrizzleSqliteDODatabase<typeof schema>) {}

  open(): OpenViolation[] {
    return this.db
      .select()
      .from(schema.violations)
      .where(isNull(schema.violations.resolvedAt))
      .orderBy(asc(schema.violations.invariant), asc(schema.violations.key))
      .all()
      .map(({ resolvedAt: _resolved, ...row }) => ({ ...row, agentIds: row.agentIds as string[], beadIds: row.beadIds as string[] }));
  }

  /** Keeps the open violations and closes the resolved ones (their last `keepResolved` stay as history). */
  save(changes: ViolationChanges, now: number, keepResolved = 500): void {
    for (const violation of changes.open) {
      const row = { ...violation, agentIds: [...violation.agentIds], beadIds: [...violation.beadIds], resolvedAt: null };
      this.db.insert(schema.violations).values(row).onConflictDoUpdate({ target: schema.violations.key, set: row }).run();
    }
    for (const violation of changes.resolved) {
      this.db.update(schema.violations).set({ resolvedAt: now }).where(eq(schema.violations.key, violation.key)).run();
    }
    if (changes.resolved.length > 0) {
      const cutoff = this.db
        .select({ resolvedAt: schema.violations.resolvedAt })
        .from(schema.violations)
        .where(isNotNull(schema.violations.resolvedAt))
        .orderBy(desc(schema.violations.resolvedAt))
        .limit(1)
        .offset(keepResolved)
        .get();
      if (cutoff?.resolvedAt) this.db.delete(schema.violations).where(lte(schema.violations.resolvedAt, cutoff.resolvedAt)).run();
    }
  }
}
