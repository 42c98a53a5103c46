import type { Plan } from "../plan";

/** A convoy closes once every bead it tracks is closed or failed. */
export function close(plan: Plan): void {
  for (const bead of plan.beadsWith("open")) {
    if (bead.type !== "convoy") continue;
    if (plan.state.unfinishedTracked(bead).length > 0 || !plan.claimBead(bead.id)) continue;
    plan.emit("convoys.close", `all ${bead.tracked.length} tracked bead(s) are closed or failed`, {
      type: "transition_bead",
      beadId: bead.id,
      from: "open",
      to: "closed",
    });
  }
}
