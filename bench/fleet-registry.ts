/**
 * The registry the benchmark runs: the production one, plus methods that build a fleet of synthetic
 * summaries and time the production code from inside the object.
 */
import { TownRegistry as ProductionTownRegistry } from "../src/fleet/registry.do";
import type { TownSummary } from "../src/fleet/town-summary";
import { shardOf } from "../src/fleet/placement";

export const BENCH_TOWN_PREFIX = "fleet-bench-";

/** A town's summary of varied health (a few towns in trouble, as a real fleet has). */
export function benchSummary(i: number, now: number): TownSummary {
  const troubled = i % 50 === 0;
  return {
    town: `${BENCH_TOWN_PREFIX}${String(i).padStart(6, "0")}`,
    reportedAt: now - (i % 60) * 1_000,
    lastTickAt: now - (i % 60) * 1_000,
    tickWallClockMs: 3 + (i % 7),
    nextAlarmAt: i % 3 === 0 ? null : now + 30_000,
    queueDepth: troubled ? 80 : i % 5,
    oldestPendingAt: troubled ? now - 400_000 : null,
    deadLetters: troubled ? 2 : 0,
    breakerOpen: i % 97 === 0 ? 1 : 0,
    violationsOpen: troubled ? 1 : 0,
    stuckWork: i % 211 === 0 ? 1 : 0,
    paused: i % 101 === 0 ? 1 : 0,
    containerSecondsToday: (i % 24) * 600,
  };
}

export class TownRegistry extends ProductionTownRegistry {
  /** `count` registered towns with summaries, written straight to storage (what `count` towns' reports leave). */
  async benchSeed(count: number) {
    const started = performance.now();
    const now = Date.now();
    this.ctx.storage.transactionSync(() => {
      for (const row of this.store.list()) if (row.id.startsWith(BENCH_TOWN_PREFIX)) this.store.deregister(row.id, null, now);
      for (let i = 0; i < count; i++) {
        const summary = benchSummary(i, now);
        this.store.register(summary.town, now - 86_400_000, true);
        this.store.report(summary);
      }
    });
    return { towns: count, ms: performance.now() - started };
  }

  /** This shard's part (`self` of `shards`) of a fleet of `count` synthetic towns; `overdueEvery`: one town in so many owes a tick ten minutes ago. */
  async benchSeedShard(count: number, shards: number, self: number, overdueEvery: number, from = 0, to = count) {
    const started = performance.now();
    const now = Date.now();
    let seeded = 0;
    this.ctx.storage.transactionSync(() => {
      for (let i = from; i < Math.min(to, count); i++) {
        const summary = benchSummary(i, now);
        if (shardOf(summary.town, shards) !== self) continue;
        this.store.register(summary.town, now - 86_400_000, true);
        this.store.report(i % overdueEvery === 1 ? { ...summary, nextAlarmAt: now - 600_000 } : summary);
        seeded += 1;
      }
    });
    return { towns: seeded, ms: performance.now() - started };
  }

  /** The fleet status as the route gets it, timed inside the object. */
  async benchStatus() {
    const started = performance.now();
    const rows = await this.fleetStatus();
    return { rows: rows.length, ms: performance.now() - started };
  }

  /** `count` summary reports of existing towns, one after another inside the object: the SQL's own cost. */
  async benchReportInObject(count: number, towns: number) {
    const now = Date.now();
    const started = performance.now();
    for (let i = 0; i < count; i++) this.store.report({ ...benchSummary(i % towns, now), reportedAt: now + i });
    const ms = performance.now() - started;
    return { reports: count, ms, perSecond: count / (ms / 1000) };
  }
}
