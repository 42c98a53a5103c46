import type { TownRegistry } from "./registry.do";
import { shardCount, shardName, shardOf } from "./placement";

export { jumpHash, MAX_REGISTRY_SHARDS, shardCount, shardName, shardOf } from "./placement";

/** What reaching the fleet's registry takes: its Durable Object namespace, and how many shards it has. */
export interface FleetBindings {
  readonly REGISTRY: DurableObjectNamespace<TownRegistry>;
  /** The number of registry shards (wrangler.toml [vars]; default 1): see docs/fleet.md (Shards). */
  readonly REGISTRY_SHARDS?: string;
}

export function shardStub(env: FleetBindings, index: number): DurableObjectStub<TownRegistry> {
  return env.REGISTRY.getByName(shardName(index));
}

/** The shard a town reports to under the environment's count. */
export function registryOf(env: FleetBindings, townId: string, shards = shardCount(env)): DurableObjectStub<TownRegistry> {
  return shardStub(env, shardOf(townId, shards));
}

/** Shards 0 … count − 1. */
export function allRegistries(env: FleetBindings, count = shardCount(env)): Array<DurableObjectStub<TownRegistry>> {
  return Array.from({ length: count }, (_, i) => shardStub(env, i));
}
