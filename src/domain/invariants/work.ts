import type { BeadId } from "../ids";
import { type Agent, type Bead, isLive } from "../model";
import type { BeadInvariant, Finding } from "./invariant";

export const IN_PROGRESS_ISSUE_HAS_ONE_LIVE_AGENT: BeadInvariant = {
  id: 2,
  name: "inProgressIssueHasOneLiveAgent",
  description: "an in-progress issue has exactly one hooked agent that is working or stalled",
  of: "bead",
  check: inProgressIssueHasOneLiveAgent,
  runbook: "invariants-work.md",
};

export function inProgressIssueHasOneLiveAgent(id: BeadId, bead: Bead | undefined, hooked: readonly Agent[]): Finding | null {
  if (bead?.type !== "issue" || bead.status !== "in_progress") return null;
  const live = hooked.filter(isLive);
  if (live.length === 1) return null;
  return { key: id, message: `in-progress issue ${id} has ${live.length} live agents hooked`, agentIds: live.map((a) => a.id), beadIds: [id] };
}
