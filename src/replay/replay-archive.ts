import type { BeadId } from "../domain/ids";
import type { Bead } from "../domain/model";
import { MemoryArchive, type BeadArchive } from "../domain/archive";

/**
 * The archive as a replay sees it: the beads that had been archived when its snapshot was taken (from
 * the history: storage, or a bundle) and those the replay itself archives, kept in memory — never one
 * archived later.
 */
export class ReplayArchive implements BeadArchive {
  private readonly replayed = new MemoryArchive();

  constructor(private readonly atSnapshot: BeadArchive) {}

  get(id: BeadId): Bead | undefined {
    return this.replayed.get(id) ?? this.atSnapshot.get(id);
  }

  add(beads: readonly Bead[]): void {
    this.replayed.add(beads);
  }
}
