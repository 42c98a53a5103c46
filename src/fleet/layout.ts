import { shardCount, shardStub, type FleetBindings } from "./shards";
import type { FleetLayout } from "./placement";

/** The fleet's layout (src/fleet/placement.ts), from shard 0, for a caller running with the environment's count. */
export async function fleetLayout(env: FleetBindings): Promise<FleetLayout> {
  const { current, span, now } = await shardStub(env, 0).layout(shardCount(env));
  return { current, span, now, shards: Array.from({ length: span }, (_, i) => i) };
}
