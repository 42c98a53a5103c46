import type { TownConfig } from "./config";
import type { Bead } from "./model";

/**
 * Invariant 12, no flapping: a bead that keeps going back to open (its agent lost, its dispatch
 * failing, its reviews failing) is going round in circles, whatever each single step says. Each bead
 * remembers when it went back to open, within the window and no more than one past the limit, so the
 * check is a count and its end a deadline.
 */

/** The reopen times with one more at `now`: those within the window, at most `maxReopens + 1`. */
export function withReopen(bead: Bead, now: number, config: TownConfig): number[] {
  const since = now - config.flapping.windowMs;
  return [...bead.reopenedAt.filter((at) => at > since).slice(-config.flapping.maxReopens), now];
}

/** How many times the bead went back to open within the window before `now`. */
export function reopensWithin(bead: Bead, now: number, config: TownConfig): number {
  const since = now - config.flapping.windowMs;
  let count = 0;
  for (const at of bead.reopenedAt) if (at > since) count += 1;
  return count;
}

/** Whether the bead flaps at `now`: back to open more than `maxReopens` times within the window, and not finished. */
export function isFlapping(bead: Bead, now: number, config: TownConfig): boolean {
  return bead.status !== "closed" && bead.status !== "failed" && reopensWithin(bead, now, config) > config.flapping.maxReopens;
}

/**
 * When the bead stops flapping on its own (the oldest reopen that counts leaves the window), or null if
 * it has not reopened often enough to flap. A pure function of the bead, so it is one of its deadlines.
 */
export function flappingEnds(bead: Bead, config: TownConfig): number | null {
  const { maxReopens, windowMs } = config.flapping;
  const first = bead.reopenedAt.length - maxReopens - 1;
  return first < 0 ? null : bead.reopenedAt[first]! + windowMs;
}
