import type { LoggedEvent } from "../domain/events";
import type { StateSnapshot } from "../domain/snapshot";
import type { BeadArchive } from "../domain/archive";
import type { HistoryTick } from "../db/tick-store";

/**
 * What a replay reads: a town's recorded history over one window. The town's storage implements it
 * for the live replay route (`src/replay/stored-history.ts`), a parsed bundle for `npm run replay`
 * (`bundle-history.ts`); the replay itself (`replay.ts`) is written once, against this.
 */
export interface ReplayHistory {
  /** The snapshot replay starts from: the last one at or before the window's start. */
  readonly snapshot: HistorySnapshot;
  /** The end of the window: nothing after it is read. */
  readonly to: number;
  /** Ticks after the snapshot's tick that ran at or before `to`, oldest first, read as they are iterated. */
  ticks(): Iterable<HistoryTick>;
  /** Commands logged after the snapshot, at or before `to`, in seq order, read as they are iterated. */
  commands(): Iterable<LoggedEvent>;
  /** The events with these seqs, in seq order (a tick's drained events, the retried ones at the end). */
  events(seqs: readonly number[]): LoggedEvent[];
  /** Events other than commands with seq after `afterSeq` logged at or before `to`, in seq order. */
  callbacksAfter(afterSeq: number): LoggedEvent[];
  /** Finished beads as the archive held them when the snapshot was taken. */
  readonly archive: BeadArchive;
  /**
   * Throws if a read asked for something this history does not hold (a bundle that lacks a bead).
   * Called after every step: an event that throws fails alone inside the domain, so a lookup that
   * threw there would otherwise pass for a failed event instead of stopping the replay.
   */
  assertComplete(): void;
}

/** A stored snapshot of the working set, with where it sits in the log. */
export interface HistorySnapshot {
  readonly id: number;
  readonly takenAt: number;
  /** The last tick whose effects it includes (0: none, the town's creation). */
  readonly tickId: number;
  /** The highest event seq when it was taken: commands up to it are in the state. */
  readonly logSeq: number;
  /** Events still pending then, as `[seq, attempts]`. */
  readonly pending: ReadonlyArray<readonly [number, number]>;
  readonly state: StateSnapshot;
}
