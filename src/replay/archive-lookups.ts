import { parseLoggedEvent, type LoggedEvent } from "../domain/events";
import type { StateSnapshot } from "../domain/snapshot";

/**
 * The finished beads a replay from this snapshot over these events may ask the archive for, so that
 * an export carries exactly those (the archive holds a town's whole history; a bundle cannot).
 * `state.bead(id)` reaches the archive only for an id outside the working set, and the domain asks it
 * about: the blockers, tracked beads, source issues and merge requests of the beads in play, agents'
 * hooks, the entities the next tick was to re-check (the snapshot's focus), the beads events name
 * (created, cancelled, convoy members, blockers of new work, merge requests whose PR changed), and the
 * merge-request ids an agent's done report probes for an issue (`<issue>:mr:<n>`, from its count on).
 * Anything else a replay asks for is not in the bundle, and replaying it stops there, naming the bead.
 */
export class ArchiveLookups {
  private readonly named = new Set<string>();
  private readonly issues = new Set<string>();
  private readonly working: ReadonlySet<string>;

  constructor(state: StateSnapshot) {
    this.working = new Set(state.beads.map((bead) => bead.id));
    for (const bead of state.beads) {
      for (const id of bead.blockedBy) this.named.add(id);
      for (const id of bead.tracked) this.named.add(id);
      if (bead.sourceBeadId) this.named.add(bead.sourceBeadId);
      if (bead.type === "issue") this.issues.add(bead.id);
    }
    for (const [issue, requests] of state.mergeRequests ?? []) {
      this.named.add(issue);
      for (const id of requests) this.named.add(id);
    }
    for (const agent of state.agents) if (agent.hook) this.named.add(agent.hook);
    for (const id of [...(state.focus?.pending.beads ?? []), ...(state.focus?.watching.beads ?? [])]) this.named.add(id);
  }

  /** A bead an event names in its bead column (a cancel, a PR status, a creation's duplicate check). */
  name(id: string): void {
    this.named.add(id);
  }

  /** What one logged event makes replay look up. */
  addEvent(row: LoggedEvent): void {
    if (row.beadId) this.named.add(row.beadId);
    const parsed = parseLoggedEvent(row);
    // An event that does not parse fails in replay without reading anything.
    if (!parsed.ok) return;
    const event = parsed.event;
    if (event.type === "bead_created") {
      for (const id of event.payload.blockedBy) this.named.add(id);
      this.issues.add(event.beadId);
    }
    if (event.type === "convoy_created") for (const id of event.payload.beadIds) this.named.add(id);
  }

  /** Ids to look up one by one: those named, outside the working set (which answers for its own). */
  ids(): string[] {
    return [...this.named].filter((id) => !this.working.has(id)).sort();
  }

  /** Issues whose merge-request ids are looked up as a range. */
  mergeRequestPrefixes(): string[] {
    return [...this.issues].sort();
  }
}
