import { stalledSince } from "./deadlines";
import type { Bead } from "./model";
import type { TownState } from "./state";

/**
 * Invariant 11, work moves: while work waits to be taken (issues in a rig's dispatch queue, merge
 * requests waiting for review) and the breaker is closed, some bead must change status within the
 * progress window. The failure it catches: alarms firing, ticks emitting nothing, work sitting still
 * for hours while every single check says "not yet".
 *
 * Town-wide and read from indexes the state keeps (the longest-waiting bead, when a bead last changed
 * status), so checking it every tick costs nothing.
 */
export interface StalledWork {
  /** Since when work has waited with nothing moving. */
  readonly since: number;
  /** Beads waiting to be dispatched or reviewed. */
  readonly waiting: number;
  /** The one that has waited longest. */
  readonly oldest: Bead;
}

/** Work that has waited longer than the progress window with nothing moving, or null. */
export function stalledWork(state: TownState, now: number): StalledWork | null {
  const town = state.town;
  const oldest = state.work.oldestWaiting();
  if (town.breaker.status !== "closed" || town.paused || oldest === undefined) return null;
  const since = stalledSince(town, oldest);
  if (now - since <= town.config.progressWindowMs) return null;
  return { since, waiting: state.work.waitingCount, oldest };
}
