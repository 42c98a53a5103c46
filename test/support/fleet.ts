/** Test helpers for the fleet: the registry's clock, a watchdog sweep run as the Cron Trigger runs it, fleet rows. */
import { createScheduledController } from "cloudflare:test";
import worker from "../../src/index";
import { shardName } from "../../src/fleet/shards";
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
