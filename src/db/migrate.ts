/**
 * Applies the drizzle-kit migrations in `migrations/` when a town object starts.
 *
 * drizzle's own durable-sqlite migrator reports any failure as `DrizzleError: Rollback`, hiding the
 * SQL error; this runner keeps its bookkeeping table and format but says which migration and which
 * statement failed, and why.
 */

export interface MigrationBundle {
  readonly journal: { readonly entries: ReadonlyArray<{ readonly idx: number; readonly when: number; readonly tag: string }> };
  readonly migrations: Readonly<Record<string, string>>;
}

export class MigrationError extends Error {
  override name = "MigrationError";
}

const TABLE = "__drizzle_migrations";

export function migrate(storage: DurableObjectStorage, bundle: MigrationBundle): number {
  const sql = storage.sql;
  return storage.transactionSync(() => {
    sql.exec(`CREATE TABLE IF NOT EXISTS ${TABLE} (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, created_at NUMERIC)`);
    const last = sql.exec<{ created_at: number }>(`SELECT created_at FROM ${TABLE} ORDER BY created_at DESC LIMIT 1`).toArray()[0];
    let applied = 0;
    for (const entry of bundle.journal.entries) {
      if (last && Number(last.created_at) >= entry.when) continue;
      const key = `m${String(entry.idx).padStart(4, "0")}`;
      const text = bundle.migrations[key];
      if (text === undefined) throw new MigrationError(`migration ${entry.tag} is in the journal but its SQL (${key}) is missing`);
      const statements = text
        .split("--> statement-breakpoint")
        .map((s) => s.trim())
        .filter((s) => s.length > 0);
      statements.forEach((statement, i) => {
        try {
          sql.exec(statement);
        } catch (error) {
          const cause = error instanceof Error ? error.message : String(error);
          throw new MigrationError(`migration ${entry.tag}, statement ${i + 1} of ${statements.length} failed: ${cause}\n${statement.slice(0, 500)}`, {
            cause: error,
          });
        }
      });
      sql.exec(`INSERT INTO ${TABLE} (hash, created_at) VALUES (?, ?)`, entry.tag, entry.when);
      applied += 1;
    }
    return applied;
  });
}

/** True once a town was created in this object (its schema exists). */
export function isMigrated(storage: DurableObjectStorage): boolean {
  return storage.sql.exec(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`, TABLE).toArray().length > 0;
}
