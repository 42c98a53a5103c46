import type { Observation } from "../db/state-store";
import type { TownStore } from "../db/town-store";
import type { AgentId } from "../domain/ids";
import type { TownState } from "../domain/state";
import type { OpenViolation } from "../domain/violations";
import type { StoredArchive } from "../db/stored-archive";
import type { TokenBuckets } from "./rate-limiter";

/** A loaded town: its storage, its working set in memory, and the shell-only bookkeeping around it. */
export interface TownRuntime {
  readonly store: TownStore;
  readonly state: TownState;
  /** Where finished beads are read from (with its cache). */
  readonly archive: StoredArchive;
  /** Last observation per agent (time and container status as reported, for the noise filter). */
  readonly observations: Map<AgentId, Observation>;
  /** Agents the platform reported on since the last tick: the next tick records what it saw of them. */
  readonly observedSinceTick: Set<AgentId>;
  /** Events each token may still send now (the ingest's rate per token). */
  readonly ingestBuckets: TokenBuckets;
  /**
   * Events the intake refused since the last tick's record, by reason: counted here, not written per
   * refusal (a flood of refusals must not write a row each), and recorded with the next tick.
   */
  readonly refusedSinceTick: Map<string, number>;
  /** When the last state snapshot was taken (checked after every tick; kept here to spare a query). */
  lastSnapshotAt: number | null;
  /** Invariant violations open after the last tick, by key. */
  openViolations: Map<string, OpenViolation>;
  /** When a committed tick last raised `storage_high` (null: not since the database went under the share, or the town loaded). */
  storageAlertedAt: number | null;
  /**
   * Since when a write found the database full (`SQLITE_FULL`); null: it has room. While set the town
   * takes no new work; the next tick that commits proves there is room again and clears it.
   */
  storageFullSince: number | null;
}

/**
 * Runs `work` so that storage and memory move together: the SQL transaction commits and the state's
 * journal is forgotten (finished beads leave memory), or both roll back.
 */
export function inTransaction<T>(runtime: TownRuntime, work: () => T): T {
  const mark = runtime.state.mark();
  try {
    const result = runtime.store.transaction(work);
    runtime.state.commit();
    return result;
  } catch (error) {
    runtime.state.rollbackTo(mark);
    throw error;
  }
}

/** Persists what the state changed since its last commit (inside the caller's transaction). */
export function persistChanges(runtime: TownRuntime): void {
  runtime.store.state.persist(runtime.state.changes(), runtime.state.finished);
}
