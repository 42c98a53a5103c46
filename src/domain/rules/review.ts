import { type Bead, owesStop } from "../model";
import type { Plan } from "../plan";
import { isReady } from "./beads";

/** A merged merge request closes the issue it delivers. */
export function closeMergedSource(plan: Plan): void {
  for (const status of UNFINISHED) {
    for (const bead of plan.beadsWith(status)) {
      if (bead.type !== "issue") continue;
      const requests = plan.state.mergeRequestsOf(bead.id);
      if (requests.length === 0) continue;
      const merged = requests.find((id) => plan.state.bead(id)?.merged);
      if (!merged || !plan.claimBead(bead.id)) continue;
      plan.emit("review.closeMergedSource", `merge request ${merged} merged`, {
        type: "transition_bead",
        beadId: bead.id,
        from: bead.status,
        to: "closed",
      });
    }
  }
}

const UNFINISHED = ["open", "in_progress", "in_review"] as const;

/** A rig with merge requests waiting gets a refinery if it has none. */
export function ensureRefinery(plan: Plan): void {
  const { state } = plan;
  for (const rigId of state.work.rigIds()) {
    const work = state.work.rig(rigId)!;
    if (work.openReviews.size === 0 || work.refineries.size > 0) continue;
    const rig = state.rig(rigId);
    if (!rig) continue;
    const agentId = plan.allocateAgentId(rig, "refinery");
    plan.emit("review.ensureRefinery", `${work.openReviews.size} merge request(s) waiting and no refinery`, {
      type: "create_agent",
      agentId,
      rigId,
      role: "refinery",
    });
  }
}

/**
 * The review queue: per rig at most one merge request in progress; when none is, the oldest open one
 * that is not backing off goes to the rig's refinery (created this pass if it was missing).
 */
export function dispatch(plan: Plan): void {
  const { state } = plan;
  // Rigs in id order: with a half-open breaker only one may get its probe, and it must be the same one every time.
  for (const rigId of state.work.rigIds()) {
    const work = state.work.rig(rigId)!;
    if (work.reviewing.size > 0 || work.openReviews.size === 0) continue;
    if (plan.dispatchBudget <= 0) return;
    const created = plan.actions.find((a) => a.type === "create_agent" && a.rigId === rigId && a.role === "refinery");
    const refinery = work.refineries.first();
    const agentId = refinery?.id ?? (created?.type === "create_agent" ? created.agentId : undefined);
    if (!agentId) continue;
    if (refinery && (refinery.status !== "idle" || refinery.hook || owesStop(refinery))) continue;
    let next: Bead | undefined;
    for (const mr of work.openReviews) {
      if (isReady(plan, mr)) {
        next = mr;
        break;
      }
    }
    if (!next || !plan.claimAgent(agentId) || !plan.claimBead(next.id)) continue;
    plan.emit("review.dispatch", `oldest open merge request of rig ${rigId}; ${work.openReviews.size} waiting`, {
      type: "dispatch_agent",
      agentId,
      beadId: next.id,
      generation: (refinery?.generation ?? 0) + 1,
    });
    plan.dispatchBudget -= 1;
  }
}
