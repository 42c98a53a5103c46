import type { Explanation, Lift, Reason } from "../domain/explain";
import type { BeadId, TownId } from "../domain/ids";

/** A reason as the API shows it: with the exact command that lifts it, where one does. */
export interface ReasonView {
  readonly code: string;
  readonly message: string;
  readonly until?: number;
  /** The request that lifts this reason (`POST /api/towns/t/beads/b/release`), with the admin token. */
  readonly command?: string;
}

/** The route of each command a person lifts a reason with (DESIGN §6). */
export function commandFor(lift: Lift, townId: TownId, beadId: BeadId): string {
  const town = `/api/towns/${encodeURIComponent(townId)}`;
  const bead = `${town}/beads/${encodeURIComponent(beadId)}`;
  switch (lift) {
    case "retry":
    case "release":
    case "requeue":
    case "hold":
      return `POST ${bead}/${lift}`;
    case "edit":
      return `PATCH ${bead}`;
    case "resume":
      return `POST ${town}/resume`;
    case "reconfigure":
      return `PUT ${town}`;
  }
}

export function reasonView(reason: Reason, townId: TownId, beadId: BeadId): ReasonView {
  const { lift, ...shown } = reason;
  return lift ? { ...shown, command: commandFor(lift, townId, beadId) } : shown;
}

/** Why a bead is or is not moving, as `GET …/explain` answers it. */
export function explanationView(explanation: Explanation, townId: TownId) {
  return { ...explanation, reasons: explanation.reasons.map((reason) => reasonView(reason, townId, explanation.beadId)) };
}
