/**
 * The benchmark Worker's fleet controls (`/bench/fleet/<action>`): seed the registry with synthetic
 * towns, and push summaries to it over RPC as towns do, timed from the Worker.
 */
import type { Env } from "../src/env";
import { registryOf, shardOf, shardStub } from "../src/fleet/shards";
import { fleetStatus, InvalidCursor, listTowns, scrapeTargets } from "../src/fleet/reads";
import { sweepFleet } from "../src/fleet/watchdog";
import { fleetLayout } from "../src/fleet/layout";
import { createLogger } from "../src/observability/log";
import { benchSummary, BENCH_TOWN_PREFIX, type TownRegistry } from "./fleet-registry";

/** The env with another REGISTRY_SHARDS: what a deploy with that count gives the Worker and the towns. */
const withShards = (env: Env, shards: number): Env =>
  new Proxy(env, { get: (target, key) => (key === "REGISTRY_SHARDS" ? String(shards) : Reflect.get(target, key)) });

const quiet = createLogger("error", { component: "watchdog" });

/** Distinct towns of the bench, and how many rows (a town shown twice counts twice). */
function seen(rows: ReadonlyArray<{ town: string }>) {
  const mine = rows.filter((r) => r.town.startsWith(BENCH_TOWN_PREFIX));
  return { distinct: new Set(mine.map((r) => r.town)).size, rows: mine.length };
}

const timed = async <T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> => {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
};

type BenchRegistry = DurableObjectStub<TownRegistry>;

