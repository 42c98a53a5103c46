import { allRegistries, REGISTRY_SHARDS, type FleetBindings } from "./shards";
import { worstFirst, type FleetRow } from "./fleet-row";

/** Every town, from every shard, by id (`GET /api/towns`, the Grafana `town` variable). */
export async function listTowns(env: FleetBindings, shards = REGISTRY_SHARDS): Promise<Array<{ id: string; createdAt: number }>> {
  const lists = await Promise.all(allRegistries(env, shards).map((registry) => registry.list()));
  return lists.flat().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** One row per town, worst first, from the registries' own storage: no town is woken. */
export async function fleetStatus(env: FleetBindings, shards = REGISTRY_SHARDS): Promise<FleetRow[]> {
  const parts = await Promise.all(allRegistries(env, shards).map((registry) => registry.fleetStatus()));
  return parts.flat().sort(worstFirst);
}

/** A Prometheus HTTP service discovery target group: where to scrape, and the labels to put on it. */
export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * Prometheus `http_sd_configs`: one target group per town, at the host the request came to (so the
 * answer is right behind any hostname or port), scraping the town's own metrics route.
 */
export async function scrapeTargets(env: FleetBindings, host: string, shards = REGISTRY_SHARDS): Promise<TargetGroup[]> {
  return (await listTowns(env, shards)).map((town) => ({
    targets: [host],
    labels: { __metrics_path__: `/api/towns/${encodeURIComponent(town.id)}/metrics`, town: town.id },
  }));
}
