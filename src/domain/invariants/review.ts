import type { BeadId, RigId } from "../ids";
import type { Agent, Bead } from "../model";
import type { BeadInvariant, Checking, Finding, Repair, RigInvariant } from "./invariant";

// The review queue: merge requests per rig, and the issues they deliver.

export const ONE_MERGE_REQUEST_IN_PROGRESS_PER_RIG: RigInvariant = {
  id: 3,
  name: "oneMergeRequestInProgressPerRig",
  description: "at most one merge request is in progress per rig",
  of: "rig",
  check: oneMergeRequestInProgressPerRig,
  runbook: "invariants-review.md",
};

export const IN_REVIEW_ISSUE_HAS_ACTIVE_MERGE_REQUEST: BeadInvariant = {
  id: 4,
  name: "inReviewIssueHasActiveMergeRequest",
  description: "an in-review issue has at least one open or in-progress merge request",
  of: "bead",
  check: inReviewIssueHasActiveMergeRequest,
  repair: reopenIssueWithNothingToReview,
  runbook: "invariants-review.md",
};

export function oneMergeRequestInProgressPerRig(rigId: RigId, { state }: Checking): Finding | null {
  const reviewing = [...state.work.rig(rigId)!.reviewing].map((mr) => mr.id);
  if (reviewing.length <= 1) return null;
  return { key: rigId, message: `rig ${rigId} has ${reviewing.length} merge requests in progress: ${reviewing.join(", ")}`, beadIds: reviewing };
}

export function inReviewIssueHasActiveMergeRequest(id: BeadId, bead: Bead | undefined, _hooked: readonly Agent[], { state }: Checking): Finding | null {
  if (bead?.type !== "issue" || bead.status !== "in_review") return null;
  const active = state.mergeRequestsOf(id).some((mr) => {
    const status = state.bead(mr)?.status;
    return status === "open" || status === "in_progress";
  });
  if (active) return null;
  return { key: id, message: `issue ${id} is in review with no open or in-progress merge request`, beadIds: [id] };
}

/** Open again, the issue is dispatched again and makes a new merge request. */
function reopenIssueWithNothingToReview(id: BeadId): Repair[] {
  return [{ reason: "in review with nothing to review", body: { type: "transition_bead", beadId: id, from: "in_review", to: "open" } }];
}
