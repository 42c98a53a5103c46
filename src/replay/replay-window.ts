import { iso, mib, MiB } from "../domain/format";
import type { TownStore } from "../db/town-store";
import { replayHistory, type ReplayReport } from "./replay";
import { ReplayTooLarge, WorkBudget } from "./work-budget";
import { fail, ok, type Result } from "../domain/result";
import { findHistory, historySize, readSnapshot, StoredHistory } from "./stored-history";

/**
 * What one replay may cost at most; over it the request is refused with 413. Replay runs inside the
 * live town's isolate (128 MB, shared with the town itself), so what it reads and computes is bounded
 * before it starts, and what it computes is counted as it goes.
 */
export const REPLAY_LIMITS = {
  /** Longest window. */
  maxWindowMs: 24 * 3_600_000,
  /** Events read from the log (from the snapshot before the window to its end). */
  maxEvents: 200_000,
  /** Ticks re-run (from the snapshot before the window to its end). */
  maxTicks: 50_000,
  /**
   * Bytes read from storage: the snapshot, the events and the tick records. Events and ticks are read
   * a page at a time and dropped once replayed; what is held whole is the snapshot's text while it is
   * parsed, the state rebuilt from it (1.1–1.6× the text, measured on the benchmark's towns) and the
   * events still pending at the end. Even if all of it were held at once, 16 MiB read is about 45 MB
   * of heap: well within the 128 MB the replay shares with the live town. (A day of the demo
   * workload with a wave every 5 minutes reads 4.8 MiB; the benchmark's 100,000-event history
   * about 11.)
   */
  maxBytesRead: 16 * MiB,
  /** Work: one unit per tick re-run, event applied and action decided. */
  maxWork: 500_000,
} as const;

/**
 * Replays a window of the town's own history (the debug route): checks the window, bounds the cost,
 * then runs the one replay (`src/replay/replay.ts`) over the town's storage. Nothing live changes.
 */
export async function replayWindow(store: TownStore, from: number, to: number, now: number): Promise<Result<ReplayReport>> {
  const found = findHistory(store, from, to, now, REPLAY_LIMITS.maxWindowMs, "replay_too_large");
  if (!found.ok) return found;
  const snapshot = found.value;

  const sized = historySize(store, snapshot, to, { events: REPLAY_LIMITS.maxEvents, ticks: REPLAY_LIMITS.maxTicks, bytes: REPLAY_LIMITS.maxBytesRead });
  if (!sized.ok) return sized;
  const size = sized.value;
  const tooLarge = (what: string) => fail("replay_too_large", `replaying to ${iso(to)} ${what}; choose a shorter or later window`);
  if (size.ticks > REPLAY_LIMITS.maxTicks) return tooLarge(`re-runs more than ${REPLAY_LIMITS.maxTicks} ticks`);
  if (size.events > REPLAY_LIMITS.maxEvents) return tooLarge(`reads more than ${REPLAY_LIMITS.maxEvents} events`);
  if (size.bytes > REPLAY_LIMITS.maxBytesRead) {
    // Reading stops at the limit: past it, how far past is not worth reading to say.
    const read = size.capped ? `more than ${mib(REPLAY_LIMITS.maxBytesRead)}` : mib(size.bytes);
    return tooLarge(`reads ${read} MiB (snapshot, events and tick records); the limit is ${mib(REPLAY_LIMITS.maxBytesRead)} MiB`);
  }
  const work = size.ticks + size.events + size.recordedActions;
  if (work > REPLAY_LIMITS.maxWork) {
    return tooLarge(
      `does about ${work.toLocaleString("en-US")} units of work (ticks, events and the actions they recorded); the limit is ${REPLAY_LIMITS.maxWork.toLocaleString("en-US")}`,
    );
  }

  const history = new StoredHistory(store, await readSnapshot(store, snapshot), to);
  try {
    return ok(replayHistory(history, from, { budget: new WorkBudget(REPLAY_LIMITS.maxWork) }));
  } catch (error) {
    if (error instanceof ReplayTooLarge) return fail("replay_too_large", error.message);
    throw error;
  }
}

export type { ReplayReport };
