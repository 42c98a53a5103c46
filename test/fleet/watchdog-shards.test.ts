/**
 * The watchdog over several shards: each shard sweeps its own overdue towns in its own call, with its
 * own budget, by its index on next-due time; towns that owe nothing are never asked.
 */
import { afterEach, describe, expect, it } from "vitest";
import { sweepFleet } from "../../src/fleet/watchdog";
import { shardOf } from "../../src/fleet/shards";
import { registrationSummary } from "../../src/fleet/town-summary";
import { createLogger } from "../../src/observability/log";
import { deployShards, registry, shard } from "../support/fleet";
import { env, uniqueTownId } from "../support/town";

afterEach(() => deployShards(undefined));

const log = createLogger("error", { component: "watchdog" });

describe("the watchdog over several shards", () => {
  it("asks every overdue town of every shard in one sweep, each shard within its own budget, and never a town that owes nothing", async () => {
    const shards = 4;
    deployShards(shards);
    const now = Date.UTC(2100, 0, 1) + 86_400_000;
    await registry.testSetTime(now);
    /**
     * At least 80 listed towns, none a town object, and at least two a shard: every other town of each
     * shard owes a tick ten minutes ago, the rest sleep owing nothing — so every shard has overdue towns
     * whatever the ids hash to (ids that differ in their last digits do not spread evenly over 4
     * shards: for 2% of prefixes the even-numbered 40 missed a shard). Overdue ones per shard.
     */
    const seed = async (prefix: string) => {
      const perShard = Array.from({ length: shards }, () => 0);
      const listed = Array.from({ length: shards }, () => 0);
      for (let i = 0; i < 80 || listed.some((n) => n < 2); i++) {
        const id = `${prefix}-${i}`;
        const at = shardOf(id, shards);
        const overdue = listed[at]! % 2 === 0;
        listed[at]! += 1;
        const summary = { ...registrationSummary(id, now - 3_600_000), reportedAt: now - 600_000, nextAlarmAt: overdue ? now - 600_000 : null };
        await shard(at).enter(id, now - 3_600_000, summary, shards);
        if (overdue) perShard[at]! += 1;
      }
      expect(perShard.every((n) => n > 0)).toBe(true);
      return perShard;
    };
    const swept = (await seed(uniqueTownId("swept"))).reduce((sum, n) => sum + n, 0);

    // Room for all: one sweep asks every overdue town, no sleeping one. None exists as a town object
    // ("missing"): each takes itself off the list when asked, so the next sweep finds none of them.
    const all = await sweepFleet(env, log, { pageSize: 3, maxTowns: 100, concurrency: 4 });
    expect(all).toMatchObject({ checked: swept, missing: swept, truncated: false });
    expect(await sweepFleet(env, log, { pageSize: 3, maxTowns: 100, concurrency: 4 })).toMatchObject({ checked: 0 });

    // Five a shard: each shard asks its own five most overdue, so the sweep covers min(5, n) of every shard.
    const perShard = await seed(uniqueTownId("bounded"));
    const bounded = await sweepFleet(env, log, { pageSize: 2, maxTowns: 5, concurrency: 2 });
    expect(bounded.checked).toBe(perShard.reduce((sum, n) => sum + Math.min(5, n), 0));
    expect(bounded.truncated).toBe(perShard.some((n) => n > 5));
  });
});