export async function runFleetBench(env: Env, action: string, body: Record<string, number>) {
  const registry = env.REGISTRY.getByName("registry") as unknown as BenchRegistry;
  switch (action) {
    case "seed":
      return registry.benchSeed(body.towns!);
    case "status-in-object":
      return registry.benchStatus();
    case "report-in-object":
      return registry.benchReportInObject(body.count!, body.towns!);
    case "report": {
      // `count` summaries pushed over RPC by `concurrency` senders at once, as many towns ticking do.
      const { count, concurrency, towns } = body as { count: number; concurrency: number; towns: number };
      const now = Date.now();
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < count) {
            const i = next++;
            const summary = { ...benchSummary(i % towns, now), reportedAt: now + i };
            await (registryOf(env, summary.town) as unknown as BenchRegistry).report(summary);
          }
        }),
      );
      const ms = performance.now() - started;
      return { reports: count, concurrency, ms, perSecond: count / (ms / 1000) };
    }
    case "seed-shards": {
      // `towns` synthetic towns over `shards` shards, each shard seeding its own.
      const { towns, shards, overdueEvery } = body as { towns: number; shards: number; overdueEvery: number };
      const started = performance.now();
      // In slices of 10,000 towns, one shard after another: short transactions.
      const parts: Array<{ towns: number }> = [];
      for (let from = 0; from < towns; from += 10_000)
        for (let i = 0; i < shards; i++)
          parts.push(await (shardStub(env, i) as unknown as BenchRegistry).benchSeedShard(towns, shards, i, overdueEvery, from, from + 10_000));
      await fleetLayout(withShards(env, shards));
      return { towns: parts.reduce((n, p) => n + p.towns, 0), ms: performance.now() - started };
    }
    case "status": {
      const { shards, problemsOnly, limit } = body as { shards: number; problemsOnly: number; limit: number };
      const { ms, value } = await timed(async () => {
        const page = await fleetStatus(withShards(env, shards), { problemsOnly: problemsOnly === 1, limit: limit > 0 ? limit : undefined });
        return { rows: page.towns.length, bytes: JSON.stringify(page).length };
      });
      return { ms, ...value };
    }
    case "targets": {
      const { shards, shard } = body as { shards: number; shard: number };
      const { ms, value } = await timed(() => scrapeTargets(withShards(env, shards), "bench.test", shard < 0 ? undefined : shard));
      return { ms, groups: value.length, bytes: JSON.stringify(value).length };
    }
    case "sweep": {
      const { shards } = body as { shards: number };
      const { ms, value } = await timed(() => sweepFleet(withShards(env, shards), quiet));
      return { ms, ...value };
    }
    case "report-shards": {
      // `count` summaries, one after another, each to its town's shard.
      const { count, shards, towns } = body as { count: number; shards: number; towns: number };
      const now = Date.now();
      const started = performance.now();
      for (let i = 0; i < count; i++) {
        const summary = { ...benchSummary((i * 7919) % towns, now), reportedAt: now + i };
        await (registryOf(env, summary.town, shards) as unknown as BenchRegistry).report(summary);
      }
      const ms = performance.now() - started;
      return { reports: count, ms, perSecond: count / (ms / 1000) };
    }
    // ---- the steps of a live change of the shard count, each one bounded request driven from Node ----
    case "seed-slice": {
      // One shard's towns among `from … to-1` of a fleet of `towns`.
      const { towns, shards, shard, from, to, overdueEvery } = body as Record<string, number>;
      return (shardStub(env, shard!) as unknown as BenchRegistry).benchSeedShard(towns!, shards!, shard!, overdueEvery!, from!, to!);
    }
    case "layout": {
      const layout = await fleetLayout(withShards(env, body.shards!));
      return { shards: layout.shards, span: layout.span };
    }
    case "read-page": {
      // One page of every town's row (the bench's towns only are answered, by name).
      const { shards, limit } = body as Record<string, number>;
      const cursor = (body as unknown as { cursor?: string }).cursor;
      try {
        const page = await fleetStatus(withShards(env, shards!), { limit, cursor });
        return { towns: page.towns.map((r) => r.town).filter((t) => t.startsWith(BENCH_TOWN_PREFIX)), nextCursor: page.nextCursor };
      } catch (error) {
        // A read that took longer than a cursor lives (CURSOR_LIFETIME_MS) is told to start again.
        if (error instanceof InvalidCursor) return { expired: String(error) };
        throw error;
      }
    }
    case "report-slice": {
      // Towns `from … to-1` report as towns running with `to` shards do: those whose shard changed enter their new one.
      const { from, to, fromShards, toShards, now } = body as Record<string, number>;
      for (let i = from!; i < to!; i++) {
        const summary = { ...benchSummary(i, now!), reportedAt: now! + 1 };
        const shard = shardOf(summary.town, toShards!);
        if (shard === shardOf(summary.town, fromShards!)) await (shardStub(env, shard) as unknown as BenchRegistry).report(summary);
        else await (shardStub(env, shard) as unknown as BenchRegistry).enter(summary.town, now! - 86_400_000, summary, toShards!);
      }
      return { reports: to! - from! };
    }
    case "handover-step": {
      // One handover step on every shard of the layout (what one watchdog sweep does), each handing over at most `limit` rows.
      const { to, now, limit } = body as Record<string, number>;
      const layout = await fleetLayout(withShards(env, to!));
      const started = performance.now();
      const results = await Promise.all(layout.shards.map((i) => shardStub(env, i).rebalance(to!, i, now!, limit)));
      return { handedOver: results.reduce((n, r) => n + r.handedOver, 0), ms: performance.now() - started };
    }
    case "sweep-slice": {
      // One shard's part of a watchdog sweep, at most `maxTowns` towns asked (the towns of the bench do
      // not exist, so each asked answers "missing" and leaves the list: the next slice asks the next ones).
      const { shard, maxTowns } = body as Record<string, number>;
      const started = performance.now();
      const { report } = await shardStub(env, shard!).sweepOverdue(Date.now(), { pageSize: maxTowns!, maxTowns: maxTowns!, concurrency: 25 });
      return { ms: performance.now() - started, checked: report.checked, truncated: report.truncated };
    }
    case "drop": {
      // A grace later: the old shards drop what they handed over (at most `limit` a shard: Node asks again
      // until none is dropped), and the shards past the count (if any) are no longer read.
      const { to, later, limit } = body as Record<string, number>;
      const next = withShards(env, to!);
      const layout = await fleetLayout(next);
      const results = await Promise.all(layout.shards.map((i) => shardStub(env, i).rebalance(to!, i, later!, limit)));
      const lastHolding = results.reduce((last, r, i) => (r.held > 0 ? i : last), -1);
      await shardStub(env, 0).settle(to!, Math.max(to!, lastHolding + 1));
      return { dropped: results.reduce((n, r) => n + r.dropped, 0), span: (await fleetLayout(next)).span };
    }
    case "targets-all": {
      const { to } = body as Record<string, number>;
      const next = withShards(env, to!);
      const targets = await Promise.all(Array.from({ length: to! }, (_, shard) => scrapeTargets(next, "bench.test", shard)));
      const towns = targets
        .flat()
        .map((g) => g.labels.town!)
        .filter((t) => t.startsWith(BENCH_TOWN_PREFIX));
      return { rows: towns.length, distinct: new Set(towns).size };
    }
    case "change": {
      // The count goes from `from` to `to` under load: towns keep reporting (those whose shard changed
      // enter their new one), fleet reads run, and the watchdog's handover steps run — the drop a grace
      // later is run with the clock moved on.
      const { from, to, towns, reporters, pageSize } = body as { from: number; to: number; towns: number; reporters: number; pageSize: number };
      // Every town, in pages of `pageSize` (0: in one answer).
      const readAll = async (fleetEnv: Env) => {
        if (!pageSize) return (await fleetStatus(fleetEnv)).towns;
        const rows: Array<{ town: string }> = [];
        let cursor: string | undefined;
        do {
          const page = await fleetStatus(fleetEnv, { limit: pageSize, cursor });
          rows.push(...page.towns.map((r) => ({ town: r.town })));
          cursor = page.nextCursor ?? undefined;
        } while (cursor);
        return rows;
      };
      const before = seen(await readAll(withShards(env, from)));
      const next = withShards(env, to);
      const now = Date.now();
      const during: Array<{ distinct: number; rows: number }> = [];
      let reading = true;
      const reads = (async () => {
        while (reading) during.push(seen(await readAll(next)));
      })();
      let reports = 0;
      const load = Promise.all(
        Array.from({ length: reporters }, async (_, sender) => {
          for (let i = sender; i < Math.min(towns, 2_000); i += reporters) {
            const summary = { ...benchSummary(i, now), reportedAt: now + 1 };
            const shard = shardOf(summary.town, to);
            if (shard === shardOf(summary.town, from)) await (shardStub(env, shard) as unknown as BenchRegistry).report(summary);
            else await (shardStub(env, shard) as unknown as BenchRegistry).enter(summary.town, now - 86_400_000, summary, to);
            reports += 1;
          }
        }),
      );
      const handover = await timed(async () => {
        const layout = await fleetLayout(next);
        let steps = 0;
        for (;;) {
          steps += 1;
          const results = await Promise.all(layout.shards.map((i) => shardStub(env, i).rebalance(to, i, now)));
          if (results.every((r) => r.handedOver === 0)) return { steps, handedOver: 0 };
        }
      });
      await load;
      // A grace later: the old shards drop what they handed over, and the shards past the count (if any) are no longer read.
      const later = Date.now() + 120_000;
      const layout = await fleetLayout(next);
      const dropped = await Promise.all(layout.shards.map((i) => shardStub(env, i).rebalance(to, i, later)));
      const lastHolding = dropped.reduce((last, r, i) => (r.held > 0 ? i : last), -1);
      await shardStub(env, 0).settle(to, Math.max(to, lastHolding + 1));
      reading = false;
      await reads;
      const after = seen(await readAll(next));
      const targets = await Promise.all(Array.from({ length: to }, (_, shard) => scrapeTargets(next, "bench.test", shard)));
      const targetTowns = targets
        .flat()
        .map((g) => g.labels.town!)
        .filter((t) => t.startsWith(BENCH_TOWN_PREFIX));
      return {
        before,
        during: { reads: during.length, minDistinct: Math.min(...during.map((d) => d.distinct)), maxRows: Math.max(...during.map((d) => d.rows)) },
        after,
        targets: { rows: targetTowns.length, distinct: new Set(targetTowns).size },
        reports,
        handoverMs: handover.ms,
        handoverSteps: handover.value.steps,
        listed: (await listTowns(next)).filter((t) => t.id.startsWith(BENCH_TOWN_PREFIX)).length,
        read: (await fleetLayout(next)).span,
      };
    }
    default:
      throw new Error(`unknown fleet bench action ${action}`);
  }
}
