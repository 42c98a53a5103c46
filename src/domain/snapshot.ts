import { resolveConfig } from "./config";
import type { Agent, Bead, Rig, Town } from "./model";
import { TownState } from "./state";

/** A town's whole state as plain JSON-able data: what snapshots store and replay starts from. */
export interface StateSnapshot {
  readonly town: Omit<Town, "config">;
  readonly rigs: readonly Rig[];
  readonly agents: readonly Agent[];
  readonly beads: readonly Bead[];
}

export function snapshotOf(state: TownState): StateSnapshot {
  const { config: _config, ...town } = state.town;
  return { town, rigs: [...state.rigs()], agents: [...state.agents()], beads: [...state.beads()] };
}

/** The state back from a snapshot (the config is resolved again from the overrides it had). */
export function stateFromSnapshot(snapshot: StateSnapshot): TownState {
  const town: Town = { ...snapshot.town, config: resolveConfig(snapshot.town.overrides) };
  return new TownState(town, snapshot.rigs, snapshot.agents, snapshot.beads);
}
