import type { BeadId } from "./ids";
import type { Bead, BeadType } from "./model";

/**
 * Where beads go when they leave the working set: finished (closed or failed) and held by nothing live.
 * The town's storage in production, the replay's own record in a replay, a map in tests. Finished beads
 * never change again, so what the archive answers is final. It answers a bead's own fields; its
 * blockers and tracked beads are left out (nothing decides anything from those of a finished bead).
 */
export interface BeadArchive {
  get(id: BeadId): Bead | undefined;
  /** Beads that just left the working set. */
  add(beads: readonly Bead[]): void;
}

/** An archive in memory (tests, and anything that has no storage). */
export class MemoryArchive implements BeadArchive {
  private readonly beads = new Map<BeadId, Bead>();
  get(id: BeadId): Bead | undefined {
    return this.beads.get(id);
  }
  add(beads: readonly Bead[]): void {
    for (const bead of beads) this.beads.set(bead.id, bead);
  }
}

export type FinishedStatus = "closed" | "failed";
/** How many beads are in the archive, by type and final status (exact: a retry takes one back out). */
export type FinishedCounts = Record<BeadType, Record<FinishedStatus, number>>;
export const noFinished = (): FinishedCounts => ({
  issue: { closed: 0, failed: 0 },
  merge_request: { closed: 0, failed: 0 },
  convoy: { closed: 0, failed: 0 },
});

/** How many beads are in the archive in all (before any retry, also the last archive number given). */
export const finishedTotal = (counts: FinishedCounts | undefined): number =>
  counts ? Object.values(counts).reduce((n, byStatus) => n + byStatus.closed + byStatus.failed, 0) : 0;

/** A bead as the archive keeps it: its own fields, not its relations. */
export const archived = (bead: Bead): Bead => (bead.blockedBy.length === 0 && bead.tracked.length === 0 ? bead : { ...bead, blockedBy: [], tracked: [] });
