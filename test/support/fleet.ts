/** Test helpers for the fleet: the registry's clock, a watchdog sweep run as the Cron Trigger runs it, fleet rows. */
import { createScheduledController } from "cloudflare:test";
import worker from "../../src/index";
import { shardName } from "../../src/fleet/shards";
import { registrationSummary, type TownSummary } from "../../src/fleet/town-summary";
import { setTestShards, withRegistryFaults, type TownRegistry as TestRegistry } from "./test-worker";
import { api, env, TOKENS, type TestTown } from "./town";

/** Registry shard `index`; shard 0 (`registry`) keeps the fleet's layout and clock. */
export const shard = (index: number) => env.REGISTRY.getByName(shardName(index)) as unknown as DurableObjectStub<TestRegistry>;

/** Shard 0: the one registry a deployment of one shard has. Fleet reads and the watchdog run on its clock. */
export const registry = shard(0);

/** "Deploys" another REGISTRY_SHARDS: the Worker and every object read it from now on (undefined: wrangler.toml's again). */
export const deployShards = (count: number | undefined): void => setTestShards(count);

/** The cron of wrangler.toml's Cron Trigger. */
export const WATCHDOG_CRON = "* * * * *";

/** Runs the scheduled handler as the Cron Trigger would, with the registry's clock at `at`. */
export async function sweep(at: number): Promise<void> {
  await registry.testSetTime(at);
  // The handler awaits its sweep (and the check-ins) before it returns: nothing is left in waitUntil.
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: WATCHDOG_CRON }), withRegistryFaults(env));
}

/** The town's row of `GET /api/fleet/status`, read with the registry's clock at `at`. */
export async function fleetRow(town: TestTown | string, at: number): Promise<any> {
  await registry.testSetTime(at);
  const response = await api("GET", "/api/fleet/status", { token: TOKENS.read });
  if (response.status !== 200) throw new Error(`fleet status failed: ${response.status} ${JSON.stringify(response.body)}`);
  const id = typeof town === "string" ? town : town.townId;
  return response.body.towns.find((row: any) => row.town === id);
}

/**
 * A summary of `town` reported (and ticked) at `at` in which the first `trouble` of these alert
 * conditions hold: a dead letter, a queue over 50, the oldest pending event past its bound, an open
 * violation. When its next tick is due, and when its oldest pending event came (`pending.troubled` as a
 * condition, `pending.calm` otherwise), are the test's.
 */
export const troubledSummary = (
  town: string,
  at: number,
  trouble: number,
  nextAlarmAt: number,
  pending: { troubled: number; calm: number | null },
): TownSummary => ({
  ...registrationSummary(town, at),
  reportedAt: at,
  lastTickAt: at,
  nextAlarmAt,
  deadLetters: trouble >= 1 ? 1 : 0,
  queueDepth: trouble >= 2 ? 51 : 3,
  oldestPendingAt: trouble >= 3 ? pending.troubled : pending.calm,
  violationsOpen: trouble >= 4 ? 1 : 0,
});
