/** Test helpers for the fleet: the registry's clock, a watchdog sweep run as the Cron Trigger runs it, fleet rows. */
import { env as workerEnv } from "cloudflare:workers";
import { createScheduledController } from "cloudflare:test";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import type { TownRegistry as TestRegistry } from "./test-worker";
import { api, TOKENS, type TestTown } from "./town";

const env = workerEnv as unknown as Env;

/** The one registry shard this deployment has. */
export const registry = env.REGISTRY.getByName("registry") as unknown as DurableObjectStub<TestRegistry>;

/** The cron of wrangler.toml's Cron Trigger. */
export const WATCHDOG_CRON = "* * * * *";

/** Runs the scheduled handler as the Cron Trigger would, with the registry's clock at `at`. */
export async function sweep(at: number): Promise<void> {
  await registry.testSetTime(at);
  // The handler awaits its sweep (and the check-ins) before it returns: nothing is left in waitUntil.
  await worker.scheduled(createScheduledController({ scheduledTime: at, cron: WATCHDOG_CRON }), env);
}

/** The town's row of `GET /api/fleet/status`, read with the registry's clock at `at`. */
export async function fleetRow(town: TestTown | string, at: number): Promise<any> {
  await registry.testSetTime(at);
  const response = await api("GET", "/api/fleet/status", { token: TOKENS.read });
  if (response.status !== 200) throw new Error(`fleet status failed: ${response.status} ${JSON.stringify(response.body)}`);
  const id = typeof town === "string" ? town : town.townId;
  return response.body.towns.find((row: any) => row.town === id);
}
