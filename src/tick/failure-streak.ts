/** Where the streak is kept: the object's key-value storage, so an eviction does not forget it. */
const STREAK_KEY = "failed-ticks";

interface Streak {
  /** Failed ticks in a row. */
  readonly failures: number;
  /** When the streak was last reported to Sentry. */
  readonly reportedAt: number;
}

const NONE: Streak = { failures: 0, reportedAt: 0 };

/**
 * Failed ticks in a row, kept in storage: the backoff after the n-th failure and the report cooldown
 * depend on it, and a town that fails, is evicted and fails again must back off further and not report
 * the same streak afresh. Deleting the town's storage ends the streak.
 */
export class FailureStreak {
  /** The stored streak as last read or written (a tick that commits costs no read). */
  private known: Streak | null = null;

  constructor(private readonly storage: DurableObjectStorage) {}

  /** Counts a failed tick at `now`: how many in a row now, and whether it is due a report (the first of a streak, then once per cooldown). */
  failed(now: number, cooldownMs: number): { failures: number; report: boolean } {
    const before = this.read();
    const failures = before.failures + 1;
    this.write({ failures, reportedAt: before.reportedAt });
    return { failures, report: failures === 1 || now - before.reportedAt >= cooldownMs };
  }

  /** The streak's report was queued for Sentry at `now`. */
  reported(now: number): void {
    this.write({ ...this.read(), reportedAt: now });
  }

  /** A tick committed: the streak is over. */
  ended(): void {
    if (this.read().failures === 0) return;
    this.storage.kv.delete(STREAK_KEY);
    this.known = NONE;
  }

  /** The town's storage was deleted: forget what was read of it. */
  forget(): void {
    this.known = null;
  }

  private read(): Streak {
    this.known ??= this.storage.kv.get<Streak>(STREAK_KEY) ?? NONE;
    return this.known;
  }

  private write(streak: Streak): void {
    this.storage.kv.put<Streak>(STREAK_KEY, streak);
    this.known = streak;
  }
}
