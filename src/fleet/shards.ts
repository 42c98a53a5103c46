import { fnv1a } from "../domain/hash";
import type { TownRegistry } from "./registry.do";

/** What reaching the fleet's registry takes: its Durable Object namespace. */
export interface FleetBindings {
  readonly REGISTRY: DurableObjectNamespace<TownRegistry>;
}

/**
 * How the town list is split over registry objects. One object takes the whole fleet up to the budget
 * measured by `npm run bench` (docs/benchmarks.md, The fleet); past it, towns are spread over `shards` objects by a
 * hash of the town id, each town always reporting to the same one, and fleet reads ask every shard
 * and merge. The count is fixed in code because changing it moves towns between shards: see docs/fleet.md (Shards).
 */
export const REGISTRY_SHARDS = 1;

/** The shard of a town (FNV-1a of its id): stable across runs, processes and deploys. */
export function shardOf(townId: string, shards: number): number {
  return fnv1a(townId) % shards;
}

/** The object of shard `index`: the first keeps the name the single registry always had. */
export const shardName = (index: number): string => (index === 0 ? "registry" : `registry-${index}`);

export function registryOf(env: FleetBindings, townId: string, shards = REGISTRY_SHARDS): DurableObjectStub<TownRegistry> {
  return env.REGISTRY.getByName(shardName(shardOf(townId, shards)));
}

export function allRegistries(env: FleetBindings, shards = REGISTRY_SHARDS): Array<DurableObjectStub<TownRegistry>> {
  return Array.from({ length: shards }, (_, i) => env.REGISTRY.getByName(shardName(i)));
}
