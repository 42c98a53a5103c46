import { resolveConfig } from "./config";
import type { AgentId, BeadId } from "./ids";
import { upgradedBead, type Agent, type RecordedBead, type Rig, type Town } from "./model";
import type { UsageRow } from "./usage";
import { TownState } from "./state";
import { type BeadArchive, type FinishedCounts, finishedTotal } from "./archive";
import type { Touched } from "./focus";

/**
 * A town's working set as plain JSON-able data: what snapshots store and replay starts from. Finished
 * beads are not in it (they are in the archive), so its size follows live work, not history.
 */
export interface StateSnapshot {
  /** `progressAt` is absent in snapshots taken before invariant 11 existed. */
  readonly town: Omit<Town, "config" | "progressAt" | "paused" | "budgetStanding"> & {
    readonly progressAt?: number;
    readonly paused?: Town["paused"];
    readonly budgetStanding?: Town["budgetStanding"];
  };
  /** Rigs, deleted ones too (`deletedAt` absent in snapshots taken before rigs could be deleted). */
  readonly rigs: ReadonlyArray<Omit<Rig, "deletedAt"> & { readonly deletedAt?: number | null }>;
  /** Agents (`runningSince` absent in snapshots taken before the usage meter). */
  readonly agents: ReadonlyArray<Omit<Agent, "runningSince"> & { readonly runningSince?: number | null }>;
  /** Beads (`usage` absent in snapshots taken before the usage meter). */
  readonly beads: readonly RecordedBead[];
  /** Issue → all its merge requests, archived ones included (absent in snapshots taken before the archive existed). */
  readonly mergeRequests?: ReadonlyArray<readonly [BeadId, readonly BeadId[]]>;
  /** Beads already archived, by type and status. */
  readonly finished?: FinishedCounts;
  /** The last archive number given (absent before beads could be retried: then the finished total). */
  readonly archivedUpTo?: number;
  /** The usage meter's sums: ever, and of the latest day (absent before the meter: nothing metered). */
  readonly usage?: readonly UsageRow[];
  /** What the next tick was to look at: changed since the last tick, and the entities of open violations. */
  readonly focus?: { readonly pending: FocusIds; readonly watching: FocusIds };
}

export interface FocusIds {
  readonly agents: readonly AgentId[];
  readonly beads: readonly BeadId[];
}

export function snapshotOf(state: TownState, watching: Touched = { agents: new Set(), beads: new Set() }): StateSnapshot {
  const { config: _config, ...town } = state.town;
  const pending = state.changedSinceTick();
  return {
    town,
    rigs: [...state.allRigs()],
    agents: [...state.agents()],
    beads: [...state.beads()],
    mergeRequests: state.mergeRequestLists(),
    finished: state.finished,
    archivedUpTo: state.archivedUpTo,
    usage: state.usageRows(),
    focus: { pending: idsOf(pending), watching: idsOf(watching) },
  };
}

/** The state back from a snapshot (the config is resolved again from the overrides it had). */
export function stateFromSnapshot(snapshot: StateSnapshot, archive?: BeadArchive): TownState {
  // Snapshots taken before the progress window existed: work counts as never having moved (as the migrated row says).
  const town: Town = { progressAt: 0, paused: null, budgetStanding: null, ...snapshot.town, config: resolveConfig(snapshot.town.overrides) };
  const beads = snapshot.beads.map(upgradedBead);
  const rigs = snapshot.rigs.map((rig) => ({ ...rig, deletedAt: rig.deletedAt ?? null }));
  const agents = snapshot.agents.map((agent): Agent => withOwedStops({ ...agent, runningSince: agent.runningSince ?? null }));
  const state = new TownState(town, rigs, agents, beads, {
    ...(snapshot.usage ? { usage: snapshot.usage } : {}),
    ...(snapshot.archivedUpTo === undefined ? {} : { archivedUpTo: snapshot.archivedUpTo }),
    ...(archive ? { archive } : {}),
    ...(snapshot.finished ? { finished: snapshot.finished } : {}),
    ...(snapshot.mergeRequests ? { mergeRequests: snapshot.mergeRequests } : {}),
  });
  if (snapshot.focus) state.touch(focusOf(snapshot.focus.pending));
  return state;
}

/** The last archive number a snapshot had seen: replay reads only the beads archived up to it. */
export const archivedUpToOf = (snapshot: StateSnapshot): number => snapshot.archivedUpTo ?? finishedTotal(snapshot.finished);

/** Snapshots taken before owed stops existed have agents without the list: nothing was owed then. */
const withOwedStops = (agent: Agent): Agent => (Array.isArray(agent.owedStops) ? agent : { ...agent, owedStops: [] });

export const focusOf = (ids: FocusIds): Touched => ({ agents: new Set(ids.agents), beads: new Set(ids.beads) });
const idsOf = (focus: Touched): FocusIds => ({ agents: [...focus.agents].sort(), beads: [...focus.beads].sort() });
