import type { BeadId } from "../ids";
import type { Agent, Bead } from "../model";
import type { BeadInvariant, Checking, Finding } from "./invariant";

export const CONVOY_STATUS_IS_VALID: BeadInvariant = {
  id: 5,
  name: "convoyStatusIsValid",
  description: "a convoy's status is valid, and a closed convoy tracks only finished beads",
  of: "bead",
  check: convoyStatusIsValid,
  runbook: "invariants-convoys.md",
};

export function convoyStatusIsValid(id: BeadId, bead: Bead | undefined, _hooked: readonly Agent[], { state }: Checking): Finding | null {
  if (bead?.type !== "convoy") return null;
  if (bead.status === "in_progress" || bead.status === "in_review") {
    return { key: id, message: `convoy ${id} has status ${bead.status}, which convoys never take`, beadIds: [id] };
  }
  if (bead.status !== "closed") return null;
  const unfinished = state.unfinishedTracked(bead);
  if (unfinished.length === 0) return null;
  return { key: id, message: `closed convoy ${id} tracks unfinished beads ${unfinished.join(", ")}`, beadIds: [id, ...unfinished] };
}
