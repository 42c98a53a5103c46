import { isFlapping, reopensWithin } from "../flapping";
import { minutes } from "../format";
import type { BeadId } from "../ids";
import type { Agent, Bead } from "../model";
import { stalledWork } from "../progress";
import type { BeadInvariant, Checking, Finding, TownInvariant } from "./invariant";

// Progress: work moves forward, and a bead does not go round in circles.

export const WORK_MOVES: TownInvariant = {
  id: 11,
  name: "workMoves",
  description: "work moves: while work waits and the breaker is closed, some bead changes status within the progress window",
  of: "town",
  check: workMoves,
  runbook: "work-not-moving.md",
  fleetAlert: { id: "WorkNotMoving", field: "stuckWork" },
};

export const NO_FLAPPING: BeadInvariant = {
  id: 12,
  name: "noFlapping",
  description: "no flapping: a bead goes back to open at most the set number of times within the flapping window",
  of: "bead",
  check: noFlapping,
  runbook: "flapping.md",
};

/** The town as a whole: work waits, nothing moves (the alarm fires, no action follows). */
export function workMoves({ state, now, config }: Checking): Finding | null {
  const stalled = stalledWork(state, now);
  if (!stalled) return null;
  return {
    key: "town",
    message: `${stalled.waiting} bead(s) wait to be dispatched or reviewed and no bead has changed status for ${minutes(now - stalled.since)} min (window ${minutes(config.progressWindowMs)} min); longest waiting: ${stalled.oldest.id}`,
    beadIds: [stalled.oldest.id],
  };
}

export function noFlapping(id: BeadId, bead: Bead | undefined, _hooked: readonly Agent[], { now, config }: Checking): Finding | null {
  if (!bead || !isFlapping(bead, now, config)) return null;
  const { maxReopens, windowMs } = config.flapping;
  return {
    key: id,
    message: `bead ${id} went back to open ${reopensWithin(bead, now, config)} times within ${minutes(windowMs)} min (limit ${maxReopens})`,
    beadIds: [id],
  };
}
