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
    /** 80 listed towns, none a town object: half owe a tick ten minutes ago, half sleep owing nothing. Overdue ones per shard. */
    const seed = async (prefix: string) => {
      const perShard = Array.from({ length: shards }, () => 0);
      for (let i = 0; i < 80; i++) {
        const id = `${prefix}-${i}`;
        const overdue = i % 2 === 0;
        const summary = { ...registrationSummary(id, now - 3_600_000), reportedAt: now - 600_000, nextAlarmAt: overdue ? now - 600_000 : null };
        await shard(shardOf(id, shards)).enter(id, now - 3_600_000, summary, shards);
        if (overdue) perShard[shardOf(id, shards)]! += 1;
      }
      expect(perShard.every((n) => n > 0)).toBe(true);
      return perShard;
    };
    await seed(uniqueTownId("swept"));

    // Room for all: one sweep asks the 40 overdue towns, no sleeping one. None exists as a town object
    // ("missing"): each takes itself off the list when asked, so the next sweep finds none of them.
    const all = await sweepFleet(env, log, { pageSize: 3, maxTowns: 100, concurrency: 4 });
    expect(all).toMatchObject({ checked: 40, missing: 40, truncated: false });
    expect(await sweepFleet(env, log, { pageSize: 3, maxTowns: 100, concurrency: 4 })).toMatchObject({ checked: 0 });

    // Five a shard: each shard asks its own five most overdue, so the sweep covers min(5, n) of every shard.
    const perShard = await seed(uniqueTownId("bounded"));
    const bounded = await sweepFleet(env, log, { pageSize: 2, maxTowns: 5, concurrency: 2 });
    expect(bounded.checked).toBe(perShard.reduce((sum, n) => sum + Math.min(5, n), 0));
    expect(bounded.truncated).toBe(perShard.some((n) => n > 5));
  });
});
