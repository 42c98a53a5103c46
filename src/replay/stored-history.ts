import { hours, iso } from "../domain/format";
import type { SnapshotRef } from "../db/snapshot-store";
import type { TownStore } from "../db/town-store";
import { runs } from "../db/sql";
import { COMMAND_EVENT_TYPES, type LoggedEvent } from "../domain/events";
import { archivedUpToOf, type StateSnapshot } from "../domain/snapshot";
import type { BeadArchive } from "../domain/archive";
import type { HistoryTick } from "../db/tick-store";
import type { HistorySnapshot, ReplayHistory } from "./history";
import { StoredArchive } from "../db/stored-archive";
import { fail, ok, type Result } from "../domain/result";

/** Rows read per query: a long history is read a page at a time, never held whole. */
const PAGE = 1_000;
/** Commands per read: a bead_created payload may carry a 100 KB body. */
const COMMAND_PAGE = 200;

/**
 * The history of a window as the town's storage holds it, found and checked: the snapshot to start
 * from (the last one at or before `from`), and proof that nothing after it was pruned. Replay and
 * export both start here, so they refuse the same windows with the same words.
 */
export function findHistory(
  store: TownStore,
  from: number,
  to: number,
  now: number,
  maxWindowMs: number,
  code: "replay_too_large" | "history_too_large",
): Result<SnapshotRef> {
  if (to > now) return fail("invalid_request", `to (${iso(to)}) is in the future; the town's clock says ${iso(now)}`);
  if (to - from > maxWindowMs) return fail(code, `the window is ${hours(to - from)} h; at most ${hours(maxWindowMs)} h can be read at once`);
  // Before the town's first snapshot there was no town (or nothing is kept): start from the creation
  // snapshot if that is what the first one is, else the history is gone.
  const snapshot = store.snapshots.refAtOrBefore(from) ?? store.snapshots.creationRef();
  if (!snapshot) {
    const oldest = store.snapshots.oldestAt();
    return fail(
      "history_unavailable",
      `there is no snapshot at or before ${iso(from)}; history starts at ${oldest === null ? "no earlier moment" : iso(oldest)}`,
    );
  }
  // The history after the snapshot must be complete: nothing pruned in between. The events' part is
  // checked as their size is read (historySize), which reads them at a bounded cost.
  const oldestTick = store.ticks.oldestId();
  if (oldestTick !== null && oldestTick > snapshot.tickId + 1) {
    return fail("history_unavailable", `ticks after the snapshot of ${iso(snapshot.takenAt)} were pruned; pick a more recent window`);
  }
  return ok(snapshot);
}

/** What reading the history from a snapshot to `to` costs, known before reading it. */
export interface HistorySize {
  /** Reading stopped at the limits: the figures are what was read, already over them. */
  readonly capped: boolean;
  readonly ticks: number;
  /** Events after the snapshot (the count the limits name). */
  readonly events: number;
  /** Actions the ticks recorded (a replay by the same build decides as many). */
  readonly recordedActions: number;
  /** The snapshot, the events (from the oldest still pending at the snapshot) and the tick records, in bytes. */
  readonly bytes: number;
}

/**
 * The size of the history from a snapshot to `to`, read no further than `limits` (past them the
 * figures are what was read, `capped`), or history_unavailable when events after the snapshot were
 * pruned.
 */
export function historySize(
  store: TownStore,
  snapshot: SnapshotRef,
  to: number,
  limits: { readonly events: number; readonly ticks: number; readonly bytes: number },
): Result<HistorySize> {
  const ticks = store.ticks.sizeAfter(snapshot.tickId, to, limits.ticks);
  const cap = { events: limits.events, bytes: Math.max(0, limits.bytes - snapshot.bytes - ticks.bytes), countBodies: true };
  const events = store.events.sizeAfter(snapshot.logSeq, to, cap);
  if (!events.complete) return fail("history_unavailable", `events after the snapshot of ${iso(snapshot.takenAt)} were pruned; pick a more recent window`);
  // Events pending at the snapshot are read too: counting from the oldest of them is an upper bound.
  const firstRead = oldestPendingBefore(snapshot);
  const eventBytes = firstRead === snapshot.logSeq || events.capped ? events.bytes : store.events.sizeAfter(firstRead, to, cap).bytes;
  const bytes = snapshot.bytes + eventBytes + ticks.bytes;
  return ok({
    ticks: ticks.ticks,
    events: events.events,
    recordedActions: ticks.actions,
    bytes,
    capped: events.capped || ticks.ticks > limits.ticks || bytes > limits.bytes,
  });
}

/** The seq before the oldest event pending at the snapshot, or the snapshot's log position (stored with it: the list itself may be long). */
function oldestPendingBefore(snapshot: SnapshotRef): number {
  return snapshot.firstPendingSeq === null ? snapshot.logSeq : Math.min(snapshot.logSeq, snapshot.firstPendingSeq - 1);
}

/** The snapshot read and parsed (what replay starts from). */
export async function readSnapshot(store: TownStore, ref: SnapshotRef): Promise<HistorySnapshot> {
  const stored = await store.snapshots.read(ref);
  return {
    id: stored.id,
    takenAt: stored.takenAt,
    tickId: stored.tickId,
    logSeq: stored.logSeq,
    pending: stored.pending,
    state: stored.state as StateSnapshot,
  };
}

/** The recorded history over the town's storage, read a page at a time as replay asks for it. */
export class StoredHistory implements ReplayHistory {
  readonly archive: BeadArchive;

  constructor(
    private readonly store: TownStore,
    readonly snapshot: HistorySnapshot,
    readonly to: number,
  ) {
    // The archive as the snapshot knew it: only the beads archived before it was taken.
    this.archive = new StoredArchive(store.state, archivedUpToOf(snapshot.state));
  }

  *ticks(): Iterable<HistoryTick> {
    let after = this.snapshot.tickId;
    for (;;) {
      const page = this.store.ticks.replayRecords(after, this.to, PAGE);
      yield* page;
      if (page.length < PAGE) return;
      after = page.at(-1)!.id;
    }
  }

  *commands(): Iterable<LoggedEvent> {
    let after = this.snapshot.logSeq;
    for (;;) {
      const page = this.store.events.ofTypesAfter(after, this.to, COMMAND_EVENT_TYPES, COMMAND_PAGE);
      yield* page;
      if (page.length < COMMAND_PAGE) return;
      after = page.at(-1)!.seq;
    }
  }

  events(seqs: readonly number[]): LoggedEvent[] {
    // Drained seqs are mostly consecutive: one range read per run (an old dead letter retried does
    // not make it read everything in between).
    const wanted = [...new Set(seqs)].sort((a, b) => a - b);
    return runs(wanted).flatMap(([first, last]) => this.store.events.inSeqRange(first, last));
  }

  callbacksAfter(afterSeq: number): LoggedEvent[] {
    return this.store.events.notOfTypesAfter(afterSeq, this.to, COMMAND_EVENT_TYPES);
  }

  /** Storage answers every read (a bead it lacks was never archived before the snapshot). */
  assertComplete(): void {}
}
