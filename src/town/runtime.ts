import type { TownRepository, Observation } from "../db/repository";
import type { AgentId } from "../domain/ids";
import type { TownState } from "../domain/state";
import type { OpenViolation } from "../observability/violation-tracker";

/** A loaded town: its storage, its state in memory, and the shell-only observation columns. */
export interface TownRuntime {
  readonly repo: TownRepository;
  readonly state: TownState;
  /** Last observation per agent (time and container status as reported, for the noise filter). */
  readonly observations: Map<AgentId, Observation>;
  /** When the last tick ran: observations newer than this are recorded by the next tick. */
  lastTickAt: number;
  /** When the last state snapshot was taken (checked after every tick; kept here to spare a query). */
  lastSnapshotAt: number | null;
  /** Invariant violations open after the last tick, by key. */
  openViolations: Map<string, OpenViolation>;
}

/**
 * Runs `work` so that storage and memory move together: the SQL transaction commits and the state's
 * journal is forgotten, or both roll back.
 */
export function inTransaction<T>(runtime: TownRuntime, work: () => T): T {
  const mark = runtime.state.mark();
  try {
    const result = runtime.repo.transaction(work);
    runtime.state.commit();
    return result;
  } catch (error) {
    runtime.state.rollbackTo(mark);
    throw error;
  }
}
