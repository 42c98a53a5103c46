/** A replay went past what it may cost: the live route answers 413 with this message. */
export class ReplayTooLarge extends Error {
  override readonly name = "ReplayTooLarge";
}

/**
 * The work a replay may do, counted as it goes: one unit per tick re-run, per event applied and per
 * action decided. What it reads is bounded before it starts (`src/replay/replay-window.ts`); this bounds what
 * it computes, even when the build replaying decides more than the one that recorded.
 */
export class WorkBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  spend(units: number): void {
    this.used += units;
    if (this.used > this.limit) {
      throw new ReplayTooLarge(
        `replay stopped after ${this.used.toLocaleString("en-US")} units of work; the limit is ${this.limit.toLocaleString("en-US")} (one per tick re-run, event applied and action decided): choose a shorter or later window`,
      );
    }
  }
}
