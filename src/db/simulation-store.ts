import { and, asc, eq } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import * as schema from "./schema";

export type SimulatedRun = typeof schema.simulatedRuns.$inferSelect;

/** Work of the simulated container adapter (local runs and benchmarks only). */
export class SimulationStore {
  constructor(private readonly db: DrizzleSqliteDODatabase<typeof schema>) {}

  start(run: SimulatedRun): void {
    this.db.insert(schema.simulatedRuns).values(run).onConflictDoUpdate({ target: schema.simulatedRuns.agentId, set: run }).run();
  }

  runs(): SimulatedRun[] {
    return this.db.select().from(schema.simulatedRuns).orderBy(asc(schema.simulatedRuns.finishAt), asc(schema.simulatedRuns.agentId)).all();
  }

  touch(agentId: string, lastHeartbeatAt: number): void {
    this.db.update(schema.simulatedRuns).set({ lastHeartbeatAt }).where(eq(schema.simulatedRuns.agentId, agentId)).run();
  }

  end(agentId: string, generation?: number): void {
    const byAgent = eq(schema.simulatedRuns.agentId, agentId);
    this.db
      .delete(schema.simulatedRuns)
      .where(generation === undefined ? byAgent : and(byAgent, eq(schema.simulatedRuns.generation, generation)))
      .run();
  }
}
