/**
 * The benchmark Worker's fleet controls (`/bench/fleet/<action>`): seed the registry with synthetic
 * towns, and push summaries to it over RPC as towns do, timed from the Worker.
 */
import type { Env } from "../src/env";
import { registryOf } from "../src/fleet/shards";
import { benchSummary, type TownRegistry } from "./fleet-registry";

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
    default:
      throw new Error(`unknown fleet bench action ${action}`);
  }
}
