import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";

/**
 * The list of towns (one object for the whole deployment). Towns register when they are created and
 * deregister when deleted; only `GET /api/towns` reads it, so it is never on a town's hot path.
 *
 * Two statements on one table: plain SQL here is simpler than a second drizzle schema and migration set.
 */
export class TownRegistry extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS towns (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL)");
  }

  async register(townId: string, createdAt: number): Promise<void> {
    this.ctx.storage.sql.exec("INSERT INTO towns (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING", townId, createdAt);
  }

  async deregister(townId: string): Promise<void> {
    this.ctx.storage.sql.exec("DELETE FROM towns WHERE id = ?", townId);
  }

  async list(): Promise<Array<{ id: string; createdAt: number }>> {
    return this.ctx.storage.sql
      .exec<{ id: string; created_at: number }>("SELECT id, created_at FROM towns ORDER BY id")
      .toArray()
      .map((row) => ({ id: row.id, createdAt: row.created_at }));
  }
}
