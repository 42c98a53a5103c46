import { Explainer, type Reason } from "../domain/explain";
import type { TownId } from "../domain/ids";
import { type ReasonView, reasonView } from "./explanation-view";
import type { Bead } from "../domain/model";
import type { TownRuntime } from "../town/runtime";

/** The most beads of each kind one answer lists. */
export const MAX_STUCK_BEADS = 100;

/**
 * Explain codes that mean a bead is moving: an agent works on it, or nothing holds it. Every other code
 * on an open or in-progress bead that the next tick will not touch is a reason it is waiting — a convoy
 * waiting for the beads it tracks included.
 */
const MOVING = new Set(["working", "ready"]);

export interface StuckBead {
  readonly id: Bead["id"];
  readonly type: Bead["type"];
  readonly status: Bead["status"];
  readonly title: string;
  readonly rigId: Bead["rigId"];
  readonly priority: number;
  readonly dispatchAttempts: number;
  readonly updatedAt: number;
  readonly held: boolean;
  /** Why it (or its last attempt) last failed. */
  readonly lastFailure: Bead["lastFailure"];
  /** The reasons `GET …/beads/:id/explain` gives, each with the command that lifts it where one does. */
  readonly reasons: readonly ReasonView[];
}

export interface StuckWork {
  readonly now: number;
  readonly limit: number;
  /** Failed beads, most recently failed first. */
  readonly failed: readonly StuckBead[];
  /** More beads have failed than the limit lets through. */
  readonly moreFailed: boolean;
  /** Open and in-progress beads that are not moving, most recently changed first. */
  readonly waiting: readonly StuckBead[];
  /** More beads are waiting than the limit lets through. */
  readonly moreWaiting: boolean;
}

/**
 * What is stuck in a town, for an operator at 3 a.m.: the beads that failed, and the open or
 * in-progress beads that are not moving — held, blocked, backing off, out of attempts, behind an open
 * breaker, without an agent, with a stalled agent or a container in trouble — each with the reasons
 * explain gives. Failed beads are read from storage (finished beads leave the in-memory state); waiting
 * ones from memory, explained against one reconcile pass, stopping once `limit` are found.
 */
export function stuckWork(runtime: TownRuntime, now: number, limit: number): StuckWork {
  const cap = Math.max(1, Math.min(Math.floor(limit), MAX_STUCK_BEADS));
  const { state, store } = runtime;
  const explainer = new Explainer(state, now);
  // One more than shown, to know whether there are more.
  const failedRows = store.state.listBeads({ status: "failed" }, null, cap + 1);
  const failed = failedRows.slice(0, cap).map((bead) => stuckBead(state.town.id, bead, explainer.explain(bead).reasons));

  const candidates = [...state.beadsWith("open"), ...state.beadsWith("in_progress")]
    .filter((bead) => !explainer.movesNext(bead.id))
    .sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : 1));
  const waiting: StuckBead[] = [];
  let moreWaiting = false;
  for (const bead of candidates) {
    const { reasons } = explainer.explain(bead);
    if (reasons.every((reason) => MOVING.has(reason.code))) continue;
    if (waiting.length === cap) {
      moreWaiting = true;
      break;
    }
    waiting.push(stuckBead(state.town.id, bead, reasons));
  }
  return { now, limit: cap, failed, moreFailed: failedRows.length > cap, waiting, moreWaiting };
}

function stuckBead(townId: TownId, bead: Bead, reasons: readonly Reason[]): StuckBead {
  return {
    id: bead.id,
    type: bead.type,
    status: bead.status,
    title: bead.title,
    rigId: bead.rigId,
    priority: bead.priority,
    dispatchAttempts: bead.dispatchAttempts,
    updatedAt: bead.updatedAt,
    held: bead.held,
    lastFailure: bead.lastFailure,
    reasons: reasons.map((reason) => reasonView(reason, townId, bead.id)),
  };
}
