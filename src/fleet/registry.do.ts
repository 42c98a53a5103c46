import { DurableObject } from "cloudflare:workers";
import { RegistryStore } from "./registry-store";
import { fleetRow, OVERDUE_GRACE_MS, type FleetRow } from "./fleet-row";
import type { TownSummary } from "./town-summary";
import type { Clock } from "../domain/clock";

/**
 * The list of towns and the last summary of each (one object per registry shard: src/fleet/shards.ts).
 * Towns register when created, deregister when deleted, and push a summary after their ticks; the
 * fleet routes and the watchdog read from here alone, so no fleet read ever wakes a town. A summary is
 * a row of small numbers: the throughput one object takes is in docs/benchmarks.md (The fleet).
 */
export class TownRegistry extends DurableObject {
  protected readonly clock: Clock;
  protected readonly store: RegistryStore;

  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.clock = this.createClock();
    this.store = new RegistryStore(ctx.storage.sql);
  }

  /** Where time comes from; the test worker overrides this with a clock it can move. */
  protected createClock(): Clock {
    return { now: () => Date.now() };
  }

  async register(townId: string, createdAt: number): Promise<void> {
    this.store.register(townId, createdAt);
  }

  async deregister(townId: string): Promise<void> {
    this.store.deregister(townId);
  }

  async list(): Promise<Array<{ id: string; createdAt: number }>> {
    return this.store.list();
  }

  /** A town's summary after its ticks; ignored for a town not on the list (deleted meanwhile). */
  async report(summary: TownSummary): Promise<boolean> {
    return this.store.report(summary);
  }

  /** One row per town, by town id, as of now. */
  async fleetStatus(): Promise<FleetRow[]> {
    const now = this.clock.now();
    return this.store.summaries().map(({ summary, registeredAt }) => fleetRow(summary, registeredAt, now));
  }

  /** A page of the towns whose next tick is more than the grace overdue, most overdue first, after `after`. */
  async overdue(after: { at: number; town: string } | null, limit: number): Promise<Array<{ town: string; at: number }>> {
    return this.store.overdue(this.clock.now() - OVERDUE_GRACE_MS, after, limit);
  }
}
