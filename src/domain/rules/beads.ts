import type { TownConfig } from "../config";
import type { BeadId } from "../ids";
import type { Bead } from "../model";
import { isTerminal } from "../model";
import { byUrgency, type Plan } from "../plan";
import { iso } from "./format";

/** Why a bead may not be dispatched now. `until` is set when the reason expires on its own. */
export interface Hold {
  readonly code: "held" | "blocked" | "backoff" | "attempts_exhausted" | "breaker_open" | "no_agent" | "review_busy";
  readonly message: string;
  readonly until?: number;
}

/** How long to wait after the n-th dispatch before the next one. */
export function dispatchBackoff(attempts: number, config: TownConfig): number {
  if (attempts <= 0) return 0;
  return Math.min(config.dispatchBackoffBaseMs * 2 ** (attempts - 1), config.dispatchBackoffMaxMs);
}

/**
 * What stops an open bead from being dispatched, looking at the bead alone (agents and the breaker are
 * the dispatch rules' concern). Empty means ready. Shared with `explain`, so the answer an operator
 * reads is the one the reconciler acts on.
 */
export function beadHolds(plan: Plan, bead: Bead): Hold[] {
  const holds: Hold[] = [];
  const { config, now, state } = plan;
  if (bead.held) holds.push({ code: "held", message: "the bead is held; release it to dispatch it" });
  const blockers = bead.blockedBy.filter((id) => state.bead(id)?.status !== "closed");
  if (blockers.length > 0) {
    holds.push({ code: "blocked", message: `blocked by ${blockers.map((id) => describe(plan, id)).join(", ")}` });
  }
  if (bead.dispatchAttempts >= config.maxDispatchAttempts) {
    holds.push({ code: "attempts_exhausted", message: `${bead.dispatchAttempts} of ${config.maxDispatchAttempts} dispatch attempts used` });
  } else if (bead.lastDispatchAt !== null) {
    const until = bead.lastDispatchAt + dispatchBackoff(bead.dispatchAttempts, config);
    if (now < until) {
      holds.push({ code: "backoff", message: `backing off after attempt ${bead.dispatchAttempts} until ${iso(until)}`, until });
    }
  }
  return holds;
}

/**
 * `beadHolds(...).length === 0` without building the messages (the dispatch rule asks this of every
 * open bead on every pass); asks to be woken when a backoff ends.
 */
export function isReady(plan: Plan, bead: Bead): boolean {
  if (bead.held || bead.dispatchAttempts >= plan.config.maxDispatchAttempts) return false;
  for (const id of bead.blockedBy) if (plan.state.bead(id)?.status !== "closed") return false;
  if (bead.lastDispatchAt !== null) {
    const until = bead.lastDispatchAt + dispatchBackoff(bead.dispatchAttempts, plan.config);
    if (plan.now < until) {
      plan.wakeAt(until, () => `dispatch backoff of ${bead.id} expires`);
      return false;
    }
  }
  return true;
}

function describe(plan: Plan, id: BeadId): string {
  const bead = plan.state.bead(id);
  return bead ? `${id} (${bead.status})` : `${id} (missing)`;
}

/** An in-progress issue or merge request whose agent is gone goes back to open. */
export function reopenOrphanedBeads(plan: Plan): void {
  for (const bead of plan.state.beadsWith("in_progress")) {
    if (bead.type === "convoy") continue;
    if (plan.liveAgentOf(bead.id) || !plan.claimBead(bead.id)) continue;
    plan.emit("beads.reopenOrphaned", "in progress with no live agent hooked", {
      type: "transition_bead",
      beadId: bead.id,
      from: "in_progress",
      to: "open",
    });
  }
}

/** An open bead that used all its dispatch attempts fails. */
export function failExhaustedBeads(plan: Plan): void {
  const max = plan.config.maxDispatchAttempts;
  for (const bead of plan.state.beadsWith("open")) {
    if (bead.type === "convoy" || bead.dispatchAttempts < max) continue;
    if (!plan.claimBead(bead.id)) continue;
    plan.emit("beads.exhaustAttempts", `${bead.dispatchAttempts} of ${max} dispatch attempts used`, {
      type: "transition_bead",
      beadId: bead.id,
      from: "open",
      to: "failed",
    });
  }
}

/** An issue in review whose merge requests all failed goes back to open for another try. */
export function settleFailedReviews(plan: Plan): void {
  for (const bead of plan.state.beadsWith("in_review")) {
    if (bead.type !== "issue") continue;
    const requests = plan.state.mergeRequestsOf(bead.id).map((id) => plan.state.bead(id));
    if (requests.length === 0 || requests.some((mr) => !mr || !isTerminal(mr) || mr.merged)) continue;
    if (!plan.claimBead(bead.id)) continue;
    plan.emit("beads.settleReview", `all ${requests.length} merge request(s) failed`, {
      type: "transition_bead",
      beadId: bead.id,
      from: "in_review",
      to: "open",
    });
  }
}

/**
 * Lazy dispatch: open, unheld, unblocked issues whose backoff has elapsed go to an idle polecat of
 * their rig, most urgent first; polecats are created up to the rig's cap.
 */
export function dispatchOpenBeads(plan: Plan): void {
  const { config } = plan;
  const idle = new Map<string, number>();
  const created = new Map<string, number>();
  const ready = plan.index.openIssues.filter((bead) => bead.rigId !== null && isReady(plan, bead)).sort(byUrgency);
  for (const bead of ready) {
    if (plan.dispatchBudget <= 0) return;
    const rig = bead.rigId && plan.state.rig(bead.rigId);
    if (!rig) continue;
    const pool = plan.index.polecats.get(rig.id) ?? { idle: [], alive: 0 };
    // Take the next idle polecat not claimed by another rule; else create one while under the cap.
    let agent = null;
    let next = idle.get(rig.id) ?? 0;
    while (next < pool.idle.length && !agent) {
      const candidate = pool.idle[next++]!;
      if (plan.claimAgent(candidate.id)) agent = candidate;
    }
    idle.set(rig.id, next);
    const reason = `open, unblocked, unheld; attempt ${bead.dispatchAttempts + 1} of ${config.maxDispatchAttempts}`;
    if (agent) {
      plan.claimBead(bead.id);
      plan.emit("beads.dispatch", reason, { type: "dispatch_agent", agentId: agent.id, beadId: bead.id, generation: agent.generation + 1 });
      plan.dispatchBudget -= 1;
      continue;
    }
    const made = created.get(rig.id) ?? 0;
    if (pool.alive + made >= config.maxPolecatsPerRig) continue;
    created.set(rig.id, made + 1);
    const agentId = plan.allocateAgentId(rig, "polecat");
    plan.claimAgent(agentId);
    plan.claimBead(bead.id);
    plan.emit("beads.dispatch", `no idle polecat in rig ${rig.id}; ${pool.alive + made + 1} of ${config.maxPolecatsPerRig}`, {
      type: "create_agent",
      agentId,
      rigId: rig.id,
      role: "polecat",
    });
    plan.emit("beads.dispatch", reason, { type: "dispatch_agent", agentId, beadId: bead.id, generation: 1 });
    plan.dispatchBudget -= 1;
  }
}
