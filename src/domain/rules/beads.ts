import { backoffEnd } from "../deadlines";
import type { BeadId } from "../ids";
import type { Bead } from "../model";
import { isFinished } from "../model";
import type { Plan } from "../plan";
import { byUrgency, type RigWork } from "../work-index";
import { iso } from "../format";

export { dispatchBackoff } from "../deadlines";

/** Why a bead may not be dispatched now. `until` is set when the reason expires on its own. */
export interface Hold {
  readonly code: "held" | "blocked" | "backoff" | "attempts_exhausted" | "stop_owed" | "breaker_open" | "no_agent" | "review_busy";
  readonly message: string;
  readonly until?: number;
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
    holds.push({ code: "blocked", message: `blocked by ${blockers.map((id) => describe(plan, id)).join(", ")} (edit its blockers to change that)` });
  }
  const owing = [...state.agentsOwingStopFor(bead.id)];
  if (owing.length > 0) {
    const stops = owing.flatMap((agent) => agent.owedStops.filter((stop) => stop.beadId === bead.id).map((stop) => ({ agent, stop })));
    holds.push({
      code: "stop_owed",
      message: `waiting for the service to confirm it stopped ${stops.map(({ agent, stop }) => `${agent.id}@${stop.generation} (owed since ${iso(stop.since)}, ${stop.attempts} request(s) unconfirmed)`).join(", ")}: no second container on one bead`,
    });
  }
  if (bead.dispatchAttempts >= config.maxDispatchAttempts) {
    holds.push({
      code: "attempts_exhausted",
      message: `${bead.dispatchAttempts} of ${config.maxDispatchAttempts} dispatch attempts used: the next tick fails it (then retry it)`,
    });
  } else {
    const until = backoffEnd(bead, config);
    if (until !== null && now < until) {
      holds.push({ code: "backoff", message: `backing off after attempt ${bead.dispatchAttempts} until ${iso(until)}`, until });
    }
  }
  return holds;
}

/** `beadHolds(...).length === 0` without building the messages (the dispatch rules ask it of every candidate). */
export function isReady(plan: Plan, bead: Bead): boolean {
  if (bead.held || bead.dispatchAttempts >= plan.config.maxDispatchAttempts || plan.state.stopOwedFor(bead.id)) return false;
  for (const id of bead.blockedBy) if (plan.state.bead(id)?.status !== "closed") return false;
  const until = backoffEnd(bead, plan.config);
  return until === null || plan.now >= until;
}

function describe(plan: Plan, id: BeadId): string {
  const bead = plan.state.bead(id);
  return bead ? `${id} (${bead.status})` : `${id} (missing)`;
}

/** An in-progress issue or merge request whose agent is gone goes back to open. */
export function reopenOrphaned(plan: Plan): void {
  for (const bead of plan.beadsWith("in_progress")) {
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
export function exhaustAttempts(plan: Plan): void {
  const max = plan.config.maxDispatchAttempts;
  for (const bead of plan.beadsWith("open")) {
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
export function settleReview(plan: Plan): void {
  for (const bead of plan.beadsWith("in_review")) {
    if (bead.type !== "issue") continue;
    const requests = plan.state.mergeRequestsOf(bead.id).map((id) => plan.state.bead(id));
    if (requests.length === 0 || requests.some((mr) => !mr || !isFinished(mr) || mr.merged)) continue;
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
 * their rig, most urgent first across the town (with a half-open breaker only the most urgent gets its
 * probe); polecats are created up to the rig's cap. Each rig's dispatchable issues are kept in order
 * by the state, so a rig with no agent to spare costs nothing and one with agents costs what it takes.
 */
export function dispatch(plan: Plan): void {
  const { config, state } = plan;
  const queues: RigQueue[] = [];
  for (const rigId of state.work.rigIds()) {
    const rig = state.rig(rigId);
    const work = state.work.rig(rigId);
    if (rig && work && work.dispatchable.size > 0) queues.push({ rig, work, next: 0, idleNext: 0, created: 0 });
  }
  while (plan.dispatchBudget > 0) {
    // The most urgent head of any rig's queue.
    let queue: RigQueue | undefined;
    for (const q of queues) {
      const head = q.work.dispatchable.at(q.next);
      if (head && (!queue || byUrgency(head, queue.work.dispatchable.at(queue.next)!) < 0)) queue = q;
    }
    if (!queue) return;
    const bead = queue.work.dispatchable.at(queue.next++)!;
    if (!isReady(plan, bead)) continue;
    const { rig, work } = queue;
    // Take the next idle polecat not claimed by another rule; else create one while under the cap.
    let agent = null;
    while (queue.idleNext < work.idlePolecats.size && !agent) {
      const candidate = work.idlePolecats.at(queue.idleNext++)!;
      if (plan.claimAgent(candidate.id)) agent = candidate;
    }
    const reason = `open, unblocked, unheld; attempt ${bead.dispatchAttempts + 1} of ${config.maxDispatchAttempts}`;
    if (agent) {
      plan.claimBead(bead.id);
      plan.emit("beads.dispatch", reason, { type: "dispatch_agent", agentId: agent.id, beadId: bead.id, generation: agent.generation + 1 });
      plan.dispatchBudget -= 1;
      continue;
    }
    if (work.alivePolecats + queue.created >= config.maxPolecatsPerRig) {
      // No agent to spare in this rig: the rest of its queue waits.
      queues.splice(queues.indexOf(queue), 1);
      continue;
    }
    queue.created += 1;
    const agentId = plan.allocateAgentId(rig, "polecat");
    plan.claimAgent(agentId);
    plan.claimBead(bead.id);
    plan.emit("beads.dispatch", `no idle polecat in rig ${rig.id}; ${work.alivePolecats + queue.created} of ${config.maxPolecatsPerRig}`, {
      type: "create_agent",
      agentId,
      rigId: rig.id,
      role: "polecat",
    });
    plan.emit("beads.dispatch", reason, { type: "dispatch_agent", agentId, beadId: bead.id, generation: 1 });
    plan.dispatchBudget -= 1;
  }
}

interface RigQueue {
  readonly rig: NonNullable<ReturnType<Plan["state"]["rig"]>>;
  readonly work: RigWork;
  /** Position of the next issue to consider in the rig's queue. */
  next: number;
  /** Position of the next idle polecat to consider. */
  idleNext: number;
  /** Polecats this pass created in the rig. */
  created: number;
}
