import type { StateStore } from "./state-store";
import type { BeadId } from "../domain/ids";
import type { Bead } from "../domain/model";
import type { BeadArchive } from "../domain/archive";

/** Finished beads kept in memory at most (an archived bead never changes, so a cached one is never stale). */
const CACHE_LIMIT = 10_000;

/**
 * The archive as the town's storage holds it: finished beads, read one at a time by id, with a bounded
 * cache (rules ask about the same finished blockers and merge requests pass after pass).
 * `upToSeq` limits it to the first n beads ever archived (what a snapshot had seen, for replay).
 */
export class StoredArchive implements BeadArchive {
  private readonly cache = new Map<BeadId, Bead | null>();

  constructor(
    private readonly store: StateStore,
    private readonly upToSeq = Number.MAX_SAFE_INTEGER,
  ) {}

  get(id: BeadId): Bead | undefined {
    let bead = this.cache.get(id);
    if (bead === undefined) {
      bead = this.store.archivedBead(id, this.upToSeq) ?? null;
      this.remember(id, bead);
    }
    return bead ?? undefined;
  }

  add(beads: readonly Bead[]): void {
    for (const bead of beads) this.remember(bead.id, bead);
  }

  /** Retention deleted rows: forget what was read. */
  clear(): void {
    this.cache.clear();
  }

  private remember(id: BeadId, bead: Bead | null): void {
    if (this.cache.size >= CACHE_LIMIT) {
      // Oldest first (a Map iterates in insertion order): drop a tenth.
      let drop = CACHE_LIMIT / 10;
      for (const key of this.cache.keys()) {
        this.cache.delete(key);
        if (--drop === 0) break;
      }
    }
    this.cache.set(id, bead);
  }
}
