/** The event queue as storage counts it: what waits, since when, and what was dead-lettered. */
export interface QueueStats {
  readonly pending: number;
  readonly oldestPendingAt: number | null;
  readonly dead: number;
}

/**
 * The event queue as the invariants see it (the log is not part of the state): how long its oldest
 * pending event has waited, and how many events are dead-lettered. A tick records these same numbers,
 * so replay hands a recorded tick's facts straight back to the invariants.
 */
export interface QueueFacts {
  readonly oldestPendingAgeMs: number | null;
  readonly dead: number;
}

/**
 * How long the oldest pending event has waited at `now`, in milliseconds (never negative); null when
 * nothing is pending. The one place an age is made from the time the event was logged: the tick record,
 * the status, the metrics, the fleet row and invariant 8 all read it from here.
 */
export function oldestPendingAge(oldestPendingAt: number | null, now: number): number | null {
  return oldestPendingAt === null ? null : Math.max(0, now - oldestPendingAt);
}

/** The queue's facts at `now`, from what the log holds. */
export function queueFacts(queue: { readonly oldestPendingAt: number | null; readonly dead: number }, now: number): QueueFacts {
  return { oldestPendingAgeMs: oldestPendingAge(queue.oldestPendingAt, now), dead: queue.dead };
}
